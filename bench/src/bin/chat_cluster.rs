//! `chat-cluster`: the chat's fan-out through real `wsx-chat` nodes on PostgreSQL and
//! Redis, against the same load through one node.
//!
//! ```sh
//! cargo build --release -p wsx-bench --bin chat_cluster -p wsx-chat
//! target/release/chat_cluster --label full            # the full run (scripts/bench.sh chat-cluster)
//! target/release/chat_cluster --smoke --label smoke   # a short run
//! ```
//!
//! Each room has `--members` users spread round robin over the nodes; in every room the
//! first `--senders` members (with 3 nodes and 3 senders, one on each node) also send
//! `--messages` messages each at `--rate` per second (the offered rate, rooms × senders ×
//! rate, is the same in every setup). Every member (the senders too) reads every
//! `message` push of its room and checks it: the `seq` must be the next one (a smaller one
//! seen before is a duplicate, any other smaller one or a larger one is out of order), and
//! at the end each member must hold every acknowledged message of its room (lost: those
//! missing). Latency runs from the send (the text carries the sender's clock) to the
//! push's arrival, on this process's one clock.
//!
//! Setups: `cluster` (`--nodes` nodes sharing one PostgreSQL database and one Redis) and
//! `single` (one node on its own PostgreSQL database, without Redis); each run gets a fresh
//! database (created with `psql`, dropped after) and, for the cluster, its own Redis key
//! prefix (deleted after). Nodes get `TOKIO_WORKER_THREADS` = CPUs / nodes (at least 1),
//! so three nodes do not run six worker threads on two cores. Everything is bounded:
//! joining 60 s, sending `messages / rate` seconds, the last deliveries 15 s.
//!
//! Prints a table, one JSON line per setup, and writes `bench/results/chat-cluster-LABEL.json`
//! and `.md` (see `--out-dir`).

use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, watch};
use tokio_tungstenite::tungstenite::Message;
use wsx_bench::StringField;
use wsx_bench::server::{process_cpu_time, sibling};
use wsx_bench::stats::{Latencies, Summary, median};

#[derive(Debug, Clone, Parser)]
#[command(
    about = "The chat's fan-out over several wsx-chat nodes (PostgreSQL + Redis) vs one node"
)]
struct Args {
    /// A name for this set (`smoke`, `full`, …): in the report and the file names.
    #[arg(long, default_value = "full")]
    label: String,
    /// A short run: 2 rooms of 60 members, 100 messages per sender at 10/s, one run.
    #[arg(long)]
    smoke: bool,
    /// Nodes of the cluster setup.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Rooms.
    #[arg(long, default_value_t = 4)]
    rooms: usize,
    /// Members per room (the senders included), spread round robin over the nodes.
    #[arg(long, default_value_t = 250)]
    members: usize,
    /// Senders per room, the same in every setup (with 3 nodes: one on each).
    #[arg(long, default_value_t = 3)]
    senders: usize,
    /// Messages per second each sender sends.
    #[arg(long, default_value_t = 25)]
    rate: u32,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 500)]
    messages: u64,
    /// Runs of each setup (alternating); the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Which setups to run, in order: `cluster`, `single`.
    #[arg(long, value_delimiter = ',', default_value = "cluster,single")]
    setups: Vec<String>,
    /// PostgreSQL, without user and database (the users `root` then `postgres` are
    /// tried, trust auth; `psql` must be on the PATH).
    #[arg(long, default_value = "127.0.0.1:5432")]
    postgres: String,
    /// The Redis the cluster's nodes share.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Where the JSON and md files go.
    #[arg(long, default_value = "bench/results")]
    out_dir: PathBuf,
    /// The chat server binary (default: `wsx-chat` next to this binary).
    #[arg(long)]
    chat_bin: Option<PathBuf>,
}

impl Args {
    fn apply_smoke(&mut self) {
        if self.smoke {
            self.rooms = 2;
            self.members = 60;
            self.rate = 10;
            self.messages = 100;
            self.runs = 1;
        }
    }
}

