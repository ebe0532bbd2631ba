//! The reconnect storm: many chat clients in many rooms, messages flowing, the server
//! killed and started again on the same port and database; every client comes back with
//! full-jitter backoff and re-joins with `since`. Measured: how long until every client
//! is back, the server's peak memory, handshakes per second, and whether every client
//! ends with exactly the messages its room holds.
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | [`client`] | one client's task and what it saw |
//! | [`audit`] | what each room holds, and every client checked against it |
//! | [`netstat`] | the kernel's accept-queue drops and SYN retransmissions |
//! | this module | the run: start, ramp, steady flow, restart, recovery, drain, audit; the
//! clients' delays are `wsx-client`'s own ([`ReconnectPolicy::delay`]) |
//!
//! Every phase is bounded in time; the counts are the configuration's.

pub mod audit;
pub mod client;
pub mod netstat;

use crate::report::Ratio;
use crate::server::{ServerProcess, free_port, process_cpu_time};
use audit::Audit;
use client::ClientLog;
use netstat::TcpCounters;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use wsx_client::ReconnectPolicy;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The error of a run that could not be made.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long the first joins of every client may take.
const RAMP_LIMIT: Duration = Duration::from_secs(180);
/// How long after the restart the run waits for every client to be back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(120);
/// How long the senders' last messages may take to be answered.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);
/// How long every client may take to receive its room's last message.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);
/// Handshakes are counted per 100 ms, for this many slots (10 minutes).
const SLOTS: usize = 6_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// The chat server binary.
    pub chat: PathBuf,
    /// Extra flags for the chat server.
    pub chat_args: Vec<String>,
    /// Clients in all.
    pub clients: usize,
    /// Rooms; client `i` is in room `i % rooms`, and client `i < rooms` sends to it.
    pub rooms: usize,
    /// Messages per second each room's sender sends while messages flow.
    pub rate_per_room: f64,
    /// Seconds of flow before the restart.
    pub steady: Duration,
    /// Seconds of flow after every client is back.
    pub after: Duration,
    /// The clients' reconnection delays, drawn as `wsx-client` draws them.
    pub backoff: ReconnectPolicy,
    /// First connections (handshake and join) in flight at once while ramping up.
    pub ramp_concurrency: usize,
    /// The target: every client back within this long after the kill.
    pub target: Duration,
}

