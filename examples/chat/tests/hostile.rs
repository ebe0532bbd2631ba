//! Hostile and unlucky peers (issue 19): look-alike names, a history that lost its tail,
//! room exhaustion, a stale connection holding a name, floods that reconnect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TempDir, TestServer};
use serde_json::json;
use wsx_chat::Config;
use wsx_chat::config::RateSpec;

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
    // The tail is lost: messages 4 and 5 are gone with the room counter's updates (one
    // transaction wrote both), the room (and its epoch) stays.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM messages WHERE seq > 3", [])
        .unwrap();
    conn.execute("UPDATE rooms SET last_seq = 3", []).unwrap();
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

/// Issue 19.3: 50 connections joined and left 10,000 new room names, and then nobody
/// could open a room. Empty rooms now leave memory, and the cap counts live rooms.
#[tokio::test]
async fn rooms_opened_and_left_do_not_exhaust_the_server() {
    let server = TestServer::with(Config {
        max_rooms: 4,
        room_rate_limit: RateSpec::OFF,
        // (No message limits either: this test sends 150 requests at once.)
        rate_limit: 0,
        ..Config::default()
    })
    .await;
    let (mut alice, _) = server.joined("alice", "general").await;
    for i in 0..60 {
        let room = format!("r{i}");
        alice
            .request("join", json!({ "username": "alice", "room": room }))
            .await
            .unwrap();
        // Every fifth room gets history: it stays loadable after it leaves memory.
        if i % 5 == 0 {
            alice
                .request(
                    "sendMessage",
                    json!({ "room": room, "message": format!("in {room}") }),
                )
                .await
                .unwrap();
        }
        alice
            .request("leave", json!({ "room": room }))
            .await
            .unwrap();
        assert!(server.chat_app.rooms_in_memory() <= 4);
        if i < 2 {
            // r0 (with history) stays for --room-idle (60 s here); r1 (without) is gone.
            assert_eq!(server.chat_app.rooms_in_memory(), 2, "after r{i}");
        }
    }
    // A new room can still be opened, and an evicted room comes back with its history.
    alice
        .request("join", json!({ "username": "alice", "room": "fresh" }))
        .await
        .unwrap();
    let back = alice
        .request("join", json!({ "username": "alice", "room": "r10" }))
        .await
        .unwrap();
    assert_eq!(back["seq"], 1);
    assert_eq!(back["history"][0]["message"], "in r10");
    // Live rooms count: general, fresh, r10; one more fits, the fifth is refused.
    alice
        .request("join", json!({ "username": "alice", "room": "fourth" }))
        .await
        .unwrap();
    let err = alice
        .request("join", json!({ "username": "alice", "room": "fifth" }))
        .await
        .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("rooms in use"),
        "{err}"
    );
    // Numbering goes on where it stopped after a reload.
    let sent = alice
        .request("sendMessage", json!({ "room": "r10", "message": "again" }))
        .await
        .unwrap();
    assert_eq!(sent["seq"], 2);
    server.stop().await;
}

/// A room with history leaves memory once idle for `--room-idle` (that it stays until
/// then is checked above); the next join loads it from the database.
#[tokio::test]
async fn an_idle_room_with_history_leaves_memory_and_comes_back() {
    let server = TestServer::with(Config {
        room_idle: std::time::Duration::from_millis(100),
        stats_interval: std::time::Duration::from_millis(100),
        ..Config::default()
    })
    .await;
    let (mut alice, _) = server.joined("alice", "general").await;
    alice
        .request("join", json!({ "username": "alice", "room": "attic" }))
        .await
        .unwrap();
    alice
        .request(
            "sendMessage",
            json!({ "room": "attic", "message": "dusty" }),
        )
        .await
        .unwrap();
    alice
        .request("leave", json!({ "room": "attic" }))
        .await
        .unwrap();
    let app = server.chat_app.clone();
    common::eventually(|| app.rooms_in_memory() == 1).await;
    let back = alice
        .request("join", json!({ "username": "alice", "room": "attic" }))
        .await
        .unwrap();
    assert_eq!(
        (back["seq"].as_u64(), back["history"][0]["message"].as_str()),
        (Some(1), Some("dusty"))
    );
    assert_eq!(server.chat_app.rooms_in_memory(), 2);
    server.stop().await;
}

