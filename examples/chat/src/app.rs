//! The chat's shared state: rooms, the names in use, the store, the system events.

use crate::config::Config;
use crate::events::RoomSummary;
use crate::history::RoomLog;
use crate::sse::SystemEvents;
use crate::store::{Store, StoreError};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wsx_core::server::{ConnId, HandlerError};

/// The app state every handler gets (`State<App>`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

#[derive(Debug)]
struct AppInner {
    config: Config,
    store: Store,
    /// Every room used since the start, by name. Rooms are never dropped from here, so a
    /// room has exactly one [`RoomLog`] and one sequence counter for the process's life
    /// (bounded by `--max-rooms`).
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    /// Who holds each name: name key → (connection, name as shown).
    users: Mutex<HashMap<String, (ConnId, String)>>,
    events: SystemEvents,
    started: Instant,
    /// Open WebSocket connections.
    connections: AtomicUsize,
    /// Messages in the database (counted once at start, then on each commit).
    messages: AtomicU64,
    /// The address the server listens on, once bound: its own page's origins are
    /// allowed to open WebSockets.
    local_addr: std::sync::OnceLock<std::net::SocketAddr>,
}

/// One chat room.
#[derive(Debug)]
pub struct Room {
    /// Its name.
    pub name: String,
    /// The sequence number of the latest message handed to the database. Held while a
    /// message is numbered and queued, so the database sees a room's messages in `seq`
    /// order; released before the commit, so messages sent together commit together.
    pub numbering: tokio::sync::Mutex<u64>,
    /// Its committed history. Held (never across an await) while a committed message is
    /// recorded and broadcast, and while a connection joins or leaves, so those happen in
    /// one order for everyone (see [`crate::history`]).
    log: Mutex<RoomLog>,
    /// Its members: connection → name as shown.
    members: Mutex<BTreeMap<ConnId, String>>,
    /// Its latest sequence number, readable without the log lock (listings).
    last_seq: AtomicU64,
}

impl Room {
    /// Adds or renames a member; returns whether the room was empty before.
    pub fn add_member(&self, conn: ConnId, name: &str) -> bool {
        let Ok(mut members) = self.members.lock() else {
            return false;
        };
        let was_empty = members.is_empty();
        members.insert(conn, name.to_owned());
        was_empty
    }

    /// Removes a member; returns `Some(now_empty)` if it was one.
    pub fn remove_member(&self, conn: ConnId) -> Option<bool> {
        let mut members = self.members.lock().ok()?;
        members.remove(&conn)?;
        Some(members.is_empty())
    }

    /// Renames a member, if it is one.
    pub fn rename_member(&self, conn: ConnId, name: &str) {
        if let Ok(mut members) = self.members.lock() {
            if let Some(n) = members.get_mut(&conn) {
                *n = name.to_owned();
            }
        }
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
        let mut names: Vec<String> = self
            .members
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        names.sort_by_cached_key(|n| crate::names::fold_case(n));
        names
    }

    /// How many members.
    pub fn member_count(&self) -> usize {
        self.members.lock().map(|m| m.len()).unwrap_or(0)
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
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    /// The server could not be built.
    #[error("cannot build the server: {0}")]
    Build(#[from] wsx_core::server::BuildError),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl App {
    /// Opens the store (in memory with `config.memory`) and builds the state.
    pub async fn new(config: Config) -> Result<App, StartError> {
        let store = Store::open(if config.memory {
            None
        } else {
            Some(config.db.as_path())
        })?;
        let messages = store.count_messages().await?;
        Ok(App {
            inner: Arc::new(AppInner {
                config,
                store,
                rooms: Mutex::new(HashMap::new()),
                users: Mutex::new(HashMap::new()),
                events: SystemEvents::default(),
                started: Instant::now(),
                connections: AtomicUsize::new(0),
                messages: AtomicU64::new(messages),
                local_addr: std::sync::OnceLock::new(),
            }),
        })
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

    /// A room, loaded from the database (or created) on first use.
    pub async fn room(&self, name: &str) -> Result<Arc<Room>, HandlerError> {
        if let Some(room) = self.existing_room(name) {
            return Ok(room);
        }
        if self.inner.rooms.lock().map(|r| r.len()).unwrap_or(0) >= self.inner.config.max_rooms {
            return Err(HandlerError::new(
                "the server has too many rooms; join an existing one",
            ));
        }
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
        let mut rooms = self
            .inner
            .rooms
            .lock()
            .map_err(|_| HandlerError::new("internal error"))?;
        // Two first joins may race: the first one in wins, the other's load is dropped.
        let room = rooms
            .entry(name.to_owned())
            .or_insert_with(|| {
                let last_seq = AtomicU64::new(record.last_seq);
                Arc::new(Room {
                    name: name.to_owned(),
                    numbering: tokio::sync::Mutex::new(record.last_seq),
                    log: Mutex::new(RoomLog::new(record, self.inner.config.history)),
                    members: Mutex::new(BTreeMap::new()),
                    last_seq,
                })
            })
            .clone();
        metrics::gauge!("chat_rooms_loaded").set(rooms.len() as f64);
        Ok(room)
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

    /// Claims a name for a connection; `false` if another holds it.
    pub fn claim_name(&self, key: &str, display: &str, conn: ConnId) -> bool {
        let Ok(mut users) = self.inner.users.lock() else {
            return false;
        };
        match users.get(key) {
            Some((holder, _)) if *holder != conn => false,
            _ => {
                users.insert(key.to_owned(), (conn, display.to_owned()));
                metrics::gauge!("chat_users").set(users.len() as f64);
                true
            }
        }
    }

    /// Moves a connection from one name to another; `false` if the new one is taken.
    pub fn rename(&self, old_key: &str, new_key: &str, display: &str, conn: ConnId) -> bool {
        let Ok(mut users) = self.inner.users.lock() else {
            return false;
        };
        if users
            .get(new_key)
            .is_some_and(|(holder, _)| *holder != conn)
        {
            return false;
        }
        if users
            .get(old_key)
            .is_some_and(|(holder, _)| *holder == conn)
        {
            users.remove(old_key);
        }
        users.insert(new_key.to_owned(), (conn, display.to_owned()));
        true
    }

    /// Frees a connection's name.
    pub fn release_name(&self, key: &str, conn: ConnId) {
        if let Ok(mut users) = self.inner.users.lock() {
            if users.get(key).is_some_and(|(holder, _)| *holder == conn) {
                users.remove(key);
            }
            metrics::gauge!("chat_users").set(users.len() as f64);
        }
    }

    /// Who holds a name: connection and name as shown.
    pub fn find_user(&self, key: &str) -> Option<(ConnId, String)> {
        self.inner.users.lock().ok()?.get(key).cloned()
    }

    /// How many users have a name.
    pub fn user_count(&self) -> usize {
        self.inner.users.lock().map(|u| u.len()).unwrap_or(0)
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

    /// The numbers of `GET /api/stats` and the SSE `stats` event.
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
