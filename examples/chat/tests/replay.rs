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

/// Several senders at once, each with many requests in flight: messages are committed in
/// groups, yet every member sees the room's messages once each, in `seq` order with no
/// gap, each sender's answer names the `seq` everyone saw, and a user joining in the
/// middle of the traffic gets a backlog and live pushes that meet exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_are_numbered_committed_and_delivered_in_order() {
    const SENDERS: usize = 4;
    const EACH: usize = 40;
    const TOTAL: u64 = (SENDERS * EACH) as u64;
    let server = TestServer::with(Config {
        history: 1000,
        rate_limit: 0,
        ..Config::default()
    })
    .await;
    let (mut watcher, _) = server.joined("watcher", "busy").await;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (client, _) = server.joined(&format!("sender{s}"), "busy").await;
        senders.push(client);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, mut client)| {
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..EACH {
                    let id = client
                        .start_request("sendMessage", json!({ "message": format!("{s}:{i}") }))
                        .await;
                    ids.push(id);
                }
                let mut answered = Vec::new();
                for id in ids {
                    let answer = client.answer(&id).await.unwrap();
                    answered.push(answer["seq"].as_u64().unwrap());
                }
                (s, answered)
            })
        })
        .collect();
    // A user who joins while the messages flow.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let (mut late, joined) = server.joined("late", "busy").await;

    let mut by_seq = std::collections::BTreeMap::new();
    for _ in 0..TOTAL {
        let m = watcher.push("message").await;
        let seq = m["seq"].as_u64().unwrap();
        assert_eq!(seq, by_seq.len() as u64 + 1, "in order, no gap: {m}");
        by_seq.insert(seq, m["message"].as_str().unwrap().to_owned());
    }
    for task in tasks {
        let (s, answered) = task.await.unwrap();
        for (i, seq) in answered.iter().enumerate() {
            assert_eq!(by_seq[seq], format!("{s}:{i}"), "answer of {s}:{i}");
        }
        // One sender's messages keep their order.
        assert!(answered.windows(2).all(|w| w[0] < w[1]), "{answered:?}");
    }

    let mut seen = seqs(&joined["history"]);
    assert_eq!(
        joined["seq"].as_u64().unwrap(),
        seen.last().copied().unwrap_or(0)
    );
    while seen.last().copied().unwrap_or(0) < TOTAL {
        seen.push(late.push("message").await["seq"].as_u64().unwrap());
    }
    assert_eq!(
        seen,
        (1..=TOTAL).collect::<Vec<_>>(),
        "backlog + live, exactly once"
    );
}
