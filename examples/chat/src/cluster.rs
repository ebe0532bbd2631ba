//! The chat on several nodes (`--database postgres://… --redis redis://…`).
//!
//! The nodes share one PostgreSQL database (the history, each room's `seq`) and one Redis:
//! the [`RedisAdapter`] of `wsx-redis` carries every push between nodes (`userJoined`,
//! `userLeft`, typing, `nickChanged`, private messages) and keeps the cluster's member
//! lists; this module adds what the chat needs beyond it:
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
//! - **Names unique across the cluster.** A name is held by
//!   `SET {prefix}:chat:name:{key} CONN NX PX expiry`, renewed by every node for its own
//!   users four times per expiry, deleted on disconnect (only by its holder): the names
//!   of a node that died are free again once the expiry passes.
//! - **Member lists across nodes.** Each node keeps `{prefix}:chat:node:{n}:names`
//!   (connection → name as shown); a member list is the adapter's
//!   `cluster_members(room)` named through those hashes.
//!
//! The design, with what each failure does, is in `docs/CLUSTER.md` ("The chat on
//! several nodes").

use crate::app::{App, Room};
use crate::events::ChatMessage;
use crate::store::HistoryRange;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wsx_core::server::{Adapter, ConnId, SharedFrame, Target};
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

/// Claims a name: free, or held by a connection whose resume token is presented
/// (`ARGV[3]`, a user back from a node that died). 1: free, 2: taken back, 0: taken.
const CLAIM_NAME: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if ARGV[3] ~= '' then
  local sp = string.find(v, ' ', 1, true)
  if sp and string.sub(v, sp + 1) == ARGV[3] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 2
  end
end
return 0";

/// Renews a name this connection holds (the whole value: connection and token), or takes
/// it again if it expired meanwhile.
const RENEW_NAME: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0";