#[tokio::test]
async fn many_first_joins_of_one_room_cost_one_room_token() {
    // 3 rooms a minute per address, and 40 clients of one address join one new room at
    // once: loading it once must charge one token, not one per concurrent join.
    let server = TestServer::with(Config {
        room_rate_limit: RateSpec::parse("3/1m").unwrap(),
        ..Config::default()
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(server.client().await);
    }
    let joins = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| async move {
            let answer = c
                .request(
                    "join",
                    json!({ "username": format!("crowd{i}"), "room": "fresh" }),
                )
                .await;
            (c, answer)
        });
    let results = futures::future::join_all(joins).await;
    let refused: Vec<_> = results
        .iter()
        .filter_map(|(_, a)| a.as_ref().err())
        .collect();
    assert!(
        refused.is_empty(),
        "{} joins refused: {:?}",
        refused.len(),
        refused.first()
    );
    server.stop().await;
}

#[tokio::test]
async fn opening_rooms_too_fast_is_refused_clearly() {
    let server = TestServer::with(Config {
        room_rate_limit: RateSpec::parse("3/1m").unwrap(),
        ..Config::default()
    })
    .await;
    // Alice keeps `general` in use (she came first: it is one of the address's three).
    let (_alice, _) = server.joined("alice", "general").await;
    let (mut mallory, _) = server.joined("mallory", "general").await;
    for room in ["a", "b"] {
        mallory
            .request("join", json!({ "username": "mallory", "room": room }))
            .await
            .unwrap();
    }
    let err = mallory
        .request("join", json!({ "username": "mallory", "room": "c" }))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "rate_limited", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("new rooms too fast"),
        "{err}"
    );
    // A reconnect does not refill it (the budget is the address's).
    mallory.close().await;
    let mut again = server.client().await;
    again.push("welcome").await;
    let err = again
        .request("join", json!({ "username": "mallory2", "room": "d" }))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "rate_limited", "{err}");
    // Rooms in use can still be joined.
    again
        .request("join", json!({ "username": "mallory2", "room": "general" }))
        .await
        .unwrap();
    server.stop().await;
}

/// Sends `n` messages at once; returns how many were accepted, and the refusals.
async fn flood(c: &mut common::RawClient, n: usize) -> (usize, Vec<serde_json::Value>) {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            c.start_request("sendMessage", json!({ "message": format!("spam {i}") }))
                .await,
        );
    }
    let mut accepted = 0;
    let mut refused = Vec::new();
    for id in &ids {
        match c.answer(id).await {
            Ok(_) => accepted += 1,
            Err(e) => refused.push(e),
        }
    }
    (accepted, refused)
}

/// Issue 19.7: the message limit was per connection, so a flooder reconnected for a
/// fresh budget. The name's and the address's budgets survive reconnects.
#[tokio::test]
async fn a_flooder_that_reconnects_gets_no_fresh_budget() {
    let server = TestServer::with(Config {
        // One connection: 20 at once (never reached here). The name: 10 a minute; the
        // address: 15 a minute (slow refills, so the test does not depend on timing).
        rate_limit: 10,
        user_rate_limit: Some(RateSpec::parse("10/1m").unwrap()),
        ip_rate_limit: Some(RateSpec::parse("15/1m").unwrap()),
        ..Config::default()
    })
    .await;
    let (mut calm, _) = server.joined("calm", "general").await;
    let (mut flooder, _) = server.joined("flood", "general").await;
    let (accepted, _) = flood(&mut flooder, 12).await;
    assert_eq!(accepted, 10);
    flooder.close().await;

    // Same name, new connection: the connection's own budget is fresh, the name's is not.
    let (mut flooder, _) = server.joined("flood", "general").await;
    let (accepted, refused) = flood(&mut flooder, 10).await;
    assert!(
        accepted <= 1,
        "a reconnect refilled the budget: {accepted} accepted"
    );
    assert!(
        refused
            .iter()
            .all(|e| e["code"] == "rate_limited"
                && e["message"].as_str().unwrap().contains("your name")),
        "{refused:?}"
    );
    flooder.close().await;

    // A new name from the same address: only what is left of the address's budget.
    let (mut flooder, _) = server.joined("flood2", "general").await;
    let (accepted, refused) = flood(&mut flooder, 10).await;
    assert!(accepted <= 5 + 1, "{accepted} accepted");
    assert!(
        refused.iter().any(|e| e["code"] == "rate_limited"
            && e["message"].as_str().unwrap().contains("network address")),
        "{refused:?}"
    );
    // Everyone in the room saw exactly the accepted messages (at most 10 + 1 + 6).
    let seen = calm
        .request("history", json!({ "limit": 100 }))
        .await
        .unwrap();
    assert!(seen["messages"].as_array().unwrap().len() <= 17, "{seen}");
    server.stop().await;
}

