//! One store suite, two backends: every test function runs against SQLite (a real file in
//! a temporary directory) and PostgreSQL (127.0.0.1:5432, trust auth, user `root` or
//! `postgres`; each test creates its own database and drops it). PostgreSQL must be
//! running: a test that cannot reach it fails and says so.
//!
//! Two `Store`s opened on one database stand for two nodes (two pools on PostgreSQL, two
//! connections on the SQLite file).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod pg;

use common::TempDir;
use pg::PgDatabase;
use std::collections::BTreeSet;
use std::sync::Arc;
use wsx_chat::events::{ChatMessage, MessageKind};
use wsx_chat::store::{Database, HistoryRange, NewMessage, PrivateReceipt, Store};

/// A database for one test, removed at the end (also when the test fails).
enum Backend {
    Sqlite(TempDir),
    Postgres(PgDatabase),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(TempDir::new("store"))
    }

    /// A fresh database on the local PostgreSQL, named for the test.
    async fn postgres(test: &str) -> Backend {
        Backend::Postgres(PgDatabase::create(test).await)
    }

    fn database(&self) -> Database {
        match self {
            Backend::Sqlite(dir) => Database::Sqlite(dir.0.join("chat.db")),
            Backend::Postgres(db) => Database::Postgres(db.url()),
        }
    }

    /// A store on this database: each call is another node (or a restart).
    async fn open(&self) -> Store {
        Store::open(&self.database()).await.unwrap()
    }
}

fn new_message(room: &str, user: &str, text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        room: room.to_owned(),
        message_id: uuid::Uuid::now_v7().to_string(),
        user_key: user.to_owned(),
        username: user.to_owned(),
        body: text.to_owned(),
        timestamp: 1_700_000_000_000,
        kind: if text.starts_with("waves") {
            MessageKind::Action
        } else {
            MessageKind::Message
        },
        client_id: client_id.map(str::to_owned),
    }
}

