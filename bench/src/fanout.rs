//! Scenario 2, `fanout`: many users in each of some rooms, one of them per room sends at
//! a fixed rate, and every other user records when each message reaches it.
//!
//! The message text carries its send time (`bench SEQ MICROS`, microseconds since the
//! run began, on the load generator's clock), so delivery latency is measured end to end
//! by the process that sent it. Against wsx servers and the peers the users first join
//! their room (see [`crate::wire`]); against the bare server connecting to
//! `/room/NAME` is joining.

use crate::server::{cpu_us_per, process_cpu_time};
use crate::stats::{Latencies, Summary};
use crate::wire::Wire;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

type Sink = SplitSink<crate::Socket, Message>;

/// How to load the server.
#[derive(Debug, Clone)]
pub struct FanoutLoad {
    /// The WebSocket URL.
    pub url: String,
    /// More URLs of the same app (nodes of a cluster): the members of a room connect to
    /// `url` and these, round robin, so each room's sender is on `url`.
    pub spread: Vec<String>,
    /// How to speak to the server.
    pub wire: Wire,
    /// Rooms, each with its own sender (`bench0`, `bench1`, …).
    pub rooms: usize,
    /// Users in each room, the sender included.
    pub users: usize,
    /// Messages per second each room's sender sends.
    pub rate: u32,
    /// Messages each sender sends in all.
    pub count: u64,
    /// Join the room with a request (wsx apps and the peers); `false` for the bare
    /// server, where the room's name is the end of the URL path (`…/room/bench0`).
    pub join: bool,
}

impl FanoutLoad {
    /// The room of user `user`: users `0..rooms` are the rooms' senders.
    fn room_of(&self, user: usize) -> usize {
        user % self.rooms.max(1)
    }

    /// The URL user `user` connects to.
    fn url_of(&self, user: usize) -> String {
        let url = match (user / self.rooms.max(1)) % (self.spread.len() + 1) {
            0 => &self.url,
            k => &self.spread[k - 1],
        };
        if self.join {
            url.clone()
        } else {
            format!("{url}/{}", room_name(self.room_of(user)))
        }
    }
}

