//! The load generator: starts each server as a child process, loads it, and prints one
//! table plus one JSON line per figure.
//!
//! ```sh
//! cargo build --release -p wsx-bench -p example-echo -p example-cluster-echo -p wsx-chat
//! target/release/loadgen rpc fanout idle --runs 3
//! ```
//!
//! Scenarios (several may be named; `all` is `rpc fanout idle`):
//!
//! | scenario | servers, each a column of the report |
//! | --- | --- |
//! | `rpc` | wsx echo and bare echo in JSON, CBOR records and CBOR maps; socketioxide; jsonrpsee |
//! | `fanout` | chat and bare room in the three codecs; a wsx room without the chat's store; socketioxide; jsonrpsee |
//! | `fanout10k` | chat and bare, 10 rooms of 1,000 with a sender each |
//! | `capacity` | chat, bare and the wsx room, the offered rate raised step by step until bare loses messages or falls behind |
//! | `idle` | wsx, bare, socketioxide and jsonrpsee holding 10,000 connections |
//! | `cluster` | one `example-cluster-echo` node against three sharing Redis (not in `all`) |
//!
//! Servers are found next to this binary: `example-echo`, `bare`, `wsx-chat`,
//! `example-cluster-echo`, `peer-socketioxide`, `peer-jsonrpsee`.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use wsx_bench::fanout::{self, FanoutLoad, FanoutResult};
use wsx_bench::idle::{self, IdleResult};
use wsx_bench::report::{Ratio, Report};
use wsx_bench::rpc::{self, RpcLoad, RpcResult};
use wsx_bench::server::{ServerProcess, free_port, sibling};
use wsx_bench::wire::Wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Rpc,
    Fanout,
    /// The fan-out in 10 rooms of 1,000 users, a sender in each.
    Fanout10k,
    /// The fan-out's offered rate raised until the bare server loses messages.
    Capacity,
    Idle,
    /// The fan-out spread over three nodes of a Redis cluster, against one node (not part
    /// of `all`: it needs Redis).
    Cluster,
    /// `rpc`, `fanout` and `idle`.
    All,
}

#[derive(Debug, Parser)]
#[command(
    about = "wsx load generator: rpc, fan-out and idle scenarios against wsx, a bare axum server, socketioxide and jsonrpsee"
)]
struct Args {
    /// What to run.
    #[arg(value_enum, default_values_t = [Scenario::All])]
    scenarios: Vec<Scenario>,
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
    /// fanout: users in a room, the sender included.
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// fanout: messages per second each room's sender sends.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// fanout: messages each sender sends.
    #[arg(long, default_value_t = 5000)]
    messages: u64,
    /// fanout10k: rooms (of `--users` each).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// fanout10k: messages each room's sender sends (at `--rate`).
    #[arg(long, default_value_t = 1000)]
    rooms_messages: u64,
    /// capacity: the rates tried (messages per second into one room of `--users`), in
    /// order; the steps stop after the first where the bare server loses messages or falls
    /// 5% behind.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,1500,2000,3000,4000,6000,8000,12000"
    )]
    capacity_rates: Vec<u32>,
    /// capacity: seconds of sending at each rate.
    #[arg(long, default_value_t = 4.0)]
    capacity_secs: f64,
    /// The servers of a scenario to run, by report name (`wsx`, `bare-cbor-records`,
    /// `socketioxide`, …); all of them when not given.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
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
    let want = |s: Scenario| {
        args.scenarios.contains(&s)
            || (args.scenarios.contains(&Scenario::All)
                && matches!(s, Scenario::Rpc | Scenario::Fanout | Scenario::Idle))
    };
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
    if want(Scenario::Fanout10k) {
        run_fanout10k(&args, &mut report).await?;
    }
    if want(Scenario::Capacity) {
        run_capacity(&args, &mut report).await?;
    }
    if want(Scenario::Idle) {
        run_idle(&args, &mut report).await?;
    }
    if want(Scenario::Cluster) {
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

/// A server program of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    /// `example-echo`: wsx, one `echo` request event.
    Echo,
    /// `bare`: axum without a framework.
    Bare,
    /// `wsx-chat`, with its store (SQLite) and `--rate-limit 0`.
    Chat,
    /// `example-cluster-echo --local`: a wsx room (`join`, `sendMessage`, the `message`
    /// push) without the chat's store, the fair match for the peers' rooms.
    Room,
    /// `peer-socketioxide`.
    SocketIo,
    /// `peer-jsonrpsee`.
    JsonRpc,
}

