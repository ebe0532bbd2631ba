//! The SQLite backend: one thread owns the connection and serves commands from a
//! channel, so the async runtime never blocks on disk.
//!
//! Appends that arrive together are committed in one transaction (group commit), and each
//! caller hears back only after the commit: a `messageId` returned to its sender is on
//! disk. The database runs in WAL mode with `synchronous=FULL`: every commit is synced to
//! the disk before its messages are answered, so an acknowledged message survives a `kill
//! -9` and a power loss alike (with `NORMAL`, a power loss could drop the last commits,
//! and their `seq`s would then be given to new messages that a client holding the old
//! position would take as seen). Group commit keeps that to one sync per batch, not per
//! message. Write transactions are `BEGIN IMMEDIATE`: a second process on the same file
//! waits (busy timeout) instead of failing half-way, though one file serves one node.
//!
//! A room's epoch is made when the room first appears in a database, so a fresh database
//! (or `--memory`) gives every room a new epoch and reconnecting clients learn that their
//! old positions mean nothing here.

use super::{
    Appended, HistoryPage, HistoryRange, NewMessage, OnCommit, PRIVATE_RECEIPT_TTL_MS,
    PrivateReceipt, RoomRecord, StoreError, kind_name, lock_order, new_epoch, parse_kind,
};
use crate::events::ChatMessage;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Most appends committed in one transaction.
const GROUP_COMMIT_MAX: usize = 256;

/// The schema versions, in order (`migrations/sqlite/`).
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../../migrations/sqlite/001_initial.sql")),
    M::up(include_str!(
        "../../migrations/sqlite/002_seq_in_database_and_client_ids.sql"
    )),
];

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    OpenRoom {
        name: String,
        recent: usize,
        reply: Reply<RoomRecord>,
    },
    Append {
        message: NewMessage,
        done: OnCommit,
    },
    History {
        room: String,
        range: HistoryRange,
        reply: Reply<Option<HistoryPage>>,
    },
    RoomExists {
        name: String,
        reply: Reply<bool>,
    },
    CountMessages {
        reply: Reply<u64>,
    },
    PrivateReceipt {
        user_key: String,
        client_id: String,
        reply: Reply<Option<PrivateReceipt>>,
    },
    RecordPrivate {
        user_key: String,
        client_id: String,
        receipt: PrivateReceipt,
        reply: Reply<PrivateReceipt>,
    },
    Close {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// The handle of the database thread.
#[derive(Debug)]
pub struct SqliteStore {
    commands: mpsc::Sender<Command>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl SqliteStore {
    /// Opens (or creates) the database file, or an in-memory database with `None`,
    /// migrates it and starts its thread. Blocks (on disk): call it off the runtime.
    pub fn open(path: Option<&Path>) -> Result<SqliteStore, StoreError> {
        let mut conn = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        configure(&conn)?;
        let migrations = Migrations::from_slice(MIGRATIONS);
        if let Err(e) = migrations.to_latest(&mut conn) {
            // Another process migrated between our reading the version and our write
            // lock: our attempt rolled back; read the version again.
            tracing::debug!(error = %e, "migrating again");
            migrations.to_latest(&mut conn)?;
        }
        let (commands, rx) = mpsc::channel(1024);
        let thread = std::thread::Builder::new()
            .name("wsx-chat-store".into())
            .spawn(move || serve(conn, rx))
            .map_err(|_| StoreError::Stopped)?;
        Ok(SqliteStore {
            commands,
            thread: Mutex::new(Some(thread)),
        })
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// See [`super::Store::open_room`].
    pub async fn open_room(&self, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
        self.call(|reply| Command::OpenRoom {
            name: name.to_owned(),
            recent,
            reply,
        })
        .await
    }

    /// See [`super::Store::append_then`].
    pub async fn append_then(&self, message: NewMessage, done: OnCommit) -> Result<(), StoreError> {
        self.commands
            .send(Command::Append { message, done })
            .await
            .map_err(|_| StoreError::Stopped)
    }

    /// See [`super::Store::history`].
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
        .await
    }

    /// See [`super::Store::room_exists`].
    pub async fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.call(|reply| Command::RoomExists {
            name: name.to_owned(),
            reply,
        })
        .await
    }

    /// See [`super::Store::count_messages`].
    pub async fn count_messages(&self) -> Result<u64, StoreError> {
        self.call(|reply| Command::CountMessages { reply }).await
    }

    /// See [`super::Store::private_receipt`].
    pub async fn private_receipt(
        &self,
        user_key: &str,
        client_id: &str,
    ) -> Result<Option<PrivateReceipt>, StoreError> {
        self.call(|reply| Command::PrivateReceipt {
            user_key: user_key.to_owned(),
            client_id: client_id.to_owned(),
            reply,
        })
        .await
    }

    /// See [`super::Store::record_private`].
    pub async fn record_private(
        &self,
        user_key: &str,
        client_id: &str,
        receipt: PrivateReceipt,
    ) -> Result<PrivateReceipt, StoreError> {
        self.call(|reply| Command::RecordPrivate {
            user_key: user_key.to_owned(),
            client_id: client_id.to_owned(),
            receipt,
            reply,
        })
        .await
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
                let (messages, dones): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                super::settle(dones, append_all(&mut conn, messages));
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
            Command::PrivateReceipt {
                user_key,
                client_id,
                reply,
            } => {
                let _ = reply.send(private_receipt(&conn, &user_key, &client_id));
            }
            Command::RecordPrivate {
                user_key,
                client_id,
                receipt,
                reply,
            } => {
                let _ = reply.send(record_private(&conn, &user_key, &client_id, receipt));
            }
            Command::Close { reply } => {
                if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
                    tracing::debug!(error = %e, "checkpoint at shutdown failed");
                }
                let _ = reply.send(Ok(()));
                break;
            }
        }
    }
    tracing::debug!("store thread stopped");
}