/// One run of one setup.
#[derive(Debug, Clone, Default, Serialize)]
struct RunResult {
    setup: String,
    nodes: usize,
    /// Messages offered per second (senders × rate).
    offered_per_s: f64,
    /// Messages acknowledged (`response_ok`).
    acked: u64,
    /// `sendMessage` answered with an error, or not sent.
    send_errors: u64,
    /// Users that could not connect or join.
    join_errors: u64,
    /// Deliveries expected: each member × its room's acknowledged messages.
    expected: u64,
    /// Distinct messages delivered.
    delivered: u64,
    /// Deliveries per second, first send to last delivery.
    delivered_per_s: f64,
    /// Expected messages a member never got.
    lost: u64,
    /// Messages a member got twice.
    duplicated: u64,
    /// Messages that came after a later one of their room.
    out_of_order: u64,
    /// Gaps the nodes filled from the database (a message held back for the hold-back
    /// time: an earlier one's publication late or lost), from their `/metrics`.
    gaps_filled: u64,
    /// Send-to-delivery latency.
    latency_us: Summary,
    /// The nodes' CPU time (and Redis's, for the cluster) per delivery.
    server_cpu_us_per_delivery: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    args.apply_smoke();
    rlimit::increase_nofile_limit(65_536).ok();
    let bin = args.chat_bin.clone().unwrap_or_else(|| sibling("wsx-chat"));
    if !bin.exists() {
        return Err(format!(
            "{} is not built: cargo build --release -p wsx-chat",
            bin.display()
        )
        .into());
    }
    let admin = Postgres::find(&args.postgres)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    eprintln!(
        "chat-cluster ({}): {} rooms × {} members, {} senders per room at {}/s, {} messages each; {} cpus",
        args.label, args.rooms, args.members, args.senders, args.rate, args.messages, cpus
    );
    let mut results: Vec<RunResult> = Vec::new();
    for run in 0..args.runs {
        // Alternating order, so a host getting faster or slower favours no setup.
        let mut order = args.setups.clone();
        if run % 2 == 1 {
            order.reverse();
        }
        for setup in &order {
            let nodes = match setup.as_str() {
                "cluster" => args.nodes.max(1),
                "single" => 1,
                other => return Err(format!("unknown setup `{other}` (cluster, single)").into()),
            };
            let result = run_setup(&args, &bin, &admin, setup, nodes, run, cpus).await?;
            eprintln!(
                "run {}/{} {setup} ({nodes} node(s)): {:.0} delivered/s, p50 {:.1} ms, p99 {:.1} ms, acked {}, lost {}, duplicated {}, out of order {}, send errors {}, join errors {}, server cpu {:.2} µs/delivery",
                run + 1,
                args.runs,
                result.delivered_per_s,
                result.latency_us.p50 / 1000.0,
                result.latency_us.p99 / 1000.0,
                result.acked,
                result.lost,
                result.duplicated,
                result.out_of_order,
                result.send_errors,
                result.join_errors,
                result.server_cpu_us_per_delivery,
            );
            results.push(result);
        }
    }
    let table = table(&args, &results);
    println!();
    print!("{table}");
    for result in &results {
        println!("{}", serde_json::to_string(result)?);
    }
    std::fs::create_dir_all(&args.out_dir)?;
    let base = args.out_dir.join(format!("chat-cluster-{}", args.label));
    let report = serde_json::json!({
        "label": args.label,
        "command": command,
        "cpus": cpus,
        "rooms": args.rooms,
        "members": args.members,
        "rate_per_sender": args.rate,
        "messages_per_sender": args.messages,
        "runs": results,
    });
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(
        base.with_extension("md"),
        markdown(&args, &command, cpus, &table),
    )?;
    eprintln!("wrote {}.json and .md", base.display());
    let bad: u64 = results
        .iter()
        .map(|r| r.lost + r.duplicated + r.out_of_order)
        .sum();
    if bad > 0 {
        return Err(format!("{bad} messages lost, duplicated or out of order").into());
    }
    Ok(())
}