/// One server spoken to in one wire: a column of the report.
#[derive(Debug, Clone, Copy)]
struct Subject {
    /// The name in the report.
    label: &'static str,
    program: Program,
    wire: Wire,
}

const fn subject(label: &'static str, program: Program, wire: Wire) -> Subject {
    Subject {
        label,
        program,
        wire,
    }
}

/// A running server and the files it keeps (removed with it).
struct Running {
    server: ServerProcess,
    db: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.kill_hard();
        if let Some(db) = &self.db {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
        }
    }
}

impl Subject {
    /// Starts the server; `None` when its binary was not built (the chat, when it does
    /// not build: reported as pending).
    fn start(&self, args: &Args, run: usize) -> std::io::Result<Option<Running>> {
        let announced = |name: &str, bin: PathBuf, extra: &[&str]| {
            let mut argv = vec!["--addr", "127.0.0.1:0"];
            argv.extend_from_slice(extra);
            ServerProcess::spawn_announced(name, &bin, &argv)
                .map(|server| Some(Running { server, db: None }))
        };
        match self.program {
            Program::Echo => announced(
                "wsx",
                args.echo_bin
                    .clone()
                    .unwrap_or_else(|| sibling("example-echo")),
                &[],
            ),
            Program::Bare => announced("bare", sibling("bare"), &[]),
            Program::SocketIo => announced("socketioxide", sibling("peer-socketioxide"), &[]),
            Program::JsonRpc => announced("jsonrpsee", sibling("peer-jsonrpsee"), &[]),
            Program::Room => {
                let bin = sibling("example-cluster-echo");
                if !bin.exists() {
                    return Ok(None);
                }
                announced("wsx", bin, &["--local"])
            }
            Program::Chat => chat_server(run),
        }
    }

    /// The URL of the echo service.
    fn echo_url(&self, server: &ServerProcess) -> String {
        let addr = server.addr;
        match self.program {
            Program::Bare => format!("ws://{addr}/echo"),
            Program::SocketIo => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
            Program::JsonRpc => format!("ws://{addr}/"),
            Program::Echo | Program::Chat | Program::Room => format!("ws://{addr}/ws"),
        }
    }

    /// The URL room members connect to (for the bare server, the room's name follows).
    fn room_url(&self, server: &ServerProcess) -> String {
        match self.program {
            Program::Bare => format!("ws://{}/room", server.addr),
            _ => self.echo_url(server),
        }
    }

    /// The fan-out load on this subject's server.
    fn fanout(
        &self,
        server: &ServerProcess,
        rooms: usize,
        users: usize,
        rate: u32,
        count: u64,
    ) -> FanoutLoad {
        FanoutLoad {
            url: self.room_url(server),
            spread: Vec::new(),
            wire: self.wire,
            rooms,
            users,
            rate,
            count,
            join: self.program != Program::Bare,
        }
    }
}

/// The subjects of `all` that `--only` leaves.
fn chosen(args: &Args, all: &[Subject]) -> Vec<Subject> {
    all.iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.label))
        .copied()
        .collect()
}

/// The order the `n` subjects of a scenario run in during run `run`: forward on even
/// runs, backward on odd ones, so that a host getting faster or slower within a run
/// favours none of them, and the pairs compared (wsx and bare in one codec) stay next to
/// each other.
fn run_order(run: usize, n: usize) -> Vec<usize> {
    if run % 2 == 0 {
        (0..n).collect()
    } else {
        (0..n).rev().collect()
    }
}