/// Appends a batch in one transaction; the results are in the batch's order.
fn append_all(conn: &mut Connection, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rooms: Vec<&str> = batch.iter().map(|m| m.room.as_str()).collect();
    let order = lock_order(&rooms);
    let mut slots: Vec<Option<NewMessage>> = batch.into_iter().map(Some).collect();
    let mut results: Vec<Option<Appended>> = vec![None; slots.len()];
    {
        let mut take_seq = tx.prepare_cached(
            "INSERT INTO rooms (name, epoch, created_at, last_seq) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + 1
             RETURNING last_seq",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room, seq, id, username, body, ts, kind, user_key, client_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )?;
        for i in order {
            let Some(m) = slots[i].take() else { continue };
            if let Some(client_id) = &m.client_id
                && let Some(original) = by_client_id(&tx, &m.user_key, client_id)?
            {
                results[i] = Some(Appended {
                    message: original,
                    repeat: true,
                });
                continue;
            }
            let seq: i64 = take_seq
                .query_row(params![m.room, new_epoch(), crate::now_ms() as i64], |r| {
                    r.get(0)
                })?;
            let inserted = insert.execute(params![
                m.room,
                seq,
                m.message_id,
                m.username,
                m.body,
                m.timestamp as i64,
                kind_name(&m.kind),
                m.user_key,
                m.client_id,
            ])?;
            if inserted == 0 {
                return Err(StoreError::Corrupt(format!(
                    "seq {seq} of room `{}` is already used",
                    m.room
                )));
            }
            results[i] = Some(Appended {
                message: m.into_message(seq.max(0) as u64),
                repeat: false,
            });
        }
    }
    tx.commit()?;
    Ok(results.into_iter().flatten().collect())
}

/// The message `user_key` sent with `client_id`.
fn by_client_id(
    conn: &Connection,
    user_key: &str,
    client_id: &str,
) -> Result<Option<ChatMessage>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT room, seq, id, username, body, ts, kind FROM messages
             WHERE user_key = ?1 AND client_id = ?2",
        )?
        .query_row(params![user_key, client_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .optional()?;
    let Some((room, seq, id, username, body, ts, kind)) = row else {
        return Ok(None);
    };
    Ok(Some(ChatMessage {
        message_id: id,
        username,
        message: body,
        timestamp: ts.max(0) as u64,
        room,
        seq: seq.max(0) as u64,
        kind: parse_kind(&kind)?,
    }))
}

fn room_row(conn: &Connection, name: &str) -> Result<Option<(String, i64)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT epoch, last_seq FROM rooms WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn room_epoch(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(room_row(conn, name)?.map(|(epoch, _)| epoch))
}

fn open_room(conn: &Connection, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
    conn.execute(
        "INSERT INTO rooms (name, epoch, created_at, last_seq) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT (name) DO NOTHING",
        params![name, new_epoch(), crate::now_ms() as i64],
    )?;
    let (epoch, last_seq) = room_row(conn, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("room `{name}` vanished")))?;
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
        messages.push_front(ChatMessage {
            message_id: id,
            username,
            message: body,
            timestamp: ts.max(0) as u64,
            room: room.to_owned(),
            seq: seq.max(0) as u64,
            kind: parse_kind(&kind)?,
        });
    }
    Ok((messages.into(), has_more))
}