/// One setup, one run: a fresh database (and prefix), the nodes, the load, the cleanup.
async fn run_setup(
    args: &Args,
    bin: &std::path::Path,
    admin: &Postgres,
    setup: &str,
    nodes: usize,
    run: usize,
    cpus: usize,
) -> Result<RunResult, Box<dyn std::error::Error>> {
    let tag = format!("{}_{}_{run}", std::process::id(), setup);
    let database = admin.create(&format!("wsx_bench_chat_{tag}"))?;
    let prefix = format!("wsx-bench-chat:{tag}");
    let threads = (cpus / nodes).max(1);
    let mut servers = Vec::new();
    let mut failed = None;
    for _ in 0..nodes {
        let redis = (setup == "cluster").then_some((args.redis.as_str(), prefix.as_str()));
        match Node::start(bin, &database.url, redis, threads) {
            Ok(node) => servers.push(node),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let result = match failed {
        Some(e) => Err(e.into()),
        None => {
            let redis_pid = (setup == "cluster")
                .then(|| redis_pid(&args.redis))
                .flatten();
            let urls: Vec<String> = servers
                .iter()
                .map(|n| format!("ws://{}/ws", n.addr))
                .collect();
            let cpu = || {
                let mut total = Duration::ZERO;
                for node in &servers {
                    total += process_cpu_time(node.child.id())?;
                }
                if let Some(pid) = redis_pid {
                    total += process_cpu_time(pid)?;
                }
                Some(total)
            };
            let mut result = load(args, &urls, cpu).await;
            let addrs: Vec<SocketAddr> = servers.iter().map(|n| n.addr).collect();
            result.gaps_filled = counter_sum(&addrs, "chat_cluster_gaps_filled_total").await;
            result.setup = setup.to_owned();
            result.nodes = nodes;
            Ok(result)
        }
    };
    drop(servers);
    if setup == "cluster" {
        forget_prefix(&args.redis, &prefix);
    }
    drop(database);
    result
}

/// A `wsx-chat` process; killed when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Node {
    /// Starts a node on `database` (and Redis under a prefix) with `threads` worker
    /// threads, no rate limits (every user comes from 127.0.0.1), and waits (at most
    /// 30 s) for its `listening on` line.
    fn start(
        bin: &std::path::Path,
        database: &str,
        redis: Option<(&str, &str)>,
        threads: usize,
    ) -> std::io::Result<Node> {
        let mut command = Command::new(bin);
        command
            .args(["--addr", "127.0.0.1", "--port", "0", "--database", database])
            .args(["--rate-limit", "0", "--room-rate-limit", "0"])
            .args(["--idle-timeout", "0"])
            .env("TOKIO_WORKER_THREADS", threads.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some((url, prefix)) = redis {
            command.args(["--redis", url, "--redis-prefix", prefix]);
        }
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = line_tx.send(first);
            // Drained, so the node never blocks on a full pipe.
            let mut sink = String::new();
            while matches!(lines.read_line(&mut sink), Ok(n) if n > 0) {
                sink.clear();
            }
        });
        let first = line_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        let addr = first
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(Node { child, addr }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(std::io::Error::other(format!(
                    "{} did not start (first line {first:?}; its log is above)",
                    bin.display()
                )))
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local PostgreSQL, through `psql` as the first user that answers.
struct Postgres {
    host: String,
    port: String,
    user: String,
}

impl Postgres {
    fn find(addr: &str) -> Result<Postgres, String> {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "5432"));
        let mut errors = Vec::new();
        for user in ["root", "postgres"] {
            let pg = Postgres {
                host: host.to_owned(),
                port: port.to_owned(),
                user: user.to_owned(),
            };
            match pg.sql("SELECT 1") {
                Ok(()) => return Ok(pg),
                Err(e) => errors.push(format!("as {user}: {e}")),
            }
        }
        Err(format!(
            "PostgreSQL at {addr} (database `test`, trust auth) does not answer: {}",
            errors.join("; ")
        ))
    }

    fn sql(&self, statement: &str) -> Result<(), String> {
        let out = Command::new("psql")
            .args([
                "-h", &self.host, "-p", &self.port, "-U", &self.user, "-d", "test",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// A fresh database, dropped with the returned guard.
    fn create(&self, name: &str) -> Result<Database<'_>, String> {
        self.sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))?;
        self.sql(&format!("CREATE DATABASE \"{name}\""))?;
        Ok(Database {
            admin: self,
            name: name.to_owned(),
            url: format!(
                "postgres://{}@{}:{}/{name}",
                self.user, self.host, self.port
            ),
        })
    }
}

struct Database<'a> {
    admin: &'a Postgres,
    name: String,
    url: String,
}

impl Drop for Database<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.admin.sql(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )) {
            eprintln!("chat-cluster: database {} not dropped: {e}", self.name);
        }
    }
}

