//! Three chat nodes in this process on one PostgreSQL database (its own, see `pg/mod.rs`)
//! and one Redis (127.0.0.1:6379, a key prefix of its own per test), clients spread over
//! them, over real sockets: the seed flow across nodes, concurrent senders on different
//! nodes seen by everyone as one sequence, a message whose publication was lost, and names
//! unique across nodes. Needs the local PostgreSQL and Redis: without them these tests fail
//! and say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod pg;
mod redis_test;

use common::{RawClient, TestServer};
use pg::PgDatabase;
use redis_test::{OwnRedis, REDIS, RedisPrefix};
use serde_json::{Value, json};
use std::time::Duration;
use wsx_chat::Config;
use wsx_chat::store::{Database, NewMessage, Store};

/// A cluster node's settings: the shared database and Redis, no rate limits (every
/// client of a test comes from 127.0.0.1).
fn node(db: &PgDatabase, prefix: &RedisPrefix) -> Config {
    Config {
        memory: false,
        database: Some(Database::Postgres(db.url())),
        redis: Some(REDIS.to_owned()),
        redis_prefix: prefix.0.clone(),
        rate_limit: 0,
        ..Config::default()
    }
}

async fn three_nodes(db: &PgDatabase, prefix: &RedisPrefix) -> [TestServer; 3] {
    [
        TestServer::with(node(db, prefix)).await,
        TestServer::with(node(db, prefix)).await,
        TestServer::with(node(db, prefix)).await,
    ]
}

