//! The chat server on PostgreSQL (`--database postgres://…`), over real sockets: the seed
//! flow, `clientId` repeats, a restart on the same database, and two servers (two
//! processes' worth of state and pools) numbering one room together in the database.
//! Needs the local PostgreSQL (see `pg/mod.rs`): without it these tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod pg;

use common::TestServer;
use pg::PgDatabase;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use wsx_chat::Config;
use wsx_chat::store::Database;

fn on(db: &PgDatabase) -> Config {
    Config {
        memory: false,
        database: Some(Database::Postgres(db.url())),
        ..Config::default()
    }
}

/// A room's stored seqs (up to 100), through REST.
async fn stored_seqs(addr: SocketAddr, room: &str) -> Vec<u64> {
    let url = format!("http://{addr}/api/room/{room}/history?limit=100");
    let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_chat_runs_on_postgres_and_survives_a_restart() {
    let db = PgDatabase::create("chat_restart").await;
    let server = TestServer::with(on(&db)).await;
    let (mut alice, joined) = server.joined("alice", "general").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let (mut bob, _) = server.joined("bob", "general").await;
    let first = alice
        .request("sendMessage", json!({ "message": "hi", "clientId": "a-1" }))
        .await
        .unwrap();
    assert_eq!(first["seq"], 1);
    let again = alice
        .request("sendMessage", json!({ "message": "hi", "clientId": "a-1" }))
        .await
        .unwrap();
    assert_eq!(again, first);
    let second = bob
        .request("sendMessage", json!({ "message": "hello" }))
        .await
        .unwrap();
    assert_eq!(second["seq"], 2);
    let pushed = alice.push("message").await;
    assert_eq!(
        (pushed["seq"].as_u64(), pushed["message"].as_str()),
        (Some(1), Some("hi"))
    );
    let pushed = alice.push("message").await;
    assert_eq!(
        (pushed["seq"].as_u64(), pushed["username"].as_str()),
        (Some(2), Some("bob"))
    );
    alice.close().await;
    bob.close().await;
    server.stop().await;

    let server = TestServer::with(on(&db)).await;
    let mut alice = server.client().await;
    alice.push("welcome").await;
    let rejoined = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "general", "since": { "epoch": epoch, "seq": 1 } }),
        )
        .await
        .unwrap();
    assert_eq!(
        rejoined["epoch"],
        epoch.as_str(),
        "the epoch is stored once"
    );
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    let missed: Vec<u64> = rejoined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(missed, [2]);
    let repeat = alice
        .request("sendMessage", json!({ "message": "hi", "clientId": "a-1" }))
        .await
        .unwrap();
    assert_eq!(
        repeat, first,
        "a repeat after a restart gets the first answer"
    );
    let third = alice
        .request("sendMessage", json!({ "message": "back" }))
        .await
        .unwrap();
    assert_eq!(third["seq"], 3);
    assert_eq!(stored_seqs(server.addr, "general").await, [1, 2, 3]);
    alice.close().await;
    server.stop().await;
}

#[tokio::test]
async fn two_servers_on_one_database_number_a_room_together() {
    const EACH: usize = 15;
    let db = PgDatabase::create("chat_two_nodes").await;
    let a = TestServer::with(on(&db)).await;
    let b = TestServer::with(on(&db)).await;
    let (mut alice, joined_a) = a.joined("alice", "general").await;
    let (mut bob, joined_b) = b.joined("bob", "general").await;
    assert_eq!(joined_a["epoch"], joined_b["epoch"], "one epoch, shared");
    // Both send at once, every request in flight before any answer is read.
    let mut ids_a = Vec::new();
    let mut ids_b = Vec::new();
    for i in 0..EACH {
        ids_a.push(
            alice
                .start_request("sendMessage", json!({ "message": format!("a{i}") }))
                .await,
        );
        ids_b.push(
            bob.start_request("sendMessage", json!({ "message": format!("b{i}") }))
                .await,
        );
    }
    let mut seqs = BTreeSet::new();
    let mut last_a = 0;
    for id in ids_a {
        let seq = alice.answer(&id).await.unwrap()["seq"].as_u64().unwrap();
        assert!(seqs.insert(seq), "seq {seq} given twice");
        assert!(seq > last_a, "one sender's messages keep their order");
        last_a = seq;
    }
    let mut last_b = 0;
    for id in ids_b {
        let seq = bob.answer(&id).await.unwrap()["seq"].as_u64().unwrap();
        assert!(seqs.insert(seq), "seq {seq} given twice");
        assert!(seq > last_b, "one sender's messages keep their order");
        last_b = seq;
    }
    let all: Vec<u64> = (1..=2 * EACH as u64).collect();
    assert_eq!(seqs.into_iter().collect::<Vec<_>>(), all, "no seq skipped");
    assert_eq!(stored_seqs(a.addr, "general").await, all);
    assert_eq!(stored_seqs(b.addr, "general").await, all);
    alice.close().await;
    bob.close().await;
    a.stop().await;
    b.stop().await;
}
