//! The chat's nodes as real processes on one PostgreSQL database (its own) and the local
//! Redis (a key prefix of its own): REST and SSE answering for the whole cluster, the
//! users of a node killed with `kill -9` leaving once its expiry passes, a SIGTERM
//! handing users over to the other nodes without a leave and a join. Needs the local
//! PostgreSQL and Redis: without them these tests fail and say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster_nodes;
mod common;
mod pg;
mod redis_test;

use cluster_nodes::{Node, get_json, wait_for_json};
use common::RawClient;
use common::sse::SseReader;
use pg::PgDatabase;
use redis_test::{REDIS, RedisPrefix};
use serde_json::{Value, json};
use std::time::Duration;

/// A client of `node` that joined `room` as `name`; the join's answer.
async fn joined(node: &Node, name: &str, room: &str) -> (RawClient, Value) {
    let mut c = RawClient::connect(&node.ws_url()).await;
    c.push("welcome").await;
    let answer = c
        .request("join", json!({ "username": name, "room": room }))
        .await
        .unwrap();
    (c, answer)
}

/// The members of `room` as `node` answers `GET /api/room/{room}/users`, once they are
/// `users` (at most 15 s).
async fn wait_for_users(node: &Node, room: &str, users: &[&str]) {
    wait_for_json(
        &node.http(&format!("/api/room/{room}/users")),
        |v| v["users"].clone(),
        json!(users),
    )
    .await;
}

/// The names of the next `n` `userJoined`, sorted.
async fn joins(client: &mut RawClient, n: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(n);
    for _ in 0..n {
        let joined = client.push("userJoined").await;
        names.push(joined["username"].as_str().unwrap().to_owned());
    }
    names.sort_unstable();
    names
}

