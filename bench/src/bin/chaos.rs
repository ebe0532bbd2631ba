//! Chaos runs against the release chat server (`wsx-chat`, built next to this binary):
//! what a bad network, a crashing process and hostile peers do to delivery and memory.
//!
//! ```text
//! cargo build --release -p wsx-bench -p wsx-chat
//! target/release/chaos [--scenario reconnect|kill|slow|amplify|all]
//! ```
//! (`scripts/chaos.sh` does both.) Every scenario is bounded in count and time, talks to
//! 127.0.0.1 only, prints one row of the table, and the process exits non-zero when a
//! message was lost or doubled or memory grew past its bound.
//!
//! | scenario | what it does | fails when |
//! | --- | --- | --- |
//! | `reconnect` | 50 clients in one room, 5 of them sending; every connection is aborted every 1–3 s and re-joins with `since` and its resume token | a client misses a message or sees one twice |
//! | `kill` | 4 senders; the server is killed with SIGKILL 5 times and restarted on the same database | an answered (`response_ok`) message is not stored, or is stored twice |
//! | `slow` | 20 room members stop reading while a sender posts 30,000 messages of 500 characters | the server's memory grows past 64 MiB, or a non-reader is never let go |
//! | `amplify` | 4 connections send 10 cbor-x record bombs each and never read | the memory grows past 64 MiB, or a calm client's round trip exceeds 500 ms |

#![allow(clippy::print_stdout)]

use clap::Parser;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsx_bench::server::{ServerProcess, chat_binary, free_port};

#[derive(Debug, Parser)]
#[command(about = "Chaos runs against the chat server")]
struct Args {
    /// `reconnect`, `kill`, `slow`, `amplify` or `all`.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// The chat server binary (default: `wsx-chat` next to this one).
    #[arg(long)]
    chat: Option<PathBuf>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One row of the report.
struct Row {
    scenario: &'static str,
    ok: bool,
    figures: String,
}

/// Flags that turn the chat's per-client limits off: the scenarios send faster than a
/// person would, on purpose.
const NO_LIMITS: [&str; 8] = [
    "--rate-limit",
    "0",
    "--user-rate-limit",
    "0",
    "--ip-rate-limit",
    "0",
    "--idle-timeout",
    "0",
];

fn chat_args(port: u16, db: Option<&std::path::Path>, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--port".to_owned(), port.to_string()];
    match db {
        Some(db) => {
            args.push("--db".into());
            args.push(db.display().to_string());
        }
        None => args.push("--memory".into()),
    }
    args.extend(NO_LIMITS.iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn connect(port: u16) -> Result<Ws, Error> {
    let mut req = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
    req.headers_mut()
        .insert("sec-websocket-protocol", "wsx.v1.json".parse()?);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(req),
    )
    .await??;
    Ok(ws)
}

fn request(x: &str, id: &str, p: Value) -> Message {
    Message::Text(
        json!({"v": "1.0", "t": "request", "x": x, "id": id, "p": p})
            .to_string()
            .into(),
    )
}

/// Reads until the answer to `id` (pushes on the way go to `pushes`), within 10 s.
async fn answer(ws: &mut Ws, id: &str, pushes: &mut Vec<Value>) -> Result<Value, Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await?
            .ok_or("connection ended")??;
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t)?;
            if v["id"] == id {
                return match v["t"].as_str() {
                    Some("response_ok") => Ok(v["p"].clone()),
                    _ => Err(format!("{id} refused: {}", v["e"]).into()),
                };
            }
            pushes.push(v);
        }
    }
}

fn rss_mib(server: &ServerProcess) -> f64 {
    server.rss().map_or(0.0, |b| b as f64 / (1024.0 * 1024.0))
}

// ---------------------------------------------------------------- reconnect

/// What one client saw of the room.
#[derive(Default)]
struct Seen {
    /// The room's last seq when the client first joined: it expects everything after.
    base: Option<u64>,
    seqs: BTreeSet<u64>,
    duplicates: u64,
    unrecovered: u64,
    reconnects: u64,
}

impl Seen {
    fn record(&mut self, seq: u64) {
        if !self.seqs.insert(seq) {
            self.duplicates += 1;
        }
    }

