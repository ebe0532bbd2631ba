//! Scenario 3, `idle`: open many connections, hold them, and read how much resident
//! memory the server grew by per connection. A connection is what a client of the
//! server's wire holds when it has nothing to say: for Socket.IO, a socket connected to
//! the default namespace (see [`Wire::hello`]).

use crate::server::ServerProcess;
use crate::wire::Wire;
use futures::StreamExt;
use serde::Serialize;
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdleResult {
    /// Connections open at once when memory was read.
    pub held: u64,
    /// Connections that failed to open.
    pub errors: u64,
    /// Server RSS growth divided by the connections held, in bytes.
    pub bytes_per_conn: f64,
    /// Server RSS before, in bytes.
    pub rss_before: u64,
    /// Server RSS with every connection open, in bytes.
    pub rss_after: u64,
    /// Seconds it took to open them all.
    pub open_secs: f64,
}

/// Opens `count` connections to `url` (at most `concurrency` handshakes at once, and
/// within `limit`), holds them while reading the server's memory, then closes them.
pub async fn run(
    server: &ServerProcess,
    url: &str,
    wire: Wire,
    count: usize,
    concurrency: usize,
    limit: Duration,
) -> IdleResult {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss().unwrap_or(0);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut held = Vec::with_capacity(count);
    let mut errors = 0u64;
    let mut opening = futures::stream::iter(0..count)
        .map(|_| crate::open(url, wire, Duration::from_secs(20)))
        .buffer_unordered(concurrency.max(1));
    loop {
        match tokio::time::timeout_at(deadline, opening.next()).await {
            Ok(Some(Ok(ws))) => held.push(ws),
            Ok(Some(Err(_))) => errors += 1,
            Ok(None) => break,
            Err(_) => {
                errors += (count - held.len()) as u64;
                break;
            }
        }
    }
    drop(opening);
    let open_secs = started.elapsed().as_secs_f64();
    // Let the server settle (upgrade tasks finish, buffers are allocated).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss().unwrap_or(0);
    let n = held.len() as u64;
    let bytes_per_conn = if n == 0 {
        0.0
    } else {
        rss_after.saturating_sub(rss_before) as f64 / n as f64
    };
    drop(held);
    IdleResult {
        held: n,
        errors,
        bytes_per_conn,
        rss_before,
        rss_after,
        open_secs,
    }
}