/// Waits (at most 10 s) until `server` sees exactly `users` in `room` across the cluster
/// (so the nodes holding them have written their membership and subscribed the room).
async fn wait_for_users(server: &TestServer, room: &str, users: &[&str]) {
    let cluster = server.chat_app.cluster().expect("a cluster node");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = cluster.room_users(room, Vec::new()).await;
        let seen_here = server
            .chat_app
            .existing_room(room)
            .map(|r| r.member_names())
            .unwrap_or_default();
        let mut all: Vec<String> = seen.unwrap_or_default();
        all.extend(seen_here);
        all.sort();
        all.dedup();
        if all == users {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{room}: {all:?}, expected {users:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads `n` `message` pushes: their (seq, messageId).
async fn messages(client: &mut RawClient, n: usize) -> Vec<(u64, String)> {
    let mut seen = Vec::with_capacity(n);
    while seen.len() < n {
        let m = client.push("message").await;
        seen.push((
            m["seq"].as_u64().unwrap(),
            m["messageId"].as_str().unwrap().to_owned(),
        ));
    }
    seen
}

fn names(answer: &Value) -> Vec<String> {
    answer["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_seed_flow_works_across_three_nodes() {
    let db = PgDatabase::create("cluster_seed").await;
    let prefix = RedisPrefix::new("seed").await;
    let [a, b, c] = three_nodes(&db, &prefix).await;
    let (mut alice, _) = a.joined("alice", "general").await;
    wait_for_users(&c, "general", &["alice"]).await;
    // A connection to another node is greeted with the cluster's rooms.
    let mut greeted = c.client().await;
    assert_eq!(
        greeted.push("welcome").await["rooms"],
        json!([{ "name": "general", "members": 1, "messages": 0 }])
    );
    greeted.close().await;
    let (mut bob, joined) = b.joined("bob", "general").await;
    assert_eq!(
        names(&joined),
        ["alice", "bob"],
        "the join answer lists every node's members"
    );
    let pushed = alice.push("userJoined").await;
    assert_eq!(
        (pushed["username"].as_str(), pushed["room"].as_str()),
        (Some("bob"), Some("general"))
    );
    wait_for_users(&a, "general", &["alice", "bob"]).await;
    let (mut carol, joined) = c.joined("carol", "general").await;
    assert_eq!(names(&joined), ["alice", "bob", "carol"]);
    assert_eq!(alice.push("userJoined").await["username"], "carol");
    assert_eq!(bob.push("userJoined").await["username"], "carol");
    wait_for_users(&a, "general", &["alice", "bob", "carol"]).await;
    let listed = bob.request("listUsers", json!({})).await.unwrap();
    assert_eq!(names(&listed), ["alice", "bob", "carol"]);

    let sent = alice
        .request("sendMessage", json!({ "message": "hello, cluster" }))
        .await
        .unwrap();
    assert_eq!(sent["seq"], 1);
    for client in [&mut alice, &mut bob, &mut carol] {
        let m = client.push("message").await;
        assert_eq!(
            (
                m["seq"].as_u64(),
                m["username"].as_str(),
                m["message"].as_str()
            ),
            (Some(1), Some("alice"), Some("hello, cluster"))
        );
        assert_eq!(m["messageId"], sent["messageId"]);
    }
    let reply = carol
        .request("sendMessage", json!({ "message": "hi alice" }))
        .await
        .unwrap();
    assert_eq!(reply["seq"], 2);
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(client.push("message").await["seq"], 2);
    }

    // A private message to a user on another node.
    let sent = alice
        .request("sendPrivate", json!({ "to": "carol", "message": "psst" }))
        .await
        .unwrap();
    let got = carol.push("privateMessage").await;
    assert_eq!(
        (
            got["from"].as_str(),
            got["message"].as_str(),
            &got["messageId"]
        ),
        (Some("alice"), Some("psst"), &sent["messageId"])
    );
    assert_eq!(alice.push("privateMessage").await["to"], "carol");
    // Typing and renames reach the other nodes (the adapter's room pushes).
    alice
        .send("typing", json!({ "room": "general", "active": true }))
        .await;
    let typing = carol.push("userTyping").await;
    assert_eq!(
        (typing["username"].as_str(), typing["active"].as_bool()),
        (Some("alice"), Some(true))
    );
    carol
        .request("setNick", json!({ "username": "caroline" }))
        .await
        .unwrap();
    let renamed = alice.push("nickChanged").await;
    assert_eq!(
        (renamed["oldName"].as_str(), renamed["newName"].as_str()),
        (Some("carol"), Some("caroline"))
    );
    let listed = bob.request("listUsers", json!({})).await.unwrap();
    assert_eq!(names(&listed), ["alice", "bob", "caroline"]);

    bob.close().await;
    for client in [&mut alice, &mut carol] {
        let left = client.push("userLeft").await;
        assert_eq!(
            (left["username"].as_str(), left["room"].as_str()),
            (Some("bob"), Some("general"))
        );
    }
    wait_for_users(&c, "general", &["alice", "caroline"]).await;
    alice.close().await;
    carol.close().await;
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test]
async fn concurrent_senders_on_different_nodes_are_seen_as_one_sequence_everywhere() {
    const EACH: usize = 25;
    const SENDERS: usize = 4;
    const TOTAL: usize = EACH * SENDERS;
    let db = PgDatabase::create("cluster_order").await;
    let prefix = RedisPrefix::new("order").await;
    let nodes = three_nodes(&db, &prefix).await;
    // Four senders on nodes 0, 1, 2, 0 and a reader on each node.
    let mut expected: Vec<String> = Vec::new();
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let name = format!("sender{i}");
        let (client, _) = nodes[i % 3].joined(&name, "race").await;
        expected.push(name);
        senders.push(client);
    }
    let mut readers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let name = format!("reader{i}");
        let (client, _) = node.joined(&name, "race").await;
        expected.push(name);
        readers.push(client);
    }
    expected.sort();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    for node in &nodes {
        wait_for_users(node, "race", &expected).await;
    }
    // Everyone sends at once: each sender's requests all in flight before any answer.
    let mut tasks = Vec::new();
    for (i, mut client) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                ids.push(
                    client
                        .start_request("sendMessage", json!({ "message": format!("s{i}-{n}") }))
                        .await,
                );
            }
            for id in ids {
                client.answer(&id).await.unwrap();
            }
            messages(&mut client, TOTAL).await
        }));
    }
    for mut client in readers {
        tasks.push(tokio::spawn(
            async move { messages(&mut client, TOTAL).await },
        ));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    let seqs: Vec<u64> = (1..=TOTAL as u64).collect();
    for (i, member) in seen.iter().enumerate() {
        assert_eq!(
            member.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            seqs,
            "member {i}: every seq once, in order"
        );
        assert_eq!(
            member, &seen[0],
            "member {i} saw the same messages as member 0"
        );
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn a_message_whose_publication_was_lost_is_delivered_in_order_from_the_database() {
    let db = PgDatabase::create("cluster_lost").await;
    let prefix = RedisPrefix::new("lost").await;
    let [a, b, c] = three_nodes(&db, &prefix).await;
    let (mut alice, _) = a.joined("alice", "general").await;
    let (mut bob, _) = b.joined("bob", "general").await;
    wait_for_users(&c, "general", &["alice", "bob"]).await;
    bob.request("sendMessage", json!({ "message": "one" }))
        .await
        .unwrap();
    assert_eq!(alice.push("message").await["seq"], 1);
    assert_eq!(bob.push("message").await["seq"], 1);
    // A node commits seq 2 and dies before publishing it: the row is in the database,
    // nothing is in Redis.
    let store = Store::open(&Database::Postgres(db.url())).await.unwrap();
    let lost = store
        .append(NewMessage {
            room: "general".into(),
            message_id: "lost-2".into(),
            user_key: "ghost".into(),
            username: "ghost".into(),
            body: "never published".into(),
            timestamp: wsx_chat::now_ms(),
            kind: wsx_chat::MessageKind::Message,
            client_id: None,
        })
        .await
        .unwrap();
    assert_eq!(lost.message.seq, 2);
    // Seq 3 is published at once: the nodes hold it back and read 2 from the database.
    let three = bob
        .request("sendMessage", json!({ "message": "three" }))
        .await
        .unwrap();
    assert_eq!(three["seq"], 3);
    for client in [&mut alice, &mut bob] {
        let got = messages(client, 2).await;
        assert_eq!(
            got,
            [
                (2, "lost-2".to_owned()),
                (3, three["messageId"].as_str().unwrap().to_owned())
            ]
        );
    }
    store.close().await;
    alice.close().await;
    bob.close().await;
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test]
async fn publications_out_of_order_and_repeated_are_delivered_once_in_order() {
    let db = PgDatabase::create("cluster_reorder").await;
    let prefix = RedisPrefix::new("reorder").await;
    let [a, b, c] = three_nodes(&db, &prefix).await;
    let (mut alice, _) = a.joined("alice", "general").await;
    let (mut bob, _) = c.joined("bob", "general").await;
    wait_for_users(&b, "general", &["alice", "bob"]).await;
    bob.request("sendMessage", json!({ "message": "one" }))
        .await
        .unwrap();
    assert_eq!(alice.push("message").await["seq"], 1);
    assert_eq!(bob.push("message").await["seq"], 1);
    // Two messages committed (by "another node"), then their publications arrive
    // reversed, and the first one twice.
    let store = Store::open(&Database::Postgres(db.url())).await.unwrap();
    let mut committed = Vec::new();
    for n in [2, 3] {
        let appended = store
            .append(NewMessage {
                room: "general".into(),
                message_id: format!("m{n}"),
                user_key: "ghost".into(),
                username: "ghost".into(),
                body: format!("message {n}"),
                timestamp: wsx_chat::now_ms(),
                kind: wsx_chat::MessageKind::Message,
                client_id: None,
            })
            .await
            .unwrap();
        assert_eq!(appended.message.seq, n);
        committed.push(appended.message);
    }
    let client = redis::Client::open(REDIS).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("{}:chat:messages", prefix.0);
    for message in [&committed[1], &committed[0], &committed[0]] {
        redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(serde_json::to_string(message).unwrap())
            .exec_async(&mut redis)
            .await
            .unwrap();
    }
    let four = bob
        .request("sendMessage", json!({ "message": "four" }))
        .await
        .unwrap();
    assert_eq!(four["seq"], 4);
    for client in [&mut alice, &mut bob] {
        let got = messages(client, 3).await;
        assert_eq!(
            got,
            [
                (2, "m2".to_owned()),
                (3, "m3".to_owned()),
                (4, four["messageId"].as_str().unwrap().to_owned())
            ]
        );
        // Nothing after 4 (no repeat of 2 or 3): the next push is the next message.
    }
    bob.request("sendMessage", json!({ "message": "five" }))
        .await
        .unwrap();
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.push("message").await["seq"], 5, "no repeat before 5");
    }
    store.close().await;
    alice.close().await;
    bob.close().await;
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_redis_is_down_reach_every_node_in_order() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = OwnRedis::start(port).await;
    let db = PgDatabase::create("cluster_outage").await;
    let own = |db: &PgDatabase| Config {
        memory: false,
        database: Some(Database::Postgres(db.url())),
        redis: Some(format!("redis://127.0.0.1:{port}")),
        redis_prefix: "outage".to_owned(),
        rate_limit: 0,
        ..Config::default()
    };
    let a = TestServer::with(own(&db)).await;
    let b = TestServer::with(own(&db)).await;
    let (mut alice, _) = a.joined("alice", "general").await;
    let (mut bob, _) = b.joined("bob", "general").await;
    wait_for_users(&a, "general", &["alice", "bob"]).await;
    bob.request("sendMessage", json!({ "message": "one" }))
        .await
        .unwrap();
    assert_eq!(alice.push("message").await["seq"], 1);
    assert_eq!(bob.push("message").await["seq"], 1);

    redis.stop();
    // Committed and answered without Redis; node A finds them in the database.
    for n in [2, 3] {
        let sent = bob
            .request("sendMessage", json!({ "message": format!("m{n}") }))
            .await
            .unwrap();
        assert_eq!(sent["seq"], n);
    }
    for client in [&mut alice, &mut bob] {
        let got: Vec<u64> = messages(client, 2).await.into_iter().map(|m| m.0).collect();
        assert_eq!(got, [2, 3]);
    }
    // A new name cannot be checked across the cluster: refused, saying so.
    let mut carol = a.client().await;
    carol.push("welcome").await;
    let refused = carol
        .request("join", json!({ "username": "carol", "room": "general" }))
        .await
        .unwrap_err();
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("could not be checked"),
        "{refused}"
    );

    let _redis = OwnRedis::start(port).await;
    for n in [4, 5] {
        bob.request("sendMessage", json!({ "message": format!("m{n}") }))
            .await
            .unwrap();
    }
    for client in [&mut alice, &mut bob] {
        let got: Vec<u64> = messages(client, 2).await.into_iter().map(|m| m.0).collect();
        assert_eq!(got, [4, 5], "no repeat, no gap after Redis came back");
    }
    carol.close().await;
    alice.close().await;
    bob.close().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_node_refuses_to_start_without_its_redis_or_on_sqlite() {
    let db = PgDatabase::create("cluster_refused").await;
    let prefix = RedisPrefix::new("refused").await;
    let unreachable = Config {
        redis: Some("redis://127.0.0.1:1".to_owned()),
        ..node(&db, &prefix)
    };
    let e = wsx_chat::Chat::new(unreachable)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot join the cluster") && e.contains("127.0.0.1:1"),
        "{e}"
    );
    let sqlite = Config {
        database: None,
        memory: true,
        ..node(&db, &prefix)
    };
    let e = wsx_chat::Chat::new(sqlite).await.unwrap_err().to_string();
    assert!(e.contains("cannot be shared between nodes"), "{e}");
}