    fn last(&self) -> u64 {
        self.seqs.last().copied().unwrap_or(self.base.unwrap_or(0))
    }
}

async fn reconnect(chat: &std::path::Path) -> Result<Row, Error> {
    const CLIENTS: usize = 50;
    const SENDERS: usize = 5;
    const PER_SENDER: u64 = 150;
    let dir = tempdir("reconnect")?;
    let port = free_port()?;
    let server = ServerProcess::spawn_on_port(
        "chat",
        chat,
        &chat_args(port, Some(&dir.join("chat.db")), &["--history", "5000"]),
        port,
    )?;
    let sent_done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    // Each client's highest seq seen, for the wait at the end.
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let (stop, sent_done, acked) = (stop.clone(), sent_done.clone(), acked.clone());
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let sender = i < SENDERS;
            let mut sent = 0u64;
            let mut epoch: Option<String> = None;
            let mut token: Option<String> = None;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut ws) = connect(port).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                n += 1;
                let since = epoch
                    .as_ref()
                    .map(|e| json!({"epoch": e, "seq": seen.last()}));
                let join = json!({"username": format!("u{i}"), "room": "chaos", "since": since, "resumeToken": token});
                let mut pushes = Vec::new();
                if ws.send(request("join", &format!("j{n}"), join)).await.is_err() {
                    continue;
                }
                let joined = match answer(&mut ws, &format!("j{n}"), &mut pushes).await {
                    Ok(j) => j,
                    Err(_) => continue,
                };
                if epoch.is_some() {
                    seen.reconnects += 1;
                    if joined["recovered"] != true {
                        seen.unrecovered += 1;
                    }
                }
                epoch = joined["epoch"].as_str().map(str::to_owned);
                token = joined["resumeToken"].as_str().map(str::to_owned);
                if seen.base.is_none() {
                    seen.base = joined["seq"].as_u64();
                }
                for m in joined["history"].as_array().into_iter().flatten() {
                    if let Some(seq) = m["seq"].as_u64() {
                        seen.record(seq);
                    }
                }
                for p in pushes.iter().filter(|p| p["x"] == "message") {
                    if let Some(seq) = p["p"]["seq"].as_u64() {
                        seen.record(seq);
                    }
                }
                if let Some(p) = progress.get(i) {
                    p.store(seen.last(), Ordering::Relaxed);
                }
                let abort_at = Instant::now()
                    + Duration::from_millis(rand::rng().random_range(1000..3000));
                let mut tick = tokio::time::interval(Duration::from_millis(40));
                loop {
                    tokio::select! {
                        msg = ws.next() => {
                            let Some(Ok(Message::Text(t))) = msg else { break };
                            let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                            if v["x"] == "message" && v["t"] == "send" {
                                if let Some(seq) = v["p"]["seq"].as_u64() {
                                    seen.record(seq);
                                    if let Some(p) = progress.get(i) { p.store(seen.last(), Ordering::Relaxed); }
                                }
                            } else if v["t"] == "response_ok" && v["x"] == "sendMessage" {
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ = tick.tick(), if sender && sent < PER_SENDER => {
                            sent += 1;
                            let m = request("sendMessage", &format!("s{i}-{sent}"), json!({"message": format!("from {i}: {sent}")}));
                            if ws.send(m).await.is_err() { break; }
                            if sent == PER_SENDER { sent_done.fetch_add(1, Ordering::Relaxed); }
                        }
                        _ = tokio::time::sleep_until(abort_at) => break,
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                // Aborted: dropped without a close frame, as a network cut would.
                drop(ws);
            }
            seen
        }));
    }
    // Until every sender is done, then until every client has the room's last message.
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent_done.load(Ordering::Relaxed) < SENDERS as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Until every client has seen the room's last message (or 60 s): clients keep being
    // cut and re-joining meanwhile.
    let last_now = room_last_seq(port, "chaos").await?;
    let caught_up = Instant::now() + Duration::from_secs(60);
    while Instant::now() < caught_up
        && progress
            .iter()
            .any(|p| p.load(Ordering::Relaxed) < last_now)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await?);
    }
    let last = room_last_seq(port, "chaos").await?;
    drop(server);
    let (mut expected, mut got, mut gaps, mut dups, mut unrecovered, mut reconnects) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for (i, s) in all.iter().enumerate() {
        let base = s.base.unwrap_or(last);
        let want = last.saturating_sub(base);
        let have = s.seqs.range(base + 1..=last).count() as u64;
        if have < want {
            let missing: Vec<u64> = (base + 1..=last)
                .filter(|q| !s.seqs.contains(q))
                .take(12)
                .collect();
            eprintln!(
                "chaos: client u{i} (joined at seq {base}, {} re-joins) misses {} messages: {missing:?}…",
                s.reconnects,
                want - have
            );
        }
        expected += want;
        got += have;
        gaps += want - have;
        dups += s.duplicates;
        unrecovered += s.unrecovered;
        reconnects += s.reconnects;
    }
    let delivered = if expected == 0 {
        0.0
    } else {
        100.0 * got as f64 / expected as f64
    };
    Ok(Row {
        scenario: "reconnect",
        ok: gaps == 0 && dups == 0 && expected > 0,
        figures: format!(
            "{CLIENTS} clients, {reconnects} forced reconnects, {} acked of {} sent, room seq {last}: delivered {delivered:.2}% ({got}/{expected}), gaps {gaps}, duplicates {dups}, re-joins not recovered {unrecovered}",
            acked.load(Ordering::Relaxed),
            SENDERS as u64 * PER_SENDER
        ),
    })
}

