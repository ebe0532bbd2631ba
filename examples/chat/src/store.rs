//! Durable history: every room message in an embedded SQLite database.
//!
//! One thread owns the database connection and serves commands from a channel, so the
//! async runtime never blocks on disk. Appends that arrive together are committed in one
//! transaction (group commit), and each caller hears back only after the commit: a
//! `messageId` returned to its sender is on disk. The database runs in WAL mode with
//! `synchronous=FULL`: every commit is synced to the disk before its messages are
//! answered, so an acknowledged message survives a `kill -9` and a power loss alike (with
//! `NORMAL`, a power loss could drop the last commits, and their `seq`s would then be
//! given to new messages that a client holding the old position would take as seen).
//! Group commit keeps that to one sync per batch, not per message.
//!
//! Schema: `rooms(name, epoch, created_at)` and `messages(room, seq, id, username, body,
//! ts, kind)` keyed by `(room, seq)`. A room's epoch is made when the room first appears
//! in a database, so a fresh database (or `--memory`) gives every room a new epoch and
//! reconnecting clients learn that their old positions mean nothing here.

use crate::events::{ChatMessage, MessageKind};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Most appends committed in one transaction.
const GROUP_COMMIT_MAX: usize = 256;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store thread is gone (shut down, or panicked).
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

