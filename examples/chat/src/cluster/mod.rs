//! The chat on several nodes (`--database postgres://… --redis redis://…`).
//!
//! The nodes share one PostgreSQL database (the history, each room's `seq`) and one Redis:
//! the [`RedisAdapter`] of `wsx-redis` carries every push between nodes (`userJoined`,
//! `userLeft`, typing, `nickChanged`, private messages) and knows which connections of
//! which live node are in which room; this module adds what the chat needs beyond it:
//!
//! - **Room messages in `seq` order on every node.** A room's `message` pushes do not go
//!   through the adapter's room fan-out. The node that committed a message publishes it
//!   (with its `seq`) on the chat's own channel `{prefix}:chat:messages`; every node,
//!   the committing one too, hands each message to its room's log
//!   ([`RoomLog::offer`](crate::history::RoomLog::offer)), which delivers it to the
//!   node's own members only when it is the next `seq`, drops it when it is not newer,
//!   and holds it back otherwise. A gap held for [`HOLD_BACK`] is filled from the
//!   database; every [`CATCH_UP`] every room in memory is compared with the database too,
//!   so a publication lost in a Redis outage (with nothing after it) is found as well.
//! - **Names unique across the cluster** ([`names`]), taken back on another node with the
//!   resume token.
//! - **Who is where** ([`presence`]): each node's users with their rooms, for member
//!   lists, and the users of a node that is gone (killed, or stopped gracefully and not
//!   come back within the grace window) announced as `userLeft` once.
//! - **System events** ([`events`]): `GET /events` on any node shows every node's events
//!   under one id sequence.
//!
//! The design, with what each failure does, is in `docs/CLUSTER.md` ("The chat on
//! several nodes").

pub mod events;
pub mod names;
pub mod presence;

#[doc(inline)]
pub use names::{Claimed, HeldName, Released};
#[doc(inline)]
pub use presence::UserRecord;

use crate::app::{App, Room};
use crate::events::ChatMessage;
use crate::store::HistoryRange;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wsx_core::server::{ConnId, SharedFrame, Target};
use wsx_redis::{RedisAdapter, RedisConfig};

/// How long a message that arrived ahead of its turn is held before the missing ones are
/// read from the database.
pub const HOLD_BACK: Duration = Duration::from_millis(200);

/// How often every room in memory is compared with the database (a publication lost
/// with nothing after it).
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// Messages read from the database per query when a gap is filled.
const FILL_PAGE: u32 = 100;

/// Messages waiting to be published; beyond it a message reaches the other nodes through
/// their catch-up only.
const PUBLISH_QUEUE: usize = 65_536;

/// The high bits of a connection id name its node (see `wsx-redis`).
const NODE_SHIFT: u32 = 32;

/// The node holding a connection.
fn node_of(conn: ConnId) -> u64 {
    conn >> NODE_SHIFT
}