/// The room's last seq, from a fresh join.
async fn room_last_seq(port: u16, room: &str) -> Result<u64, Error> {
    static AUDITS: AtomicU64 = AtomicU64::new(0);
    let name = format!("auditor{}", AUDITS.fetch_add(1, Ordering::Relaxed));
    let mut ws = connect(port).await?;
    ws.send(request(
        "join",
        "last",
        json!({"username": name, "room": room}),
    ))
    .await?;
    let joined = answer(&mut ws, "last", &mut Vec::new()).await?;
    joined["seq"].as_u64().ok_or_else(|| "no seq".into())
}

// ---------------------------------------------------------------- kill

async fn kill(chat: &std::path::Path) -> Result<Row, Error> {
    const SENDERS: usize = 4;
    const KILLS: usize = 5;
    let dir = tempdir("kill")?;
    let db = dir.join("chat.db");
    let port = free_port()?;
    let args = chat_args(port, Some(&db), &[]);
    let mut server = ServerProcess::spawn_on_port("chat", chat, &args, port)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..SENDERS {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<String> = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut ws) = connect(port).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let join = json!({"username": format!("k{i}"), "room": "storm"});
                if ws.send(request("join", "j", join)).await.is_err()
                    || answer(&mut ws, "j", &mut Vec::new()).await.is_err()
                {
                    continue;
                }
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let text = format!("k{i}-{n}");
                    let id = format!("m{n}");
                    if ws
                        .send(request("sendMessage", &id, json!({"message": text})))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    match answer(&mut ws, &id, &mut Vec::new()).await {
                        Ok(_) => acked.push(text),
                        Err(_) => break,
                    }
                }
            }
            acked
        }));
    }
    for _ in 0..KILLS {
        let wait = rand::rng().random_range(1500..2500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill_hard();
        server = ServerProcess::spawn_on_port("chat", chat, &args, port)?;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await?);
    }
    let stored = stored_texts(port, "storm").await?;
    drop(server);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for text in stored.values() {
        *counts.entry(text.as_str()).or_default() += 1;
    }
    let lost = acked
        .iter()
        .filter(|t| !counts.contains_key(t.as_str()))
        .count();
    let doubled = counts.values().filter(|&&c| c > 1).count();
    let seqs: Vec<u64> = stored.keys().copied().collect();
    let contiguous = seqs.iter().enumerate().all(|(i, s)| *s == i as u64 + 1);
    Ok(Row {
        scenario: "kill",
        ok: lost == 0 && doubled == 0 && contiguous && !acked.is_empty(),
        figures: format!(
            "{KILLS} SIGKILLs, {} acked, {} stored (seq 1..{} contiguous: {contiguous}), acked but lost {lost}, stored twice {doubled}",
            acked.len(),
            stored.len(),
            seqs.last().copied().unwrap_or(0)
        ),
    })
}