/// What the clients share with the run.
pub(crate) struct Shared {
    url: String,
    rooms: usize,
    send_period: Duration,
    backoff: ReconnectPolicy,
    started: Instant,
    flowing: AtomicBool,
    restart_at: OnceLock<Instant>,
    joined: AtomicUsize,
    back: AtomicUsize,
    handshakes: Vec<AtomicU32>,
    failed_attempts: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    refused: AtomicU64,
    unanswered: AtomicU64,
    in_flight: AtomicI64,
    /// Each client's last seq.
    progress: Vec<AtomicU64>,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn count_handshake(&self) {
        let slot = (self.started.elapsed().as_millis() / 100) as usize;
        if let Some(s) = self.handshakes.get(slot) {
            s.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends that lost their connection before an answer.
    fn settle_unanswered(&self, n: u64) {
        self.in_flight.fetch_sub(n as i64, Ordering::Relaxed);
        self.unanswered.fetch_add(n, Ordering::Relaxed);
    }

    fn note_error(&self, what: impl FnOnce() -> String) {
        if let Ok(mut e) = self.first_error.lock()
            && e.is_none()
        {
            *e = Some(what());
        }
    }

    /// Handshakes in `[from, to)` since the start, and the most in any 1 s window there.
    fn handshakes_between(&self, from: Duration, to: Duration) -> (u64, u64) {
        let (a, b) = (
            (from.as_millis() / 100) as usize,
            (to.as_millis() / 100) as usize + 1,
        );
        let slots: Vec<u64> = self
            .handshakes
            .iter()
            .skip(a)
            .take(b.saturating_sub(a))
            .map(|s| u64::from(s.load(Ordering::Relaxed)))
            .collect();
        let total = slots.iter().sum();
        let peak = slots
            .windows(10.min(slots.len()).max(1))
            .map(|w| w.iter().sum::<u64>())
            .max()
            .unwrap_or(0);
        (total, peak)
    }
}

/// The conditions of a run, reported with its figures.
#[derive(Debug, Clone, Serialize)]
pub struct Conditions {
    /// Clients in all.
    pub clients: usize,
    /// Rooms.
    pub rooms: usize,
    /// Messages per second per room while they flow.
    pub rate_per_room: f64,
    /// Seconds of flow before the restart.
    pub steady_s: f64,
    /// Seconds of flow after every client is back.
    pub after_s: f64,
    /// Backoff floor and base, ms.
    pub backoff_min_ms: u64,
    /// Backoff ceiling, ms.
    pub backoff_max_ms: u64,
    /// First connections in flight at once while ramping up.
    pub ramp_concurrency: usize,
    /// The chat server's flags.
    pub chat_args: Vec<String>,
    /// The machine's load average when the run started (`/proc/loadavg`).
    pub loadavg_at_start: String,
    /// The command line.
    pub command: String,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    /// How the run was made.
    pub conditions: Conditions,
    /// Clients whose first join was answered.
    pub joined: usize,
    /// Seconds from the first connection to the last first join.
    pub ramp_s: f64,
    /// Handshakes per second while ramping up (bounded by `ramp_concurrency`).
    pub ramp_handshakes_per_s: f64,
    /// The server's resident memory with every client in, before the restart (MiB).
    pub rss_steady_mib: f64,
    /// The first server's peak resident memory (`VmHWM`, MiB).
    pub peak_rss_before_mib: f64,
    /// The restarted server's peak resident memory over the storm and after (MiB).
    pub peak_rss_storm_mib: f64,
    /// The load generator's own peak resident memory, every client in it (MiB).
    pub loadgen_peak_rss_mib: f64,
    /// From the kill until the new server accepted a TCP connection (ms).
    pub restart_ms: f64,
    /// Clients back (a join answered) after the restart.
    pub back: usize,
    /// Of those, how many were answered `recovered: true` on that join.
    pub back_recovered: usize,
    /// Seconds from the kill until the last client was back; `None` if some never were.
    pub all_back_s: Option<f64>,
    /// Seconds from the kill until the first client was back.
    pub first_back_s: f64,
    /// Percentiles of the clients' time back (s).
    pub back_p50_s: f64,
    /// 90th percentile (s).
    pub back_p90_s: f64,
    /// 99th percentile (s).
    pub back_p99_s: f64,
    /// WebSocket handshakes from the kill until the last client was back.
    pub storm_handshakes: u64,
    /// `storm_handshakes` per second of that window.
    pub storm_handshakes_per_s: f64,
    /// The most handshakes in one second of that window.
    pub peak_handshakes_per_s: u64,
    /// Attempts that failed after the restart (refused, timed out, join failed).
    pub failed_attempts: u64,
    /// The kernel's TCP counters over the same window (the whole machine's).
    pub tcp: TcpCounters,
    /// The restarted server's CPU seconds from its start until every client was back.
    pub server_cpu_s: f64,
    /// The load generator's CPU seconds over the same window.
    pub loadgen_cpu_s: f64,
    /// Messages sent by the room senders.
    pub sent: u64,
    /// Answered `response_ok`.
    pub acked: u64,
    /// Answered with an error.
    pub refused: u64,
    /// Sent and never answered (the connection was lost first).
    pub unanswered: u64,
    /// Messages the rooms hold at the end.
    pub stored: u64,
    /// Clients whose task ended in time to be audited.
    pub audited: usize,
    /// Every client's deliveries against its room.
    pub audit: Audit,
    /// Re-joins answered without `recovered: true`, in all.
    pub not_recovered_joins: u64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// The targets, met or missed.
    pub targets: Vec<Ratio>,
}

fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(0.0, |b| b as f64 / (1024.0 * 1024.0))
}

/// A line of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn seconds(cpu_from: Option<Duration>, cpu_to: Option<Duration>) -> f64 {
    match (cpu_from, cpu_to) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    }
}

/// The `q` quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn start_server(chat: &Path, args: &[String], port: u16) -> Result<ServerProcess, Error> {
    let (chat, args) = (chat.to_owned(), args.to_vec());
    Ok(tokio::task::spawn_blocking(move || {
        ServerProcess::spawn_on_port("chat", &chat, &args, port)
    })
    .await??)
}

