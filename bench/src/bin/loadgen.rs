//! The load generator: starts each server as a child process, loads it, and prints one
//! table plus one JSON line per figure.
//!
//! ```sh
//! cargo build --release -p wsx-bench -p example-echo -p wsx-chat
//! target/release/loadgen all --runs 3
//! ```
//!
//! Scenarios: `rpc` (wsx echo vs bare echo), `fanout` (chat app vs bare broadcast),
//! `idle` (memory per open connection), `all`. Servers are found next to this binary:
//! `example-echo`, `bare`, `wsx-chat`.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use wsx_bench::fanout::{self, FanoutLoad, FanoutResult};
use wsx_bench::idle::{self, IdleResult};
use wsx_bench::report::{Ratio, Report};
use wsx_bench::rpc::{self, RpcLoad, RpcResult};
use wsx_bench::server::{ServerProcess, free_port, sibling};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Rpc,
    Fanout,
    Idle,
    /// The fan-out spread over three nodes of a Redis cluster, against one node (not part
    /// of `all`: it needs Redis).
    Cluster,
    All,
}

#[derive(Debug, Parser)]
#[command(
    about = "wsx load generator: rpc, fan-out and idle scenarios against wsx and a bare axum server"
)]
struct Args {
    /// What to run.
    #[arg(value_enum, default_value = "all")]
    scenario: Scenario,
    /// Runs of each scenario; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// rpc: connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// rpc: requests in flight per connection.
    #[arg(long, default_value_t = 8)]
    depth: usize,
    /// rpc: bytes of text per request.
    #[arg(long, default_value_t = 64)]
    text_len: usize,
    /// rpc: warm-up seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// rpc: measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// fanout: users in the room, the sender included.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// fanout: messages per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// fanout: messages in all.
    #[arg(long, default_value_t = 5000)]
    messages: u64,
    /// idle: connections to hold.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// The wsx echo server binary (default: `example-echo` next to this binary); to
    /// compare two builds of the framework.
    #[arg(long)]
    echo_bin: Option<PathBuf>,
    /// cluster: the Redis the nodes share.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// cluster: nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Write the whole report as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Write the latency chart here.
    #[arg(long)]
    svg_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // 10,000 connections need more descriptors than the usual 1,024; servers started from
    // here inherit the raised limit.
    let nofile = rlimit::increase_nofile_limit(65_536).unwrap_or(0);
    let want = |s: Scenario| args.scenario == s || args.scenario == Scenario::All;
    let mut report = Report::default();
    report.context.push((
        "command".into(),
        std::env::args().collect::<Vec<_>>().join(" "),
    ));
    report.context.push((
        "cpus".into(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .to_string(),
    ));
    report.context.push(("nofile".into(), nofile.to_string()));
    report.context.push(("runs".into(), args.runs.to_string()));

    if want(Scenario::Rpc) {
        run_rpc(&args, &mut report).await?;
    }
    if want(Scenario::Fanout) {
        run_fanout(&args, &mut report).await?;
    }
    if want(Scenario::Idle) {
        run_idle(&args, &mut report).await?;
    }
    if args.scenario == Scenario::Cluster {
        run_cluster(&args, &mut report).await?;
    }

    println!();
    print!("{}", report.table());
    for line in report.json_lines() {
        println!("{line}");
    }
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    if let Some(path) = &args.svg_out {
        std::fs::write(path, report.svg())?;
    }
    Ok(())
}

fn echo_server(args: &Args) -> std::io::Result<ServerProcess> {
    let bin = args
        .echo_bin
        .clone()
        .unwrap_or_else(|| sibling("example-echo"));
    ServerProcess::spawn_announced("wsx", &bin, &["--addr", "127.0.0.1:0"])
}

fn bare_server() -> std::io::Result<ServerProcess> {
    ServerProcess::spawn_announced("bare", &sibling("bare"), &["--addr", "127.0.0.1:0"])
}

/// Which of the two servers of a scenario goes first in run `run`: wsx on even runs, bare
/// on odd ones, so that a host getting faster or slower within a run favours neither.
fn run_order(run: usize) -> [usize; 2] {
    if run % 2 == 0 { [0, 1] } else { [1, 0] }
}

async fn run_rpc(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let mut results: Vec<(&str, Vec<RpcResult>)> = vec![("wsx", Vec::new()), ("bare", Vec::new())];
    for run in 0..args.runs {
        for k in run_order(run) {
            let Some((name, runs)) = results.get_mut(k) else {
                continue;
            };
            let server = if *name == "wsx" {
                echo_server(args)?
            } else {
                bare_server()?
            };
            let path = if *name == "wsx" { "ws" } else { "echo" };
            let load = RpcLoad {
                url: format!("ws://{}/{path}", server.addr),
                connections: args.connections,
                depth: args.depth,
                text_len: args.text_len,
                warmup: Duration::from_secs_f64(args.warmup),
                duration: Duration::from_secs_f64(args.duration),
            };
            let result = rpc::run(&load, || server.cpu_time()).await;
            eprintln!(
                "rpc run {}/{} {name}: {:.0} round trips/s, p50 {} µs, p99 {} µs, max {} µs, errors {}, server cpu {:.2} µs/round trip, load generator cpu {:.2} µs/round trip",
                run + 1,
                args.runs,
                result.round_trips_per_s,
                result.latency_us.p50,
                result.latency_us.p99,
                result.latency_us.max,
                result.errors + result.connect_errors,
                result.server_cpu_us_per_rt,
                result.client_cpu_us_per_rt
            );
            runs.push(result);
        }
    }
    for (name, runs) in &results {
        let f = |g: fn(&RpcResult) -> f64| runs.iter().map(g).collect::<Vec<_>>();
        report.add(
            "rpc",
            "round_trips_per_s",
            name,
            "1/s",
            f(|r| r.round_trips_per_s),
        );
        report.add("rpc", "latency_p50", name, "µs", f(|r| r.latency_us.p50));
        report.add("rpc", "latency_p99", name, "µs", f(|r| r.latency_us.p99));
        report.add("rpc", "latency_max", name, "µs", f(|r| r.latency_us.max));
        report.add(
            "rpc",
            "errors",
            name,
            "count",
            f(|r| (r.errors + r.connect_errors) as f64),
        );
        report.add(
            "rpc",
            "server_cpu_per_rt",
            name,
            "µs",
            f(|r| r.server_cpu_us_per_rt),
        );
        report.add(
            "rpc",
            "loadgen_cpu_per_rt",
            name,
            "µs",
            f(|r| r.client_cpu_us_per_rt),
        );
        report.add_distribution(
            "rpc",
            name,
            &runs.iter().map(|r| r.latency_us).collect::<Vec<_>>(),
        );
    }
    let runs = |m: &str, s: &str| report.runs("rpc", m, s);
    let targets = [
        Ratio::at_least("rpc round trips/s, wsx / bare", f64::NAN, 0.75).same_run(
            &runs("round_trips_per_s", "wsx"),
            &runs("round_trips_per_s", "bare"),
        ),
        Ratio::at_most("rpc p99 latency, wsx / bare", f64::NAN, 1.5)
            .same_run(&runs("latency_p99", "wsx"), &runs("latency_p99", "bare")),
    ];
    report.ratios.extend(targets);
    Ok(())
}

/// The chat server, when its binary was built; `None` (reported as pending) otherwise.
fn chat_server(run: usize) -> std::io::Result<Option<(ServerProcess, PathBuf)>> {
    let bin = sibling("wsx-chat");
    if !bin.exists() {
        return Ok(None);
    }
    let port = free_port()?;
    let db = std::env::temp_dir().join(format!("wsx-bench-chat-{}-{run}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    // One sender at 500 messages/s is far over the chat's per-user rate limit (20/s):
    // `--rate-limit 0` turns it off; everything else (persistence included) is default.
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--db",
        &db.display().to_string(),
        "--rate-limit",
        "0",
    ]
    .map(str::to_owned)
    .to_vec();
    Ok(Some((
        ServerProcess::spawn_on_port("chat", &bin, &args, port)?,
        db,
    )))
}

async fn run_fanout(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let mut results: Vec<(&str, Vec<FanoutResult>)> =
        vec![("chat", Vec::new()), ("bare", Vec::new())];
    for run in 0..args.runs {
        for k in run_order(run) {
            let Some((name, runs)) = results.get_mut(k) else {
                continue;
            };
            let (server, url, join, db) = if *name == "chat" {
                let Some((server, db)) = chat_server(run)? else {
                    eprintln!(
                        "fanout {name}: `wsx-chat` is not built next to this binary; chat fan-out pending"
                    );
                    continue;
                };
                let url = format!("ws://{}/ws", server.addr);
                (server, url, Some("bench".to_owned()), Some(db))
            } else {
                let server = bare_server()?;
                let url = format!("ws://{}/room", server.addr);
                (server, url, None, None)
            };
            let load = FanoutLoad {
                url,
                spread: Vec::new(),
                users: args.users,
                rate: args.rate,
                count: args.messages,
                join,
            };
            let result = fanout::run(&load, || server.cpu_time()).await;
            eprintln!(
                "fanout run {}/{} {name}: {:.0} deliveries/s, p50 {} µs, p99 {} µs, lost {} of {}, send errors {}, connect errors {}, server cpu {:.2} µs/delivery, load generator cpu {:.2} µs/delivery",
                run + 1,
                args.runs,
                result.deliveries_per_s,
                result.latency_us.p50,
                result.latency_us.p99,
                result.lost,
                result.expected,
                result.send_errors,
                result.connect_errors,
                result.server_cpu_us_per_delivery,
                result.client_cpu_us_per_delivery
            );
            drop(server);
            if let Some(db) = db {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
                }
            }
            runs.push(result);
        }
    }
    for (name, runs) in &results {
        if runs.is_empty() {
            continue;
        }
        let f = |g: fn(&FanoutResult) -> f64| runs.iter().map(g).collect::<Vec<_>>();
        report.add(
            "fanout",
            "deliveries_per_s",
            name,
            "1/s",
            f(|r| r.deliveries_per_s),
        );
        report.add("fanout", "latency_p50", name, "µs", f(|r| r.latency_us.p50));
        report.add("fanout", "latency_p99", name, "µs", f(|r| r.latency_us.p99));
        report.add("fanout", "lost", name, "count", f(|r| r.lost as f64));
        report.add(
            "fanout",
            "server_cpu_per_delivery",
            name,
            "µs",
            f(|r| r.server_cpu_us_per_delivery),
        );
        report.add(
            "fanout",
            "loadgen_cpu_per_delivery",
            name,
            "µs",
            f(|r| r.client_cpu_us_per_delivery),
        );
        report.add(
            "fanout",
            "errors",
            name,
            "count",
            f(|r| (r.send_errors + r.connect_errors) as f64),
        );
        report.add_distribution(
            "fanout",
            name,
            &runs.iter().map(|r| r.latency_us).collect::<Vec<_>>(),
        );
    }
    if report.get("fanout", "deliveries_per_s", "chat").is_some() {
        let runs = |m: &str, s: &str| report.runs("fanout", m, s);
        let lost: u64 = results
            .iter()
            .filter(|(n, _)| *n == "chat")
            .flat_map(|(_, r)| r.iter().map(|r| r.lost))
            .sum();
        let targets = [
            Ratio::at_least("fanout deliveries/s, chat / bare", f64::NAN, 0.9).same_run(
                &runs("deliveries_per_s", "chat"),
                &runs("deliveries_per_s", "bare"),
            ),
            Ratio::at_most("fanout lost messages, chat (all runs)", lost as f64, 0.0),
            Ratio::at_most("fanout p99 latency, chat / bare", f64::NAN, 2.0)
                .same_run(&runs("latency_p99", "chat"), &runs("latency_p99", "bare")),
        ];
        report.ratios.extend(targets);
    }
    Ok(())
}

async fn run_idle(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let mut results: Vec<(&str, Vec<IdleResult>)> = vec![("wsx", Vec::new()), ("bare", Vec::new())];
    for run in 0..args.runs {
        for k in run_order(run) {
            let Some((name, runs)) = results.get_mut(k) else {
                continue;
            };
            let server = if *name == "wsx" {
                echo_server(args)?
            } else {
                bare_server()?
            };
            let path = if *name == "wsx" { "ws" } else { "echo" };
            let url = format!("ws://{}/{path}", server.addr);
            let result = idle::run(
                &server,
                &url,
                args.idle_connections,
                64,
                Duration::from_secs(60),
            )
            .await;
            eprintln!(
                "idle run {}/{} {name}: {} held, {} errors, {:.0} B/conn (RSS {} → {} KiB), opened in {:.1} s",
                run + 1,
                args.runs,
                result.held,
                result.errors,
                result.bytes_per_conn,
                result.rss_before / 1024,
                result.rss_after / 1024,
                result.open_secs
            );
            // The server goes first, so TIME_WAIT stays on its side of the sockets.
            drop(server);
            tokio::time::sleep(Duration::from_millis(300)).await;
            runs.push(result);
        }
    }
    for (name, runs) in &results {
        let f = |g: fn(&IdleResult) -> f64| runs.iter().map(g).collect::<Vec<_>>();
        report.add(
            "idle",
            "kib_per_conn",
            name,
            "KiB",
            f(|r| r.bytes_per_conn / 1024.0),
        );
        report.add("idle", "held", name, "count", f(|r| r.held as f64));
        report.add("idle", "errors", name, "count", f(|r| r.errors as f64));
    }
    let kib = report
        .get("idle", "kib_per_conn", "wsx")
        .unwrap_or(f64::INFINITY);
    let held: f64 = results[0]
        .1
        .iter()
        .map(|r| r.held as f64)
        .fold(f64::INFINITY, f64::min);
    let errors: f64 = results[0].1.iter().map(|r| r.errors as f64).sum();
    report
        .ratios
        .push(Ratio::at_most("idle KiB per connection, wsx", kib, 8.0));
    report.ratios.push(Ratio::at_least(
        "idle connections held, wsx (fewest)",
        held,
        args.idle_connections as f64,
    ));
    report.ratios.push(Ratio::at_most(
        "idle connection errors, wsx (all runs)",
        errors,
        0.0,
    ));
    Ok(())
}

/// The process id of the Redis at `url` (`INFO server`), to count its CPU time with the
/// nodes'; `None` when `redis-cli` cannot tell.
fn redis_pid(url: &str) -> Option<u32> {
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url, "info", "server"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

/// Deletes what the killed nodes of a run left in Redis under their prefix (nodes of a
/// later run use another prefix, so nobody would clean it).
fn forget_prefix(url: &str, prefix: &str) {
    let keys = std::process::Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", &format!("{prefix}:*")])
        .output();
    let Ok(keys) = keys else { return };
    let keys = String::from_utf8_lossy(&keys.stdout);
    let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    for chunk in keys.chunks(500) {
        let _ = std::process::Command::new("redis-cli")
            .args(["-u", url, "del"])
            .args(chunk)
            .output();
    }
}

/// The fan-out of `fanout` through `example-cluster-echo`: one node on its own
/// (`LocalAdapter`), then `--nodes` nodes sharing one Redis with the users spread over
/// them, the sender on the first. CPU per delivery counts every node and Redis.
async fn run_cluster(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let bin = sibling("example-cluster-echo");
    let redis = redis_pid(&args.redis);
    if redis.is_none() {
        eprintln!(
            "cluster: Redis at {} does not answer; its CPU time is not counted",
            args.redis
        );
    }
    let names = ["node", "cluster"];
    let mut results: Vec<(&str, Vec<FanoutResult>)> =
        names.iter().map(|n| (*n, Vec::new())).collect();
    for run in 0..args.runs {
        for k in run_order(run) {
            let Some((name, runs)) = results.get_mut(k) else {
                continue;
            };
            let prefix = format!("wsx-bench:{}:{run}", std::process::id());
            let mut servers = Vec::new();
            if *name == "node" {
                servers.push(ServerProcess::spawn_announced(
                    "node",
                    &bin,
                    &["--addr", "127.0.0.1:0", "--local"],
                )?);
            } else {
                for _ in 0..args.nodes.max(1) {
                    servers.push(ServerProcess::spawn_announced(
                        "cluster",
                        &bin,
                        &[
                            "--addr",
                            "127.0.0.1:0",
                            "--redis",
                            &args.redis,
                            "--prefix",
                            &prefix,
                        ],
                    )?);
                }
            }
            let mut urls = servers.iter().map(|s| format!("ws://{}/ws", s.addr));
            let load = FanoutLoad {
                url: urls.next().unwrap_or_default(),
                spread: urls.collect(),
                users: args.users,
                rate: args.rate,
                count: args.messages,
                join: Some("bench".to_owned()),
            };
            let count_redis = *name == "cluster";
            let cpu = || {
                let mut total = Duration::ZERO;
                for server in &servers {
                    total += server.cpu_time()?;
                }
                if count_redis {
                    if let Some(pid) = redis {
                        total += wsx_bench::server::process_cpu_time(pid)?;
                    }
                }
                Some(total)
            };
            let result = fanout::run(&load, cpu).await;
            eprintln!(
                "cluster run {}/{} {name} ({} processes): {:.0} deliveries/s, p50 {} µs, p99 {} µs, lost {} of {}, errors {}, server cpu {:.2} µs/delivery",
                run + 1,
                args.runs,
                servers.len(),
                result.deliveries_per_s,
                result.latency_us.p50,
                result.latency_us.p99,
                result.lost,
                result.expected,
                result.send_errors + result.connect_errors,
                result.server_cpu_us_per_delivery,
            );
            drop(servers);
            if *name == "cluster" {
                forget_prefix(&args.redis, &prefix);
            }
            runs.push(result);
        }
    }
    for (name, runs) in &results {
        let f = |g: fn(&FanoutResult) -> f64| runs.iter().map(g).collect::<Vec<_>>();
        report.add(
            "cluster",
            "deliveries_per_s",
            name,
            "1/s",
            f(|r| r.deliveries_per_s),
        );
        report.add(
            "cluster",
            "latency_p50",
            name,
            "µs",
            f(|r| r.latency_us.p50),
        );
        report.add(
            "cluster",
            "latency_p99",
            name,
            "µs",
            f(|r| r.latency_us.p99),
        );
        report.add("cluster", "lost", name, "count", f(|r| r.lost as f64));
        report.add(
            "cluster",
            "server_cpu_per_delivery",
            name,
            "µs",
            f(|r| r.server_cpu_us_per_delivery),
        );
        report.add(
            "cluster",
            "errors",
            name,
            "count",
            f(|r| (r.send_errors + r.connect_errors) as f64),
        );
    }
    let runs = |m: &str, s: &str| report.runs("cluster", m, s);
    let lost: u64 = results
        .iter()
        .filter(|(n, _)| *n == "cluster")
        .flat_map(|(_, r)| r.iter().map(|r| r.lost))
        .sum();
    let targets = [
        Ratio::at_most("cluster lost messages (all runs)", lost as f64, 0.0),
        Ratio::at_most(
            "cluster CPU per delivery, cluster / one node",
            f64::NAN,
            1.3,
        )
        .same_run(
            &runs("server_cpu_per_delivery", "cluster"),
            &runs("server_cpu_per_delivery", "node"),
        ),
    ];
    report.ratios.extend(targets);
    Ok(())
}
