//! [`RedisAdapter`]: the node's own share kept by a [`LocalAdapter`], the rest of the
//! cluster reached through Redis.

use crate::config::RedisConfig;
use crate::health::{Health, HealthState};
use crate::keys::{self, Keys, MAX_NODE, NODE_SHIFT};
use crate::tasks;
use crate::wire::Publication;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;
use wsx_core::Codec;
use wsx_core::server::{
    Adapter, AdapterError, AdapterFuture, ConnId, LocalAdapter, Peer, RoomError, RoomInfo,
    SharedFrame, Target,
};

/// Why [`RedisAdapter::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(redis::RedisError),
    /// Redis did not answer, or refused a command.
    #[error("Redis at {url} is unreachable: {source}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the client said.
        source: redis::RedisError,
    },
    /// Redis did not answer within the configured command timeout.
    #[error("Redis at {0} did not answer in time")]
    Timeout(String),
}

/// An [`Adapter`] that makes the servers of several processes one cluster through
/// Redis: pushes to rooms, to everyone and to one connection reach every node, and the
/// `cluster_*` questions answer for all of them. See `docs/CLUSTER.md` for the layout,
/// the guarantees and what happens when a node or Redis fails.
///
/// Cheap to clone: keep a clone to read [`RedisAdapter::health`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use wsx_core::server::ServerBuilder;
/// use wsx_redis::RedisAdapter;
///
/// let server = ServerBuilder::<(), ()>::new(())
///     .adapter(RedisAdapter::connect("redis://127.0.0.1:6379").await?)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisAdapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("node", &self.inner.node)
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

/// Joins, leaves and connection changes not yet written to Redis.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    /// Rooms whose member set on this node changed.
    pub(crate) rooms: HashSet<Box<str>>,
    /// The connection count changed.
    pub(crate) conns: bool,
    /// Everything must be written again and every room resubscribed (after an outage).
    pub(crate) resync: bool,
}

