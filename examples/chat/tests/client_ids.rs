//! Exactly once from the sender's side: `sendMessage` and `sendPrivate` with a `clientId`,
//! over real sockets. A repeat of a (user, clientId) gets the first answer and stores or
//! delivers nothing new — also after a restart on the same database file, and after a
//! `kill -9` of the real server binary while answers were on their way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RawClient, TempDir, TestServer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use wsx_chat::Config;

/// A room's whole stored history (up to 100): (seq, messageId, message).
async fn stored(addr: SocketAddr, room: &str) -> Vec<(u64, String, String)> {
    let url = format!("http://{addr}/api/room/{room}/history?limit=100");
    let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap(),
                m["messageId"].as_str().unwrap().to_owned(),
                m["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The answer's identity: (messageId, seq, timestamp).
fn identity(answer: &Value) -> (String, u64, u64) {
    (
        answer["messageId"].as_str().unwrap().to_owned(),
        answer["seq"].as_u64().unwrap_or(0),
        answer["timestamp"].as_u64().unwrap(),
    )
}

fn on_file(db: &Path) -> Config {
    Config {
        memory: false,
        db: db.to_owned(),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_repeated_client_id_gets_the_first_answer_and_one_message() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.joined("alice", "general").await;
    let (mut bob, _) = server.joined("bob", "general").await;
    let first = alice
        .request(
            "sendMessage",
            json!({ "message": "hello", "clientId": "c-1" }),
        )
        .await
        .unwrap();
    let again = alice
        .request(
            "sendMessage",
            json!({ "message": "hello", "clientId": "c-1" }),
        )
        .await
        .unwrap();
    assert_eq!(identity(&again), identity(&first));
    assert_eq!(again["room"], "general");
    // Bob sees the message once: the next push he gets is the next message.
    let next = alice
        .request(
            "sendMessage",
            json!({ "message": "next", "clientId": "c-2" }),
        )
        .await
        .unwrap();
    let pushed = bob.push("message").await;
    assert_eq!(pushed["messageId"], first["messageId"]);
    let pushed = bob.push("message").await;
    assert_eq!(pushed["messageId"], next["messageId"]);
    assert_eq!(pushed["seq"], 2);
    let history = stored(server.addr, "general").await;
    assert_eq!(
        history.iter().map(|m| m.2.as_str()).collect::<Vec<_>>(),
        ["hello", "next"]
    );
    // Another user may use the same id.
    let bobs = bob
        .request(
            "sendMessage",
            json!({ "message": "mine", "clientId": "c-1" }),
        )
        .await
        .unwrap();
    assert_eq!(bobs["seq"], 3);
    alice.close().await;
    bob.close().await;
    server.stop().await;
}

#[tokio::test]
async fn bad_client_ids_are_refused_by_field() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.joined("alice", "general").await;
    for bad in [
        json!(""),
        json!("x".repeat(65)),
        json!("has space"),
        json!(7),
    ] {
        let e = alice
            .request("sendMessage", json!({ "message": "hi", "clientId": bad }))
            .await
            .unwrap_err();
        assert_eq!(
            (e["code"].as_str(), e["cause"][0]["path"].as_str()),
            (Some("invalid_payload"), Some("/clientId")),
            "{bad}: {e}"
        );
        let e = alice
            .request(
                "sendPrivate",
                json!({ "to": "bob", "message": "hi", "clientId": bad }),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e["code"].as_str(), e["cause"][0]["path"].as_str()),
            (Some("invalid_payload"), Some("/clientId")),
            "{bad}: {e}"
        );
    }
    // The connection still serves.
    let ok = alice
        .request(
            "sendMessage",
            json!({ "message": "hi", "clientId": "ok:1.2_3-4" }),
        )
        .await
        .unwrap();
    assert_eq!(ok["seq"], 1);
    assert_eq!(stored(server.addr, "general").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_private_client_id_is_delivered_once() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.joined("alice", "general").await;
    let (mut bob, _) = server.joined("bob", "general").await;
    let first = alice
        .request(
            "sendPrivate",
            json!({ "to": "bob", "message": "psst", "clientId": "p-1" }),
        )
        .await
        .unwrap();
    let again = alice
        .request(
            "sendPrivate",
            json!({ "to": "bob", "message": "psst", "clientId": "p-1" }),
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    let third = alice
        .request("sendPrivate", json!({ "to": "bob", "message": "more" }))
        .await
        .unwrap();
    assert_eq!(
        bob.push("privateMessage").await["messageId"],
        first["messageId"]
    );
    assert_eq!(
        bob.push("privateMessage").await["messageId"],
        third["messageId"]
    );
    alice.close().await;
    bob.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_repeat_after_a_restart_gets_the_first_answer() {
    let dir = TempDir::new("client-ids");
    let db = dir.0.join("chat.db");
    let server = TestServer::with(on_file(&db)).await;
    let (mut alice, _) = server.joined("alice", "general").await;
    let first = alice
        .request(
            "sendMessage",
            json!({ "message": "durable", "clientId": "d-1" }),
        )
        .await
        .unwrap();
    alice.close().await;
    server.stop().await;

    let server = TestServer::with(on_file(&db)).await;
    let (mut alice, _) = server.joined("alice", "general").await;
    let again = alice
        .request(
            "sendMessage",
            json!({ "message": "durable", "clientId": "d-1" }),
        )
        .await
        .unwrap();
    assert_eq!(identity(&again), identity(&first));
    let history = stored(server.addr, "general").await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].1, first["messageId"].as_str().unwrap());
    alice.close().await;
    server.stop().await;
}

/// The real server on a free port, with `db`; its address read from its stdout.
fn spawn_server(db: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsx-chat"))
        .args(["--port", "0", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("address in {line:?}"));
    (child, addr)
}

/// Sends are committed but their answers never read: the server is killed (`SIGKILL`)
/// as soon as the database holds one of them. After a restart the sender re-sends every
/// message with its id: each exists exactly once, those committed before the kill are
/// answered with their first answer, and the room's seqs have no gap.
#[tokio::test]
async fn kill_9_between_commit_and_answer_then_resend() {
    const SENDS: usize = 20;
    let dir = TempDir::new("client-ids-kill9");
    let db = dir.0.join("chat.db");
    let (mut server, addr) = spawn_server(&db);
    let url = format!("ws://{addr}/ws");
    let mut alice = RawClient::connect(&url).await;
    alice
        .request("join", json!({ "username": "alice", "room": "general" }))
        .await
        .unwrap();
    for i in 0..SENDS {
        alice
            .start_request(
                "sendMessage",
                json!({ "message": format!("m{i}"), "clientId": format!("k-{i}") }),
            )
            .await;
    }
    // The answers are never read: kill as soon as one message is committed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stored(addr, "general").await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "nothing was stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    drop(alice);

    let (mut server, addr) = spawn_server(&db);
    let before: Vec<(u64, String, String)> = stored(addr, "general").await;
    assert!(!before.is_empty());
    eprintln!("{} of {SENDS} committed before the kill", before.len());
    let mut alice = RawClient::connect(&format!("ws://{addr}/ws")).await;
    alice
        .request("join", json!({ "username": "alice", "room": "general" }))
        .await
        .unwrap();
    let mut answers = Vec::new();
    for i in 0..SENDS {
        answers.push(
            alice
                .request(
                    "sendMessage",
                    json!({ "message": format!("m{i}"), "clientId": format!("k-{i}") }),
                )
                .await
                .unwrap(),
        );
    }
    // Committed before the kill: answered with the stored message.
    for (seq, id, body) in &before {
        let i: usize = body[1..].parse().unwrap();
        assert_eq!(
            (
                answers[i]["seq"].as_u64().unwrap(),
                answers[i]["messageId"].as_str().unwrap()
            ),
            (*seq, id.as_str()),
            "{body} was re-stored"
        );
    }
    let after = stored(addr, "general").await;
    assert_eq!(
        after.iter().map(|m| m.0).collect::<Vec<_>>(),
        (1..=SENDS as u64).collect::<Vec<_>>(),
        "one message per client id, no gap"
    );
    let mut bodies: Vec<&str> = after.iter().map(|m| m.2.as_str()).collect();
    bodies.sort_unstable();
    bodies.dedup();
    assert_eq!(bodies.len(), SENDS);
    for (i, answer) in answers.iter().enumerate() {
        let m = after
            .iter()
            .find(|m| m.1 == answer["messageId"].as_str().unwrap())
            .unwrap();
        assert_eq!(m.2, format!("m{i}"));
    }
    alice.close().await;
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test]
async fn redis_with_sqlite_is_refused_with_a_reason() {
    let output = Command::new(env!("CARGO_BIN_EXE_wsx-chat"))
        .args([
            "--port",
            "0",
            "--memory",
            "--redis",
            "redis://127.0.0.1:6379",
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a SQLite file cannot be shared between nodes"),
        "{stderr}"
    );
}