enum Command {
    OpenRoom {
        name: String,
        recent: usize,
        reply: oneshot::Sender<Result<RoomRecord, StoreError>>,
    },
    Append {
        message: ChatMessage,
        done: OnCommit,
    },
    History {
        room: String,
        range: HistoryRange,
        reply: oneshot::Sender<Result<Option<HistoryPage>, StoreError>>,
    },
    RoomExists {
        name: String,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    CountMessages {
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// What runs on the database thread once an appended message is committed (or failed).
/// Appends complete in the order they were queued.
pub type OnCommit = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// The handle of the database thread. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Store {
    commands: mpsc::Sender<Command>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Store {
    /// Opens (or creates) the database file, or an in-memory database with `None`, and
    /// starts its thread.
    pub fn open(path: Option<&Path>) -> Result<Store, StoreError> {
        let conn = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        configure(&conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS rooms (
                 name TEXT PRIMARY KEY,
                 epoch TEXT NOT NULL,
                 created_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS messages (
                 room TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 id TEXT NOT NULL,
                 username TEXT NOT NULL,
                 body TEXT NOT NULL,
                 ts INTEGER NOT NULL,
                 kind TEXT NOT NULL,
                 PRIMARY KEY (room, seq)
             ) WITHOUT ROWID;",
        )?;
        let (commands, rx) = mpsc::channel(1024);
        let thread = std::thread::Builder::new()
            .name("wsx-chat-store".into())
            .spawn(move || serve(conn, rx))
            .map_err(|_| StoreError::Stopped)?;
        Ok(Store {
            commands,
            thread: Mutex::new(Some(thread)),
        })
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)
    }

    /// The room's epoch, latest sequence number and latest `recent` messages; creates
    /// the room (with a new epoch) if the database does not know it.
    pub async fn open_room(&self, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
        self.call(|reply| Command::OpenRoom {
            name: name.to_owned(),
            recent,
            reply,
        })
        .await?
    }

    /// Writes a message; returns once it is committed.
    pub async fn append(&self, message: ChatMessage) -> Result<(), StoreError> {
        self.call(|reply| Command::Append {
            message,
            done: Box::new(move |result| {
                let _ = reply.send(result);
            }),
        })
        .await?
    }

    /// Queues a message and returns once it is queued, not committed: `done` runs on the
    /// database thread after the commit, and the `done`s of all queued messages run in
    /// the order the messages were queued. Messages queued while a commit is running go
    /// into the next transaction together (group commit), so a room's throughput is not
    /// one fsync per message.
    pub async fn append_then(
        &self,
        message: ChatMessage,
        done: OnCommit,
    ) -> Result<(), StoreError> {
        self.commands
            .send(Command::Append { message, done })
            .await
            .map_err(|_| StoreError::Stopped)
    }

    /// A page of a room's history; `None` for a room the database does not know.
    pub async fn history(
        &self,
        room: &str,
        range: HistoryRange,
    ) -> Result<Option<HistoryPage>, StoreError> {
        self.call(|reply| Command::History {
            room: room.to_owned(),
            range,
            reply,
        })
        .await?
    }

    /// Whether the database knows the room.
    pub async fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.call(|reply| Command::RoomExists {
            name: name.to_owned(),
            reply,
        })
        .await?
    }

    /// How many messages the database holds.
    pub async fn count_messages(&self) -> Result<u64, StoreError> {
        self.call(|reply| Command::CountMessages { reply }).await?
    }

    /// Finishes the queued commands, checkpoints the WAL and stops the thread.
    pub async fn close(&self) {
        let _ = self.call(|reply| Command::Close { reply }).await;
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The connection's settings: WAL, and a sync at every commit (see the module docs).
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// The database thread: one command at a time, consecutive appends in one transaction.
fn serve(mut conn: Connection, mut rx: mpsc::Receiver<Command>) {
    let mut next: Option<Command> = None;
    loop {
        let Some(command) = next.take().or_else(|| rx.blocking_recv()) else {
            break;
        };
        match command {
            Command::Append { message, done } => {
                let mut batch = vec![(message, done)];
                while batch.len() < GROUP_COMMIT_MAX {
                    match rx.try_recv() {
                        Ok(Command::Append { message, done }) => batch.push((message, done)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let result = append_all(&mut conn, batch.iter().map(|(m, _)| m));
                if let Err(e) = &result {
                    tracing::error!(error = %e, messages = batch.len(), "could not store messages");
                }
                for (_, done) in batch {
                    done(
                        result
                            .as_ref()
                            .map(|_| ())
                            .map_err(|e| StoreError::WriteFailed(e.to_string())),
                    );
                }
            }
            Command::OpenRoom {
                name,
                recent,
                reply,
            } => {
                let _ = reply.send(open_room(&conn, &name, recent));
            }
            Command::History { room, range, reply } => {
                let _ = reply.send(history(&conn, &room, range));
            }
            Command::RoomExists { name, reply } => {
                let _ = reply.send(room_epoch(&conn, &name).map(|e| e.is_some()));
            }
            Command::CountMessages { reply } => {
                let count =
                    conn.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0));
                let _ = reply.send(count.map(|n| n.max(0) as u64).map_err(StoreError::from));
            }
            Command::Close { reply } => {
                if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
                    tracing::debug!(error = %e, "checkpoint at shutdown failed");
                }
                let _ = reply.send(());
                break;
            }
        }
    }
    tracing::debug!("store thread stopped");
}

fn append_all<'a>(
    conn: &mut Connection,
    messages: impl Iterator<Item = &'a ChatMessage>,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room, seq, id, username, body, ts, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for m in messages {
            insert.execute(params![
                m.room,
                m.seq as i64,
                m.message_id,
                m.username,
                m.message,
                m.timestamp as i64,
                kind_name(&m.kind)
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn room_epoch(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT epoch FROM rooms WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

fn open_room(conn: &Connection, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
    let epoch = match room_epoch(conn, name)? {
        Some(epoch) => epoch,
        None => {
            let epoch = uuid::Uuid::new_v4().simple().to_string();
            conn.execute(
                "INSERT INTO rooms (name, epoch, created_at) VALUES (?1, ?2, ?3)",
                params![name, epoch, crate::now_ms() as i64],
            )?;
            epoch
        }
    };
    let last_seq: i64 = conn.query_row(
        "SELECT coalesce(max(seq), 0) FROM messages WHERE room = ?1",
        [name],
        |r| r.get(0),
    )?;
    let page = read_page(conn, name, 0, i64::MAX, recent)?;
    Ok(RoomRecord {
        epoch,
        last_seq: last_seq.max(0) as u64,
        recent: page.0,
    })
}

fn history(
    conn: &Connection,
    room: &str,
    range: HistoryRange,
) -> Result<Option<HistoryPage>, StoreError> {
    let Some(epoch) = room_epoch(conn, room)? else {
        return Ok(None);
    };
    let after = range.after.map_or(0, |a| a.min(i64::MAX as u64) as i64);
    let before = range
        .before
        .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
    let (messages, has_more) = read_page(conn, room, after, before, range.limit as usize)?;
    Ok(Some(HistoryPage {
        epoch,
        messages,
        has_more,
    }))
}

/// The latest `limit` messages with `after < seq < before`, oldest first, and whether
/// older ones exist in that range.
fn read_page(
    conn: &Connection,
    room: &str,
    after: i64,
    before: i64,
    limit: usize,
) -> Result<(Vec<ChatMessage>, bool), StoreError> {
    let mut select = conn.prepare_cached(
        "SELECT seq, id, username, body, ts, kind FROM messages
         WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4",
    )?;
    let rows = select.query_map(params![room, after, before, limit as i64 + 1], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut messages = VecDeque::with_capacity(limit.min(1024));
    let mut has_more = false;
    for row in rows {
        let (seq, id, username, body, ts, kind) = row?;
        if messages.len() == limit {
            has_more = true;
            break;
        }
        let kind = parse_kind(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("message kind `{kind}`")))?;
        messages.push_front(ChatMessage {
            message_id: id,
            username,
            message: body,
            timestamp: ts.max(0) as u64,
            room: room.to_owned(),
            seq: seq.max(0) as u64,
            kind,
        });
    }
    Ok((messages.into(), has_more))
}

fn kind_name(kind: &MessageKind) -> &'static str {
    match kind {
        MessageKind::Message => "message",
        MessageKind::Action => "action",
    }
}

fn parse_kind(s: &str) -> Option<MessageKind> {
    match s {
        "message" => Some(MessageKind::Message),
        "action" => Some(MessageKind::Action),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn msg(room: &str, seq: u64) -> ChatMessage {
        ChatMessage {
            message_id: format!("m{seq}"),
            username: "alice".into(),
            message: format!("hello {seq}"),
            timestamp: 1,
            room: room.into(),
            seq,
            kind: if seq % 2 == 0 {
                MessageKind::Action
            } else {
                MessageKind::Message
            },
        }
    }

    #[tokio::test]
    async fn rooms_messages_and_pages() {
        let store = Store::open(None).unwrap();
        let room = store.open_room("general", 10).await.unwrap();
        assert_eq!(room.last_seq, 0);
        assert!(store.room_exists("general").await.unwrap());
        assert!(!store.room_exists("nowhere").await.unwrap());
        for seq in 1..=25 {
            store.append(msg("general", seq)).await.unwrap();
        }
        // A duplicate sequence number is refused.
        assert!(store.append(msg("general", 3)).await.is_err());
        let again = store.open_room("general", 10).await.unwrap();
        assert_eq!(again.epoch, room.epoch);
        assert_eq!(again.last_seq, 25);
        assert_eq!(
            again.recent.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (16..=25).collect::<Vec<_>>()
        );
        assert_eq!(again.recent[0].kind, MessageKind::Action);

        let range = HistoryRange {
            before: Some(10),
            after: None,
            limit: 5,
        };
        let page = store.history("general", range).await.unwrap().unwrap();
        assert_eq!(
            page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [5, 6, 7, 8, 9]
        );
        assert!(page.has_more);
        let range = HistoryRange {
            before: Some(4),
            after: Some(1),
            limit: 5,
        };
        let page = store.history("general", range).await.unwrap().unwrap();
        assert_eq!(
            page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [2, 3]
        );
        assert!(!page.has_more);
        assert!(store.history("nowhere", range).await.unwrap().is_none());
        assert_eq!(store.count_messages().await.unwrap(), 25);
        store.close().await;
        assert!(matches!(
            store.count_messages().await,
            Err(StoreError::Stopped)
        ));
    }

    #[test]
    fn commits_are_synced_to_disk() {
        let dir = std::env::temp_dir().join(format!(
            "wsx-chat-pragma-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let conn = Connection::open(dir.join("chat.db")).unwrap();
        configure(&conn).unwrap();
        // 2 = FULL (0 OFF, 1 NORMAL, 3 EXTRA).
        let synchronous: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((synchronous, journal.as_str()), (2, "wal"));
    }

    #[tokio::test]
    async fn a_fresh_database_gives_a_new_epoch() {
        let a = Store::open(None)
            .unwrap()
            .open_room("general", 1)
            .await
            .unwrap();
        let b = Store::open(None)
            .unwrap()
            .open_room("general", 1)
            .await
            .unwrap();
        assert_ne!(a.epoch, b.epoch);
    }
}
