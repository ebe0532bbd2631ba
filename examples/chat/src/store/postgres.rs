//! The PostgreSQL backend, for nodes that share one database.
//!
//! # Why sqlx
//! sqlx is async from the socket up (no call blocks the runtime), has a pool, and carries
//! a migrator that embeds `migrations/postgres/` in the binary and holds a PostgreSQL
//! advisory lock while it migrates: nodes starting at once apply each migration once.
//! tokio-postgres with deadpool-postgres would serve as well for the queries, but needs a
//! third crate (refinery) or hand-written code for locked, versioned migrations. Only
//! sqlx's `postgres` driver is built: its SQLite driver would link a second SQLite beside
//! rusqlite's.
//!
//! # Writes
//! One task (the writer) takes appends from a channel and commits those that arrived
//! together in one transaction (group commit), on one pooled connection, then runs their
//! completions in queue order: a node's messages of one room are recorded and pushed in
//! `seq` order. `open_room` goes through the writer too, so a room loaded again sees every
//! append queued before. Reads (history, counts) use the pool directly.
//!
//! Each message takes its `seq` with `INSERT INTO rooms … ON CONFLICT DO UPDATE SET
//! last_seq = last_seq + 1 RETURNING last_seq`, which locks the room's row until the
//! commit: two nodes appending to one room take turns, in the database. A batch locks its
//! rooms in name order, so two nodes' batches cannot deadlock.

use super::{
    Appended, HistoryPage, HistoryRange, NewMessage, OnCommit, PRIVATE_RECEIPT_TTL_MS,
    PrivateReceipt, RoomRecord, StoreError, kind_name, lock_order, new_epoch, parse_kind,
};
use crate::events::ChatMessage;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most appends committed in one transaction.
const GROUP_COMMIT_MAX: usize = 256;

/// Connections in a node's pool.
const POOL_SIZE: u32 = 16;

/// The schema versions (`migrations/postgres/`), built into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

enum Command {
    OpenRoom {
        name: String,
        recent: usize,
        reply: oneshot::Sender<Result<RoomRecord, StoreError>>,
    },
    Append {
        message: NewMessage,
        done: OnCommit,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// A pool of connections to one PostgreSQL database, and the writer task.
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    commands: mpsc::Sender<Command>,
}

impl PgStore {
    /// Connects, applies the migrations the database lacks (under an advisory lock) and
    /// starts the writer.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        let (commands, rx) = mpsc::channel(1024);
        tokio::spawn(serve(pool.clone(), rx));
        Ok(PgStore { pool, commands })
    }

    /// The pool (for tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// See [`super::Store::open_room`].
    pub async fn open_room(&self, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::OpenRoom {
                name: name.to_owned(),
                recent,
                reply,
            })
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
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
        let Some(epoch) =
            sqlx::query_scalar::<_, String>("SELECT epoch FROM rooms WHERE name = $1")
                .bind(room)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let after = range.after.map_or(0, |a| a.min(i64::MAX as u64) as i64);
        let before = range
            .before
            .map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let (messages, has_more) =
            read_page(&self.pool, room, after, before, range.limit as usize).await?;
        Ok(Some(HistoryPage {
            epoch,
            messages,
            has_more,
        }))
    }

    /// See [`super::Store::room_exists`].
    pub async fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM rooms WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// See [`super::Store::count_messages`].
    pub async fn count_messages(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// See [`super::Store::private_receipt`].
    pub async fn private_receipt(
        &self,
        user_key: &str,
        client_id: &str,
    ) -> Result<Option<PrivateReceipt>, StoreError> {
        let since = crate::now_ms().saturating_sub(PRIVATE_RECEIPT_TTL_MS) as i64;
        let row = sqlx::query(
            "SELECT message_id, ts FROM private_sends
             WHERE user_key = $1 AND client_id = $2 AND created_at >= $3",
        )
        .bind(user_key)
        .bind(client_id)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PrivateReceipt {
                message_id: r.try_get(0)?,
                timestamp: r.try_get::<i64, _>(1)?.max(0) as u64,
            })
        })
        .transpose()
    }

    /// See [`super::Store::record_private`].
    pub async fn record_private(
        &self,
        user_key: &str,
        client_id: &str,
        receipt: PrivateReceipt,
    ) -> Result<PrivateReceipt, StoreError> {
        let now = crate::now_ms();
        sqlx::query("DELETE FROM private_sends WHERE created_at < $1")
            .bind(now.saturating_sub(PRIVATE_RECEIPT_TTL_MS) as i64)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO private_sends (user_key, client_id, message_id, ts, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(user_key)
        .bind(client_id)
        .bind(&receipt.message_id)
        .bind(receipt.timestamp as i64)
        .bind(now as i64)
        .execute(&self.pool)
        .await?;
        Ok(self
            .private_receipt(user_key, client_id)
            .await?
            .unwrap_or(receipt))
    }

    /// Finishes the queued appends, stops the writer and closes the pool.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
        self.pool.close().await;
    }
}

/// The writer: one command at a time, consecutive appends in one transaction.
async fn serve(pool: PgPool, mut rx: mpsc::Receiver<Command>) {
    let mut next: Option<Command> = None;
    loop {
        let command = match next.take() {
            Some(command) => command,
            None => match rx.recv().await {
                Some(command) => command,
                None => break,
            },
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
                super::settle(dones, append_all(&pool, messages).await);
            }
            Command::OpenRoom {
                name,
                recent,
                reply,
            } => {
                let _ = reply.send(open_room(&pool, &name, recent).await);
            }
            Command::Close { reply } => {
                let _ = reply.send(());
                break;
            }
        }
    }
    tracing::debug!("store writer stopped");
}