pub(crate) struct Inner {
    /// This node's connections and rooms: every local delivery goes through it as on a
    /// single node.
    pub(crate) local: LocalAdapter,
    /// This node's number (the high bits of its connection ids).
    pub(crate) node: u64,
    /// What this process writes in its heartbeat key, to tell its number was taken.
    pub(crate) token: String,
    pub(crate) keys: Keys,
    pub(crate) config: RedisConfig,
    pub(crate) client: redis::Client,
    /// Commands: publishing, membership, heartbeats, queries. Reconnects by itself.
    pub(crate) commands: ConnectionManager,
    /// The room and node channels' subscription, while it is up.
    pub(crate) sink: Mutex<Option<PubSubSink>>,
    /// To the publishing task; full means dropped.
    publish: mpsc::Sender<(String, Vec<u8>)>,
    pub(crate) health: HealthState,
    pub(crate) dirty: Mutex<Dirty>,
    /// Wakes the maintenance task (membership to write).
    pub(crate) wake: Arc<Notify>,
    /// The adapter's tasks, stopped when the last handle goes.
    tasks: Mutex<Vec<AbortHandle>>,
    /// The channels every node of this prefix subscribes to, and this node's own.
    pub(crate) all_channel: String,
    pub(crate) node_channel: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl RedisAdapter {
    /// Connects to Redis with the default [`RedisConfig`].
    pub async fn connect(url: &str) -> Result<RedisAdapter, ConnectError> {
        RedisAdapter::connect_with(url, RedisConfig::default()).await
    }

    /// Connects to Redis: takes a node number, subscribes, writes the first heartbeat,
    /// and starts the tasks that publish, receive and keep membership. Fails (at once,
    /// with the URL in the message) when Redis cannot be reached.
    pub async fn connect_with(
        url: &str,
        config: RedisConfig,
    ) -> Result<RedisAdapter, ConnectError> {
        let client = redis::Client::open(url).map_err(ConnectError::Url)?;
        let unreachable = |source| ConnectError::Unreachable {
            url: url.to_owned(),
            source,
        };
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.command_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_number_of_retries(2)
            .set_max_delay(config.reconnect_max_delay);
        let mut commands = within(
            url,
            &config,
            ConnectionManager::new_with_config(client.clone(), manager_config),
        )
        .await?
        .map_err(unreachable)?;
        let keys = Keys::new(&config.prefix);
        let token = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let node = within(
            url,
            &config,
            claim_node(&mut commands, &keys, &token, &config),
        )
        .await?
        .map_err(unreachable)?;
        let (publish, publications) = mpsc::channel(config.publish_queue.max(1));
        let inner = Arc::new(Inner {
            local: LocalAdapter::new(),
            node,
            token,
            all_channel: keys.all_channel(),
            node_channel: keys.node_channel(node),
            keys,
            config,
            client,
            commands,
            sink: Mutex::new(None),
            publish,
            health: HealthState::default(),
            dirty: Mutex::new(Dirty::default()),
            wake: Arc::new(Notify::new()),
            tasks: Mutex::new(Vec::new()),
        });
        // Subscribed and written before the adapter is handed out.
        let (sink, stream) = within(url, &inner.config, tasks::subscribe(&inner))
            .await?
            .map_err(unreachable)?;
        *inner.sink.lock() = Some(sink.clone());
        inner.health.up(node);
        let weak = Arc::downgrade(&inner);
        let handles = vec![
            tokio::spawn(tasks::publish(weak.clone(), publications)).abort_handle(),
            tokio::spawn(tasks::receive(weak.clone(), sink, stream)).abort_handle(),
            tokio::spawn(tasks::maintain(weak, inner.wake.clone())).abort_handle(),
        ];
        *inner.tasks.lock() = handles;
        tracing::info!(node, prefix = %inner.config.prefix, "redis: node joined the cluster");
        Ok(RedisAdapter { inner })
    }

    /// Delivers a frame to the targeted connections **of this node only**, publishing
    /// nothing: for an app that carries some events between nodes itself (the chat
    /// orders its room messages by `seq` on each node before delivering them). Returns
    /// how many connections it was queued for.
    pub fn deliver_local(&self, target: &Target, frame: &Arc<SharedFrame>) -> usize {
        self.inner.local.deliver(target, frame)
    }

    /// This node's number.
    pub fn node(&self) -> u64 {
        self.inner.node
    }

    /// The link to Redis: connected or not, outages, pushes dropped.
    pub fn health(&self) -> Health {
        self.inner.health.snapshot(self.inner.node)
    }

    /// The nodes whose heartbeat is current, this one included, sorted: a node that
    /// left the cluster or stopped beating for [`RedisConfig::node_expiry`] is not among
    /// them (its connections no longer count in the `cluster_*` answers).
    pub async fn live_nodes(&self) -> Result<Vec<u64>, AdapterError> {
        let inner = &self.inner;
        let mut others = inner.other_nodes().await?;
        let mut live = vec![inner.node];
        if !others.is_empty() {
            let mut pipe = redis::pipe();
            for node in &others {
                pipe.cmd("EXISTS").arg(inner.keys.alive(*node));
            }
            let mut conn = inner.commands.clone();
            let alive: Vec<bool> = inner.query(pipe.query_async(&mut conn)).await?;
            live.extend(
                others
                    .drain(..)
                    .zip(alive)
                    .filter_map(|(node, alive)| alive.then_some(node)),
            );
        }
        live.sort_unstable();
        Ok(live)
    }

    /// The configuration in force.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Leaves the cluster at once: deletes this node's heartbeat and membership, so the
    /// others stop counting its connections now rather than after the expiry. Call it
    /// after the server's graceful shutdown.
    pub async fn leave_cluster(&self) -> Result<(), AdapterError> {
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
        let inner = &self.inner;
        let mut conn = inner.commands.clone();
        let cleanup = tasks::cleanup(&inner.keys, inner.node, true);
        inner
            .query(cleanup.query_async::<i64>(&mut conn))
            .await
            .map(drop)
    }

    fn mark_room(&self, room: &str) {
        let mut dirty = self.inner.dirty.lock();
        if !dirty.rooms.contains(room) {
            dirty.rooms.insert(room.into());
        }
        drop(dirty);
        self.inner.wake.notify_one();
    }

    fn mark_conns(&self) {
        self.inner.dirty.lock().conns = true;
        self.inner.wake.notify_one();
    }

    /// Sends a push to the other nodes; counted as dropped when Redis is away or the
    /// queue is full.
    fn publish(
        &self,
        channel: String,
        target_conn: Option<ConnId>,
        except: Option<ConnId>,
        frame: &SharedFrame,
    ) {
        let inner = &self.inner;
        if !inner.health.connected() {
            inner.health.dropped(1);
            return;
        }
        let Some(json) = frame.encoded(Codec::JsonText) else {
            return;
        };
        let bytes = Publication {
            origin: inner.node,
            except,
            conn: target_conn,
            droppable: frame.is_droppable(),
            event: frame.event().to_owned(),
            json: json.bytes.clone(),
        }
        .encode();
        if inner.publish.try_send((channel, bytes)).is_err() {
            inner.health.dropped(1);
        }
    }
}

impl Inner {
    /// A command or query with the configured timeout; a failure marks the link down.
    pub(crate) async fn query<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, AdapterError> {
        match tokio::time::timeout(self.config.command_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.fail("command", &e);
                Err(AdapterError::Unavailable(e.to_string()))
            }
            Err(_) => {
                self.fail("command", &"timed out");
                Err(AdapterError::Timeout(self.config.command_timeout))
            }
        }
    }