/// The name of room `k`.
fn room_name(k: usize) -> String {
    format!("bench{k}")
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FanoutResult {
    /// Messages delivered to receivers per second, first send to last delivery.
    pub deliveries_per_s: f64,
    /// Send-to-delivery latency.
    pub latency_us: Summary,
    /// Deliveries expected: receivers (users but the senders) × messages.
    pub expected: u64,
    /// Deliveries received.
    pub delivered: u64,
    /// Expected minus delivered.
    pub lost: u64,
    /// `sendMessage` requests answered with an error.
    pub send_errors: u64,
    /// Users that could not connect or join.
    pub connect_errors: u64,
    /// The server's CPU time (user + system) from the first send to the last delivery,
    /// per delivery.
    pub server_cpu_us_per_delivery: f64,
    /// The load generator's own CPU time over the same span, per delivery.
    pub client_cpu_us_per_delivery: f64,
}

struct Shared {
    epoch: Instant,
    frames: AtomicU64,
    delivered: AtomicU64,
    send_errors: AtomicU64,
}

/// Runs the scenario; `server_cpu` reads the server's CPU time so far. Bounded: joining
/// takes at most 120 s, the sending `count / rate` seconds, and the wait for the last
/// deliveries at most 5 s.
pub async fn run(load: &FanoutLoad, server_cpu: impl Fn() -> Option<Duration>) -> FanoutResult {
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        frames: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(64));
    let rooms = load.rooms.max(1);
    let total = rooms * load.users;
    let mut sink_rx = Vec::with_capacity(rooms);
    let mut tasks = Vec::with_capacity(total);
    let mut joined_rx = Vec::with_capacity(total);
    for user in 0..total {
        let (joined_tx, joined) = oneshot::channel::<bool>();
        joined_rx.push(joined);
        let sender = (user < rooms).then(|| {
            let (tx, rx) = oneshot::channel::<Sink>();
            sink_rx.push(rx);
            tx
        });
        let load = load.clone();
        let shared = shared.clone();
        let stop = stop_rx.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            user_task(user, load, shared, stop, gate, joined_tx, sender).await
        }));
    }
    let mut result = FanoutResult::default();
    let join_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for joined in joined_rx {
        match tokio::time::timeout_at(join_deadline, joined).await {
            Ok(Ok(true)) => {}
            _ => result.connect_errors += 1,
        }
    }
    // Wait for the join announcements to drain: no frame for 500 ms, at most 30 s.
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
    let receivers = (total as u64).saturating_sub(rooms as u64 + result.connect_errors);
    result.expected = receivers * load.count;
    let first_send = shared.epoch.elapsed();
    let cpu_from = server_cpu();
    let own_from = process_cpu_time(std::process::id());
    let mut senders = Vec::with_capacity(rooms);
    for (room, sink) in sink_rx.into_iter().enumerate() {
        let (wire, rate, count, epoch) = (load.wire, load.rate, load.count, shared.epoch);
        senders.push(tokio::spawn(async move {
            let Ok(Ok(sink)) = tokio::time::timeout(Duration::from_secs(1), sink).await else {
                return (None, count);
            };
            let (sink, failed) = send_all(sink, wire, room, rate, count, epoch).await;
            (Some(sink), failed)
        }));
    }
    let mut sinks = Vec::with_capacity(rooms);
    for sender in senders {
        match sender.await {
            Ok((sink, failed)) => {
                result.send_errors += failed;
                sinks.extend(sink);
            }
            Err(_) => result.send_errors += load.count,
        }
    }
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while shared.delivered.load(Ordering::Relaxed) < result.expected
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_to = server_cpu();
    let own_to = process_cpu_time(std::process::id());
    for mut sink in sinks {
        let _ = tokio::time::timeout(Duration::from_millis(500), sink.close()).await;
    }
    let _ = stop_tx.send(true);
    let mut latencies = Latencies::default();
    let mut last_delivery = first_send;
    for task in tasks {
        if let Ok(Ok(outcome)) = tokio::time::timeout(Duration::from_secs(5), task).await {
            latencies.merge(outcome.latencies);
            last_delivery = last_delivery.max(outcome.last_delivery);
        }
    }
    result.delivered = shared.delivered.load(Ordering::Relaxed);
    result.lost = result.expected.saturating_sub(result.delivered);
    result.send_errors += shared.send_errors.load(Ordering::Relaxed);
    let span = last_delivery.saturating_sub(first_send).as_secs_f64();
    result.deliveries_per_s = if span > 0.0 {
        result.delivered as f64 / span
    } else {
        0.0
    };
    result.latency_us = latencies.summary();
    result.server_cpu_us_per_delivery = cpu_us_per(cpu_from, cpu_to, result.delivered);
    result.client_cpu_us_per_delivery = cpu_us_per(own_from, own_to, result.delivered);
    result
}

/// One room's sender: `count` messages at `rate` per second; gives the sink back with
/// the number of messages it could not send.
async fn send_all(
    mut sink: Sink,
    wire: Wire,
    room: usize,
    rate: u32,
    count: u64,
    epoch: Instant,
) -> (Sink, u64) {
    let room = room_name(room);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 0..count {
        tick.tick().await;
        let micros = epoch.elapsed().as_micros();
        let frame = wire.send(&wire.id("s", seq), &room, &format!("bench {seq} {micros}"));
        if sink.send(frame).await.is_err() {
            return (sink, count - seq);
        }
    }
    (sink, 0)
}

#[derive(Default)]
struct UserOutcome {
    latencies: Latencies,
    last_delivery: Duration,
}

