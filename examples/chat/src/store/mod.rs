//! Durable history: the rooms, their messages and the client ids of sends, behind one
//! interface with two backends.
//!
//! | backend | for | flag |
//! | --- | --- | --- |
//! | [`sqlite`] (rusqlite, one thread) | one node, embedded (the default) | `--db FILE`, `--database sqlite://FILE`, `--memory` |
//! | [`postgres`] (sqlx, a pool) | one or several nodes sharing a database | `--database postgres://…` |
//!
//! # Why an enum, not a trait
//! [`Store`] is an enum over the two backends. The set is closed (the app chooses one at
//! start from its flags and nobody outside the crate adds one), the calls are async (an
//! `async fn` in a trait is not object safe: a `dyn` store would box every future), and a
//! `match` keeps each call a direct call with both arms checked by the compiler. The two
//! backends answer the same calls with the same meaning; `tests/store.rs` runs one suite of
//! test functions against both.
//!
//! # What lives where
//! - `rooms(name, epoch, created_at, last_seq)`: a room's history epoch, made once when the
//!   room first appears in the database and shared by every node, and the `seq` of its
//!   latest message.
//! - `messages(room, seq, id, username, body, ts, kind, user_key, client_id)`: every room
//!   message, keyed by `(room, seq)`; `(user_key, client_id)` is unique (a client id is
//!   optional: rows without one never conflict).
//! - `private_sends(user_key, client_id, message_id, ts, created_at)`: private messages are
//!   not stored, but the answer to a `sendPrivate` with a client id is, for a day, so a
//!   repeat is answered the same.
//!
//! Everything else (who is online, the names in use, the in-memory replay window, typing)
//! lives in the process (see [`crate::app`], [`crate::history`]).
//!
//! # Numbering in the database
//! A message's `seq` is taken in the transaction that inserts it:
//! `INSERT INTO rooms … ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + 1
//! RETURNING last_seq`. The row stays locked until the commit, so two writers (two
//! processes on one PostgreSQL database) appending to one room take turns: no `seq` is used
//! twice, and a transaction that fails rolls its increment back, so none is skipped.
//!
//! # Client ids
//! A `sendMessage` may carry a client-generated `clientId`. Under the room's row lock, the
//! append looks for a message with the same `(user_key, client_id)`; if there is one, the
//! append stores nothing and answers with that message ([`Appended::repeat`]): the same
//! `messageId`, `seq` and `timestamp` as the first time, across restarts too. A repeat
//! raced by a writer on another node for *another* room is caught by the unique index
//! (`ON CONFLICT DO NOTHING`): the increment is taken back in the same transaction.
//!
//! # Migrations
//! Versioned SQL in `examples/chat/migrations/{sqlite,postgres}/`, built into the binary
//! and applied at start. SQLite: `rusqlite_migration` (the version is `PRAGMA
//! user_version`; each migration runs in a transaction, and SQLite's write lock keeps two
//! processes from migrating at once). PostgreSQL: sqlx's migrator, which holds a
//! `pg_advisory_lock` (keyed by the database name) while it migrates, so nodes starting at
//! once apply each migration once and the others wait.
//!
//! # Durability
//! An append's completion runs only after its transaction committed: a `messageId`
//! answered to its sender is on disk (SQLite: `synchronous=FULL`; PostgreSQL: the
//! server's `synchronous_commit`, on by default).

pub mod postgres;
pub mod sqlite;

use crate::events::{ChatMessage, MessageKind};
use std::path::PathBuf;