/// The chat server, when its binary was built; `None` (reported as pending) otherwise.
fn chat_server(run: usize) -> std::io::Result<Option<Running>> {
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
    Ok(Some(Running {
        server: ServerProcess::spawn_on_port("chat", &bin, &args, port)?,
        db: Some(db),
    }))
}

const RPC: [Subject; 8] = [
    subject("wsx", Program::Echo, Wire::Json),
    subject("bare", Program::Bare, Wire::Json),
    subject("wsx-cbor-records", Program::Echo, Wire::CborRecords),
    subject("bare-cbor-records", Program::Bare, Wire::CborRecords),
    subject("wsx-cbor-maps", Program::Echo, Wire::CborMaps),
    subject("bare-cbor-maps", Program::Bare, Wire::CborMaps),
    subject("socketioxide", Program::SocketIo, Wire::SocketIo),
    subject("jsonrpsee", Program::JsonRpc, Wire::JsonRpc),
];

async fn run_rpc(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let subjects = chosen(args, &RPC);
    let mut results: Vec<Vec<RpcResult>> = vec![Vec::new(); subjects.len()];
    for run in 0..args.runs {
        for k in run_order(run, subjects.len()) {
            let subject = subjects[k];
            let Some(running) = subject.start(args, run)? else {
                continue;
            };
            let server = &running.server;
            let load = RpcLoad {
                url: subject.echo_url(server),
                wire: subject.wire,
                connections: args.connections,
                depth: args.depth,
                text_len: args.text_len,
                warmup: Duration::from_secs_f64(args.warmup),
                duration: Duration::from_secs_f64(args.duration),
            };
            let result = rpc::run(&load, || server.cpu_time()).await;
            eprintln!(
                "rpc run {}/{} {}: {:.0} round trips/s, p50 {} µs, p99 {} µs, max {} µs, errors {}, server cpu {:.2} µs/round trip, load generator cpu {:.2} µs/round trip",
                run + 1,
                args.runs,
                subject.label,
                result.round_trips_per_s,
                result.latency_us.p50,
                result.latency_us.p99,
                result.latency_us.max,
                result.errors + result.connect_errors,
                result.server_cpu_us_per_rt,
                result.client_cpu_us_per_rt
            );
            drop(running);
            results[k].push(result);
        }
    }
    for (subject, runs) in subjects.iter().zip(&results) {
        if runs.is_empty() {
            continue;
        }
        let name = subject.label;
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
    let rt = "round_trips_per_s";
    let p99 = "latency_p99";
    let cpu = "server_cpu_per_rt";
    let mut ratios = vec![
        Ratio::at_least("rpc round trips/s, wsx / bare", f64::NAN, 0.75)
            .same_run(&runs(rt, "wsx"), &runs(rt, "bare")),
        Ratio::at_most("rpc p99 latency, wsx / bare", f64::NAN, 1.5)
            .same_run(&runs(p99, "wsx"), &runs(p99, "bare")),
        Ratio::at_most("rpc server CPU per round trip, wsx / bare", f64::NAN, 1.15)
            .same_run(&runs(cpu, "wsx"), &runs(cpu, "bare")),
        Ratio::at_least("rpc round trips/s, CBOR records: wsx / bare", f64::NAN, 0.8).same_run(
            &runs(rt, "wsx-cbor-records"),
            &runs(rt, "bare-cbor-records"),
        ),
        Ratio::versus("rpc p99 latency, CBOR records: wsx / bare").same_run(
            &runs(p99, "wsx-cbor-records"),
            &runs(p99, "bare-cbor-records"),
        ),
        Ratio::versus("rpc round trips/s, CBOR maps: wsx / bare")
            .same_run(&runs(rt, "wsx-cbor-maps"), &runs(rt, "bare-cbor-maps")),
        Ratio::versus("rpc round trips/s, socketioxide / bare")
            .same_run(&runs(rt, "socketioxide"), &runs(rt, "bare")),
        Ratio::versus("rpc round trips/s, jsonrpsee / bare")
            .same_run(&runs(rt, "jsonrpsee"), &runs(rt, "bare")),
        Ratio::versus("rpc round trips/s, wsx / socketioxide")
            .same_run(&runs(rt, "wsx"), &runs(rt, "socketioxide")),
        Ratio::versus("rpc round trips/s, wsx / jsonrpsee")
            .same_run(&runs(rt, "wsx"), &runs(rt, "jsonrpsee")),
    ];
    // A comparison with a side that was not run (`--only`) has no runs: leave it out.
    ratios.retain(|r| !r.runs.is_empty());
    report.ratios.extend(ratios);
    Ok(())
}

const FANOUT: [Subject; 9] = [
    subject("chat", Program::Chat, Wire::Json),
    subject("bare", Program::Bare, Wire::Json),
    subject("chat-cbor-records", Program::Chat, Wire::CborRecords),
    subject("bare-cbor-records", Program::Bare, Wire::CborRecords),
    subject("chat-cbor-maps", Program::Chat, Wire::CborMaps),
    subject("bare-cbor-maps", Program::Bare, Wire::CborMaps),
    subject("wsx", Program::Room, Wire::Json),
    subject("socketioxide", Program::SocketIo, Wire::SocketIo),
    subject("jsonrpsee", Program::JsonRpc, Wire::JsonRpc),
];

/// Runs a fan-out load on each subject, `args.runs` times in alternating order, and adds
/// the figures under `scenario`; returns each subject's runs.
async fn fanout_runs(
    args: &Args,
    report: &mut Report,
    scenario: &'static str,
    subjects: &[Subject],
    load_of: impl Fn(&Subject, &ServerProcess) -> FanoutLoad,
) -> std::io::Result<Vec<Vec<FanoutResult>>> {
    let mut results: Vec<Vec<FanoutResult>> = vec![Vec::new(); subjects.len()];
    for run in 0..args.runs {
        for k in run_order(run, subjects.len()) {
            let subject = subjects[k];
            let Some(running) = subject.start(args, run)? else {
                eprintln!(
                    "{scenario} {}: its server is not built next to this binary; pending",
                    subject.label
                );
                continue;
            };
            let server = &running.server;
            let load = load_of(&subject, server);
            let result = fanout::run(&load, || server.cpu_time()).await;
            eprintln!(
                "{scenario} run {}/{} {}: {:.0} deliveries/s, p50 {} µs, p99 {} µs, lost {} of {}, send errors {}, connect errors {}, server cpu {:.2} µs/delivery, load generator cpu {:.2} µs/delivery",
                run + 1,
                args.runs,
                subject.label,
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
            drop(running);
            results[k].push(result);
        }
    }
    for (subject, runs) in subjects.iter().zip(&results) {
        add_fanout_figures(report, scenario, subject.label, runs);
    }
    Ok(results)
}

fn add_fanout_figures(
    report: &mut Report,
    scenario: &'static str,
    name: &str,
    runs: &[FanoutResult],
) {
    if runs.is_empty() {
        return;
    }
    let f = |g: fn(&FanoutResult) -> f64| runs.iter().map(g).collect::<Vec<_>>();
    report.add(
        scenario,
        "deliveries_per_s",
        name,
        "1/s",
        f(|r| r.deliveries_per_s),
    );
    report.add(scenario, "latency_p50", name, "µs", f(|r| r.latency_us.p50));
    report.add(scenario, "latency_p99", name, "µs", f(|r| r.latency_us.p99));
    report.add(scenario, "lost", name, "count", f(|r| r.lost as f64));
    report.add(
        scenario,
        "server_cpu_per_delivery",
        name,
        "µs",
        f(|r| r.server_cpu_us_per_delivery),
    );
    report.add(
        scenario,
        "loadgen_cpu_per_delivery",
        name,
        "µs",
        f(|r| r.client_cpu_us_per_delivery),
    );
    report.add(
        scenario,
        "errors",
        name,
        "count",
        f(|r| (r.send_errors + r.connect_errors) as f64),
    );
    // The chart has a panel per scenario; the capacity steps would each add one.
    if !scenario.starts_with("capacity") {
        report.add_distribution(
            scenario,
            name,
            &runs.iter().map(|r| r.latency_us).collect::<Vec<_>>(),
        );
    }
}

/// Messages lost over every run of the subject named `name`.
fn lost_of(subjects: &[Subject], results: &[Vec<FanoutResult>], name: &str) -> f64 {
    subjects
        .iter()
        .zip(results)
        .filter(|(s, _)| s.label == name)
        .flat_map(|(_, runs)| {
            runs.iter()
                .map(|r| (r.lost + r.send_errors + r.connect_errors) as f64)
        })
        .sum()
}

async fn run_fanout(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let subjects = chosen(args, &FANOUT);
    let results = fanout_runs(args, report, "fanout", &subjects, |s, server| {
        s.fanout(server, 1, args.users, args.rate, args.messages)
    })
    .await?;
    let runs = |m: &str, s: &str| report.runs("fanout", m, s);
    let d = "deliveries_per_s";
    let p99 = "latency_p99";
    let cpu = "server_cpu_per_delivery";
    let mut ratios = Vec::new();
    if report.get("fanout", d, "chat").is_some() {
        ratios.extend([
            Ratio::at_least("fanout deliveries/s, chat / bare", f64::NAN, 0.9)
                .same_run(&runs(d, "chat"), &runs(d, "bare")),
            Ratio::at_most(
                "fanout lost messages, chat (all runs)",
                lost_of(&subjects, &results, "chat"),
                0.0,
            ),
            Ratio::at_most("fanout p99 latency, chat / bare", f64::NAN, 2.0)
                .same_run(&runs(p99, "chat"), &runs(p99, "bare")),
        ]);
    }
    if report.get("fanout", d, "chat-cbor-records").is_some() {
        ratios.extend([
            Ratio::at_least(
                "fanout deliveries/s, CBOR records: chat / bare",
                f64::NAN,
                0.95,
            )
            .same_run(&runs(d, "chat-cbor-records"), &runs(d, "bare-cbor-records")),
            Ratio::at_most(
                "fanout lost messages, chat CBOR records (all runs)",
                lost_of(&subjects, &results, "chat-cbor-records"),
                0.0,
            ),
            Ratio::versus("fanout p99 latency, CBOR records: chat / bare").same_run(
                &runs(p99, "chat-cbor-records"),
                &runs(p99, "bare-cbor-records"),
            ),
        ]);
    }
    ratios.extend([
        Ratio::versus("fanout deliveries/s, CBOR maps: chat / bare")
            .same_run(&runs(d, "chat-cbor-maps"), &runs(d, "bare-cbor-maps")),
        Ratio::versus("fanout server CPU per delivery, chat / bare")
            .same_run(&runs(cpu, "chat"), &runs(cpu, "bare")),
        Ratio::versus("fanout server CPU per delivery, wsx room / bare")
            .same_run(&runs(cpu, "wsx"), &runs(cpu, "bare")),
        Ratio::versus("fanout server CPU per delivery, socketioxide / bare")
            .same_run(&runs(cpu, "socketioxide"), &runs(cpu, "bare")),
        Ratio::versus("fanout server CPU per delivery, jsonrpsee / bare")
            .same_run(&runs(cpu, "jsonrpsee"), &runs(cpu, "bare")),
        Ratio::versus("fanout p99 latency, wsx room / bare")
            .same_run(&runs(p99, "wsx"), &runs(p99, "bare")),
        Ratio::versus("fanout p99 latency, socketioxide / bare")
            .same_run(&runs(p99, "socketioxide"), &runs(p99, "bare")),
        Ratio::versus("fanout p99 latency, jsonrpsee / bare")
            .same_run(&runs(p99, "jsonrpsee"), &runs(p99, "bare")),
    ]);
    ratios.retain(|r| !r.is_comparison() || !r.runs.is_empty());
    report.ratios.extend(ratios);
    Ok(())
}

const FANOUT_10K: [Subject; 2] = [
    subject("chat", Program::Chat, Wire::Json),
    subject("bare", Program::Bare, Wire::Json),
];

/// The fan-out with `--rooms` rooms of `--users` (10 × 1,000 by default), a sender in
/// each at the same rate as the one-room fan-out.
async fn run_fanout10k(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let subjects = chosen(args, &FANOUT_10K);
    let results = fanout_runs(args, report, "fanout10k", &subjects, |s, server| {
        s.fanout(
            server,
            args.rooms,
            args.users,
            args.rate,
            args.rooms_messages,
        )
    })
    .await?;
    let runs = |m: &str, s: &str| report.runs("fanout10k", m, s);
    let mut ratios = vec![
        Ratio::versus("fanout10k deliveries/s, chat / bare").same_run(
            &runs("deliveries_per_s", "chat"),
            &runs("deliveries_per_s", "bare"),
        ),
        Ratio::versus("fanout10k p99 latency, chat / bare")
            .same_run(&runs("latency_p99", "chat"), &runs("latency_p99", "bare")),
        Ratio::versus("fanout10k server CPU per delivery, chat / bare").same_run(
            &runs("server_cpu_per_delivery", "chat"),
            &runs("server_cpu_per_delivery", "bare"),
        ),
    ];
    ratios.retain(|r| !r.runs.is_empty());
    report.ratios.extend(ratios);
    let _ = results;
    Ok(())
}

const CAPACITY: [Subject; 3] = [
    subject("chat", Program::Chat, Wire::Json),
    subject("bare", Program::Bare, Wire::Json),
    subject("wsx", Program::Room, Wire::Json),
];

/// Whether a fan-out run delivered everything it was offered: nothing lost, no errors,
/// and deliveries kept up with the offered rate (within 5%).
fn kept_up(r: &FanoutResult, offered: f64) -> bool {
    r.lost == 0
        && r.send_errors == 0
        && r.connect_errors == 0
        && r.deliveries_per_s >= 0.95 * offered
}

/// Raises the offered rate into one room step by step (`--capacity-rates`) for the chat,
/// bare and the wsx room without a store, and reports the highest rate each delivered with no loss in every run, with
/// its CPU per delivery there. Stops after the first step where bare did not keep up.
async fn run_capacity(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let subjects = chosen(args, &CAPACITY);
    let receivers = args.users.saturating_sub(1) as f64;
    // Per subject: (offered deliveries/s, deliveries/s median, CPU per delivery median).
    let mut best: Vec<Option<(f64, f64, f64)>> = vec![None; subjects.len()];
    for &rate in &args.capacity_rates {
        let offered = f64::from(rate) * receivers;
        let count = (f64::from(rate) * args.capacity_secs).ceil() as u64;
        let scenario: &'static str = Box::leak(format!("capacity@{rate}/s").into_boxed_str());
        let results = fanout_runs(args, report, scenario, &subjects, |s, server| {
            s.fanout(server, 1, args.users, rate, count)
        })
        .await?;
        let mut bare_failed = false;
        for (k, (subject, runs)) in subjects.iter().zip(&results).enumerate() {
            if runs.is_empty() {
                continue;
            }
            let ok = runs.iter().all(|r| kept_up(r, offered));
            eprintln!(
                "capacity {rate} messages/s ({} deliveries/s offered) {}: {}",
                offered,
                subject.label,
                if ok {
                    "kept up, nothing lost"
                } else {
                    "fell behind or lost messages"
                }
            );
            if ok {
                let median = |g: fn(&FanoutResult) -> f64| {
                    wsx_bench::stats::median(&runs.iter().map(g).collect::<Vec<_>>())
                };
                best[k] = Some((
                    offered,
                    median(|r| r.deliveries_per_s),
                    median(|r| r.server_cpu_us_per_delivery),
                ));
            } else if subject.program == Program::Bare {
                bare_failed = true;
            }
        }
        if bare_failed {
            break;
        }
    }
    for (subject, best) in subjects.iter().zip(&best) {
        let (offered, delivered, cpu) = best.unwrap_or((0.0, 0.0, 0.0));
        report.add(
            "capacity",
            "zero_loss_offered_per_s",
            subject.label,
            "1/s",
            vec![offered],
        );
        report.add(
            "capacity",
            "deliveries_per_s_there",
            subject.label,
            "1/s",
            vec![delivered],
        );
        report.add(
            "capacity",
            "server_cpu_per_delivery_there",
            subject.label,
            "µs",
            vec![cpu],
        );
    }
    let get = |m: &str, s: &str| report.runs("capacity", m, s);
    let mut ratios = vec![
        Ratio::versus("capacity highest zero-loss rate, chat / bare").same_run(
            &get("zero_loss_offered_per_s", "chat"),
            &get("zero_loss_offered_per_s", "bare"),
        ),
        Ratio::versus("capacity CPU per delivery there, chat / bare").same_run(
            &get("server_cpu_per_delivery_there", "chat"),
            &get("server_cpu_per_delivery_there", "bare"),
        ),
        Ratio::versus("capacity highest zero-loss rate, wsx room / bare").same_run(
            &get("zero_loss_offered_per_s", "wsx"),
            &get("zero_loss_offered_per_s", "bare"),
        ),
    ];
    ratios.retain(|r| !r.runs.is_empty());
    report.ratios.extend(ratios);
    Ok(())
}

const IDLE: [Subject; 4] = [
    subject("wsx", Program::Echo, Wire::Json),
    subject("bare", Program::Bare, Wire::Json),
    subject("socketioxide", Program::SocketIo, Wire::SocketIo),
    subject("jsonrpsee", Program::JsonRpc, Wire::JsonRpc),
];

async fn run_idle(args: &Args, report: &mut Report) -> std::io::Result<()> {
    let subjects = chosen(args, &IDLE);
    let mut results: Vec<Vec<IdleResult>> = vec![Vec::new(); subjects.len()];
    for run in 0..args.runs {
        for k in run_order(run, subjects.len()) {
            let subject = subjects[k];
            let Some(running) = subject.start(args, run)? else {
                continue;
            };
            let url = subject.echo_url(&running.server);
            let result = idle::run(
                &running.server,
                &url,
                subject.wire,
                args.idle_connections,
                64,
                Duration::from_secs(60),
            )
            .await;
            eprintln!(
                "idle run {}/{} {}: {} held, {} errors, {:.0} B/conn (RSS {} → {} KiB), opened in {:.1} s",
                run + 1,
                args.runs,
                subject.label,
                result.held,
                result.errors,
                result.bytes_per_conn,
                result.rss_before / 1024,
                result.rss_after / 1024,
                result.open_secs
            );
            // The server goes first, so TIME_WAIT stays on its side of the sockets.
            drop(running);
            tokio::time::sleep(Duration::from_millis(300)).await;
            results[k].push(result);
        }
    }
    for (subject, runs) in subjects.iter().zip(&results) {
        if runs.is_empty() {
            continue;
        }
        let name = subject.label;
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
    let Some(wsx) = subjects.iter().position(|s| s.label == "wsx") else {
        return Ok(());
    };
    let kib = report
        .get("idle", "kib_per_conn", "wsx")
        .unwrap_or(f64::INFINITY);
    let held: f64 = results[wsx]
        .iter()
        .map(|r| r.held as f64)
        .fold(f64::INFINITY, f64::min);
    let errors: f64 = results[wsx].iter().map(|r| r.errors as f64).sum();
    report
        .ratios
        .push(Ratio::at_most("idle KiB per connection, wsx", kib, 6.0));
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
    let runs = |s: &str| report.runs("idle", "kib_per_conn", s);
    let mut ratios = vec![
        Ratio::versus("idle KiB per connection, wsx / bare").same_run(&runs("wsx"), &runs("bare")),
        Ratio::versus("idle KiB per connection, socketioxide / bare")
            .same_run(&runs("socketioxide"), &runs("bare")),
        Ratio::versus("idle KiB per connection, jsonrpsee / bare")
            .same_run(&runs("jsonrpsee"), &runs("bare")),
    ];
    ratios.retain(|r| !r.runs.is_empty());
    report.ratios.extend(ratios);
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
        for k in run_order(run, 2) {
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
                wire: Wire::Json,
                rooms: 1,
                users: args.users,
                rate: args.rate,
                count: args.messages,
                join: true,
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
