//! Chaos: four senders post to one room through three chat nodes (real processes) on one
//! PostgreSQL database (its own) and a `redis-server` this test starts on a free port;
//! meanwhile a node is killed with `kill -9`, Redis is restarted (losing everything it
//! held), the killed node comes back as a new process, and another node is killed. Every
//! client moves to a living node when its node dies and re-joins with `since` and its
//! resume token, and sends an unanswered message again with the same `clientId`. At the
//! end every client has seen exactly the database's messages of the room, in `seq`
//! order, none twice, and those are exactly the messages whose `sendMessage` was
//! answered. Bounded: each wait has a deadline, the whole run a minute and a half.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster_nodes;
mod pg;
mod redis_test;

use cluster_nodes::Node;
use futures::{SinkExt, StreamExt};
use pg::PgDatabase;
use redis_test::{OwnRedis, free_port};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Messages each sender posts.
const PER_SENDER: usize = 50;
/// The pause between a sender's answer and its next message.
const PACE: Duration = Duration::from_millis(40);
/// The room.
const ROOM: &str = "chaos";

/// The WebSocket URLs of the living nodes, in the order clients try them.
#[derive(Clone, Default)]
struct Living(Arc<Mutex<Vec<String>>>);

impl Living {
    fn urls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn add(&self, url: String) {
        self.0.lock().unwrap().push(url);
    }
    fn remove(&self, url: &str) {
        self.0.lock().unwrap().retain(|u| u != url);
    }
}

/// A chat user that survives its node: it moves to a living node and re-joins with
/// `since` (and its resume token) whenever its connection ends.
struct Member {
    name: String,
    ws: Option<Ws>,
    resume_token: Option<String>,
    epoch: Option<String>,
    /// Every message seen, (seq, messageId), in the order the chat gave them.
    seen: Vec<(u64, String)>,
    next_id: u64,
    /// Re-joins that came back without `recovered: true`.
    unrecovered: usize,
    /// Re-joins after a lost connection.
    moves: usize,
}

impl Member {
    fn new(name: &str) -> Member {
        Member {
            name: name.to_owned(),
            ws: None,
            resume_token: None,
            epoch: None,
            seen: Vec::new(),
            next_id: 0,
            unrecovered: 0,
            moves: 0,
        }
    }

    fn last_seq(&self) -> u64 {
        self.seen.last().map_or(0, |m| m.0)
    }

    fn record(&mut self, message: &Value) {
        self.seen.push((
            message["seq"].as_u64().unwrap(),
            message["messageId"].as_str().unwrap().to_owned(),
        ));
    }