fn seqs(messages: &[ChatMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn range(after: Option<u64>, before: Option<u64>, limit: u32) -> HistoryRange {
    HistoryRange {
        before,
        after,
        limit,
    }
}

/// Rooms, numbering from 1, pages, counts.
async fn rooms_messages_and_pages(backend: Backend) {
    let store = backend.open().await;
    let room = store.open_room("general", 10).await.unwrap();
    assert_eq!((room.last_seq, room.recent.len()), (0, 0));
    assert!(store.room_exists("general").await.unwrap());
    assert!(!store.room_exists("nowhere").await.unwrap());
    for i in 1..=25 {
        let text = if i == 16 {
            "waves".to_owned()
        } else {
            format!("hello {i}")
        };
        let appended = store
            .append(new_message("general", "alice", &text, None))
            .await
            .unwrap();
        assert_eq!((appended.message.seq, appended.repeat), (i, false));
    }
    let again = store.open_room("general", 10).await.unwrap();
    assert_eq!(again.epoch, room.epoch);
    assert_eq!(again.last_seq, 25);
    assert_eq!(seqs(&again.recent), (16..=25).collect::<Vec<_>>());
    assert_eq!(again.recent[0].kind, MessageKind::Action);
    assert_eq!(again.recent[1].message, "hello 17");

    let page = store
        .history("general", range(None, Some(10), 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (seqs(&page.messages), page.has_more),
        (vec![5, 6, 7, 8, 9], true)
    );
    let page = store
        .history("general", range(Some(1), Some(4), 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seqs(&page.messages), page.has_more), (vec![2, 3], false));
    assert!(
        store
            .history("nowhere", range(None, None, 5))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_messages().await.unwrap(), 25);
    store.close().await;
}

/// Two nodes append to one room at once: every message gets its own `seq`, and the seqs
/// are exactly 1..=N.
async fn seq_is_contiguous_under_concurrent_appends_from_two_nodes(backend: Backend) {
    let a = Arc::new(backend.open().await);
    let b = Arc::new(backend.open().await);
    let epoch_a = a.open_room("busy", 0).await.unwrap().epoch;
    let epoch_b = b.open_room("busy", 0).await.unwrap().epoch;
    assert_eq!(epoch_a, epoch_b, "one epoch per room, shared");
    const PER_NODE: usize = 60;
    let mut tasks = Vec::new();
    for (node, store) in [("a", a.clone()), ("b", b.clone())] {
        for i in 0..PER_NODE {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Another room in the same batches: locks taken in name order.
                if i % 10 == 0 {
                    store
                        .append(new_message("aside", node, "x", None))
                        .await
                        .unwrap();
                }
                store
                    .append(new_message("busy", node, &format!("{node}{i}"), None))
                    .await
                    .unwrap()
                    .message
                    .seq
            }));
        }
    }
    let mut answered = Vec::new();
    for task in tasks {
        answered.push(task.await.unwrap());
    }
    let distinct: BTreeSet<u64> = answered.iter().copied().collect();
    assert_eq!(distinct.len(), answered.len(), "a seq was given twice");
    let n = (2 * PER_NODE) as u64;
    assert_eq!(distinct, (1..=n).collect(), "seqs skipped or beyond {n}");
    // What is stored agrees, from either node.
    let page = b
        .history("busy", range(None, None, 1000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seqs(&page.messages), (1..=n).collect::<Vec<_>>());
    assert_eq!(a.open_room("busy", 0).await.unwrap().last_seq, n);
    let aside = a
        .history("aside", range(None, None, 100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seqs(&aside.messages), (1..=12).collect::<Vec<_>>());
    a.close().await;
    b.close().await;
}

/// Replay since a position: exactly the messages after it, in order.
async fn replay_since_a_position(backend: Backend) {
    let store = backend.open().await;
    store.open_room("r", 0).await.unwrap();
    let mut ids = Vec::new();
    for i in 1..=12 {
        let a = store
            .append(new_message("r", "bob", &format!("m{i}"), None))
            .await
            .unwrap();
        ids.push(a.message.message_id);
    }
    let page = store
        .history("r", range(Some(7), None, 100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seqs(&page.messages), [8, 9, 10, 11, 12]);
    assert_eq!(
        page.messages
            .iter()
            .map(|m| m.message_id.clone())
            .collect::<Vec<_>>(),
        ids[7..].to_vec()
    );
    assert!(!page.has_more);
    // Up to date: nothing.
    let page = store
        .history("r", range(Some(12), None, 100))
        .await
        .unwrap()
        .unwrap();
    assert!(page.messages.is_empty());
    store.close().await;
}

/// A room's epoch is made once and shared; a new database makes a new one.
async fn epoch_is_stored_once_and_shared(backend: Backend) {
    let a = backend.open().await;
    let b = backend.open().await;
    let (ra, rb) = tokio::join!(a.open_room("lobby", 5), b.open_room("lobby", 5));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.epoch, rb.epoch);
    // A room first written by an append (not opened) gets an epoch too.
    a.append(new_message("fresh", "carol", "hi", None))
        .await
        .unwrap();
    let fresh = b.open_room("fresh", 5).await.unwrap();
    assert_eq!((fresh.last_seq, fresh.recent.len()), (1, 1));
    assert_eq!(
        a.history("fresh", range(None, None, 5))
            .await
            .unwrap()
            .unwrap()
            .epoch,
        fresh.epoch
    );
    a.close().await;
    b.close().await;
    let other = Backend::sqlite();
    let elsewhere = other.open().await;
    assert_ne!(
        elsewhere.open_room("lobby", 5).await.unwrap().epoch,
        ra.epoch
    );
    elsewhere.close().await;
}

/// Closed and opened again (a restart): everything is there and numbering goes on.
async fn persists_across_reopen(backend: Backend) {
    let store = backend.open().await;
    let epoch = store.open_room("keep", 10).await.unwrap().epoch;
    for i in 1..=5 {
        store
            .append(new_message(
                "keep",
                "dave",
                &format!("m{i}"),
                Some(&format!("c{i}")),
            ))
            .await
            .unwrap();
    }
    store.close().await;
    drop(store);
    let store = backend.open().await;
    let room = store.open_room("keep", 10).await.unwrap();
    assert_eq!((room.epoch, room.last_seq), (epoch, 5));
    assert_eq!(room.recent[4].message, "m5");
    let next = store
        .append(new_message("keep", "dave", "m6", None))
        .await
        .unwrap();
    assert_eq!(next.message.seq, 6);
    // A client id sent before the restart is still known.
    let repeat = store
        .append(new_message("keep", "dave", "m3 again", Some("c3")))
        .await
        .unwrap();
    assert!(repeat.repeat);
    assert_eq!(
        (repeat.message.seq, repeat.message.message.as_str()),
        (3, "m3")
    );
    assert_eq!(store.count_messages().await.unwrap(), 6);
    store.close().await;
}

/// A repeated (user, clientId) is answered with the first message and stores nothing —
/// also when both are in one group commit, and when they come from two nodes at once.
async fn a_repeated_client_id_is_answered_not_stored(backend: Backend) {
    let a = Arc::new(backend.open().await);
    let b = Arc::new(backend.open().await);
    a.open_room("dup", 0).await.unwrap();
    let first = a
        .append(new_message("dup", "erin", "once", Some("id-1")))
        .await
        .unwrap();
    assert!(!first.repeat);
    let again = b
        .append(new_message("dup", "erin", "once (resent)", Some("id-1")))
        .await
        .unwrap();
    assert!(again.repeat);
    assert_eq!(again.message, first.message);
    // Another user may use the same client id.
    let other = a
        .append(new_message("dup", "frank", "mine", Some("id-1")))
        .await
        .unwrap();
    assert_eq!((other.repeat, other.message.seq), (false, 2));
    // Ten copies at once, on two nodes: one is stored, all get its answer.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .append(new_message("dup", "erin", "burst", Some("id-2")))
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.repeat).count(), 1);
    assert!(answers.iter().all(|a| a.message == answers[0].message));
    assert_eq!(answers[0].message.seq, 3);
    // The numbering has no hole where the repeats were.
    let next = a
        .append(new_message("dup", "erin", "after", None))
        .await
        .unwrap();
    assert_eq!(next.message.seq, 4);
    let page = a
        .history("dup", range(None, None, 100))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seqs(&page.messages), [1, 2, 3, 4]);
    assert_eq!(a.count_messages().await.unwrap(), 4);
    a.close().await;
    b.close().await;
}