/// Issue 19.4: a user whose network died (the old socket neither reads nor closes) was
/// told "name `bob` is taken" until the server noticed, 45 s later. With the resume
/// token of its join, the new connection takes the name and the rooms back at once,
/// and the others see no leave/join.
#[tokio::test]
async fn a_resume_token_takes_the_name_back_from_a_silent_connection() {
    let server = TestServer::start().await;
    let (mut carol, _) = server.joined("carol", "general").await;
    carol
        .request("join", json!({ "username": "carol", "room": "side" }))
        .await
        .unwrap();
    let (mut old_bob, joined) = server.joined("bob", "general").await;
    let token = joined["resumeToken"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32, "{token}");
    let side = old_bob
        .request("join", json!({ "username": "bob", "room": "side" }))
        .await
        .unwrap();
    assert_eq!(side["resumeToken"], token.as_str(), "one token per session");
    let sent = old_bob
        .request(
            "sendMessage",
            json!({ "room": "general", "message": "before" }),
        )
        .await
        .unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    // From here the old socket is silent: it stays open, reads nothing, closes nothing.
    // (Carol saw bob join both rooms.)
    for _ in 0..2 {
        assert_eq!(carol.push("userJoined").await["username"], "bob");
    }

    // Without the token (or with a wrong one) the name is still taken.
    let mut intruder = server.client().await;
    intruder.push("welcome").await;
    for resume in [None, Some("0".repeat(32))] {
        let mut payload = json!({ "username": "bob", "room": "general" });
        if let Some(t) = resume {
            payload["resumeToken"] = json!(t);
        }
        let err = intruder.request("join", payload).await.unwrap_err();
        assert!(err["message"].as_str().unwrap().contains("taken"), "{err}");
    }

    // Carol sends a message bob's old socket will never read.
    carol
        .request(
            "sendMessage",
            json!({ "room": "general", "message": "while away" }),
        )
        .await
        .unwrap();

    // With it: bob at once, with what he missed.
    let mut bob = server.client().await;
    bob.push("welcome").await;
    let back = bob
        .request(
            "join",
            json!({
                "username": "bob",
                "room": "general",
                "since": { "epoch": epoch, "seq": sent["seq"] },
                "resumeToken": token,
            }),
        )
        .await
        .unwrap();
    assert_eq!(back["recovered"], true);
    assert_eq!(back["history"][0]["message"], "while away");
    assert_eq!(back["users"], json!(["bob", "carol"]));
    let new_token = back["resumeToken"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token, "a token is good for one resume");
    // The used token does not work a second time.
    let err = intruder
        .request(
            "join",
            json!({ "username": "bob", "room": "general", "resumeToken": token }),
        )
        .await
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("taken"), "{err}");

    // Carol saw no leave and no join of bob: his next message is the first thing after
    // her own (pushes reach her in order).
    bob.request(
        "sendMessage",
        json!({ "room": "general", "message": "I'm back" }),
    )
    .await
    .unwrap();
    loop {
        if carol.push("message").await["message"] == "I'm back" {
            break;
        }
    }
    assert!(carol.take_buffered("userLeft").is_empty());
    assert!(carol.take_buffered("userJoined").is_empty());
    // In the room he has not re-joined yet, he is still listed (held for him).
    let side_users = carol
        .request("listUsers", json!({ "room": "side" }))
        .await
        .unwrap();
    assert_eq!(side_users["users"], json!(["bob", "carol"]));
    // Re-joining it announces nobody either.
    bob.request("join", json!({ "username": "bob", "room": "side" }))
        .await
        .unwrap();
    carol
        .request("sendMessage", json!({ "room": "side", "message": "ping" }))
        .await
        .unwrap();
    // (Bob's own "I'm back" comes first.)
    assert_eq!(bob.push("message").await["message"], "I'm back");
    assert_eq!(bob.push("message").await["message"], "ping");
    assert!(carol.take_buffered("userJoined").is_empty());

    // The old socket, read at last: it was closed with 4001 (final, do not reconnect).
    let closed = old_bob.closed().await;
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    // Its goodbye was silent, and bob is still bob.
    let who = carol
        .request("listUsers", json!({ "room": "general" }))
        .await
        .unwrap();
    assert_eq!(who["users"], json!(["bob", "carol"]));
    assert!(carol.take_buffered("userLeft").is_empty());

    // When the new connection goes, the others are told once per room.
    bob.close().await;
    let mut left: Vec<String> = Vec::new();
    for _ in 0..2 {
        left.push(
            carol.push("userLeft").await["room"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    left.sort();
    assert_eq!(left, ["general", "side"]);
    server.stop().await;
}
