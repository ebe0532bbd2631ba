//! The chat's shared state: rooms, the names in use, the store, the system events.

use crate::chat::User;
use crate::cluster::{Cluster, ClusterError};
use crate::config::Config;
use crate::events::RoomSummary;
use crate::history::RoomLog;
use crate::limits::RateLimits;
use crate::names::UserName;
use crate::sse::SystemEvents;
use crate::store::{HistoryRange, Store, StoreError};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wsx_core::server::{Adapter, Conn, ConnId, HandlerError};

/// Longest wait for the cluster's room list in a `welcome`; past it the welcome lists
/// this node's rooms, so a connection is never kept waiting on Redis to be greeted.
pub const WELCOME_ROOMS_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// How long the cluster's room list read for one `welcome` serves the next ones.
pub const WELCOME_ROOMS_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The app state every handler gets (`State<App>`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

#[derive(Debug)]
struct AppInner {
    config: Config,
    store: Store,
    /// The rooms in memory, by name: every room with members, and rooms with history
    /// that emptied less than `--room-idle` ago. A room leaves this map only when it has
    /// no members, and is marked retired as it leaves (under its members lock), so a join
    /// racing the eviction retries with a fresh load instead of entering a room nobody
    /// else sees. A room loaded again reads its last `seq` from the database after every
    /// message queued before (the store serves `open_room` after the appends queued
    /// before it), so its log goes on where it stopped. At most `--max-rooms` entries.
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    /// Held while a room is brought into memory: concurrent first joins of one room load
    /// it once and are charged one room-creation token, not one each.
    opening: tokio::sync::Mutex<()>,
    /// Message and room-creation limits per name and per client address.
    limits: RateLimits,
    /// Who holds each name, by name key.
    users: Mutex<HashMap<String, NameHolder>>,
    events: SystemEvents,
    started: Instant,
    /// Open WebSocket connections.
    connections: AtomicUsize,
    /// Messages in the database (counted once at start, then on each commit).
    messages: AtomicU64,
    /// The address the server listens on, once bound: its own page's origins are
    /// allowed to open WebSockets.
    local_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// With `--redis`: this node's part in the cluster.
    cluster: Option<Cluster>,
    /// On a cluster node: the cluster's rooms as the last `welcome` read them, and when.
    /// Connections opening within [`WELCOME_ROOMS_FRESH`] of that read share it, so a
    /// wave of reconnects costs one cluster query per interval, not one per connection.
    welcome_rooms: tokio::sync::Mutex<Option<(Instant, Vec<RoomSummary>)>>,
    /// Set when a graceful shutdown begins: the connections it closes are not announced
    /// as leaving (they come back, on this node after a restart or on another node).
    shutting_down: std::sync::atomic::AtomicBool,
}

/// The connection holding a name.
#[derive(Debug)]
struct NameHolder {
    /// The connection (to close it when a resume takes the name back).
    conn: Conn<User>,
    /// The name as shown.
    display: String,
    /// The secret a new connection presents to take the name back.
    resume_token: String,
}

/// How a name was claimed.
#[derive(Debug)]
pub enum Claim {
    /// It was free.
    Free {
        /// The user's resume token.
        resume_token: String,
    },
    /// Another connection held it and the claim carried its resume token: that
    /// connection is to be closed.
    Resumed {
        /// The user's new resume token (a token is good for one resume).
        resume_token: String,
        /// The connection that held the name.
        stale: Conn<User>,
    },
}

/// A fresh resume token: 122 random bits.
fn new_resume_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One chat room.
#[derive(Debug)]
pub struct Room {
    /// Its name.
    pub name: String,
    /// Held while a message is queued for the database (which numbers it), so a room's
    /// messages are numbered in the order their requests took it; released before the
    /// commit, so messages sent together commit together.
    pub numbering: tokio::sync::Mutex<()>,
    /// Its committed history. Held (never across an await) while a committed message is
    /// recorded and broadcast, and while a connection joins or leaves, so those happen in
    /// one order for everyone (see [`crate::history`]).
    log: Mutex<RoomLog>,
    /// Its members, and whether it left memory.
    members: Mutex<Members>,
    /// Its latest sequence number, readable without the log lock (listings).
    last_seq: AtomicU64,
}

/// A room's members.
#[derive(Debug, Default)]
struct Members {
    /// Connection → name as shown.
    names: BTreeMap<ConnId, String>,
    /// Since when the room has had no members.
    empty_since: Option<Instant>,
    /// The room left memory: nobody may enter this copy (a join loads it again).
    retired: bool,
}

/// A join found the room leaving memory; load it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retired;

impl Room {
    fn members(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds or renames a member; returns whether the room was empty before, or
    /// [`Retired`] when the room just left memory.
    pub fn add_member(&self, conn: ConnId, name: &str) -> Result<bool, Retired> {
        let mut members = self.members();
        if members.retired {
            return Err(Retired);
        }
        let was_empty = members.names.is_empty();
        members.names.insert(conn, name.to_owned());
        members.empty_since = None;
        Ok(was_empty)
    }

    /// Removes a member; returns `Some(now_empty)` if it was one.
    pub fn remove_member(&self, conn: ConnId) -> Option<bool> {
        let mut members = self.members();
        members.names.remove(&conn)?;
        let now_empty = members.names.is_empty();
        if now_empty {
            members.empty_since = Some(Instant::now());
        }
        Some(now_empty)
    }

    /// Gives a member's place to another connection (the user resumed there), under `name`.
    pub fn replace_member(&self, stale: ConnId, fresh: ConnId, name: &str) {
        let mut members = self.members();
        if members.names.remove(&stale).is_some() {
            members.names.insert(fresh, name.to_owned());
        }
    }

    /// Renames a member, if it is one.
    pub fn rename_member(&self, conn: ConnId, name: &str) {
        if let Some(n) = self.members().names.get_mut(&conn) {
            *n = name.to_owned();
        }
    }

    /// Marks the room retired if it may leave memory: no members, and no history or
    /// empty for `idle` (`None`: whatever the history).
    fn retire_if_idle(&self, idle: Option<std::time::Duration>) -> bool {
        let mut members = self.members();
        let leaves = members.names.is_empty()
            && match idle {
                None => true,
                Some(idle) => {
                    self.last_seq() == 0
                        || idle.is_zero()
                        || members.empty_since.is_some_and(|t| t.elapsed() >= idle)
                }
            };
        if leaves {
            members.retired = true;
        }
        leaves
    }

    /// The committed history, locked. A poisoned lock is taken over: the log is only
    /// changed by `record`, which leaves it consistent at every step.
    pub fn log(&self) -> std::sync::MutexGuard<'_, RoomLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The members' names, sorted (each name's sort key computed once).
    pub fn member_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.members().names.values().cloned().collect();
        names.sort_by_cached_key(|n| crate::names::fold_case(n));
        names
    }

    /// How many members.
    pub fn member_count(&self) -> usize {
        self.members().names.len()
    }

    /// Notes the latest sequence number (after a commit, under the log lock).
    pub fn set_last_seq(&self, seq: u64) {
        self.last_seq.store(seq, Ordering::Release);
    }

    /// The latest sequence number: how many messages the room has.
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// The room for listings.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            name: self.name.clone(),
            members: self.member_count() as u64,
            messages: self.last_seq(),
        }
    }
}

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The flags do not make a valid setup.
    #[error("{0}")]
    Config(String),
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    /// The server could not be built.
    #[error("cannot build the server: {0}")]
    Build(#[from] wsx_core::server::BuildError),
    /// Redis could not be reached (`--redis`).
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] ClusterError),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl App {
    /// Opens the store (in memory with `config.memory`) and builds the state.
    pub async fn new(config: Config) -> Result<App, StartError> {
        let database = config.database().map_err(StartError::Config)?;
        let store = Store::open(&database).await?;
        let messages = store.count_messages().await?;
        let limits = RateLimits::new(config.user_rate(), config.ip_rate(), config.room_rate_limit);
        let cluster = match &config.redis {
            Some(url) => {
                Some(Cluster::connect(url, &config.redis_prefix, config.node_expiry).await?)
            }
            None => None,
        };
        Ok(App {
            inner: Arc::new(AppInner {
                config,
                store,
                rooms: Mutex::new(HashMap::new()),
                opening: tokio::sync::Mutex::new(()),
                limits,
                users: Mutex::new(HashMap::new()),
                events: SystemEvents::default(),
                started: Instant::now(),
                connections: AtomicUsize::new(0),
                messages: AtomicU64::new(messages),
                local_addr: std::sync::OnceLock::new(),
                cluster,
                welcome_rooms: tokio::sync::Mutex::new(None),
                shutting_down: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// This node's part in the cluster (`--redis`), if it is one.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.inner.cluster.as_ref()
    }

    /// Every room in memory.
    pub fn loaded_rooms(&self) -> Vec<Arc<Room>> {
        self.rooms().values().cloned().collect()
    }

    /// The names this node's connections hold.
    pub fn held_names(&self) -> Vec<crate::cluster::HeldName> {
        self.users()
            .iter()
            .map(|(key, holder)| crate::cluster::HeldName {
                key: key.clone(),
                conn: holder.conn.id(),
                display: holder.display.clone(),
                resume_token: holder.resume_token.clone(),
                rooms: holder.conn.state().all_rooms(),
                held_rooms: holder.conn.state().held_rooms(),
            })
            .collect()
    }

    /// Whether connection `conn` holds the name `key`.
    pub fn holds(&self, key: &str, conn: ConnId) -> bool {
        self.users()
            .get(key)
            .is_some_and(|holder| holder.conn.id() == conn)
    }

    /// Whether connection `conn` holds a name.
    pub fn has_name(&self, conn: ConnId) -> bool {
        self.users().values().any(|holder| holder.conn.id() == conn)
    }

    /// Notes that a graceful shutdown begins (see `shutting_down`).
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
    }

    /// Whether a graceful shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Notes the address the server listens on (once; later calls are ignored).
    pub fn set_local_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.inner.local_addr.set(addr);
    }

    /// The origins allowed to open a WebSocket: `--allow-origin`, plus the server's own
    /// (see [`crate::chat::presence::own_origins`]) once it listens.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut allowed = self.inner.config.allowed_origins.clone();
        if let Some(addr) = self.inner.local_addr.get() {
            allowed.extend(crate::chat::presence::own_origins(*addr));
        }
        allowed
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The system events (SSE).
    pub fn events(&self) -> &SystemEvents {
        &self.inner.events
    }

    /// A room, from memory or else loaded from the database (or created), for a join
    /// from `address`. Bringing a room into memory takes from the address's room budget
    /// (`--room-rate-limit`) and is refused when `--max-rooms` rooms have members; rooms
    /// without members make way first.
    pub async fn room(
        &self,
        name: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<Arc<Room>, HandlerError> {
        if let Some(room) = self.existing_room(name) {
            return Ok(room);
        }
        let _opening = self.inner.opening.lock().await;
        // Another join may have loaded it while this one waited.
        if let Some(room) = self.existing_room(name) {
            return Ok(room);
        }
        self.inner.limits.new_room(address)?;
        self.make_way()?;
        let record = self
            .inner
            .store
            .open_room(name, self.inner.config.history)
            .await
            .map_err(|e| {
                tracing::error!(room = name, error = %e, "cannot open room");
                HandlerError::new("the room's history could not be read")
                    .with_code(wsx_core::ErrorCode::Internal)
            })?;
        let mut rooms = self.rooms();
        // Two first joins may race: the first one in wins, the other's load is dropped.
        let room = rooms
            .entry(name.to_owned())
            .or_insert_with(|| {
                let last_seq = AtomicU64::new(record.last_seq);
                Arc::new(Room {
                    name: name.to_owned(),
                    numbering: tokio::sync::Mutex::new(()),
                    log: Mutex::new(RoomLog::new(record, self.inner.config.history)),
                    members: Mutex::new(Members {
                        empty_since: Some(Instant::now()),
                        ..Members::default()
                    }),
                    last_seq,
                })
            })
            .clone();
        metrics::gauge!("chat_rooms_loaded").set(rooms.len() as f64);
        Ok(room)
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Room>>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Before a room is loaded: refuses when `--max-rooms` rooms have members, and
    /// evicts every room without members when the map is full.
    fn make_way(&self) -> Result<(), HandlerError> {
        let max = self.inner.config.max_rooms;
        let mut rooms = self.rooms();
        if rooms.len() < max {
            return Ok(());
        }
        let live = rooms.values().filter(|r| r.member_count() > 0).count();
        if live >= max {
            return Err(HandlerError::new(format!(
                "the server has {live} rooms in use, its limit: join one of them"
            )));
        }
        rooms.retain(|_, room| !room.retire_if_idle(None));
        metrics::gauge!("chat_rooms_loaded").set(rooms.len() as f64);
        Ok(())
    }

    /// After a room lost its last member: it leaves memory at once if it has no history
    /// (or `--room-idle` is 0); otherwise [`App::evict_idle_rooms`] takes it later.
    pub fn room_emptied(&self, name: &str) {
        let idle = self.inner.config.room_idle;
        let mut rooms = self.rooms();
        if rooms
            .get(name)
            .is_some_and(|r| r.retire_if_idle(Some(idle)))
        {
            rooms.remove(name);
        }
        metrics::gauge!("chat_rooms_loaded").set(rooms.len() as f64);
    }

    /// Drops the rooms that have had no members for `--room-idle` (every stats tick),
    /// and the rate limiters' refilled keys.
    pub fn evict_idle_rooms(&self) {
        let idle = self.inner.config.room_idle;
        let mut rooms = self.rooms();
        rooms.retain(|_, room| !room.retire_if_idle(Some(idle)));
        metrics::gauge!("chat_rooms_loaded").set(rooms.len() as f64);
        drop(rooms);
        self.inner.limits.sweep();
    }

    /// How many rooms are in memory (with members or recently emptied).
    pub fn rooms_in_memory(&self) -> usize {
        self.rooms().len()
    }

    /// The keyed rate limits.
    pub fn limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// A room already in memory.
    pub fn existing_room(&self, name: &str) -> Option<Arc<Room>> {
        self.inner.rooms.lock().ok()?.get(name).cloned()
    }

    /// Rooms that have members, by name.
    pub fn active_rooms(&self) -> Vec<Arc<Room>> {
        let mut rooms: Vec<Arc<Room>> = self
            .inner
            .rooms
            .lock()
            .map(|r| {
                r.values()
                    .filter(|r| r.member_count() > 0)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// Summaries of the rooms that have members, by name.
    pub fn room_summaries(&self) -> Vec<RoomSummary> {
        self.active_rooms().iter().map(|r| r.summary()).collect()
    }

    /// Summaries of the rooms that have members on any node (on one node, as
    /// [`App::room_summaries`]; this node's alone when Redis cannot answer).
    pub async fn room_summaries_everywhere(&self) -> Vec<RoomSummary> {
        if let Some(cluster) = self.cluster()
            && let Some(rooms) = cluster.room_summaries(self).await
        {
            return rooms;
        }
        self.room_summaries()
    }

    /// The rooms a `welcome` lists: on a cluster node the rooms with members on any node
    /// (as [`App::room_summaries_everywhere`]), read at most once per
    /// [`WELCOME_ROOMS_FRESH`] for every connection opening meanwhile, and this node's
    /// own when the read takes longer than [`WELCOME_ROOMS_WAIT`] (Redis slow or away).
    pub async fn welcome_rooms(&self) -> Vec<RoomSummary> {
        if self.cluster().is_none() {
            return self.room_summaries();
        }
        let read = async {
            let mut cached = self.inner.welcome_rooms.lock().await;
            if let Some((at, rooms)) = cached.as_ref()
                && at.elapsed() < WELCOME_ROOMS_FRESH
            {
                return rooms.clone();
            }
            let rooms = self.room_summaries_everywhere().await;
            *cached = Some((Instant::now(), rooms.clone()));
            rooms
        };
        match tokio::time::timeout(WELCOME_ROOMS_WAIT, read).await {
            Ok(rooms) => rooms,
            Err(_) => self.room_summaries(),
        }
    }

    /// A room's latest sequence number in the database (0 when it has none, or it
    /// cannot be read).
    pub async fn last_seq(&self, room: &str) -> u64 {
        let latest = HistoryRange {
            after: None,
            before: None,
            limit: 1,
        };
        match self.inner.store.history(room, latest).await {
            Ok(Some(page)) => page.messages.last().map_or(0, |m| m.seq),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(room, error = %e, "room's last message not read");
                0
            }
        }
    }

    /// Claims a name for a connection; `None` if another connection holds it and
    /// `resume_token` is not that holder's token. With the right token, the holder is
    /// replaced (see [`Claim::Resumed`]).
    pub fn claim_name(
        &self,
        name: &UserName,
        conn: &Conn<User>,
        resume_token: Option<&str>,
    ) -> Option<Claim> {
        let mut users = self.users();
        let stale = match users.get(&name.key) {
            Some(holder) if holder.conn.id() != conn.id() => {
                let proven = resume_token.is_some_and(|t| same_secret(t, &holder.resume_token));
                if !proven {
                    return None;
                }
                Some(holder.conn.clone())
            }
            _ => None,
        };
        let token = new_resume_token();
        users.insert(
            name.key.clone(),
            NameHolder {
                conn: conn.clone(),
                display: name.display.clone(),
                resume_token: token.clone(),
            },
        );
        metrics::gauge!("chat_users").set(users.len() as f64);
        Some(match stale {
            Some(stale) => Claim::Resumed {
                resume_token: token,
                stale,
            },
            None => Claim::Free {
                resume_token: token,
            },
        })
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, NameHolder>> {
        self.inner
            .users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves a connection from one name to another (its resume token goes along);
    /// `false` if the new one is taken.
    pub fn rename(&self, old_key: &str, new: &UserName, conn: &Conn<User>) -> bool {
        let mut users = self.users();
        if users
            .get(&new.key)
            .is_some_and(|holder| holder.conn.id() != conn.id())
        {
            return false;
        }
        let resume_token = match users.get(old_key) {
            Some(holder) if holder.conn.id() == conn.id() => users
                .remove(old_key)
                .map_or_else(new_resume_token, |h| h.resume_token),
            _ => new_resume_token(),
        };
        users.insert(
            new.key.clone(),
            NameHolder {
                conn: conn.clone(),
                display: new.display.clone(),
                resume_token,
            },
        );
        true
    }

    /// Frees a connection's name.
    pub fn release_name(&self, key: &str, conn: ConnId) {
        let mut users = self.users();
        if users
            .get(key)
            .is_some_and(|holder| holder.conn.id() == conn)
        {
            users.remove(key);
        }
        metrics::gauge!("chat_users").set(users.len() as f64);
    }

    /// Who holds a name: connection and name as shown.
    pub fn find_user(&self, key: &str) -> Option<(ConnId, String)> {
        self.users()
            .get(key)
            .map(|holder| (holder.conn.id(), holder.display.clone()))
    }

    /// How many users have a name.
    pub fn user_count(&self) -> usize {
        self.users().len()
    }

    /// Counts a connection in (`true`) or out.
    pub fn count_connection(&self, open: bool) {
        if open {
            self.inner.connections.fetch_add(1, Ordering::AcqRel);
        } else {
            self.inner.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Counts a committed message.
    pub fn count_message(&self) {
        self.inner.messages.fetch_add(1, Ordering::AcqRel);
        metrics::counter!("chat_messages_total").increment(1);
    }

    /// The numbers of `GET /api/stats` and the SSE `stats` event: this node's, or on a
    /// cluster node the whole cluster's (`connections`, `users`, `rooms` from Redis,
    /// `messages` from the database; each of this node's when it cannot be asked).
    pub async fn stats_now(&self) -> serde_json::Value {
        let mut stats = self.stats();
        let Some(cluster) = self.cluster() else {
            return stats;
        };
        if let Ok(connections) = cluster.adapter().cluster_connections().await {
            stats["connections"] = json!(connections);
        }
        if let Some(users) = cluster.user_count().await {
            stats["users"] = json!(users);
        }
        if let Some(rooms) = cluster.room_members().await {
            stats["rooms"] = json!(rooms.len());
        }
        match self.inner.store.count_messages().await {
            Ok(messages) => stats["messages"] = json!(messages),
            Err(e) => tracing::warn!(error = %e, "messages not counted"),
        }
        stats
    }

    /// This node's numbers (see [`App::stats_now`]).
    pub fn stats(&self) -> serde_json::Value {
        json!({
            "connections": self.inner.connections.load(Ordering::Acquire),
            "users": self.user_count(),
            "rooms": self.active_rooms().len(),
            "messages": self.inner.messages.load(Ordering::Acquire),
            "uptimeSecs": self.inner.started.elapsed().as_secs(),
        })
    }
}