/// Where the history lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// SQLite in memory: a fresh database every start (tests and demos).
    Memory,
    /// A PostgreSQL database, by URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Database {
    /// Parses `--database`: `sqlite://PATH` (or `sqlite:PATH`), `sqlite::memory:`,
    /// `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Database, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path == ":memory:" {
                return Ok(Database::Memory);
            }
            if path.is_empty() {
                return Err(format!("`{url}` names no file (e.g. sqlite://wsx-chat.db)"));
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        Err(format!(
            "`{url}` is not a database URL (sqlite://FILE or postgres://USER@HOST/DB)"
        ))
    }

    /// Whether several nodes may share it.
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// How it is shown in logs: the file, `in memory`, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite {}", path.display()),
            Database::Memory => "sqlite in memory".to_owned(),
            Database::Postgres(url) => {
                let start = url.find("://").map_or(0, |i| i + 3);
                let masked = match url.rfind('@') {
                    Some(at) if at > start => match url[start..at].split_once(':') {
                        Some((user, _)) => {
                            format!("{}{user}:***{}", &url[..start], &url[at..])
                        }
                        None => url.clone(),
                    },
                    _ => url.clone(),
                };
                format!("postgres {masked}")
            }
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A SQLite migration failed.
    #[error("cannot migrate the database: {0}")]
    SqliteMigration(#[from] rusqlite_migration::Error),
    /// PostgreSQL failed.
    #[error("database error: {0}")]
    Postgres(#[from] sqlx::Error),
    /// A PostgreSQL migration failed.
    #[error("cannot migrate the database: {0}")]
    PostgresMigration(#[from] sqlx::migrate::MigrateError),
    /// The store's thread or task is gone (shut down, or panicked).
    #[error("the database thread has stopped")]
    Stopped,
    /// A group commit failed; every message in it was refused.
    #[error("could not store the message: {0}")]
    WriteFailed(String),
    /// The database holds something this version cannot read.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A room as the database knows it.
#[derive(Debug, Clone)]
pub struct RoomRecord {
    /// The room's history epoch.
    pub epoch: String,
    /// Its latest sequence number (0: no message yet).
    pub last_seq: u64,
    /// Its latest messages, oldest first.
    pub recent: Vec<ChatMessage>,
}

/// A page of a room's history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The room's epoch.
    pub epoch: String,
    /// The messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether older messages exist in the range asked for.
    pub has_more: bool,
}

/// Which part of a room's history to read: the latest `limit` messages with
/// `after < seq < before`.
#[derive(Debug, Clone, Copy)]
pub struct HistoryRange {
    /// Only messages before this sequence number.
    pub before: Option<u64>,
    /// Only messages after this sequence number.
    pub after: Option<u64>,
    /// How many messages at most.
    pub limit: u32,
}

/// A message to append: everything but its `seq`, which the database assigns.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The room (created with a new epoch if the database does not know it).
    pub room: String,
    /// The id the server gave it.
    pub message_id: String,
    /// The sender's name key (see [`crate::names::UserName`]).
    pub user_key: String,
    /// The sender's name as shown.
    pub username: String,
    /// The text.
    pub body: String,
    /// When the server accepted it, in milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// A plain message or an action.
    pub kind: MessageKind,
    /// The sender's client-generated id, if it gave one.
    pub client_id: Option<String>,
}

impl NewMessage {
    fn into_message(self, seq: u64) -> ChatMessage {
        ChatMessage {
            message_id: self.message_id,
            username: self.username,
            message: self.body,
            timestamp: self.timestamp,
            room: self.room,
            seq,
            kind: self.kind,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The stored message with its `seq` (for a repeat: the message stored the first time).
    pub message: ChatMessage,
    /// The sender had already sent this client id: nothing was stored.
    pub repeat: bool,
}

/// The answer to a private message with a client id, kept to answer a repeat the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateReceipt {
    /// The message id given the first time.
    pub message_id: String,
    /// Its timestamp.
    pub timestamp: u64,
}

/// How long a private message's client id is kept.
pub const PRIVATE_RECEIPT_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// What runs once an appended message is committed (or failed). Appends complete in the
/// order they were queued.
pub type OnCommit = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

/// Answers every append of a group commit: each its own message, or all the one failure.
pub(crate) fn settle(
    dones: Vec<OnCommit>,
    committed: Result<Vec<Appended>, impl std::fmt::Display>,
) {
    match committed {
        Ok(appended) => {
            for (done, appended) in dones.into_iter().zip(appended) {
                done(Ok(appended));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, messages = dones.len(), "could not store messages");
            for done in dones {
                done(Err(StoreError::WriteFailed(e.to_string())));
            }
        }
    }
}

/// The history store: one of the two backends (see the module docs). Cheap to share in
/// an `Arc`.
#[derive(Debug)]
pub enum Store {
    /// SQLite, in a file or in memory.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL.
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens the database, applies the migrations it lacks, and starts the writer.
    pub async fn open(database: &Database) -> Result<Store, StoreError> {
        Ok(match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                Store::Sqlite(
                    tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(Some(&path)))
                        .await
                        .map_err(|_| StoreError::Stopped)??,
                )
            }
            Database::Memory => Store::Sqlite(sqlite::SqliteStore::open(None)?),
            Database::Postgres(url) => Store::Postgres(postgres::PgStore::open(url).await?),
        })
    }

    /// The room's epoch, latest sequence number and latest `recent` messages; creates
    /// the room (with a new epoch) if the database does not know it. Served after every
    /// append queued before it.
    pub async fn open_room(&self, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
        match self {
            Store::Sqlite(s) => s.open_room(name, recent).await,
            Store::Postgres(s) => s.open_room(name, recent).await,
        }
    }

    /// Appends a message; returns once it is committed.
    pub async fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.append_then(
            message,
            Box::new(move |result| {
                let _ = reply.send(result);
            }),
        )
        .await?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// Queues a message and returns once it is queued, not committed: `done` runs after
    /// the commit, on the store's writer, and the `done`s of all queued messages run in
    /// the order the messages were queued. Messages queued while a commit is running go
    /// into the next transaction together (group commit).
    pub async fn append_then(&self, message: NewMessage, done: OnCommit) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.append_then(message, done).await,
            Store::Postgres(s) => s.append_then(message, done).await,
        }
    }

    /// A page of a room's history; `None` for a room the database does not know.
    pub async fn history(
        &self,
        room: &str,
        range: HistoryRange,
    ) -> Result<Option<HistoryPage>, StoreError> {
        match self {
            Store::Sqlite(s) => s.history(room, range).await,
            Store::Postgres(s) => s.history(room, range).await,
        }
    }

    /// Whether the database knows the room.
    pub async fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.room_exists(name).await,
            Store::Postgres(s) => s.room_exists(name).await,
        }
    }

    /// How many messages the database holds.
    pub async fn count_messages(&self) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.count_messages().await,
            Store::Postgres(s) => s.count_messages().await,
        }
    }

    /// The answer given to the private message `client_id` of `user_key`, if it was sent
    /// (less than [`PRIVATE_RECEIPT_TTL_MS`] ago).
    pub async fn private_receipt(
        &self,
        user_key: &str,
        client_id: &str,
    ) -> Result<Option<PrivateReceipt>, StoreError> {
        match self {
            Store::Sqlite(s) => s.private_receipt(user_key, client_id).await,
            Store::Postgres(s) => s.private_receipt(user_key, client_id).await,
        }
    }

    /// Keeps the answer to a delivered private message; returns the receipt kept (the
    /// earlier one if the id was recorded meanwhile). Drops receipts older than
    /// [`PRIVATE_RECEIPT_TTL_MS`].
    pub async fn record_private(
        &self,
        user_key: &str,
        client_id: &str,
        receipt: PrivateReceipt,
    ) -> Result<PrivateReceipt, StoreError> {
        match self {
            Store::Sqlite(s) => s.record_private(user_key, client_id, receipt).await,
            Store::Postgres(s) => s.record_private(user_key, client_id, receipt).await,
        }
    }

    /// Finishes the queued appends and closes the database.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