/// A private message's client id keeps its first answer.
async fn private_receipts_keep_the_first_answer(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(store.private_receipt("gina", "p1").await.unwrap(), None);
    let first = PrivateReceipt {
        message_id: "m-1".into(),
        timestamp: 11,
    };
    let kept = store
        .record_private("gina", "p1", first.clone())
        .await
        .unwrap();
    assert_eq!(kept, first);
    let second = PrivateReceipt {
        message_id: "m-2".into(),
        timestamp: 12,
    };
    assert_eq!(
        store.record_private("gina", "p1", second).await.unwrap(),
        first
    );
    assert_eq!(
        store.private_receipt("gina", "p1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.private_receipt("hank", "p1").await.unwrap(), None);
    store.close().await;
    let store = backend.open().await;
    assert_eq!(
        store.private_receipt("gina", "p1").await.unwrap(),
        Some(first)
    );
    store.close().await;
}

/// Several nodes start at once on a fresh database: the migrations are applied once and
/// every node opens.
async fn nodes_starting_at_once_migrate_once(backend: Backend) {
    let database = backend.database();
    let mut starts = Vec::new();
    for _ in 0..4 {
        let database = database.clone();
        starts.push(tokio::spawn(async move { Store::open(&database).await }));
    }
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap().unwrap());
    }
    for (i, store) in stores.iter().enumerate() {
        store
            .append(new_message("m", "ivan", &format!("{i}"), None))
            .await
            .unwrap();
    }
    assert_eq!(stores[0].count_messages().await.unwrap(), 4);
    for store in stores {
        store.close().await;
    }
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::postgres(stringify!($test)).await).await;
                }
            )*
        }
    };
}

suite!(
    rooms_messages_and_pages,
    seq_is_contiguous_under_concurrent_appends_from_two_nodes,
    replay_since_a_position,
    epoch_is_stored_once_and_shared,
    persists_across_reopen,
    a_repeated_client_id_is_answered_not_stored,
    private_receipts_keep_the_first_answer,
    nodes_starting_at_once_migrate_once,
);