fn private_receipt(
    conn: &Connection,
    user_key: &str,
    client_id: &str,
) -> Result<Option<PrivateReceipt>, StoreError> {
    let since = crate::now_ms().saturating_sub(PRIVATE_RECEIPT_TTL_MS) as i64;
    Ok(conn
        .query_row(
            "SELECT message_id, ts FROM private_sends
             WHERE user_key = ?1 AND client_id = ?2 AND created_at >= ?3",
            params![user_key, client_id, since],
            |r| {
                Ok(PrivateReceipt {
                    message_id: r.get(0)?,
                    timestamp: r.get::<_, i64>(1)?.max(0) as u64,
                })
            },
        )
        .optional()?)
}

fn record_private(
    conn: &Connection,
    user_key: &str,
    client_id: &str,
    receipt: PrivateReceipt,
) -> Result<PrivateReceipt, StoreError> {
    let now = crate::now_ms();
    conn.execute(
        "DELETE FROM private_sends WHERE created_at < ?1",
        [now.saturating_sub(PRIVATE_RECEIPT_TTL_MS) as i64],
    )?;
    conn.execute(
        "INSERT INTO private_sends (user_key, client_id, message_id, ts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            user_key,
            client_id,
            receipt.message_id,
            receipt.timestamp as i64,
            now as i64
        ],
    )?;
    Ok(private_receipt(conn, user_key, client_id)?.unwrap_or(receipt))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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

    #[test]
    fn migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }

    #[test]
    fn a_database_of_the_first_release_is_adopted() {
        let dir = std::env::temp_dir().join(format!(
            "wsx-chat-adopt-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chat.db");
        {
            // The schema as the first release wrote it, without a version.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(include_str!("../../migrations/sqlite/001_initial.sql"))
                .unwrap();
            conn.execute(
                "INSERT INTO rooms (name, epoch, created_at) VALUES ('general', 'e0', 1)",
                [],
            )
            .unwrap();
            for seq in 1..=3 {
                conn.execute(
                    "INSERT INTO messages (room, seq, id, username, body, ts, kind)
                     VALUES ('general', ?1, 'm', 'alice', 'hi', 1, 'message')",
                    [seq],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(Some(&path)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let room = rt.block_on(store.open_room("general", 10)).unwrap();
        rt.block_on(store.close());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            (room.epoch.as_str(), room.last_seq, room.recent.len()),
            ("e0", 3, 3)
        );
    }
}