/// Why a cluster node could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The adapter could not join the cluster.
    #[error(transparent)]
    Adapter(#[from] wsx_redis::ConnectError),
    /// The chat's own Redis connection failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// This node's part in a cluster of chat nodes. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    adapter: RedisAdapter,
    client: redis::Client,
    commands: ConnectionManager,
    prefix: String,
    expiry: Duration,
    publish: mpsc::Sender<String>,
    publications: Mutex<Option<mpsc::Receiver<String>>>,
    /// This node's system events, on their way to be numbered (see [`events`]).
    system_events: Mutex<Option<mpsc::Receiver<(&'static str, serde_json::Value)>>>,
    system_events_tx: mpsc::Sender<(&'static str, serde_json::Value)>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.inner.adapter.node())
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Joins the cluster at `url`: the adapter (a node number, its tasks) and the chat's
    /// own connection. Fails at once when Redis cannot be reached.
    pub async fn connect(
        url: &str,
        prefix: &str,
        expiry: Duration,
    ) -> Result<Cluster, ClusterError> {
        let adapter = RedisAdapter::connect_with(
            url,
            RedisConfig {
                prefix: prefix.to_owned(),
                node_expiry: expiry,
                ..RedisConfig::default()
            },
        )
        .await?;
        let client = redis::Client::open(url)?;
        let timeout = adapter.config().command_timeout;
        let mut commands = ConnectionManager::new_with_config(
            client.clone(),
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(2),
        )
        .await?;
        redis::cmd("PING").exec_async(&mut commands).await?;
        let (publish, publications) = mpsc::channel(PUBLISH_QUEUE);
        let (system_events_tx, system_events) = mpsc::channel(events::EVENT_QUEUE);
        let cluster = Cluster {
            inner: Arc::new(Inner {
                adapter,
                client,
                commands,
                prefix: prefix.to_owned(),
                expiry,
                publish,
                publications: Mutex::new(Some(publications)),
                system_events: Mutex::new(Some(system_events)),
                system_events_tx,
            }),
        };
        // A node number is only taken again after its former holder expired: the users
        // it left behind (if no other node reaped them) left.
        let gone = cluster.reap(cluster.node(), true).await;
        cluster.announce_leaves(&gone, None);
        Ok(cluster)
    }

    /// The adapter, for the server.
    pub fn adapter(&self) -> &RedisAdapter {
        &self.inner.adapter
    }

    /// This node's number.
    pub fn node(&self) -> u64 {
        self.inner.adapter.node()
    }

    fn channel(&self) -> String {
        format!("{}:chat:messages", self.inner.prefix)
    }

    fn commands(&self) -> ConnectionManager {
        self.inner.commands.clone()
    }

    /// Queues a committed message for the other nodes (never waits).
    pub fn publish(&self, message: &ChatMessage) {
        let Ok(json) = serde_json::to_string(message) else {
            return;
        };
        if self.inner.publish.try_send(json).is_err() {
            metrics::counter!("chat_cluster_publish_dropped_total").increment(1);
        }
    }

    /// Delivers messages to this node's members of a room (nothing is published).
    pub fn deliver_local(&self, room: &str, message: ChatMessage) {
        let frame = SharedFrame::push::<ChatMessage>(message);
        self.inner
            .adapter
            .deliver_local(&Target::room(room, None), &frame);
    }

    /// Starts the node's tasks (publishing, receiving, catching up, renewing names);
    /// abort the handles to stop them.
    pub fn start(&self, app: App) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        let publications = self
            .inner
            .publications
            .lock()
            .ok()
            .and_then(|mut p| p.take());
        if let Some(publications) = publications {
            tasks.push(tokio::spawn(publisher(self.clone(), publications)));
        }
        let system_events = self
            .inner
            .system_events
            .lock()
            .ok()
            .and_then(|mut e| e.take());
        if let Some(system_events) = system_events {
            app.events().set_relay(self.inner.system_events_tx.clone());
            tasks.push(tokio::spawn(events::relay(self.clone(), system_events)));
        }
        tasks.push(tokio::spawn(receiver(self.clone(), app.clone())));
        tasks.push(tokio::spawn(keeper(self.clone(), app)));
        tasks
    }

    /// Leaves the cluster at the end of a graceful shutdown, its users parked: the
    /// adapter's state goes at once, but the names and the users' records stay for one
    /// more expiry (the grace window), so users who come back on another node with
    /// their resume token take their names back without being seen to leave and join;
    /// the others are announced as left by the first node that sees the window over.
    pub async fn park(&self, held: &[HeldName]) {
        if !self.renew_names(held).await {
            tracing::warn!("cluster: users not parked (Redis away); their names expire");
        }
        if let Err(e) = self.inner.adapter.leave_cluster().await {
            tracing::warn!(error = %e, "cluster: could not leave cleanly (the node expires)");
        }
    }
}

/// Publishes queued messages, in order, in pipelines of up to 256.
async fn publisher(cluster: Cluster, mut queue: mpsc::Receiver<String>) {
    let channel = cluster.channel();
    let mut commands = cluster.commands();
    let mut batch = Vec::with_capacity(256);
    while queue.recv_many(&mut batch, 256).await > 0 {
        let mut pipe = redis::pipe();
        for json in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(&channel).arg(json).ignore();
        }
        if let Err(e) = pipe.exec_async(&mut commands).await {
            // The other nodes find these messages in the database (catch-up).
            metrics::counter!("chat_cluster_publish_failed_total").increment(1);
            tracing::warn!(error = %e, "cluster: messages not published");
        }
    }
}

