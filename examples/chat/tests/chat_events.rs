//! Every chat event over real sockets: the seed-only client flow, and two users in two
//! rooms going through everything else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RawClient, TestServer};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_chat::Config;

/// A client that knows only the five seed events: joins once, sends messages, listens for
/// `message`, `userJoined` and `userLeft`.
#[tokio::test]
async fn the_seed_client_flow_works_unchanged() {
    let server = TestServer::start().await;
    let mut alice = server.client().await;
    // The seed client sends only `username` (and `room` defaults to "general").
    let joined = alice
        .request("join", json!({ "username": "alice" }))
        .await
        .unwrap();
    assert_eq!(joined["success"], true);
    assert_eq!(joined["message"], "Welcome to general!");
    assert_eq!(joined["users"], json!(["alice"]));

    let mut bob = server.client().await;
    let joined = bob
        .request("join", json!({ "username": "bob", "room": "general" }))
        .await
        .unwrap();
    assert_eq!(joined["users"], json!(["alice", "bob"]));
    let seen = alice.push("userJoined").await;
    assert_eq!(seen["username"], "bob");

    let sent = bob
        .request("sendMessage", json!({ "message": "hi alice" }))
        .await
        .unwrap();
    assert!(sent["messageId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        sent["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    for c in [&mut alice, &mut bob] {
        let m = c.push("message").await;
        assert_eq!(
            (m["username"].as_str(), m["message"].as_str()),
            (Some("bob"), Some("hi alice"))
        );
        assert_eq!(m["messageId"], sent["messageId"]);
        assert_eq!(m["timestamp"], sent["timestamp"]);
    }
    // The joiner does not get its own userJoined.
    assert!(bob.take_buffered("userJoined").is_empty());

    bob.close().await;
    let left = alice.push("userLeft").await;
    assert_eq!(left["username"], "bob");
    server.stop().await;
}

#[tokio::test]
async fn two_users_in_two_rooms_use_every_event() {
    let config = Config {
        typing_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let server = TestServer::with(config).await;
    let mut alice = server.client().await;
    let welcome = alice.push("welcome").await;
    assert_eq!(welcome["idleTimeoutSecs"], 300);
    assert!(welcome["serverTime"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(welcome["rooms"], json!([]));

    alice
        .request("join", json!({ "username": "alice", "room": "general" }))
        .await
        .unwrap();
    let mut bob = server.client().await;
    assert_eq!(
        bob.push("welcome").await["rooms"],
        json!([{ "name": "general", "members": 1, "messages": 0 }])
    );
    bob.request("join", json!({ "username": "bob", "room": "general" }))
        .await
        .unwrap();
    assert_eq!(
        alice.push("userJoined").await,
        json!({ "username": "bob", "room": "general" })
    );
    let a_random = alice
        .request("join", json!({ "username": "alice", "room": "random" }))
        .await
        .unwrap();
    assert_eq!(
        (a_random["room"].as_str(), a_random["seq"].as_u64()),
        (Some("random"), Some(0))
    );
    let b_random = bob
        .request("join", json!({ "username": "bob", "room": "random" }))
        .await
        .unwrap();
    assert_eq!(b_random["users"], json!(["alice", "bob"]));
    assert_eq!(b_random["epoch"], a_random["epoch"]);
    assert_eq!(
        alice.push("userJoined").await,
        json!({ "username": "bob", "room": "random" })
    );

    // No room: the most recently joined one (random). The sender is the session.
    let sent = bob
        .request(
            "sendMessage",
            json!({ "message": "in random", "username": "mallory" }),
        )
        .await;
    let sent = sent.unwrap();
    assert_eq!(
        (sent["room"].as_str(), sent["seq"].as_u64()),
        (Some("random"), Some(1))
    );
    let m = alice.push("message").await;
    assert_eq!(
        (
            m["room"].as_str(),
            m["username"].as_str(),
            m["seq"].as_u64()
        ),
        (Some("random"), Some("bob"), Some(1))
    );
    assert_eq!(m["kind"], "message");
    assert_eq!(bob.push("message").await["seq"], 1);

    // A /me action to a named room.
    bob.request(
        "sendMessage",
        json!({ "message": "waves", "room": "general", "kind": "action" }),
    )
    .await
    .unwrap();
    let m = alice.push("message").await;
    assert_eq!(
        (m["room"].as_str(), m["kind"].as_str(), m["seq"].as_u64()),
        (Some("general"), Some("action"), Some(1))
    );
    bob.push("message").await;

    let rooms = alice.request("listRooms", json!({})).await.unwrap();
    assert_eq!(
        rooms["rooms"],
        json!([{ "name": "general", "members": 2, "messages": 1 }, { "name": "random", "members": 2, "messages": 1 }])
    );
    let users = alice
        .request("listUsers", json!({ "room": "general" }))
        .await
        .unwrap();
    assert_eq!(
        users,
        json!({ "room": "general", "users": ["alice", "bob"] })
    );
    // Default room of listUsers: alice's latest, random.
    assert_eq!(
        alice.request("listUsers", json!({})).await.unwrap()["room"],
        "random"
    );

    // Typing: the others see it, it expires by itself.
    bob.send("typing", json!({ "room": "general", "active": true }))
        .await;
    assert_eq!(
        alice.push("userTyping").await,
        json!({ "room": "general", "username": "bob", "active": true })
    );
    let stop = alice
        .gets_push_within("userTyping", Duration::from_secs(2))
        .await
        .expect("typing expires");
    assert_eq!(
        stop,
        json!({ "room": "general", "username": "bob", "active": false })
    );
    // A message stops it too.
    bob.send("typing", json!({ "active": true })).await;
    assert_eq!(alice.push("userTyping").await["active"], true);
    bob.request("sendMessage", json!({ "message": "done typing" }))
        .await
        .unwrap();
    assert_eq!(alice.push("message").await["seq"], 2);
    assert_eq!(alice.push("userTyping").await["active"], false);
    bob.push("message").await;
    assert!(
        bob.take_buffered("userTyping").is_empty(),
        "the typist is not told of its own typing"
    );

    // Private messages: to the recipient, echoed to the sender.
    let pm = bob
        .request("sendPrivate", json!({ "to": "ALICE", "message": "psst" }))
        .await
        .unwrap();
    for c in [&mut alice, &mut bob] {
        let got = c.push("privateMessage").await;
        assert_eq!(
            (
                got["from"].as_str(),
                got["to"].as_str(),
                got["message"].as_str()
            ),
            (Some("bob"), Some("alice"), Some("psst"))
        );
        assert_eq!(got["messageId"], pm["messageId"]);
    }
    let err = bob
        .request(
            "sendPrivate",
            json!({ "to": "nobody", "message": "hello?" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err["code"], "handler_error");
    assert!(err["message"].as_str().unwrap().contains("nobody"));
    bob.request("sendPrivate", json!({ "to": "bob", "message": "me" }))
        .await
        .unwrap_err();

    // Nickname: every room of the user hears of it.
    let err = bob
        .request("setNick", json!({ "username": "Alice" }))
        .await
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("taken"));
    let nick = bob
        .request("setNick", json!({ "username": "Robert" }))
        .await
        .unwrap();
    assert_eq!(nick, json!({ "oldName": "bob", "username": "Robert" }));
    let mut rooms_told = [
        alice.push("nickChanged").await,
        alice.push("nickChanged").await,
    ];
    rooms_told.sort_by_key(|n| n["room"].as_str().unwrap().to_owned());
    assert_eq!(
        rooms_told[0],
        json!({ "room": "general", "oldName": "bob", "newName": "Robert" })
    );
    assert_eq!(rooms_told[1]["room"], "random");
    assert_eq!(
        alice
            .request("listUsers", json!({ "room": "general" }))
            .await
            .unwrap()["users"],
        json!(["alice", "Robert"])
    );
    // The old name is free again, the new one taken.
    let mut carol = server.client().await;
    carol
        .request("join", json!({ "username": "robert", "room": "general" }))
        .await
        .unwrap_err();

    // History of a room, from the database.
    let history = alice
        .request("history", json!({ "room": "random", "limit": 10 }))
        .await
        .unwrap();
    assert_eq!(history["epoch"], a_random["epoch"]);
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["in random", "done typing"]);
    assert_eq!(history["hasMore"], false);
    let page = alice
        .request("history", json!({ "room": "random", "limit": 1 }))
        .await
        .unwrap();
    assert_eq!(
        (
            page["messages"][0]["seq"].as_u64(),
            page["hasMore"].as_bool()
        ),
        (Some(2), Some(true))
    );

    // Leave: the others hear it; the room is no longer the default.
    let left = bob.request("leave", json!({})).await.unwrap();
    assert_eq!(left, json!({ "success": true, "room": "random" }));
    assert_eq!(
        alice.push("userLeft").await,
        json!({ "username": "Robert", "room": "random" })
    );
    let err = bob
        .request("sendMessage", json!({ "message": "x", "room": "random" }))
        .await
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("not in room"));
    assert_eq!(
        bob.request("sendMessage", json!({ "message": "back in general" }))
            .await
            .unwrap()["room"],
        "general"
    );
    assert_eq!(alice.push("message").await["message"], "back in general");
    assert_eq!(
        bob.request("leave", json!({ "room": "random" }))
            .await
            .unwrap()["success"],
        false
    );

    // Disconnect: userLeft to the rooms the user was still in, only.
    bob.close().await;
    assert_eq!(
        alice.push("userLeft").await,
        json!({ "username": "Robert", "room": "general" })
    );
    assert!(
        alice
            .gets_push_within("userLeft", Duration::from_millis(200))
            .await
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn names_are_unique_and_clean() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.joined("Alice", "general").await;
    let mut other = server.client().await;
    for taken in ["alice", "ALICE", "Ａｌｉｃｅ", " alice "] {
        let err = other
            .request("join", json!({ "username": taken }))
            .await
            .unwrap_err();
        assert!(
            err["message"].as_str().unwrap().contains("taken"),
            "{taken:?}: {err}"
        );
    }
    for hidden in ["al\u{200B}ice", "eve\u{202E}", "bo\u{0007}b", "a\u{2066}b"] {
        let err = other
            .request("join", json!({ "username": hidden }))
            .await
            .unwrap_err();
        assert_eq!(err["code"], "invalid_payload", "{hidden:?}");
        assert_eq!(err["cause"][0]["path"], "/username");
    }
    // The schema: a room name pattern, an empty message.
    let err = other
        .request("join", json!({ "username": "dave", "room": "no spaces" }))
        .await
        .unwrap_err();
    assert_eq!(
        (err["code"].as_str(), err["cause"][0]["path"].as_str()),
        (Some("invalid_payload"), Some("/room"))
    );
    let err = alice
        .request("sendMessage", json!({ "message": "" }))
        .await
        .unwrap_err();
    assert_eq!(
        (err["code"].as_str(), err["cause"][0]["path"].as_str()),
        (Some("invalid_payload"), Some("/message"))
    );
    let err = alice
        .request("sendMessage", json!({ "message": "   " }))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "invalid_payload");
    // One name per connection.
    let err = alice
        .request("join", json!({ "username": "alicia", "room": "random" }))
        .await
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("setNick"));
    // Before a join, nothing can be sent.
    let err = other
        .request("sendMessage", json!({ "message": "hi" }))
        .await
        .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("join"));
    let err = other.request("nope", json!({})).await.unwrap_err();
    assert_eq!(err["code"], "unknown_event");
    // The name is free once its holder is gone.
    alice.close().await;
    let mut retry: Option<Value> = None;
    for _ in 0..50 {
        match other.request("join", json!({ "username": "alice" })).await {
            Ok(v) => {
                retry = Some(v);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!(retry.expect("name freed")["users"], json!(["alice"]));
    server.stop().await;
}

#[tokio::test]
async fn a_connection_gets_pushes_of_all_its_rooms_in_order() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.joined("alice", "one").await;
    alice
        .request("join", json!({ "username": "alice", "room": "two" }))
        .await
        .unwrap();
    let (mut bob, _) = server.joined("bob", "one").await;
    let mut bob2 = RawClient::connect(&server.ws_url()).await;
    bob2.request("join", json!({ "username": "bob2", "room": "two" }))
        .await
        .unwrap();
    for i in 0..20 {
        let room = if i % 2 == 0 { "one" } else { "two" };
        let sender = if i % 2 == 0 { &mut bob } else { &mut bob2 };
        sender
            .request(
                "sendMessage",
                json!({ "message": format!("m{i}"), "room": room }),
            )
            .await
            .unwrap();
    }
    let mut per_room: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for _ in 0..20 {
        let m = alice.push("message").await;
        per_room
            .entry(m["room"].as_str().unwrap().to_owned())
            .or_default()
            .push(m["seq"].as_u64().unwrap());
    }
    assert_eq!(per_room["one"], (1..=10).collect::<Vec<_>>());
    assert_eq!(per_room["two"], (1..=10).collect::<Vec<_>>());
    server.stop().await;
}

/// Requests of one connection are answered concurrently, yet a request that depends on
/// an earlier one sees its effect: `join` of a new room (which waits for the database)
/// and a message to it, sent at once, for many rooms; then `setNick`, a message and a
/// `leave` that must come after it.
#[tokio::test]
async fn pipelined_requests_see_the_effects_of_earlier_ones() {
    let server = TestServer::with(Config {
        rate_limit: 0,
        // 40 new rooms at once, from one address.
        room_rate_limit: wsx_chat::config::RateSpec::OFF,
        ..Config::default()
    })
    .await;
    let mut c = server.client().await;
    let mut pending = Vec::new();
    for r in 0..40 {
        let room = format!("pipes{r}");
        let join = c
            .start_request("join", json!({ "username": "piper", "room": room }))
            .await;
        let send = c
            .start_request(
                "sendMessage",
                json!({ "message": format!("m{r}"), "room": room }),
            )
            .await;
        pending.push((room, join, send));
    }
    for (room, join, send) in &pending {
        assert_eq!(c.answer(join).await.expect("join")["room"], room.as_str());
        let sent = c
            .answer(send)
            .await
            .expect("a message right after its join is accepted");
        assert_eq!(sent["room"], room.as_str());
    }
    let nick = c
        .start_request("setNick", json!({ "username": "piper2" }))
        .await;
    let after_nick = c
        .start_request(
            "sendMessage",
            json!({ "message": "renamed", "room": "pipes0" }),
        )
        .await;
    let leave = c.start_request("leave", json!({ "room": "pipes0" })).await;
    c.answer(&nick).await.expect("setNick");
    c.answer(&after_nick).await.expect("message after setNick");
    let left = c.answer(&leave).await.expect("leave");
    assert_eq!(left["success"], true);
    // The sender is a member too: the last message, sent before the `leave`, reached
    // it before it left, signed with the new name.
    loop {
        let m = c.push("message").await;
        if m["message"] == "renamed" {
            assert_eq!(m["username"], "piper2");
            break;
        }
    }
    server.stop().await;
}