pub(crate) fn kind_name(kind: &MessageKind) -> &'static str {
    match kind {
        MessageKind::Message => "message",
        MessageKind::Action => "action",
    }
}

pub(crate) fn parse_kind(s: &str) -> Result<MessageKind, StoreError> {
    match s {
        "message" => Ok(MessageKind::Message),
        "action" => Ok(MessageKind::Action),
        other => Err(StoreError::Corrupt(format!("message kind `{other}`"))),
    }
}

/// A fresh room epoch.
pub(crate) fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The order in which a batch's messages take their room locks: by room, then queue
/// order (so two writers lock rooms in one order and cannot deadlock, and a room's
/// messages get their `seq`s in queue order).
pub(crate) fn lock_order(rooms: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rooms.len()).collect();
    order.sort_by(|&a, &b| rooms[a].cmp(rooms[b]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn database_urls_parse() {
        assert_eq!(
            Database::parse("sqlite://chat.db").unwrap(),
            Database::Sqlite("chat.db".into())
        );
        assert_eq!(
            Database::parse("sqlite:///tmp/chat.db").unwrap(),
            Database::Sqlite("/tmp/chat.db".into())
        );
        assert_eq!(
            Database::parse("sqlite::memory:").unwrap(),
            Database::Memory
        );
        assert!(
            Database::parse("postgres://root@127.0.0.1/test")
                .unwrap()
                .is_shared()
        );
        for bad in ["", "chat.db", "sqlite://", "mysql://x"] {
            assert!(Database::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Database::Postgres("postgres://u:secret@h/db".into()).describe(),
            "postgres postgres://u:***@h/db"
        );
        assert_eq!(
            Database::Postgres("postgres://root@h/db".into()).describe(),
            "postgres postgres://root@h/db"
        );
    }

    #[test]
    fn lock_order_groups_rooms_in_queue_order() {
        assert_eq!(lock_order(&["b", "a", "b", "a"]), [1, 3, 0, 2]);
    }
}