/// Waits (polling every 50 ms) until `done` or `limit` passed; whether it is done.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops every client and collects what each saw (a client that does not end within
/// 30 s is left out).
async fn stop_all(
    stop: &watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<ClientLog>>,
) -> Vec<ClientLog> {
    let _ = stop.send(true);
    let mut logs = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(Ok(log)) = tokio::time::timeout(Duration::from_secs(30), t).await {
            logs.push(log);
        }
    }
    logs
}

/// Runs the storm once.
pub async fn run(config: &StormConfig) -> Result<StormReport, Error> {
    let dir = std::env::temp_dir().join(format!("wsx-storm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run_in(config, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(config: &StormConfig, dir: &Path) -> Result<StormReport, Error> {
    let loadavg_at_start = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let port = free_port()?;
    let mut args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--db".to_owned(),
        dir.join("chat.db").display().to_string(),
        // One address holds every client here: its message and room budgets are off.
        "--ip-rate-limit".to_owned(),
        "0".to_owned(),
        "--room-rate-limit".to_owned(),
        "0".to_owned(),
    ];
    args.extend(config.chat_args.iter().cloned());
    let mut server = start_server(&config.chat, &args, port).await?;
    let rooms = config.rooms.max(1);
    let shared = Arc::new(Shared {
        url: format!("ws://127.0.0.1:{port}/ws"),
        rooms,
        send_period: Duration::from_secs_f64(1.0 / config.rate_per_room.max(0.01)),
        backoff: config.backoff.clone(),
        started: Instant::now(),
        flowing: AtomicBool::new(false),
        restart_at: OnceLock::new(),
        joined: AtomicUsize::new(0),
        back: AtomicUsize::new(0),
        handshakes: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
        failed_attempts: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        unanswered: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        progress: (0..config.clients).map(|_| AtomicU64::new(0)).collect(),
        first_error: Mutex::new(None),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(config.ramp_concurrency.max(1)));
    let tasks: Vec<_> = (0..config.clients)
        .map(|i| {
            tokio::spawn(client::run(
                i,
                shared.clone(),
                gate.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();

    // Ramp: every client connects and joins, `ramp_concurrency` at a time.
    let all_joined = wait_until(RAMP_LIMIT, || {
        shared.joined.load(Ordering::Relaxed) >= config.clients
    })
    .await;
    let ramp = shared.started.elapsed();
    let joined = shared.joined.load(Ordering::Relaxed);
    if !all_joined {
        stop_all(&stop_tx, tasks).await;
        return Err(format!(
            "only {joined} of {} clients joined within {} s (first error: {:?})",
            config.clients,
            RAMP_LIMIT.as_secs(),
            shared.first_error.lock().ok().and_then(|e| e.clone())
        )
        .into());
    }
    let (ramp_handshakes, _) = shared.handshakes_between(Duration::ZERO, ramp);

    // Steady flow, then the kill.
    shared.flowing.store(true, Ordering::Relaxed);
    tokio::time::sleep(config.steady).await;
    let rss_steady_mib = mib(status_bytes(server.pid(), "VmRSS:"));
    let peak_rss_before_mib = mib(status_bytes(server.pid(), "VmHWM:"));
    let killed = Instant::now();
    let _ = shared.restart_at.set(killed);
    let own_cpu_from = process_cpu_time(std::process::id());
    let tcp_from = TcpCounters::now();
    server.kill_hard();
    server = start_server(&config.chat, &args, port).await?;
    let restart = killed.elapsed();

    // Recovery: until every client that joined is back.
    let all_back = wait_until(RECOVERY_LIMIT, || {
        shared.back.load(Ordering::Relaxed) >= joined
    })
    .await;
    let recovery_end = killed.elapsed();
    let tcp = TcpCounters::now().since(tcp_from);
    let server_cpu_s = seconds(Some(Duration::ZERO), server.cpu_time());
    let loadgen_cpu_s = seconds(own_cpu_from, process_cpu_time(std::process::id()));
    tokio::time::sleep(config.after).await;

    // Drain: no more sends; every send answered or lost with its connection.
    shared.flowing.store(false, Ordering::Relaxed);
    wait_until(DRAIN_LIMIT, || {
        shared.in_flight.load(Ordering::Relaxed) <= 0
    })
    .await;
    let http = reqwest::Client::new();
    let base_url = format!("http://127.0.0.1:{port}");
    let mut stored = Vec::with_capacity(rooms);
    for room in 0..rooms {
        stored.push(audit::stored_seqs(&http, &base_url, &client::room_name(room)).await?);
    }
    let last: Vec<u64> = stored
        .iter()
        .map(|s| s.last().copied().unwrap_or(0))
        .collect();
    wait_until(CATCH_UP_LIMIT, || {
        shared
            .progress
            .iter()
            .enumerate()
            .all(|(i, p)| p.load(Ordering::Relaxed) >= last.get(i % rooms).copied().unwrap_or(0))
    })
    .await;
    let peak_rss_storm_mib = mib(status_bytes(server.pid(), "VmHWM:"));
    let logs = stop_all(&stop_tx, tasks).await;
    drop(server);

    let audit = audit::audit(&logs, &stored);
    let mut back_times: Vec<f64> = logs
        .iter()
        .filter_map(|l| l.back_after.map(|d| d.as_secs_f64()))
        .collect();
    back_times.sort_by(f64::total_cmp);
    let back = back_times.len();
    let all_back_s = (all_back && back >= joined).then(|| quantile(&back_times, 1.0));
    let since_start = killed.saturating_duration_since(shared.started);
    let window = all_back_s.map_or(recovery_end, Duration::from_secs_f64);
    let (storm_handshakes, peak_handshakes_per_s) =
        shared.handshakes_between(since_start, since_start + window);
    let back_recovered = logs.iter().filter(|l| l.back_recovered).count();
    let gaps = audit.gaps + audit.overflow + audit.unknown;
    let targets = vec![
        Ratio::at_most(
            "every client back, s after the kill",
            all_back_s.unwrap_or(f64::INFINITY),
            config.target.as_secs_f64(),
        ),
        Ratio::at_least(
            "clients back with recovered: true",
            back_recovered as f64,
            joined as f64,
        ),
        Ratio::at_most("messages missed (gaps)", gaps as f64, 0.0),
        Ratio::at_most("messages received twice", audit.duplicates as f64, 0.0),
        Ratio::at_least("clients audited", logs.len() as f64, joined as f64),
    ];
    Ok(StormReport {
        conditions: Conditions {
            clients: config.clients,
            rooms,
            rate_per_room: config.rate_per_room,
            steady_s: config.steady.as_secs_f64(),
            after_s: config.after.as_secs_f64(),
            backoff_min_ms: config.backoff.get_min_delay().as_millis() as u64,
            backoff_max_ms: config.backoff.get_max_delay().as_millis() as u64,
            ramp_concurrency: config.ramp_concurrency,
            chat_args: args.into_iter().skip(4).collect(),
            loadavg_at_start,
            command: std::env::args().collect::<Vec<_>>().join(" "),
        },
        joined,
        ramp_s: ramp.as_secs_f64(),
        ramp_handshakes_per_s: ramp_handshakes as f64 / ramp.as_secs_f64().max(1e-3),
        rss_steady_mib,
        peak_rss_before_mib,
        peak_rss_storm_mib,
        loadgen_peak_rss_mib: mib(status_bytes(std::process::id(), "VmHWM:")),
        restart_ms: restart.as_secs_f64() * 1000.0,
        back,
        back_recovered,
        all_back_s,
        first_back_s: back_times.first().copied().unwrap_or(0.0),
        back_p50_s: quantile(&back_times, 0.5),
        back_p90_s: quantile(&back_times, 0.9),
        back_p99_s: quantile(&back_times, 0.99),
        storm_handshakes,
        storm_handshakes_per_s: storm_handshakes as f64 / window.as_secs_f64().max(1e-3),
        peak_handshakes_per_s,
        failed_attempts: logs.iter().map(|l| u64::from(l.failed_after_restart)).sum(),
        tcp,
        server_cpu_s,
        loadgen_cpu_s,
        sent: shared.sent.load(Ordering::Relaxed),
        acked: shared.acked.load(Ordering::Relaxed),
        refused: shared.refused.load(Ordering::Relaxed),
        unanswered: shared.unanswered.load(Ordering::Relaxed),
        stored: stored.iter().map(|s| s.len() as u64).sum(),
        audited: logs.len(),
        audit,
        not_recovered_joins: logs.iter().map(|l| u64::from(l.not_recovered)).sum(),
        first_error: shared.first_error.lock().ok().and_then(|e| e.clone()),
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_sorted_values() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&[], 0.9), 0.0);
    }
}