/// Redis's process id (`INFO server`), to count its CPU with the nodes'.
fn redis_pid(url: &str) -> Option<u32> {
    let out = Command::new("redis-cli")
        .args(["-u", url, "info", "server"])
        .output()
        .ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Deletes the run's keys under its prefix.
fn forget_prefix(url: &str, prefix: &str) {
    let Ok(keys) = Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", &format!("{prefix}:*")])
        .output()
    else {
        return;
    };
    let keys = String::from_utf8_lossy(&keys.stdout);
    let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    for chunk in keys.chunks(500) {
        let _ = Command::new("redis-cli")
            .args(["-u", url, "del"])
            .args(chunk)
            .output();
    }
}

/// Counters shared by the users of a run.
struct Shared {
    epoch: Instant,
    /// Frames read by anyone (to see the joins' announcements settle).
    frames: AtomicU64,
    /// Messages acknowledged, per room.
    acked: Vec<AtomicU64>,
    /// Members joined, per room.
    joined: Vec<AtomicU64>,
    /// Distinct messages delivered, over all members.
    delivered: AtomicU64,
    send_errors: AtomicU64,
}

/// What one member saw.
#[derive(Default)]
struct Seen {
    room: usize,
    joined: bool,
    seqs: HashSet<u64>,
    max_seq: u64,
    duplicated: u64,
    out_of_order: u64,
    latencies: Latencies,
    last_delivery: Duration,
}

/// The load of one run against `urls` (the nodes).
async fn load(
    args: &Args,
    urls: &[String],
    server_cpu: impl Fn() -> Option<Duration>,
) -> RunResult {
    let nodes = urls.len();
    let users = args.rooms * args.members;
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        frames: AtomicU64::new(0),
        acked: (0..args.rooms).map(|_| AtomicU64::new(0)).collect(),
        joined: (0..args.rooms).map(|_| AtomicU64::new(0)).collect(),
        delivered: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
    });
    // Everyone joined (or gave up) → the senders wait for the go.
    let joined = Arc::new(Barrier::new(users + 1));
    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(users);
    for user in 0..users {
        let room = user % args.rooms;
        let index_in_room = user / args.rooms;
        let url = urls[index_in_room % nodes].clone();
        // The first `senders` members of a room send (round robin: one per node first).
        let sends = (index_in_room < args.senders).then_some((args.rate, args.messages));
        let task = member(
            user,
            room,
            url,
            sends,
            shared.clone(),
            joined.clone(),
            gate.clone(),
            go_rx.clone(),
            stop_rx.clone(),
        );
        tasks.push(tokio::spawn(task));
    }
    let mut result = RunResult {
        offered_per_s: (args.rooms * args.senders.min(args.members)) as f64 * f64::from(args.rate),
        ..RunResult::default()
    };
    let _ = tokio::time::timeout(Duration::from_secs(90), joined.wait()).await;
    // The joins' announcements settle: no frame for 500 ms, at most 30 s.
    let quiet_deadline = Instant::now() + Duration::from_secs(30);
    let mut last = u64::MAX;
    while Instant::now() < quiet_deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = shared.frames.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    let first_send = shared.epoch.elapsed();
    let cpu_from = server_cpu();
    let _ = go_tx.send(true);
    // Sending takes messages / rate seconds; then wait (at most 15 s more) until every
    // message is answered and every member holds every acknowledged message of its room.
    let sending = Duration::from_secs_f64(args.messages as f64 / f64::from(args.rate.max(1)));
    let drain_deadline = Instant::now() + sending + Duration::from_secs(15);
    let to_send = (args.rooms * args.senders.min(args.members)) as u64 * args.messages;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let acked: u64 = shared.acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        let sent_all = acked + shared.send_errors.load(Ordering::Relaxed) >= to_send;
        let expected: u64 = shared
            .acked
            .iter()
            .zip(&shared.joined)
            .map(|(a, j)| a.load(Ordering::Relaxed) * j.load(Ordering::Relaxed))
            .sum();
        let delivered_all = shared.delivered.load(Ordering::Relaxed) >= expected;
        if (sent_all && delivered_all) || Instant::now() >= drain_deadline {
            break;
        }
    }
    let cpu_to = server_cpu();
    let _ = stop_tx.send(true);
    let mut latencies = Latencies::default();
    let mut last_delivery = first_send;
    let acked: Vec<u64> = shared
        .acked
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect();
    for task in tasks {
        let Ok(Ok(seen)) = tokio::time::timeout(Duration::from_secs(10), task).await else {
            result.join_errors += 1;
            continue;
        };
        if !seen.joined {
            result.join_errors += 1;
            continue;
        }
        let expected = acked[seen.room];
        result.expected += expected;
        // Delivered: the acknowledged messages the member got (seq 1..=acked in a fresh
        // room; a message committed but not acknowledged may come too and is not counted).
        let got = seen.seqs.iter().filter(|s| **s <= expected).count() as u64;
        result.delivered += got;
        result.lost += expected - got;
        result.duplicated += seen.duplicated;
        result.out_of_order += seen.out_of_order;
        latencies.merge(seen.latencies);
        last_delivery = last_delivery.max(seen.last_delivery);
    }
    result.acked = acked.iter().sum();
    result.send_errors = shared.send_errors.load(Ordering::Relaxed);
    let span = last_delivery.saturating_sub(first_send).as_secs_f64();
    if span > 0.0 {
        result.delivered_per_s = result.delivered as f64 / span;
    }
    result.latency_us = latencies.summary();
    result.server_cpu_us_per_delivery =
        wsx_bench::server::cpu_us_per(cpu_from, cpu_to, result.delivered);
    result
}

