//! Hostile and unlucky peers (issue 19): look-alike names, a history that lost its tail,
//! room exhaustion, a stale connection holding a name, floods that reconnect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TempDir, TestServer};
use serde_json::json;
use wsx_chat::Config;

#[tokio::test]
async fn a_look_alike_name_is_taken() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.joined("alice", "general").await;
    let mut fake = server.client().await;
    fake.push("welcome").await;
    // Cyrillic а (U+0430) for the Latin a.
    let err = fake
        .request(
            "join",
            json!({ "username": "\u{430}lice", "room": "general" }),
        )
        .await
        .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("is taken"),
        "{err}"
    );
    // A private message to the look-alike reaches the real one's key: nobody else.
    let (mut bob, _) = server.joined("bob", "general").await;
    let sent = bob
        .request(
            "sendPrivate",
            json!({ "to": "\u{430}LICE", "message": "hi" }),
        )
        .await
        .unwrap();
    assert!(sent["messageId"].is_string());
    let got = alice.push("privateMessage").await;
    assert_eq!(
        (got["to"].as_str(), got["from"].as_str()),
        (Some("alice"), Some("bob"))
    );
    server.stop().await;
}

/// A database that lost its last commits (what `synchronous=NORMAL` allowed on a power
/// loss): a client that saw them is told `recovered: false`, never silently given less.
#[tokio::test]
async fn a_position_past_the_stored_history_is_not_recovered() {
    let dir = TempDir::new("lost-tail");
    let db = dir.0.join("chat.db");
    let config = Config {
        memory: false,
        db: db.clone(),
        ..Config::default()
    };
    let server = TestServer::with(config.clone()).await;
    let (mut alice, joined) = server.joined("alice", "general").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    for i in 1..=5 {
        alice
            .request("sendMessage", json!({ "message": format!("m{i}") }))
            .await
            .unwrap();
    }
    alice.close().await;
    server.stop().await;
    // The tail is lost: messages 4 and 5 are gone, the room (and its epoch) stays.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM messages WHERE seq > 3", [])
        .unwrap();
    drop(conn);

    let server = TestServer::with(config).await;
    let mut alice = server.client().await;
    alice.push("welcome").await;
    let answer = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "general", "since": { "epoch": epoch, "seq": 5 } }),
        )
        .await
        .unwrap();
    assert_eq!(answer["recovered"], false, "{answer}");
    assert_eq!(
        (answer["epoch"].as_str(), answer["seq"].as_u64()),
        (Some(epoch.as_str()), Some(3))
    );
    let seqs: Vec<u64> = answer["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    server.stop().await;
}