/// The next `userLeft` within 15 s (a node's expiry and the reaping after it).
async fn next_left(client: &mut RawClient) -> String {
    let left = client
        .gets_push_within("userLeft", Duration::from_secs(15))
        .await
        .expect("a userLeft within 15 s");
    left["username"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_sse_answer_for_the_whole_cluster_from_any_node() {
    let db = PgDatabase::create("cluster_rest").await;
    let prefix = RedisPrefix::new("rest").await;
    let url = db.url();
    let start = || Node::start(&url, REDIS, &prefix.0, "10s");
    let (a, b, c) = (start().await, start().await, start().await);
    let mut sse = SseReader::open(&c.http("/events"), None).await;

    let (mut alice, _) = joined(&a, "alice", "general").await;
    let (_bob, _) = joined(&b, "bob", "general").await;
    let (_carol, _) = joined(&c, "carol", "random").await;
    // Every node's events on node C, under one id sequence.
    let mut connected = Vec::new();
    while connected.len() < 3 {
        let e = sse.next_system().await;
        if e.event == "userConnected" {
            connected.push((e.id, e.data["username"].as_str().unwrap().to_owned()));
        }
    }
    let mut names: Vec<&str> = connected.iter().map(|(_, n)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(
        connected.windows(2).all(|w| w[0].0 < w[1].0),
        "{connected:?}"
    );
    // A browser that moves to node A with `Last-Event-ID` goes on where it stopped.
    let (first_id, first_name) = connected[0].clone();
    let mut moved = SseReader::open(&a.http("/events"), Some(first_id)).await;
    let mut replayed = Vec::new();
    while replayed.len() < 2 {
        let e = moved.next_system().await;
        if e.event == "userConnected" {
            replayed.push((e.id, e.data["username"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(replayed, connected[1..], "after {first_id} ({first_name})");

    for text in ["one", "two"] {
        alice
            .request("sendMessage", json!({ "message": text }))
            .await
            .unwrap();
    }
    for node in [&a, &b, &c] {
        wait_for_users(node, "general", &["alice", "bob"]).await;
        wait_for_users(node, "random", &["carol"]).await;
        wait_for_json(
            &node.http("/api/rooms"),
            |v| v["rooms"].clone(),
            json!([
                { "name": "general", "members": 2, "messages": 2 },
                { "name": "random", "members": 1, "messages": 0 },
            ]),
        )
        .await;
        wait_for_json(
            &node.http("/api/stats"),
            |v| json!([v["connections"], v["users"], v["rooms"], v["messages"]]),
            json!([3, 3, 2, 2]),
        )
        .await;
        let history = get_json(&node.http("/api/room/general/history")).await;
        let seqs: Vec<u64> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2]);
    }
    for node in [a, b, c] {
        node.term();
        assert!(node.exited().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_of_a_killed_node_leave_once_when_its_expiry_passes() {
    let db = PgDatabase::create("cluster_kill").await;
    let prefix = RedisPrefix::new("kill").await;
    let url = db.url();
    let start = || Node::start(&url, REDIS, &prefix.0, "2s");
    let (a, b, c) = (start().await, start().await, start().await);
    let (mut alice, _) = joined(&a, "alice", "general").await;
    // Node A subscribed to the room (it gets the other nodes' pushes to it from now on).
    wait_for_users(&b, "general", &["alice"]).await;
    let (_bob, _) = joined(&b, "bob", "general").await;
    let (_dave, dave_joined) = joined(&b, "dave", "general").await;
    let (mut carol, _) = joined(&c, "carol", "general").await;
    wait_for_users(&a, "general", &["alice", "bob", "carol", "dave"]).await;
    assert_eq!(joins(&mut alice, 3).await, ["bob", "carol", "dave"]);

    b.kill9().await;
    // dave comes back on node C at once, with the resume token: nobody sees him go.
    let mut dave = RawClient::connect(&c.ws_url()).await;
    dave.push("welcome").await;
    let back = dave
        .request(
            "join",
            json!({
                "username": "dave",
                "room": "general",
                "resumeToken": dave_joined["resumeToken"],
                "since": { "epoch": dave_joined["epoch"], "seq": dave_joined["seq"] },
            }),
        )
        .await
        .unwrap();
    assert_eq!(back["recovered"], true);
    // bob does not: once node B's expiry passes, everyone sees him leave, once.
    for client in [&mut alice, &mut carol, &mut dave] {
        assert_eq!(next_left(client).await, "bob");
    }
    for node in [&a, &c] {
        wait_for_users(node, "general", &["alice", "carol", "dave"]).await;
    }
    // A message after it: nothing else came before it (no leave, no join of dave).
    alice
        .request("sendMessage", json!({ "message": "still here" }))
        .await
        .unwrap();
    for client in [&mut alice, &mut carol, &mut dave] {
        assert_eq!(client.push("message").await["message"], "still here");
        assert_eq!(client.take_buffered("userLeft"), Vec::<Value>::new());
        assert_eq!(client.take_buffered("userJoined"), Vec::<Value>::new());
    }
    // bob's name is free again.
    let (_new_bob, _) = joined(&a, "bob", "general").await;
    for node in [a, c] {
        node.term();
        assert!(node.exited().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_hands_users_over_without_a_leave_and_a_join() {
    let db = PgDatabase::create("cluster_term").await;
    let prefix = RedisPrefix::new("term").await;
    let url = db.url();
    let start = || Node::start(&url, REDIS, &prefix.0, "3s");
    let (a, b) = (start().await, start().await);
    let (mut alice, _) = joined(&a, "alice", "general").await;
    wait_for_users(&b, "general", &["alice"]).await;
    let (mut bob, bob_joined) = joined(&b, "bob", "general").await;
    let (mut erin, _) = joined(&b, "erin", "general").await;
    wait_for_users(&a, "general", &["alice", "bob", "erin"]).await;
    assert_eq!(joins(&mut alice, 2).await, ["bob", "erin"]);

    b.term();
    for client in [&mut bob, &mut erin] {
        let closed = client.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (Some(1001), "server restarting")
        );
        assert_eq!(client.take_buffered("userLeft"), Vec::<Value>::new());
    }
    assert!(b.exited().await, "a graceful stop ends with success");
    // bob reconnects to node A with his resume token: his name, his room, no join seen.
    let mut bob = RawClient::connect(&a.ws_url()).await;
    bob.push("welcome").await;
    let back = bob
        .request(
            "join",
            json!({
                "username": "bob",
                "room": "general",
                "resumeToken": bob_joined["resumeToken"],
                "since": { "epoch": bob_joined["epoch"], "seq": bob_joined["seq"] },
            }),
        )
        .await
        .unwrap();
    assert_eq!(back["recovered"], true);
    // erin is still shown (the grace window) …
    let users: Vec<&str> = back["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "bob", "erin"]);
    // … until it passes without her: then she leaves, and only she.
    for client in [&mut alice, &mut bob] {
        assert_eq!(next_left(client).await, "erin");
    }
    wait_for_users(&a, "general", &["alice", "bob"]).await;
    alice
        .request("sendMessage", json!({ "message": "welcome back" }))
        .await
        .unwrap();
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.push("message").await["message"], "welcome back");
        assert_eq!(client.take_buffered("userLeft"), Vec::<Value>::new());
        assert_eq!(client.take_buffered("userJoined"), Vec::<Value>::new());
    }
    a.term();
    assert!(a.exited().await);
}

#[tokio::test]
async fn a_single_node_restart_closes_with_1001_server_restarting() {
    let server = common::TestServer::start().await;
    let (_alice, _) = server.joined("alice", "general").await;
    let (mut bob, _) = server.joined("bob", "general").await;
    server.stop().await;
    let closed = bob.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (Some(1001), "server restarting")
    );
    assert_eq!(bob.take_buffered("userLeft"), Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_taken_back_on_another_node_stays_listed_in_rooms_not_joined_again() {
    let db = PgDatabase::create("cluster_held").await;
    let prefix = RedisPrefix::new("held").await;
    let url = db.url();
    let start = || Node::start(&url, REDIS, &prefix.0, "3s");
    let (a, b) = (start().await, start().await);
    let (mut alice, _) = joined(&a, "alice", "general").await;
    alice
        .request("join", json!({ "username": "alice", "room": "random" }))
        .await
        .unwrap();
    let (mut bob, bob_general) = joined(&b, "bob", "general").await;
    bob.request("join", json!({ "username": "bob", "room": "random" }))
        .await
        .unwrap();
    // erin stays on node B and does not come back: her leave marks the end of B's window.
    let (_erin, _) = joined(&b, "erin", "random").await;
    wait_for_users(&a, "random", &["alice", "bob", "erin"]).await;
    assert_eq!(joins(&mut alice, 3).await, ["bob", "bob", "erin"]);

    b.term();
    assert_eq!(bob.closed().await.code, Some(1001));
    assert!(b.exited().await);
    // bob is back on node A in `general` only, so far.
    let mut bob = RawClient::connect(&a.ws_url()).await;
    bob.push("welcome").await;
    bob.request(
        "join",
        json!({
            "username": "bob",
            "room": "general",
            "resumeToken": bob_general["resumeToken"],
        }),
    )
    .await
    .unwrap();
    // B's window passes: erin leaves `random`, bob does not — he is still shown there.
    assert_eq!(next_left(&mut alice).await, "erin");
    let listed = alice
        .request("listUsers", json!({ "room": "random" }))
        .await
        .unwrap();
    assert_eq!(listed["users"], json!(["alice", "bob"]));
    wait_for_users(&a, "random", &["alice", "bob"]).await;
    let rooms = alice.request("listRooms", json!({})).await.unwrap();
    assert_eq!(
        rooms["rooms"],
        json!([
            { "name": "general", "members": 2, "messages": 0 },
            { "name": "random", "members": 2, "messages": 0 },
        ])
    );
    // He joins `random` again: no join is announced, and he is listed once.
    let back = bob
        .request("join", json!({ "username": "bob", "room": "random" }))
        .await
        .unwrap();
    assert_eq!(back["users"], json!(["alice", "bob"]));
    let rooms = alice.request("listRooms", json!({})).await.unwrap();
    assert_eq!(rooms["rooms"][1]["members"], 2);
    alice
        .request(
            "sendMessage",
            json!({ "message": "hi bob", "room": "random" }),
        )
        .await
        .unwrap();
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.push("message").await["message"], "hi bob");
        assert_eq!(client.take_buffered("userJoined"), Vec::<Value>::new());
        assert_eq!(client.take_buffered("userLeft"), Vec::<Value>::new());
    }
    a.term();
    assert!(a.exited().await);
}