    /// The next frame, or `None` when the connection is gone (or silent for 10 s).
    async fn frame(&mut self) -> Option<Value> {
        let ws = self.ws.as_mut()?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) | Err(_) => {
                    self.ws = None;
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    async fn send_request(&mut self, event: &str, payload: Value) -> Option<String> {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        let frame = json!({ "v": "1.0", "t": "request", "x": event, "id": id, "p": payload });
        let ws = self.ws.as_mut()?;
        if ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .is_err()
        {
            self.ws = None;
            return None;
        }
        Some(id)
    }

    /// Waits for the answer to `id`, recording the messages pushed meanwhile (or, with
    /// `early`, keeping them there); `None` when the connection ended first.
    async fn answer(&mut self, id: &str, mut early: Option<&mut Vec<Value>>) -> Option<Value> {
        loop {
            let frame = self.frame().await?;
            if frame["id"] == id {
                return Some(frame);
            }
            if frame["t"] == "send" && frame["x"] == "message" {
                match early.as_deref_mut() {
                    Some(early) => early.push(frame["p"].clone()),
                    None => self.record(&frame["p"]),
                }
            }
        }
    }

    /// Connects to the first living node that lets it join (name, room, and after the
    /// first time `since` and the resume token), until `deadline`.
    async fn rejoin(&mut self, living: &Living, deadline: Instant) {
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: no living node let it join in time",
                self.name
            );
            for url in living.urls() {
                let Ok(Ok((ws, _))) = tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio_tungstenite::connect_async(url.as_str()),
                )
                .await
                else {
                    continue;
                };
                self.ws = Some(ws);
                let mut join = json!({ "username": self.name, "room": ROOM });
                if let Some(epoch) = &self.epoch {
                    join["since"] = json!({ "epoch": epoch, "seq": self.last_seq() });
                    join["resumeToken"] = json!(self.resume_token);
                }
                let Some(id) = self.send_request("join", join).await else {
                    continue;
                };
                let mut early = Vec::new();
                let Some(answer) = self.answer(&id, Some(&mut early)).await else {
                    continue;
                };
                if answer["t"] != "response_ok" {
                    // Redis away (the name cannot be checked): try again.
                    self.ws = None;
                    continue;
                }
                let p = &answer["p"];
                if self.epoch.is_some() {
                    self.moves += 1;
                    if p["recovered"] != true {
                        self.unrecovered += 1;
                    }
                }
                self.epoch = Some(p["epoch"].as_str().unwrap().to_owned());
                self.resume_token = p["resumeToken"].as_str().map(str::to_owned);
                for message in p["history"].as_array().unwrap().clone() {
                    self.record(&message);
                }
                for message in early {
                    self.record(&message);
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends one message until it is answered (again with the same `clientId` after a
    /// move); returns its (seq, messageId).
    async fn send_acked(
        &mut self,
        text: &str,
        client_id: &str,
        living: &Living,
        deadline: Instant,
    ) -> (u64, String) {
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: `{text}` not answered in time",
                self.name
            );
            if self.ws.is_none() {
                self.rejoin(living, deadline).await;
            }
            let payload = json!({ "room": ROOM, "message": text, "clientId": client_id });
            let Some(id) = self.send_request("sendMessage", payload).await else {
                continue;
            };
            let Some(answer) = self.answer(&id, None).await else {
                continue;
            };
            if answer["t"] == "response_ok" {
                return (
                    answer["p"]["seq"].as_u64().unwrap(),
                    answer["p"]["messageId"].as_str().unwrap().to_owned(),
                );
            }
            // Refused while the node was going (e.g. the room busy): again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads until it has seen `seq` (moving if its node dies meanwhile).
    async fn read_up_to(&mut self, seq: u64, living: &Living, deadline: Instant) {
        while self.last_seq() < seq {
            assert!(
                Instant::now() < deadline,
                "{}: saw up to {} of {seq} in time",
                self.name,
                self.last_seq()
            );
            if self.ws.is_none() {
                self.rejoin(living, deadline).await;
                continue;
            }
            if let Some(frame) = self.frame().await
                && frame["t"] == "send"
                && frame["x"] == "message"
            {
                self.record(&frame["p"]);
            }
        }
    }
}

/// Waits until `acked` reaches `n` (or `deadline` passes, failing).
async fn wait_acked(acked: &AtomicUsize, n: usize, deadline: Instant) {
    while acked.load(Ordering::Acquire) < n {
        assert!(
            Instant::now() < deadline,
            "only {} answered messages in time",
            acked.load(Ordering::Acquire)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_killed_and_redis_restarted_under_four_senders_lose_and_double_nothing() {
    let deadline = Instant::now() + Duration::from_secs(90);
    let port = free_port();
    let mut redis = OwnRedis::start(port).await;
    let redis_url = format!("redis://127.0.0.1:{port}");
    let db = PgDatabase::create("cluster_chaos").await;
    let url = db.url();
    let start = || Node::start(&url, &redis_url, "chaos", "2s");
    let mut nodes = vec![start().await, start().await, start().await];
    let living = Living::default();
    for node in &nodes {
        living.add(node.ws_url());
    }

    // Four members, spread over the nodes, joined before anyone posts.
    let mut members = Vec::new();
    for (i, name) in ["ann", "ben", "cat", "dan"].iter().enumerate() {
        let mut member = Member::new(name);
        let first = Living::default();
        first.add(nodes[i % 3].ws_url());
        member.rejoin(&first, deadline).await;
        members.push(member);
    }
    let acked = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let mut senders = Vec::new();
    for mut member in members {
        let (living, acked, answered) = (living.clone(), acked.clone(), answered.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..PER_SENDER {
                let text = format!("{} {i}", member.name);
                let client_id = format!("{}-{i}", member.name);
                let got = member
                    .send_acked(&text, &client_id, &living, deadline)
                    .await;
                answered.lock().unwrap().push(got);
                acked.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(PACE).await;
            }
            member
        }));
    }

    // The chaos, paced by the answered messages.
    let total = 4 * PER_SENDER;
    wait_acked(&acked, total / 5, deadline).await;
    let first = nodes.remove(0);
    living.remove(&first.ws_url());
    first.kill9().await;

    wait_acked(&acked, total * 2 / 5, deadline).await;
    redis.stop();
    let stopped_at = acked.load(Ordering::Acquire);
    wait_acked(&acked, (stopped_at + 15).min(total), deadline).await;
    let _redis = OwnRedis::start(port).await;

    wait_acked(&acked, total * 3 / 5, deadline).await;
    let again = start().await;
    living.add(again.ws_url());
    let second = nodes.remove(0);
    living.remove(&second.ws_url());
    second.kill9().await;
    nodes.push(again);

    let mut members = Vec::new();
    for sender in senders {
        members.push(sender.await.unwrap());
    }
    let answered = answered.lock().unwrap().clone();
    assert_eq!(answered.len(), total);

    // The database holds every answered message, numbered 1..=total, nothing else.
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, id FROM messages WHERE room = $1 ORDER BY seq")
            .bind(ROOM)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let stored: Vec<(u64, String)> = stored.into_iter().map(|(s, id)| (s as u64, id)).collect();
    assert_eq!(
        stored.iter().map(|m| m.0).collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>(),
        "contiguous seq in the database, one row per answered message"
    );
    let answered: BTreeSet<(u64, String)> = answered.into_iter().collect();
    let stored_set: BTreeSet<(u64, String)> = stored.iter().cloned().collect();
    assert_eq!(
        answered, stored_set,
        "the answered messages are the stored ones"
    );

    // Every member saw exactly those, in order, none twice.
    for member in &mut members {
        member.read_up_to(total as u64, &living, deadline).await;
        assert_eq!(
            member.unrecovered, 0,
            "{}: a re-join not recovered",
            member.name
        );
        if member.seen != stored {
            let mut seen = BTreeSet::new();
            let doubled: Vec<u64> = member
                .seen
                .iter()
                .filter(|m| !seen.insert(m.0))
                .map(|m| m.0)
                .collect();
            let missing: Vec<u64> = (1..=total as u64).filter(|s| !seen.contains(s)).collect();
            panic!(
                "{}: {} messages seen, doubled {doubled:?}, missing {missing:?}",
                member.name,
                member.seen.len()
            );
        }
    }
    let moves: Vec<(String, usize)> = members.iter().map(|m| (m.name.clone(), m.moves)).collect();
    eprintln!("chaos: {total} messages; moves per member {moves:?}");
    // ann and dan were on the first node killed, ben on the second.
    assert!(
        moves.iter().filter(|(_, n)| *n > 0).count() >= 3,
        "the kills moved the members: {moves:?}"
    );
    for node in nodes {
        node.term();
        assert!(node.exited().await);
    }
}
