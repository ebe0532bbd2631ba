//! Scenario 1, `rpc`: many connections, each with a fixed number of requests in flight.
//!
//! The client speaks the server's wire directly (see [`crate::wire`]): the wsx envelope
//! in JSON or CBOR as a browser or a `@mdrv/wsx` client would, Socket.IO events with
//! acknowledgements, or JSON-RPC calls; each request has an id and is matched with its
//! answer by that id. The bare echo server sends the same bytes back, so the client does
//! the same work against it as against wsx.

use crate::stats::{Latencies, Summary};
use crate::wire::Wire;
use futures::{FutureExt, SinkExt, StreamExt};
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How to load the server.
#[derive(Debug, Clone)]
pub struct RpcLoad {
    /// The WebSocket URL.
    pub url: String,
    /// How to speak to the server.
    pub wire: Wire,
    /// Connections.
    pub connections: usize,
    /// Requests in flight per connection (at most 1,024).
    pub depth: usize,
    /// Length of the `text` echoed, in bytes.
    pub text_len: usize,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// How long to measure.
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RpcResult {
    /// Round trips per second during the measured window.
    pub round_trips_per_s: f64,
    /// Round-trip latency.
    pub latency_us: Summary,
    /// Answers that were errors, unreadable, or missing at the end.
    pub errors: u64,
    /// Connections that could not be opened.
    pub connect_errors: u64,
    /// Server CPU time (user + system) per round trip during the measured window, in
    /// microseconds: less noisy than throughput on a shared machine.
    pub server_cpu_us_per_rt: f64,
    /// The load generator's own CPU time per round trip: with both on two cores, the
    /// rate is about the cores' time divided by the two figures' sum.
    pub client_cpu_us_per_rt: f64,
}

/// Ids are slots in a ring of this size; `depth` must not exceed it.
const RING: usize = 1024;
/// The most frames read in one go before topping up and flushing.
const READ_BURST: usize = 256;

/// Runs the scenario; `server_cpu` reads the server's CPU time so far.
pub async fn run(load: &RpcLoad, server_cpu: impl Fn() -> Option<Duration>) -> RpcResult {
    let start = Instant::now();
    let measure_from = start + load.warmup + Duration::from_millis(200);
    let measure_to = measure_from + load.duration;
    let text: String = "abcdefghijklmnopqrstuvwxyz0123456789"
        .chars()
        .cycle()
        .take(load.text_len)
        .collect();
    let mut tasks = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        let url = load.url.clone();
        let text = text.clone();
        let depth = load.depth.clamp(1, RING);
        let wire = load.wire;
        tasks.push(tokio::spawn(async move {
            connection(url, wire, depth, text, measure_from, measure_to).await
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = server_cpu();
    let own_from = crate::server::process_cpu_time(std::process::id());
    tokio::time::sleep_until(measure_to.into()).await;
    let cpu_to = server_cpu();
    let own_to = crate::server::process_cpu_time(std::process::id());
    let mut all = Latencies::default();
    let mut result = RpcResult::default();
    for task in tasks {
        match task.await {
            Ok(Ok(conn)) => {
                result.errors += conn.errors;
                all.merge(conn.latencies);
            }
            Ok(Err(_)) | Err(_) => result.connect_errors += 1,
        }
    }
    result.round_trips_per_s = all.len() as f64 / load.duration.as_secs_f64();
    result.server_cpu_us_per_rt = crate::server::cpu_us_per(cpu_from, cpu_to, all.len() as u64);
    result.client_cpu_us_per_rt = crate::server::cpu_us_per(own_from, own_to, all.len() as u64);
    result.latency_us = all.summary();
    result
}

struct ConnOutcome {
    latencies: Latencies,
    errors: u64,
}

async fn connection(
    url: String,
    wire: Wire,
    depth: usize,
    text: String,
    measure_from: Instant,
    measure_to: Instant,
) -> Result<ConnOutcome, Box<dyn std::error::Error + Send + Sync>> {
    let mut ws = crate::open(&url, wire, Duration::from_secs(20)).await?;
    let mut sent_at = vec![None::<Instant>; RING];
    let mut latencies = Latencies::default();
    let mut errors = 0u64;
    let mut next_id = 0u64;
    let mut in_flight = 0usize;
    let hard_stop = measure_to + Duration::from_secs(5);
    let reader = wire.reader();
    loop {
        let now = Instant::now();
        if now < measure_to {
            while in_flight < depth {
                sent_at[next_id as usize % RING] = Some(Instant::now());
                ws.feed(wire.echo(&wire.id("", next_id), &text)).await?;
                next_id += 1;
                in_flight += 1;
            }
            ws.flush().await?;
        } else if in_flight == 0 || now >= hard_stop {
            errors += in_flight as u64;
            break;
        }
        let Ok(first) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await else {
            errors += in_flight as u64;
            break;
        };
        let mut msg = first;
        for _ in 0..READ_BURST {
            let Some(Ok(frame)) = msg else {
                errors += in_flight as u64;
                return Ok(ConnOutcome { latencies, errors });
            };
            if let Some(pong) = wire.pong(&frame) {
                ws.feed(pong).await?;
            } else if matches!(frame, Message::Text(_) | Message::Binary(_)) {
                let answer = reader.answer(&frame);
                let answered = answer.and_then(|a| a.id.parse::<u64>().ok());
                match answered.and_then(|id| sent_at[id as usize % RING].take()) {
                    Some(sent) => {
                        in_flight -= 1;
                        let got = Instant::now();
                        if answer.is_some_and(|a| a.error) {
                            errors += 1;
                        } else if got >= measure_from && got < measure_to {
                            latencies.record(got.duration_since(sent).as_micros() as u64);
                        }
                    }
                    None => errors += 1,
                }
            }
            match ws.next().now_or_never() {
                Some(m) => msg = m,
                None => break,
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
    Ok(ConnOutcome { latencies, errors })
}