/// Appends a batch in one transaction; the results are in the batch's order.
async fn append_all(pool: &PgPool, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
    let mut tx = pool.begin().await?;
    let rooms: Vec<&str> = batch.iter().map(|m| m.room.as_str()).collect();
    let order = lock_order(&rooms);
    let mut slots: Vec<Option<NewMessage>> = batch.into_iter().map(Some).collect();
    let mut results: Vec<Option<Appended>> = vec![None; slots.len()];
    for i in order {
        let Some(m) = slots[i].take() else { continue };
        results[i] = Some(append_one(&mut tx, m).await?);
    }
    tx.commit().await?;
    Ok(results.into_iter().flatten().collect())
}

async fn append_one(
    tx: &mut Transaction<'static, Postgres>,
    m: NewMessage,
) -> Result<Appended, StoreError> {
    // The room's row is locked from here to the commit: looking for the client id after
    // taking it sees a repeat committed by another node for this room.
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO rooms (name, epoch, created_at, last_seq) VALUES ($1, $2, $3, 1)
         ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + 1
         RETURNING last_seq",
    )
    .bind(&m.room)
    .bind(new_epoch())
    .bind(crate::now_ms() as i64)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(client_id) = &m.client_id
        && let Some(original) = by_client_id(tx, &m.user_key, client_id).await?
    {
        give_back(tx, &m.room).await?;
        return Ok(Appended {
            message: original,
            repeat: true,
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO messages (room, seq, id, username, body, ts, kind, user_key, client_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(&m.room)
    .bind(seq)
    .bind(&m.message_id)
    .bind(&m.username)
    .bind(&m.body)
    .bind(m.timestamp as i64)
    .bind(kind_name(&m.kind))
    .bind(&m.user_key)
    .bind(&m.client_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The same client id, committed meanwhile by another node for another room.
        give_back(tx, &m.room).await?;
        if let Some(client_id) = &m.client_id
            && let Some(original) = by_client_id(tx, &m.user_key, client_id).await?
        {
            return Ok(Appended {
                message: original,
                repeat: true,
            });
        }
        return Err(StoreError::Corrupt(format!(
            "seq {seq} of room `{}` is already used",
            m.room
        )));
    }
    Ok(Appended {
        message: m.into_message(seq.max(0) as u64),
        repeat: false,
    })
}

/// Takes back the `seq` just taken for a message that is not stored (the row is still
/// locked by this transaction, so nobody took the next one).
async fn give_back(tx: &mut Transaction<'static, Postgres>, room: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE rooms SET last_seq = last_seq - 1 WHERE name = $1")
        .bind(room)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn by_client_id(
    tx: &mut Transaction<'static, Postgres>,
    user_key: &str,
    client_id: &str,
) -> Result<Option<ChatMessage>, StoreError> {
    let row = sqlx::query(
        "SELECT room, seq, id, username, body, ts, kind FROM messages
         WHERE user_key = $1 AND client_id = $2",
    )
    .bind(user_key)
    .bind(client_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let room: String = r.try_get(0)?;
    Ok(Some(message_from(&r, room, 1)?))
}

/// A message from the columns `seq, id, username, body, ts, kind` starting at `first`.
fn message_from(r: &PgRow, room: String, first: usize) -> Result<ChatMessage, StoreError> {
    let kind: String = r.try_get(first + 5)?;
    Ok(ChatMessage {
        seq: r.try_get::<i64, _>(first)?.max(0) as u64,
        message_id: r.try_get(first + 1)?,
        username: r.try_get(first + 2)?,
        message: r.try_get(first + 3)?,
        timestamp: r.try_get::<i64, _>(first + 4)?.max(0) as u64,
        room,
        kind: parse_kind(&kind)?,
    })
}

async fn open_room(pool: &PgPool, name: &str, recent: usize) -> Result<RoomRecord, StoreError> {
    sqlx::query(
        "INSERT INTO rooms (name, epoch, created_at, last_seq) VALUES ($1, $2, $3, 0)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(new_epoch())
    .bind(crate::now_ms() as i64)
    .execute(pool)
    .await?;
    let row = sqlx::query("SELECT epoch, last_seq FROM rooms WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    let epoch: String = row.try_get(0)?;
    let last_seq: i64 = row.try_get(1)?;
    // Messages up to `last_seq` only: a commit by another node after the row was read is
    // not part of this record.
    let (recent, _) = read_page(pool, name, 0, last_seq.saturating_add(1), recent).await?;
    Ok(RoomRecord {
        epoch,
        last_seq: last_seq.max(0) as u64,
        recent,
    })
}

/// The latest `limit` messages with `after < seq < before`, oldest first, and whether
/// older ones exist in that range.
async fn read_page(
    pool: &PgPool,
    room: &str,
    after: i64,
    before: i64,
    limit: usize,
) -> Result<(Vec<ChatMessage>, bool), StoreError> {
    let rows = sqlx::query(
        "SELECT seq, id, username, body, ts, kind FROM messages
         WHERE room = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4",
    )
    .bind(room)
    .bind(after)
    .bind(before)
    .bind(limit as i64 + 1)
    .fetch_all(pool)
    .await?;
    let has_more = rows.len() > limit;
    let mut messages = rows
        .iter()
        .take(limit)
        .map(|r| message_from(r, room.to_owned(), 0))
        .collect::<Result<Vec<_>, _>>()?;
    messages.reverse();
    Ok((messages, has_more))
}