/// Frees a name if connection `ARGV[1]` holds it.
const RELEASE_NAME: &str = r"
local v = redis.call('GET', KEYS[1])
local p = ARGV[1] .. ' '
if v and string.sub(v, 1, #p) == p then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// The value of a name key: the holding connection, a space, its resume token.
fn holder(conn: ConnId, resume_token: &str) -> String {
    format!("{conn} {resume_token}")
}

/// A name held by a connection of this node (renewed by the node).
#[derive(Debug, Clone)]
pub struct HeldName {
    /// The name's key.
    pub key: String,
    /// The connection.
    pub conn: ConnId,
    /// The name as shown.
    pub display: String,
    /// The session's resume token.
    pub resume_token: String,
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
        // A node number is only reused after its former holder expired: its names are stale.
        redis::cmd("DEL")
            .arg(format!("{prefix}:chat:node:{}:names", adapter.node()))
            .exec_async(&mut commands)
            .await?;
        let (publish, publications) = mpsc::channel(PUBLISH_QUEUE);
        Ok(Cluster {
            inner: Arc::new(Inner {
                adapter,
                client,
                commands,
                prefix: prefix.to_owned(),
                expiry,
                publish,
                publications: Mutex::new(Some(publications)),
            }),
        })
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

    fn name_key(&self, key: &str) -> String {
        format!("{}:chat:name:{key}", self.inner.prefix)
    }

    fn names_hash(&self, node: u64) -> String {
        format!("{}:chat:node:{node}:names", self.inner.prefix)
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

    /// Claims `key` for connection `conn` across the cluster (`SET … PX` if free), and
    /// notes the name as shown for member lists. A name held elsewhere is taken back
    /// when `resume_token` is its holder's (the user's node died or lost it). `Ok(false)`:
    /// another connection holds it. Follow a successful claim with [`Cluster::set_holder`]
    /// once the session's resume token is known.
    pub async fn claim_name(
        &self,
        key: &str,
        conn: ConnId,
        display: &str,
        resume_token: Option<&str>,
    ) -> Result<bool, redis::RedisError> {
        let mut commands = self.commands();
        let claimed: i64 = redis::cmd("EVAL")
            .arg(CLAIM_NAME)
            .arg(1)
            .arg(self.name_key(key))
            .arg(holder(conn, ""))
            .arg(self.inner.expiry.as_millis() as u64)
            .arg(resume_token.unwrap_or(""))
            .query_async(&mut commands)
            .await?;
        if claimed == 0 {
            return Ok(false);
        }
        if claimed == 2 {
            metrics::counter!("chat_cluster_names_taken_back_total").increment(1);
            tracing::info!(name = %key, "cluster: a name was taken back from another node with its resume token");
        }
        self.note_display(conn, display).await;
        Ok(true)
    }

    /// Writes who holds a name this node holds: the connection and its resume token
    /// (after a claim, a resume on this node, a rename).
    pub async fn set_holder(&self, key: &str, conn: ConnId, resume_token: &str, display: &str) {
        let mut commands = self.commands();
        let set = redis::cmd("SET")
            .arg(self.name_key(key))
            .arg(holder(conn, resume_token))
            .arg("PX")
            .arg(self.inner.expiry.as_millis() as u64)
            .exec_async(&mut commands)
            .await;
        if let Err(e) = set {
            tracing::warn!(error = %e, "cluster: name holder not written");
        }
        self.note_display(conn, display).await;
    }

    /// Notes the name a connection of this node shows (member lists on other nodes).
    pub async fn note_display(&self, conn: ConnId, display: &str) {
        let mut commands = self.commands();
        let set = redis::cmd("HSET")
            .arg(self.names_hash(self.node()))
            .arg(conn)
            .arg(display)
            .exec_async(&mut commands)
            .await;
        if let Err(e) = set {
            tracing::warn!(error = %e, "cluster: name not noted");
        }
    }

    /// Frees a name if `conn` holds it.
    pub async fn release_name(&self, key: &str, conn: ConnId) {
        let mut commands = self.commands();
        let released = redis::pipe()
            .cmd("EVAL")
            .arg(RELEASE_NAME)
            .arg(1)
            .arg(self.name_key(key))
            .arg(conn)
            .ignore()
            .cmd("HDEL")
            .arg(self.names_hash(self.node()))
            .arg(conn)
            .ignore()
            .exec_async(&mut commands)
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "cluster: name not released (it expires)");
        }
    }

    /// Renews the names this node's connections hold (or takes them again after an
    /// outage that let them expire, if nobody took them meanwhile).
    async fn renew_names(&self, held: Vec<HeldName>) {
        if held.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for name in &held {
            pipe.cmd("EVAL")
                .arg(RENEW_NAME)
                .arg(1)
                .arg(self.name_key(&name.key))
                .arg(holder(name.conn, &name.resume_token))
                .arg(self.inner.expiry.as_millis() as u64);
        }
        let hash = self.names_hash(self.node());
        pipe.cmd("HSET").arg(&hash);
        for name in &held {
            pipe.arg(name.conn).arg(&name.display);
        }
        pipe.ignore();
        let mut commands = self.commands();
        match pipe.query_async::<Vec<i64>>(&mut commands).await {
            Ok(renewed) => {
                for (name, ok) in held.iter().zip(renewed) {
                    if ok == 0 {
                        tracing::warn!(name = %name.key, conn = name.conn, "cluster: another connection holds this connection's name now (taken back, or taken while Redis was away)");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster: names not renewed"),
        }
    }

    /// Who holds a name on another node: its connection and the name as shown.
    pub async fn find_user(&self, key: &str) -> Option<(ConnId, String)> {
        let mut commands = self.commands();
        let value: Option<String> = redis::cmd("GET")
            .arg(self.name_key(key))
            .query_async(&mut commands)
            .await
            .ok()?;
        let conn: ConnId = value?.split(' ').next()?.parse().ok()?;
        let display: Option<String> = redis::cmd("HGET")
            .arg(self.names_hash(conn >> NODE_SHIFT))
            .arg(conn)
            .query_async(&mut commands)
            .await
            .ok()?;
        Some((conn, display?))
    }

    /// Who is in a room on every node, sorted: `local` (this node's members) and the
    /// other nodes' members; `None` when Redis cannot answer.
    pub async fn room_users(&self, room: &str, local: Vec<String>) -> Option<Vec<String>> {
        let ids = match self.inner.adapter.cluster_members(room).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: member list unavailable");
                return None;
            }
        };
        let mut by_node: BTreeMap<u64, Vec<ConnId>> = BTreeMap::new();
        let here = self.node();
        for id in ids {
            if id >> NODE_SHIFT != here {
                by_node.entry(id >> NODE_SHIFT).or_default().push(id);
            }
        }
        if by_node.is_empty() {
            return Some(local);
        }
        let mut pipe = redis::pipe();
        for (node, ids) in &by_node {
            pipe.cmd("HMGET").arg(self.names_hash(*node)).arg(ids);
        }
        let mut commands = self.commands();
        let names: Vec<Vec<Option<String>>> = match pipe.query_async(&mut commands).await {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: member names unavailable");
                return None;
            }
        };
        let mut names: Vec<String> = names.into_iter().flatten().flatten().collect();
        names.extend(local);
        names.sort_by_cached_key(|n| crate::names::fold_case(n));
        names.dedup();
        Some(names)
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
        tasks.push(tokio::spawn(receiver(self.clone(), app.clone())));
        tasks.push(tokio::spawn(keeper(self.clone(), app)));
        tasks
    }

    /// Leaves the cluster at once (graceful shutdown): the adapter's state goes.
    pub async fn leave(&self) {
        let mut commands = self.commands();
        let _ = redis::cmd("DEL")
            .arg(self.names_hash(self.node()))
            .exec_async(&mut commands)
            .await;
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
    let timeout = cluster.inner.adapter.config().command_timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let connected = tokio::time::timeout(timeout, async {
            let mut pubsub = cluster.inner.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
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
/// [`CATCH_UP`], and renews names four times per expiry.
async fn keeper(cluster: Cluster, app: App) {
    let tick = HOLD_BACK / 2;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_catch_up = tokio::time::Instant::now();
    let mut last_renewal = tokio::time::Instant::now();
    let renewal = cluster.inner.expiry / 4;
    loop {
        interval.tick().await;
        if last_catch_up.elapsed() >= CATCH_UP {
            last_catch_up = tokio::time::Instant::now();
            catch_up(&app).await;
        } else {
            for room in app.loaded_rooms() {
                if room.log().gap_older_than(HOLD_BACK) {
                    metrics::counter!("chat_cluster_gaps_filled_total").increment(1);
                    fill(&app, &room).await;
                }
            }
        }
        if last_renewal.elapsed() >= renewal {
            last_renewal = tokio::time::Instant::now();
            cluster.renew_names(app.held_names()).await;
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
