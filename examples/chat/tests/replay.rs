//! Replay after a reconnect: what a client missed arrives exactly once and in order,
//! or it is told plainly that it cannot be recovered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RawClient, TestServer};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_chat::Config;

/// Joins, retrying while the server has not yet seen this name's previous connection go.
async fn rejoin(c: &mut RawClient, name: &str, room: &str, since: Value) -> Value {
    for _ in 0..100 {
        match c
            .request(
                "join",
                json!({ "username": name, "room": room, "since": since }),
            )
            .await
        {
            Ok(answer) => return answer,
            Err(e) if e["message"].as_str().unwrap_or("").contains("taken") => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("join failed: {e}"),
        }
    }
    panic!("name never freed");
}

fn seqs(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn missed_messages_arrive_exactly_once_in_order_over_many_rounds() {
    let server = TestServer::with(Config {
        history: 50,
        rate_limit: 0,
        ..Config::default()
    })
    .await;
    let (mut alice, joined) = server.joined("alice", "replay").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let (bob, _) = server.joined("bob", "replay").await;
    let mut bob = Some(bob);
    let mut last_seen = 0u64;
    let mut sent_total = 0u64;
    for round in 0..40u64 {
        // Some messages while alice is away…
        alice.close().await;
        let mut b = bob.take().unwrap();
        let away = round % 5 + 1;
        for i in 0..away {
            b.request(
                "sendMessage",
                json!({ "message": format!("away {round}.{i}") }),
            )
            .await
            .unwrap();
        }
        // …and some while she is coming back, racing her join.
        let during = round % 4;
        let sender = tokio::spawn(async move {
            for i in 0..during {
                b.request(
                    "sendMessage",
                    json!({ "message": format!("during {round}.{i}") }),
                )
                .await
                .unwrap();
            }
            b
        });
        sent_total += away + during;
        alice = server.client().await;
        let answer = rejoin(
            &mut alice,
            "alice",
            "replay",
            json!({ "epoch": epoch, "seq": last_seen }),
        )
        .await;
        assert_eq!(answer["recovered"], true, "round {round}");
        assert_eq!(answer["epoch"], epoch.as_str());
        let history = seqs(&answer["history"]);
        let answer_seq = answer["seq"].as_u64().unwrap();
        assert!(history.iter().all(|&s| s <= answer_seq));
        let mut got = history.clone();
        bob = Some(sender.await.unwrap());
        // Live pushes until alice has everything bob sent.
        while got.last().copied().unwrap_or(last_seen) < sent_total {
            let m = alice.push("message").await;
            let seq = m["seq"].as_u64().unwrap();
            assert!(
                seq > answer_seq,
                "round {round}: push {seq} repeats the join's history (up to {answer_seq})"
            );
            got.push(seq);
        }
        let expected: Vec<u64> = (last_seen + 1..=sent_total).collect();
        assert_eq!(
            got, expected,
            "round {round}: exactly the missed messages, in order, once"
        );
        last_seen = sent_total;
    }
    // Nothing extra arrives afterwards.
    assert!(
        alice
            .gets_push_within("message", Duration::from_millis(100))
            .await
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn too_old_or_foreign_positions_are_not_recoverable() {
    let server = TestServer::with(Config {
        history: 5,
        ..Config::default()
    })
    .await;
    let (mut bob, joined) = server.joined("bob", "small").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    for i in 1..=8 {
        bob.request("sendMessage", json!({ "message": format!("m{i}") }))
            .await
            .unwrap();
    }
    let mut alice = server.client().await;
    // Missed 8 messages, 5 are kept: not recoverable, here are the latest 5.
    let answer = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "small", "since": { "epoch": epoch, "seq": 0 } }),
        )
        .await;
    let answer = answer.unwrap();
    assert_eq!(answer["recovered"], false);
    assert_eq!(seqs(&answer["history"]), [4, 5, 6, 7, 8]);
    assert_eq!(answer["seq"], 8);
    // Missed exactly 5: recoverable.
    let again = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "small", "since": { "epoch": epoch, "seq": 3 } }),
        )
        .await;
    let again = again.unwrap();
    assert_eq!(
        (again["recovered"].as_bool(), seqs(&again["history"])),
        (Some(true), vec![4, 5, 6, 7, 8])
    );
    // Another epoch (e.g. the server lost its database): not recoverable.
    let other = alice.request("join", json!({ "username": "alice", "room": "small", "since": { "epoch": "elsewhere", "seq": 7 } })).await;
    assert_eq!(other.unwrap()["recovered"], false);
    // A position from the future: not recoverable either.
    let future = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "small", "since": { "epoch": epoch, "seq": 99 } }),
        )
        .await;
    assert_eq!(future.unwrap()["recovered"], false);
    // Without `since`: the latest messages, and no `recovered`.
    let plain = alice
        .request("join", json!({ "username": "alice", "room": "small" }))
        .await
        .unwrap();
    assert!(plain.get("recovered").is_none_or(Value::is_null));
    assert_eq!(seqs(&plain["history"]), [4, 5, 6, 7, 8]);
    // Older messages stay readable by paging.
    let page = alice
        .request(
            "history",
            json!({ "room": "small", "before": 4, "limit": 10 }),
        )
        .await
        .unwrap();
    assert_eq!(seqs(&page["messages"]), [1, 2, 3]);
    server.stop().await;
}