async fn user_task(
    user: usize,
    load: FanoutLoad,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
    joined: oneshot::Sender<bool>,
    sender: Option<oneshot::Sender<Sink>>,
) -> UserOutcome {
    let mut outcome = UserOutcome::default();
    let permit = gate.acquire().await;
    let wire = load.wire;
    let Ok(ws) = crate::open(&load.url_of(user), wire, Duration::from_secs(20)).await else {
        let _ = joined.send(false);
        return outcome;
    };
    let (mut sink, mut stream) = ws.split();
    let reader = wire.reader();
    if load.join {
        let wanted = wire.id("j", user as u64);
        let request = wire.join(
            &wanted,
            &format!("bench{user}"),
            &room_name(load.room_of(user)),
        );
        let answered = async {
            sink.send(request).await.ok()?;
            while let Some(Ok(frame)) = stream.next().await {
                if let Some(answer) = reader.answer(&frame) {
                    if answer.id == wanted {
                        return Some(!answer.error);
                    }
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(20), answered).await {
            Ok(Some(true)) => {}
            _ => {
                let _ = joined.send(false);
                return outcome;
            }
        }
    }
    drop(permit);
    let _ = joined.send(true);
    // Receivers write only to answer the server's pings (Socket.IO's); the sender's
    // half goes to its sending task.
    let mut sink = match sender {
        Some(to_sender) => {
            let _ = to_sender.send(sink);
            None
        }
        None => Some(sink),
    };
    let is_receiver = user >= load.rooms.max(1);
    let epoch = shared.epoch;
    // One wait for the stop signal for the whole loop: a fresh `changed()` per frame
    // would register and unregister with the watch channel every time.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        let frame = tokio::select! {
            biased;
            frame = stream.next() => frame,
            _ = &mut stopped => break,
        };
        let body = match frame {
            Some(Ok(body @ (Message::Text(_) | Message::Binary(_)))) => body,
            Some(Ok(_)) => continue,
            _ => break,
        };
        shared.frames.fetch_add(1, Ordering::Relaxed);
        if let (Some(pong), Some(sink)) = (wire.pong(&body), sink.as_mut()) {
            let _ = sink.send(pong).await;
            continue;
        }
        if !is_receiver {
            if reader.answer(&body).is_some_and(|a| a.error) {
                shared.send_errors.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        let Some(text) = reader.delivery(&body) else {
            continue;
        };
        let Some(sent) = text
            .strip_prefix("bench ")
            .and_then(|rest| rest.split(' ').nth(1)?.parse::<u64>().ok())
        else {
            continue;
        };
        let now = epoch.elapsed();
        outcome
            .latencies
            .record((now.as_micros() as u64).saturating_sub(sent));
        outcome.last_delivery = now;
        shared.delivered.fetch_add(1, Ordering::Relaxed);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(join: bool, spread: usize) -> FanoutLoad {
        FanoutLoad {
            url: "ws://a/room".into(),
            spread: (0..spread).map(|k| format!("ws://n{k}/room")).collect(),
            wire: Wire::Json,
            rooms: 3,
            users: 4,
            rate: 1,
            count: 1,
            join,
        }
    }

    #[test]
    fn senders_come_first_and_rooms_are_dealt_round_robin() {
        let bare = load(false, 0);
        let rooms: Vec<usize> = (0..12).map(|u| bare.room_of(u)).collect();
        assert_eq!(rooms, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
        assert_eq!(bare.url_of(0), "ws://a/room/bench0");
        assert_eq!(bare.url_of(5), "ws://a/room/bench2");
        let cluster = load(true, 1);
        // Every room's sender is on the first node; members alternate between nodes.
        assert!((0..3).all(|u| cluster.url_of(u) == "ws://a/room"));
        assert!((3..6).all(|u| cluster.url_of(u) == "ws://n0/room"));
        assert!((6..9).all(|u| cluster.url_of(u) == "ws://a/room"));
    }
}