    /// Redis failed: report it, and write everything again once it is back.
    pub(crate) fn fail(&self, what: &str, error: &dyn std::fmt::Display) {
        self.health.down(self.node, what, error);
        self.dirty.lock().resync = true;
        self.wake.notify_one();
    }

    /// The other nodes that hold state, alive or not yet cleaned.
    async fn other_nodes(&self) -> Result<Vec<u64>, AdapterError> {
        let mut conn = self.commands.clone();
        let nodes: Vec<u64> = self
            .query(
                redis::cmd("SMEMBERS")
                    .arg(self.keys.nodes())
                    .query_async(&mut conn),
            )
            .await?;
        Ok(nodes.into_iter().filter(|n| *n != self.node).collect())
    }

    /// For every other live node, the answer of one command built by `ask`.
    async fn ask_live_nodes<T: redis::FromRedisValue>(
        &self,
        ask: impl Fn(&mut redis::Pipeline, u64),
    ) -> Result<Vec<T>, AdapterError> {
        let nodes = self.other_nodes().await?;
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("EXISTS").arg(self.keys.alive(*node));
            ask(&mut pipe, *node);
        }
        let mut conn = self.commands.clone();
        let values: Vec<redis::Value> = self.query(pipe.query_async(&mut conn)).await?;
        let mut answers = Vec::with_capacity(nodes.len());
        let mut values = values.into_iter();
        while let (Some(alive), Some(answer)) = (values.next(), values.next()) {
            if redis::from_redis_value::<bool>(alive).unwrap_or(false) {
                let answer = redis::from_redis_value::<T>(answer)
                    .map_err(|e| AdapterError::Unavailable(e.to_string()))?;
                answers.push(answer);
            }
        }
        Ok(answers)
    }
}

impl Adapter for RedisAdapter {
    fn connect(&self, peer: Arc<Peer>) {
        self.inner.local.connect(peer);
        self.mark_conns();
    }

    fn disconnect(&self, id: ConnId) -> Vec<String> {
        let rooms = self.inner.local.disconnect(id);
        {
            let mut dirty = self.inner.dirty.lock();
            dirty.conns = true;
            for room in &rooms {
                if !dirty.rooms.contains(room.as_str()) {
                    dirty.rooms.insert(room.as_str().into());
                }
            }
        }
        self.inner.wake.notify_one();
        rooms
    }

    fn peer(&self, id: ConnId) -> Option<Arc<Peer>> {
        self.inner.local.peer(id)
    }

    fn peers(&self) -> Vec<Arc<Peer>> {
        self.inner.local.peers()
    }

    fn join(&self, room: &str, id: ConnId, max_rooms: usize) -> Result<bool, RoomError> {
        let joined = self.inner.local.join(room, id, max_rooms)?;
        if joined {
            self.mark_room(room);
        }
        Ok(joined)
    }

    fn leave(&self, room: &str, id: ConnId) -> bool {
        let left = self.inner.local.leave(room, id);
        if left {
            self.mark_room(room);
        }
        left
    }

    fn members(&self, room: &str) -> Vec<ConnId> {
        self.inner.local.members(room)
    }

    fn count(&self, room: &str) -> usize {
        self.inner.local.count(room)
    }

    fn rooms(&self) -> Vec<RoomInfo> {
        self.inner.local.rooms()
    }

    fn connections(&self) -> usize {
        self.inner.local.connections()
    }

