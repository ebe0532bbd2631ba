//! History survives a `kill -9` of the real server binary: every message whose
//! `messageId` reached its sender is there after a restart, with its `seq`, in the same
//! epoch — and a fresh database starts a new epoch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RawClient, TempDir};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The real server on a free port, with `db`; its address read from its stdout.
fn spawn_server(db: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsx-chat"))
        .args(["--port", "0", "--db"])
        .arg(db)
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

/// A room's whole stored history, paging backwards: (epoch, [(seq, messageId)]).
async fn history(addr: SocketAddr, room: &str) -> (String, Vec<(u64, String)>) {
    let mut all = Vec::new();
    let mut before = String::new();
    loop {
        let url = format!("http://{addr}/api/room/{room}/history?limit=100{before}");
        let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let mut chunk: Vec<(u64, String)> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["seq"].as_u64().unwrap(),
                    m["messageId"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        chunk.append(&mut all);
        all = chunk;
        if page["hasMore"] != true {
            return (page["epoch"].as_str().unwrap().to_owned(), all);
        }
        before = format!("&before={}", all[0].0);
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    let dir = TempDir::new("kill9");
    let db = dir.0.join("chat.db");
    let (mut server, addr) = spawn_server(&db);
    let url = format!("ws://{addr}/ws");

    let mut alice = RawClient::connect(&url).await;
    let joined = alice
        .request("join", json!({ "username": "alice", "room": "general" }))
        .await
        .unwrap();
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let mut acked = Vec::new();
    for i in 1..=20 {
        let sent = alice
            .request("sendMessage", json!({ "message": format!("before {i}") }))
            .await
            .unwrap();
        acked.push((
            sent["seq"].as_u64().unwrap(),
            sent["messageId"].as_str().unwrap().to_owned(),
        ));
    }
    // A writer in full flow when the server is killed: whatever it was told is stored.
    let in_flight: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let record = in_flight.clone();
    let writer_url = url.clone();
    let writer = tokio::spawn(async move {
        let mut bob = RawClient::connect(&writer_url).await;
        bob.request("join", json!({ "username": "bob", "room": "busy" }))
            .await
            .unwrap();
        for i in 0.. {
            let sent = bob
                .request("sendMessage", json!({ "message": format!("flow {i}") }))
                .await
                .unwrap();
            record.lock().unwrap().push((
                sent["seq"].as_u64().unwrap(),
                sent["messageId"].as_str().unwrap().to_owned(),
            ));
        }
    });
    // Killed once the writer is in full flow (a few messages acknowledged), at most 20 s on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while in_flight.lock().unwrap().len() <= 3 {
        assert!(
            tokio::time::Instant::now() < deadline && !writer.is_finished(),
            "the writer got going ({} acknowledged)",
            in_flight.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap(); // SIGKILL: no shutdown, no checkpoint.
    server.wait().unwrap();
    let _ = writer.await; // it fails when the socket dies
    let flow = in_flight.lock().unwrap().clone();
    assert!(
        flow.len() > 3,
        "the writer got going ({} acknowledged)",
        flow.len()
    );

    let (mut server, addr) = spawn_server(&db);
    let (stored_epoch, stored) = history(addr, "general").await;
    assert_eq!(stored_epoch, epoch, "same database, same epoch");
    assert_eq!(stored, acked);
    let (_, busy) = history(addr, "busy").await;
    for ack in &flow {
        assert!(busy.contains(ack), "acknowledged {ack:?} lost");
    }
    // At most the one message in flight at the kill is stored without its sender knowing.
    assert!(
        busy.len() == flow.len() || busy.len() == flow.len() + 1,
        "{} stored, {} acknowledged",
        busy.len(),
        flow.len()
    );
    assert_eq!(
        busy.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=busy.len() as u64).collect::<Vec<_>>()
    );

    // A reconnecting client recovers across the restart, and numbering goes on.
    let mut alice = RawClient::connect(&format!("ws://{addr}/ws")).await;
    let since = json!({ "epoch": epoch, "seq": 15 });
    let back = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "general", "since": since }),
        )
        .await
        .unwrap();
    assert_eq!(back["recovered"], true);
    let seqs: Vec<u64> = back["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [16, 17, 18, 19, 20]);
    let next = alice
        .request("sendMessage", json!({ "message": "after" }))
        .await
        .unwrap();
    assert_eq!(next["seq"], 21);
    server.kill().unwrap();
    server.wait().unwrap();

    // A fresh database: a new epoch, and old positions are not recoverable.
    let (mut fresh, addr) = spawn_server(&dir.0.join("fresh.db"));
    let mut alice = RawClient::connect(&format!("ws://{addr}/ws")).await;
    let since = json!({ "epoch": epoch, "seq": 20 });
    let answer = alice
        .request(
            "join",
            json!({ "username": "alice", "room": "general", "since": since }),
        )
        .await
        .unwrap();
    assert_ne!(answer["epoch"], epoch.as_str());
    assert_eq!(
        (answer["recovered"].as_bool(), answer["seq"].as_u64()),
        (Some(false), Some(0))
    );
    fresh.kill().unwrap();
    fresh.wait().unwrap();
}