/// Receives the other nodes' messages, reconnecting after an outage (and then catching
/// up every room from the database).
async fn receiver(cluster: Cluster, app: App) {
    let channel = cluster.channel();
    let events_channel = cluster.events_channel();
    let timeout = cluster.inner.adapter.config().command_timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let connected = tokio::time::timeout(timeout, async {
            let mut pubsub = cluster.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(&[&channel, &events_channel]).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                pause = Duration::from_millis(50);
                // What was published while this node was not listening.
                catch_up(&app).await;
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    if msg.get_channel_name() == events_channel {
                        events::receive(app.events(), msg.get_payload_bytes());
                        continue;
                    }
                    match serde_json::from_slice::<ChatMessage>(msg.get_payload_bytes()) {
                        Ok(message) => {
                            if let Some(room) = app.existing_room(&message.room) {
                                offer(&app, &room, message);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cluster: unreadable message"),
                    }
                }
                tracing::warn!("cluster: message channel lost; reconnecting");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cluster: cannot subscribe"),
            Err(_) => tracing::warn!("cluster: Redis did not answer the subscription in time"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Fills gaps held for [`HOLD_BACK`], compares every room with the database every
/// [`CATCH_UP`], renews the heartbeat and the names four times per expiry, and reaps
/// the nodes that are gone — once this node has been in touch with Redis for a whole
/// expiry (after an outage longer than the expiry every heartbeat is gone, the living
/// nodes' too, until they renew).
async fn keeper(cluster: Cluster, app: App) {
    let tick = HOLD_BACK / 2;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_catch_up = tokio::time::Instant::now();
    let mut last_renewal: Option<tokio::time::Instant> = None;
    let mut in_touch_since: Option<tokio::time::Instant> = None;
    let expiry = cluster.inner.expiry;
    let renewal = expiry / 4;
    loop {
        interval.tick().await;
        if last_renewal.is_none_or(|t| t.elapsed() >= renewal) {
            last_renewal = Some(tokio::time::Instant::now());
            let held = app.held_names();
            if cluster.renew_names(&held).await {
                in_touch_since.get_or_insert_with(tokio::time::Instant::now);
                // Connections that ended while their records were written: drop them again.
                for name in held {
                    if !app.holds(&name.key, name.conn) {
                        let gone = !app.has_name(name.conn);
                        cluster.release_name(&name.key, name.conn, gone).await;
                    }
                }
            } else {
                in_touch_since = None;
            }
        }
        if last_catch_up.elapsed() >= CATCH_UP {
            last_catch_up = tokio::time::Instant::now();
            catch_up(&app).await;
            if in_touch_since.is_some_and(|t| t.elapsed() >= expiry) {
                cluster.reap_dead_nodes(&app).await;
            }
        } else {
            for room in app.loaded_rooms() {
                if room.log().gap_older_than(HOLD_BACK) {
                    metrics::counter!("chat_cluster_gaps_filled_total").increment(1);
                    fill(&app, &room).await;
                }
            }
        }
    }
}

/// Brings every room in memory up to the database.
async fn catch_up(app: &App) {
    for room in app.loaded_rooms() {
        fill(app, &room).await;
    }
}

/// Hands a committed message to its room's log; delivers to this node's members what is
/// now in order (see [`crate::history::RoomLog::offer`]).
pub fn offer(app: &App, room: &Room, message: ChatMessage) {
    let Some(cluster) = app.cluster() else {
        return;
    };
    let mut log = room.log();
    for ready in log.offer(message) {
        room.set_last_seq(ready.seq);
        cluster.deliver_local(&room.name, ready);
    }
}

/// Reads from the database what a room's log lacks after its last delivered `seq`, and
/// offers it (so it is delivered in order, each message once).
pub async fn fill(app: &App, room: &Room) {
    loop {
        let after = room.log().last_seq();
        let range = HistoryRange {
            after: Some(after),
            before: Some(after + u64::from(FILL_PAGE) + 1),
            limit: FILL_PAGE,
        };
        let page = match app.store().history(&room.name, range).await {
            Ok(Some(page)) => page,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(room = %room.name, error = %e, "cluster: gap not filled");
                return;
            }
        };
        let read = page.messages.len();
        for message in page.messages {
            offer(app, room, message);
        }
        if read < FILL_PAGE as usize || room.log().last_seq() <= after {
            return;
        }
    }
}
