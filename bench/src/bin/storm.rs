//! The reconnect storm (issue 20, item 3) against the release chat server (`wsx-chat`,
//! built next to this binary, with its embedded SQLite store):
//!
//! ```text
//! cargo build --release -p wsx-bench -p wsx-chat
//! target/release/storm [--clients 10000] [--rooms 100] [--json-out bench/results/storm.json]
//! ```
//! (`scripts/bench.sh storm` does both.) Every client joins its room; each room's first
//! client sends to it; after `--steady` seconds the server is killed (SIGKILL) and started
//! again on the same port and database; every client reconnects with full-jitter backoff
//! and re-joins with `since: {epoch, seq}` while the senders that are back keep sending.
//! The table says how long until every client was back, the server's peak memory, the
//! handshake rate, and whether every client ends with exactly the messages its room
//! holds; the process exits non-zero when a target is missed.

#![allow(clippy::print_stdout)]

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wsx_bench::server::chat_binary;
use wsx_bench::storm::{StormConfig, StormReport, run};
use wsx_client::ReconnectPolicy;

#[derive(Debug, Parser)]
#[command(about = "The reconnect storm against the chat server")]
struct Args {
    /// Clients in all.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Rooms (client `i` is in room `i % rooms`; the first client of each room sends).
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Messages per second each room's sender sends.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of flow before the restart.
    #[arg(long, default_value_t = 5.0)]
    steady: f64,
    /// Seconds of flow after every client is back.
    #[arg(long, default_value_t = 5.0)]
    after: f64,
    /// Backoff floor and base, ms (`wsx-client`'s default).
    #[arg(long, default_value_t = 250)]
    min_delay_ms: u64,
    /// Backoff ceiling, ms (`wsx-client`'s default).
    #[arg(long, default_value_t = 30_000)]
    max_delay_ms: u64,
    /// First connections in flight at once while ramping up.
    #[arg(long, default_value_t = 200)]
    ramp_concurrency: usize,
    /// The target: seconds from the kill until every client is back.
    #[arg(long, default_value_t = 15.0)]
    target_s: f64,
    /// The chat server binary (default: `wsx-chat` next to this one).
    #[arg(long)]
    chat: Option<PathBuf>,
    /// An extra flag for the chat server (repeat for several), e.g. `--chat-arg=--history=200`.
    #[arg(long = "chat-arg", allow_hyphen_values = true)]
    chat_args: Vec<String>,
    /// Where to write the report as JSON.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

fn row(out: &mut String, figure: &str, value: String) {
    out.push_str(&format!("| {figure} | {value} |\n"));
}

fn table(r: &StormReport) -> String {
    let c = &r.conditions;
    let mut out = String::from("| storm | figure |\n| --- | --- |\n");
    row(
        &mut out,
        "conditions",
        format!(
            "{} clients in {} rooms, {} msg/s per room, {} s before the kill, backoff {}..{} ms, load at start {}",
            c.clients,
            c.rooms,
            c.rate_per_room,
            c.steady_s,
            c.backoff_min_ms,
            c.backoff_max_ms,
            c.loadavg_at_start
        ),
    );
    row(
        &mut out,
        "ramp",
        format!(
            "{} joined in {:.1} s ({:.0} handshakes/s, {} at once)",
            r.joined, r.ramp_s, r.ramp_handshakes_per_s, c.ramp_concurrency
        ),
    );
    row(
        &mut out,
        "server memory",
        format!(
            "{:.1} MiB with every client in; peak {:.1} MiB before the kill, {:.1} MiB after the restart (load generator: peak {:.1} MiB)",
            r.rss_steady_mib, r.peak_rss_before_mib, r.peak_rss_storm_mib, r.loadgen_peak_rss_mib
        ),
    );
    row(
        &mut out,
        "restart",
        format!("listening again {:.0} ms after the kill", r.restart_ms),
    );
    let all = r
        .all_back_s
        .map_or_else(|| "never".to_owned(), |s| format!("{s:.2} s"));
    row(
        &mut out,
        "every client back",
        format!(
            "{all} after the kill ({} back, {} recovered; first {:.2} s, p50 {:.2} s, p90 {:.2} s, p99 {:.2} s)",
            r.back, r.back_recovered, r.first_back_s, r.back_p50_s, r.back_p90_s, r.back_p99_s
        ),
    );
    row(
        &mut out,
        "handshakes",
        format!(
            "{} in the storm, {:.0}/s on average, peak {}/s; {} failed attempts; kernel: {} accept-queue overflows, {} SYN retransmits",
            r.storm_handshakes,
            r.storm_handshakes_per_s,
            r.peak_handshakes_per_s,
            r.failed_attempts,
            r.tcp.listen_overflows,
            r.tcp.syn_retransmits
        ),
    );
    row(
        &mut out,
        "CPU until every client was back",
        format!(
            "server {:.2} s, load generator {:.2} s",
            r.server_cpu_s, r.loadgen_cpu_s
        ),
    );
    row(
        &mut out,
        "messages",
        format!(
            "{} sent, {} acked, {} refused, {} unanswered at the cut; rooms hold {}",
            r.sent, r.acked, r.refused, r.unanswered, r.stored
        ),
    );
    let a = &r.audit;
    row(
        &mut out,
        "deliveries",
        format!(
            "{}/{} delivered, gaps {} ({} clients), duplicates {} ({} clients), unknown {}, not recovered re-joins {}",
            a.delivered,
            a.expected,
            a.gaps,
            a.clients_with_gaps,
            a.duplicates,
            a.clients_with_duplicates,
            a.unknown,
            r.not_recovered_joins
        ),
    );
    out.push('\n');
    out.push_str("| target | value | target | result |\n| --- | --- | --- | --- |\n");
    for t in &r.targets {
        out.push_str(&format!(
            "| {} | {:.2} | {} {} | {} |\n",
            t.name,
            t.value,
            t.op,
            t.target,
            if t.met { "met" } else { "MISSED" }
        ));
    }
    for e in &a.examples {
        out.push_str(&format!("\n{e}"));
    }
    if let Some(e) = &r.first_error {
        out.push_str(&format!("\nfirst error: {e}\n"));
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let chat = match chat_binary(args.chat) {
        Ok(chat) => chat,
        Err(e) => {
            eprintln!("storm: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A descriptor per client here and per connection in the server (which inherits the
    // limit), plus the ones of the restart's overlap.
    let nofile = rlimit::increase_nofile_limit(65_536).unwrap_or(0);
    if (nofile as usize) < args.clients + 256 {
        eprintln!(
            "storm: {} clients need more descriptors than the limit of {nofile}",
            args.clients
        );
        return ExitCode::FAILURE;
    }
    let config = StormConfig {
        chat,
        chat_args: args.chat_args,
        clients: args.clients,
        rooms: args.rooms,
        rate_per_room: args.rate,
        steady: Duration::from_secs_f64(args.steady),
        after: Duration::from_secs_f64(args.after),
        backoff: ReconnectPolicy::default()
            .min_delay(Duration::from_millis(args.min_delay_ms))
            .max_delay(Duration::from_millis(args.max_delay_ms)),
        ramp_concurrency: args.ramp_concurrency,
        target: Duration::from_secs_f64(args.target_s),
    };
    eprintln!(
        "storm: {} clients in {} rooms…",
        config.clients, config.rooms
    );
    let report = match run(&config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("storm: could not run: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", table(&report));
    if let Some(path) = &args.json_out {
        let written = serde_json::to_string_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(path, json + "\n"));
        if let Err(e) = written {
            eprintln!("storm: could not write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.targets.iter().all(|t| t.met) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