#[tokio::test]
async fn a_name_is_unique_across_nodes_and_freed_when_its_holder_leaves() {
    let db = PgDatabase::create("cluster_names").await;
    let prefix = RedisPrefix::new("names").await;
    let [a, b, c] = three_nodes(&db, &prefix).await;
    let (dave, _) = a.joined("dave", "general").await;
    // Held with an expiry (a dead node's names free themselves), renewed by its node.
    let client = redis::Client::open(REDIS).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}:chat:name:dave", prefix.0))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 10_000,
        "the name expires with its node: {ttl} ms"
    );
    let mut other = b.client().await;
    other.push("welcome").await;
    let refused = other
        .request("join", json!({ "username": "dave", "room": "general" }))
        .await
        .unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("is taken"),
        "{refused}"
    );
    // Case and look-alikes are one name across nodes too.
    let refused = other
        .request("join", json!({ "username": "DAVE", "room": "general" }))
        .await
        .unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("is taken"),
        "{refused}"
    );
    // A rename onto a name held on another node is refused as well.
    let (mut erin, _) = c.joined("erin", "general").await;
    let refused = erin
        .request("setNick", json!({ "username": "dave" }))
        .await
        .unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("is taken"),
        "{refused}"
    );
    // Once dave is gone, the name is free on every node.
    dave.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match other
            .request("join", json!({ "username": "dave", "room": "general" }))
            .await
        {
            Ok(answer) => {
                assert_eq!(answer["room"], "general");
                break;
            }
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "still refused: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // And now held by the node-B connection: the node-C user still cannot take it.
    let refused = erin
        .request("setNick", json!({ "username": "dave" }))
        .await
        .unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("is taken"),
        "{refused}"
    );
    // A user whose node died comes back on another node with its resume token: the
    // name is taken back at once (without the token it stays refused until it expires).
    let (frank, joined) = a.joined("frank", "general").await;
    let token = joined["resumeToken"].as_str().unwrap().to_owned();
    let mut back = c.client().await;
    back.push("welcome").await;
    let refused = back
        .request(
            "join",
            json!({ "username": "frank", "room": "general", "resumeToken": "wrong" }),
        )
        .await
        .unwrap_err();
    assert!(
        refused["message"].as_str().unwrap().contains("is taken"),
        "{refused}"
    );
    let answer = back
        .request(
            "join",
            json!({ "username": "frank", "room": "general", "resumeToken": token }),
        )
        .await
        .unwrap();
    assert_eq!(answer["room"], "general");
    // frank's first connection never closed (its node "died"): it is still open here.
    other.close().await;
    erin.close().await;
    back.close().await;
    drop(frank);
    for node in [a, b, c] {
        node.stop().await;
    }
}