/// One member: connects, joins its room, sends (when it is a sender) and checks every
/// `message` push of its room until told to stop.
#[allow(clippy::too_many_arguments)]
async fn member(
    user: usize,
    room: usize,
    url: String,
    sends: Option<(u32, u64)>,
    shared: Arc<Shared>,
    joined: Arc<Barrier>,
    gate: Arc<tokio::sync::Semaphore>,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen {
        room,
        ..Seen::default()
    };
    let permit = gate.acquire().await;
    let connected = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async_with_config(url, Some(wsx_bench::client_config()), true),
    )
    .await;
    let Ok(Ok((ws, _))) = connected else {
        joined.wait().await;
        return seen;
    };
    let (mut sink, mut stream) = ws.split();
    let request = serde_json::json!({
        "v": "1.0", "t": "request", "x": "join", "id": "join", "w": 0,
        "p": { "username": format!("bench{user}"), "room": format!("room{room}") },
    });
    let answered = async {
        sink.send(Message::text(request.to_string())).await.ok()?;
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(body) = frame {
                let frame: Value = serde_json::from_str(&body).ok()?;
                if frame["id"] == "join" {
                    return Some(frame["t"] == "response_ok");
                }
            }
        }
        None
    };
    seen.joined = matches!(
        tokio::time::timeout(Duration::from_secs(30), answered).await,
        Ok(Some(true))
    );
    drop(permit);
    if seen.joined {
        shared.joined[room].fetch_add(1, Ordering::Relaxed);
    }
    joined.wait().await;
    if !seen.joined {
        return seen;
    }
    // The sender half: paced sends once the go comes, never waiting for the answers.
    let sender = sends.map(|(rate, count)| {
        let shared = shared.clone();
        tokio::spawn(async move {
            if go.wait_for(|go| *go).await.is_err() {
                return sink;
            }
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for n in 0..count {
                tick.tick().await;
                let micros = shared.epoch.elapsed().as_micros();
                let frame = format!(
                    r#"{{"v":"1.0","t":"request","x":"sendMessage","id":"s{n}","w":0,"p":{{"message":"bench {user} {n} {micros}"}}}}"#
                );
                if sink.send(Message::text(frame)).await.is_err() {
                    shared.send_errors.fetch_add(count - n, Ordering::Relaxed);
                    break;
                }
            }
            sink
        })
    });
    // Fields found by scanning, not parsing: the load generator shares the cores.
    let (t_field, x_field) = (StringField::new("t"), StringField::new("x"));
    let message_field = StringField::new("message");
    let stopped = stop.wait_for(|s| *s);
    tokio::pin!(stopped);
    loop {
        let frame = tokio::select! {
            biased;
            frame = stream.next() => frame,
            _ = &mut stopped => break,
        };
        let body = match frame {
            Some(Ok(Message::Text(body))) => body,
            Some(Ok(_)) => continue,
            _ => break,
        };
        shared.frames.fetch_add(1, Ordering::Relaxed);
        match t_field.find(&body) {
            Some("send") if x_field.find(&body) == Some("message") => {
                let Some(seq) = number_field(&body, "\"seq\":") else {
                    continue;
                };
                let now = shared.epoch.elapsed();
                if !seen.seqs.insert(seq) {
                    seen.duplicated += 1;
                } else {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    if seq != seen.max_seq + 1 {
                        seen.out_of_order += 1;
                    }
                }
                seen.max_seq = seen.max_seq.max(seq);
                let sent = message_field
                    .find(&body)
                    .and_then(|t| t.rsplit(' ').next()?.parse::<u64>().ok());
                if let Some(sent) = sent {
                    seen.latencies
                        .record((now.as_micros() as u64).saturating_sub(sent));
                }
                seen.last_delivery = now;
            }
            Some("response_ok") => {
                shared.acked[room].fetch_add(1, Ordering::Relaxed);
            }
            Some("response_error") => {
                shared.send_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    if let Some(sender) = sender {
        sender.abort();
    }
    seen
}

/// The unsigned number after `key` (e.g. `"seq":`) in a JSON text.
fn number_field(json: &str, key: &str) -> Option<u64> {
    let start = json.find(key)? + key.len();
    let digits = json.get(start..)?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits.get(..end)?.parse().ok()
}

/// The sum of a counter over the nodes' `/metrics` (Prometheus text); 0 where absent.
async fn counter_sum(addrs: &[SocketAddr], name: &str) -> u64 {
    let mut total = 0;
    for addr in addrs {
        let text = match reqwest::get(format!("http://{addr}/metrics")).await {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => continue,
        };
        total += counter_in(&text, name);
    }
    total
}

/// A counter's value in Prometheus text (summed over its labels); 0 where absent.
fn counter_in(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// The medians of the runs of each setup, as a markdown table.
fn table(args: &Args, results: &[RunResult]) -> String {
    let mut out = String::from(
        "| setup | nodes | runs | offered msg/s | delivered/s | p50 | p99 | acked | lost | duplicated | out of order | errors | gaps filled | server CPU per delivery |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for setup in &args.setups {
        let runs: Vec<&RunResult> = results.iter().filter(|r| &r.setup == setup).collect();
        let Some(first) = runs.first() else {
            continue;
        };
        let m = |f: fn(&RunResult) -> f64| median(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
        let sum = |f: fn(&RunResult) -> u64| runs.iter().map(|r| f(r)).sum::<u64>();
        out.push_str(&format!(
            "| {setup} | {} | {} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {} | {} | {} | {} | {} | {} | {:.2} µs |\n",
            first.nodes,
            runs.len(),
            first.offered_per_s,
            m(|r| r.delivered_per_s),
            m(|r| r.latency_us.p50) / 1000.0,
            m(|r| r.latency_us.p99) / 1000.0,
            sum(|r| r.acked),
            sum(|r| r.lost),
            sum(|r| r.duplicated),
            sum(|r| r.out_of_order),
            sum(|r| r.send_errors + r.join_errors),
            sum(|r| r.gaps_filled),
            m(|r| r.server_cpu_us_per_delivery),
        ));
    }
    out
}

fn markdown(args: &Args, command: &str, cpus: usize, table: &str) -> String {
    format!(
        "# Chat fan-out over {nodes} nodes vs one (`{label}`)\n\n\
         Command: `{command}` (from `scripts/bench.sh chat-cluster` for the full run).\n\
         Machine: {cpus} CPUs, shared with other work while it ran.\n\n\
         Load: {rooms} rooms × {members} members spread round robin over the nodes; in each \
         room {senders} senders (round robin too: on 3 nodes, one on each), each at {rate} \
         messages/s, {messages} messages each: {offered} messages/s offered. `cluster`: {nodes} `wsx-chat` release processes on one \
         PostgreSQL database and one Redis; `single`: one process on its own PostgreSQL \
         database, no Redis. Each node has CPUs / nodes worker threads. Latency is send to \
         push arrival; delivered/s counts every member's copy (senders included); lost, \
         duplicated and out of order are checked per member by `seq` and must be 0. \
         Server CPU counts the chat processes (and Redis for the cluster), not PostgreSQL. \
         Gaps filled: messages a node held back \
         because an earlier one's Redis publication had not come yet, filled from the \
         database after the hold-back time (200 ms). Medians over the runs; counts summed.\n\n{table}",
        nodes = args.nodes,
        label = args.label,
        rooms = args.rooms,
        members = args.members,
        rate = args.rate,
        messages = args.messages,
        senders = args.senders,
        offered = args.rooms * args.senders * args.rate as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_counters() {
        let push =
            r#"{"v":"1.0","t":"send","x":"message","p":{"seq":42,"message":"bench 3 7 123"}}"#;
        assert_eq!(number_field(push, "\"seq\":"), Some(42));
        assert_eq!(number_field(push, "\"id\":"), None);
        let metrics = "# TYPE chat_cluster_gaps_filled_total counter\n\
                       chat_cluster_gaps_filled_total 3\n\
                       chat_cluster_gaps_filled_total_other 9\n\
                       chat_messages_total{room=\"a\"} 2\n\
                       chat_messages_total{room=\"b\"} 5\n";
        assert_eq!(counter_in(metrics, "chat_cluster_gaps_filled_total"), 3);
        assert_eq!(counter_in(metrics, "chat_messages_total"), 7);
        assert_eq!(counter_in(metrics, "chat_absent_total"), 0);
    }
}