    fn deliver(&self, target: &Target, frame: &Arc<SharedFrame>) -> usize {
        let delivered = self.inner.local.deliver(target, frame);
        match target {
            Target::All { except } => {
                self.publish(self.inner.all_channel.clone(), None, *except, frame)
            }
            Target::Room { room, except } => {
                self.publish(self.inner.keys.room_channel(room), None, *except, frame)
            }
            Target::Conn(id) => {
                let node = keys::node_of(*id);
                if node != self.inner.node {
                    self.publish(self.inner.keys.node_channel(node), Some(*id), None, frame)
                }
            }
            Target::Nobody => {}
        }
        delivered
    }

    fn cluster_members<'a>(&'a self, room: &'a str) -> AdapterFuture<'a, Vec<ConnId>> {
        Box::pin(async move {
            let inner = &self.inner;
            let others: Vec<Vec<ConnId>> = inner
                .ask_live_nodes(|pipe, node| {
                    pipe.cmd("SMEMBERS").arg(inner.keys.node_room(node, room));
                })
                .await?;
            let mut all = inner.local.members(room);
            all.extend(others.into_iter().flatten());
            all.sort_unstable();
            all.dedup();
            Ok(all)
        })
    }

    fn cluster_count<'a>(&'a self, room: &'a str) -> AdapterFuture<'a, usize> {
        Box::pin(async move {
            let inner = &self.inner;
            let others: Vec<Option<usize>> = inner
                .ask_live_nodes(|pipe, node| {
                    pipe.cmd("HGET").arg(inner.keys.node_rooms(node)).arg(room);
                })
                .await?;
            Ok(inner.local.count(room) + others.into_iter().flatten().sum::<usize>())
        })
    }

    fn cluster_rooms(&self) -> AdapterFuture<'_, Vec<RoomInfo>> {
        Box::pin(async move {
            let inner = &self.inner;
            let others: Vec<Vec<(String, usize)>> = inner
                .ask_live_nodes(|pipe, node| {
                    pipe.cmd("HGETALL").arg(inner.keys.node_rooms(node));
                })
                .await?;
            let mut rooms: BTreeMap<String, usize> = inner
                .local
                .rooms()
                .into_iter()
                .map(|r| (r.name, r.members))
                .collect();
            for (name, members) in others.into_iter().flatten() {
                *rooms.entry(name).or_default() += members;
            }
            Ok(rooms
                .into_iter()
                .filter(|(_, members)| *members > 0)
                .map(|(name, members)| RoomInfo { name, members })
                .collect())
        })
    }

    fn cluster_connections(&self) -> AdapterFuture<'_, usize> {
        Box::pin(async move {
            let inner = &self.inner;
            let others: Vec<Option<usize>> = inner
                .ask_live_nodes(|pipe, node| {
                    pipe.cmd("GET").arg(inner.keys.node_conns(node));
                })
                .await?;
            Ok(inner.local.connections() + others.into_iter().flatten().sum::<usize>())
        })
    }

    fn id_base(&self) -> ConnId {
        self.inner.node << NODE_SHIFT
    }
}

/// Runs a connect step within the command timeout.
async fn within<T>(
    url: &str,
    config: &RedisConfig,
    fut: impl Future<Output = T>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(config.command_timeout, fut)
        .await
        .map_err(|_| ConnectError::Timeout(url.to_owned()))
}

/// Takes a node number no live node holds: `INCR` of the sequence (wrapping below
/// 2^21), kept only if its heartbeat key could be created.
async fn claim_node(
    conn: &mut ConnectionManager,
    keys: &Keys,
    token: &str,
    config: &RedisConfig,
) -> redis::RedisResult<u64> {
    loop {
        let seq: u64 = redis::cmd("INCR")
            .arg(keys.node_seq())
            .query_async(conn)
            .await?;
        let node = (seq - 1) % MAX_NODE + 1;
        let claimed: Option<String> = redis::cmd("SET")
            .arg(keys.alive(node))
            .arg(token)
            .arg("PX")
            .arg(config.node_expiry.as_millis() as u64)
            .arg("NX")
            .query_async(conn)
            .await?;
        if claimed.is_some() {
            redis::cmd("SADD")
                .arg(keys.nodes())
                .arg(node)
                .exec_async(conn)
                .await?;
            return Ok(node);
        }
    }
}