/// Every message of a room, by seq, from the REST history: pages of the latest 100
/// before the oldest seen so far.
async fn stored_texts(port: u16, room: &str) -> Result<BTreeMap<u64, String>, Error> {
    let client = reqwest::Client::new();
    let mut out = BTreeMap::new();
    let mut before: Option<u64> = None;
    for _ in 0..100_000 {
        let mut url = format!("http://127.0.0.1:{port}/api/room/{room}/history?limit=100");
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let page: Value = client.get(&url).send().await?.json().await?;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        let mut oldest = None;
        for m in &messages {
            if let (Some(seq), Some(text)) = (m["seq"].as_u64(), m["message"].as_str()) {
                out.insert(seq, text.to_owned());
                oldest = Some(oldest.map_or(seq, |o: u64| o.min(seq)));
            }
        }
        match oldest {
            Some(o) if o > 1 => before = Some(o),
            _ => break,
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- slow

async fn slow(chat: &std::path::Path) -> Result<Row, Error> {
    const STALLED: usize = 20;
    // 15 MB per non-reader: more than loopback's socket buffers hold, so the server's
    // own queue fills (with less, the kernel holds it all and the server nothing).
    const MESSAGES: usize = 30_000;
    const BOUND_MIB: f64 = 64.0;
    let port = free_port()?;
    let server = ServerProcess::spawn_on_port("chat", chat, &chat_args(port, None, &[]), port)?;
    let mut stalled = Vec::new();
    for i in 0..STALLED {
        let mut ws = connect(port).await?;
        ws.send(request(
            "join",
            "j",
            json!({"username": format!("z{i}"), "room": "slow"}),
        ))
        .await?;
        answer(&mut ws, "j", &mut Vec::new()).await?;
        stalled.push(ws);
    }
    let mut sender = connect(port).await?;
    sender
        .send(request(
            "join",
            "j",
            json!({"username": "talker", "room": "slow"}),
        ))
        .await?;
    answer(&mut sender, "j", &mut Vec::new()).await?;
    let baseline = rss_mib(&server);
    let mut peak = baseline;
    let text = "x".repeat(500);
    let started = Instant::now();
    for n in 0..MESSAGES {
        let id = format!("m{n}");
        sender
            .send(request("sendMessage", &id, json!({"message": text})))
            .await?;
        // The sender reads its own pushes and answers, like any member.
        answer(&mut sender, &id, &mut Vec::new()).await?;
        if n % 50 == 0 {
            peak = peak.max(rss_mib(&server));
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    // Wait (bounded) until the non-readers are let go.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut members = usize::MAX;
    while Instant::now() < deadline {
        peak = peak.max(rss_mib(&server));
        members = room_users(port, "slow").await?;
        if members == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stalled);
    drop(server);
    let grew = peak - baseline;
    Ok(Row {
        scenario: "slow",
        ok: grew <= BOUND_MIB && members == 1,
        figures: format!(
            "{STALLED} non-readers, {MESSAGES} pushes of 500 chars: RSS {baseline:.1} -> peak {peak:.1} MiB (+{grew:.1}, bound {BOUND_MIB}), non-readers let go {}/{STALLED}",
            STALLED - members.saturating_sub(1).min(STALLED)
        ),
    })
}

async fn room_users(port: u16, room: &str) -> Result<usize, Error> {
    let url = format!("http://127.0.0.1:{port}/api/room/{room}/users");
    let v: Value = reqwest::get(&url).await?.json().await?;
    Ok(v["users"].as_array().map_or(0, Vec::len))
}

// ---------------------------------------------------------------- amplify

/// A CBOR `join` whose `since` repeats one cbor-x record with an 8,150-byte key, as in
/// issue 19 (under the chat's 16 KiB message limit).
fn record_bomb() -> Vec<u8> {
    fn head(major: u8, len: usize, out: &mut Vec<u8>) {
        let m = major << 5;
        match len {
            0..=23 => out.push(m | len as u8),
            24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
            _ => {
                out.push(m | 25);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
    }
    fn text(s: &str, out: &mut Vec<u8>) {
        head(3, s.len(), out);
        out.extend_from_slice(s.as_bytes());
    }
    let key = "k".repeat(8150);
    let uses = 1550;
    let mut f = Vec::new();
    head(5, 5, &mut f);
    for (k, v) in [
        ("v", "1.0"),
        ("t", "request"),
        ("x", "join"),
        ("id", "bomb"),
    ] {
        text(k, &mut f);
        text(v, &mut f);
    }
    text("p", &mut f);
    head(5, 2, &mut f);
    text("username", &mut f);
    text("bomber", &mut f);
    text("since", &mut f);
    head(4, 1 + uses, &mut f);
    f.extend_from_slice(&[0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81]);
    text(&key, &mut f);
    f.push(0x00);
    for _ in 0..uses {
        f.extend_from_slice(&[0xd9, 0xe0, 0x00, 0x81, 0x00]);
    }
    f
}

async fn amplify(chat: &std::path::Path) -> Result<Row, Error> {
    const ATTACKERS: usize = 4;
    const BOMBS: usize = 10;
    const BOUND_MIB: f64 = 64.0;
    let port = free_port()?;
    let server = ServerProcess::spawn_on_port("chat", chat, &chat_args(port, None, &[]), port)?;
    let mut calm = connect(port).await?;
    calm.send(request(
        "join",
        "j",
        json!({"username": "calm", "room": "calm"}),
    ))
    .await?;
    answer(&mut calm, "j", &mut Vec::new()).await?;
    let baseline = rss_mib(&server);
    let bomb = record_bomb();
    let mut attackers = Vec::new();
    for _ in 0..ATTACKERS {
        let mut ws = connect(port).await?;
        for _ in 0..BOMBS {
            ws.send(Message::Binary(bomb.clone().into())).await?;
        }
        attackers.push(ws);
    }
    let mut peak = baseline;
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(5) {
        n += 1;
        let id = format!("l{n}");
        let t = Instant::now();
        calm.send(request("listRooms", &id, json!({}))).await?;
        answer(&mut calm, &id, &mut Vec::new()).await?;
        worst = worst.max(t.elapsed());
        peak = peak.max(rss_mib(&server));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(attackers);
    drop(server);
    let grew = peak - baseline;
    Ok(Row {
        scenario: "amplify",
        ok: grew <= BOUND_MIB && worst < Duration::from_millis(500),
        figures: format!(
            "{ATTACKERS}x{BOMBS} record bombs of {} bytes, never read: RSS {baseline:.1} -> peak {peak:.1} MiB (+{grew:.1}, bound {BOUND_MIB}), calm client's worst round trip {:.1} ms",
            bomb.len(),
            worst.as_secs_f64() * 1000.0
        ),
    })
}

fn tempdir(name: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("wsx-chaos-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let chat = match chat_binary(args.chat) {
        Ok(chat) => chat,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    let all = args.scenario == "all";
    let mut rows = Vec::new();
    let mut failed = false;
    for name in ["reconnect", "kill", "slow", "amplify"] {
        if !all && args.scenario != name {
            continue;
        }
        eprintln!("chaos: {name}…");
        let result = match name {
            "reconnect" => reconnect(&chat).await,
            "kill" => kill(&chat).await,
            "slow" => slow(&chat).await,
            _ => amplify(&chat).await,
        };
        match result {
            Ok(row) => {
                failed |= !row.ok;
                rows.push(row);
            }
            Err(e) => {
                failed = true;
                rows.push(Row {
                    scenario: name,
                    ok: false,
                    figures: format!("could not run: {e}"),
                });
            }
        }
    }
    if rows.is_empty() {
        eprintln!("chaos: unknown scenario `{}`", args.scenario);
        return ExitCode::FAILURE;
    }
    println!("| scenario | result | figures |");
    println!("| --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} |",
            r.scenario,
            if r.ok { "ok" } else { "FAILED" },
            r.figures
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
