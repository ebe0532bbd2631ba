//! One storm client: it joins its room, keeps every `seq` it receives, and when its
//! connection is lost comes back with full-jitter backoff and re-joins with
//! `since: {epoch, seq}`, the last message it saw. The first client of each room also
//! sends to it while the run says messages flow.

use super::Shared;
use crate::StringField;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a connection attempt (TCP and WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a `join` may wait for its answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);
/// Most seqs one client keeps; more are counted in [`ClientLog::overflow`] (a failure).
pub const MAX_RECORDED: usize = 100_000;

/// What one client saw, checked against the room when the run ends.
#[derive(Debug, Default, Clone)]
pub struct ClientLog {
    /// The client's number.
    pub index: usize,
    /// Its room's number.
    pub room: usize,
    /// The room's last seq when the client first joined: it must receive every later one.
    pub base: Option<u64>,
    /// Every seq received (from a re-join's history and from live pushes), in arrival
    /// order, repeats included: a repeat is a duplicate delivery.
    pub seqs: Vec<u64>,
    /// Seqs received past [`MAX_RECORDED`] and not kept.
    pub overflow: u64,
    /// Joins answered, the first included.
    pub joins: u32,
    /// Re-joins whose answer was not `recovered: true`.
    pub not_recovered: u32,
    /// From the restart to the answer of the client's first join after it.
    pub back_after: Option<Duration>,
    /// Whether that join said `recovered: true`.
    pub back_recovered: bool,
    /// Attempts that failed (connect, handshake or join) after the restart.
    pub failed_after_restart: u32,
}

impl ClientLog {
    fn record(&mut self, seq: u64) {
        if self.seqs.len() < MAX_RECORDED {
            self.seqs.push(seq);
        } else {
            self.overflow += 1;
        }
    }
}

/// The lookups run on every frame a client reads, built once per client.
struct Fields {
    t: StringField,
    x: StringField,
    id: StringField,
    seq: memchr::memmem::Finder<'static>,
}

impl Fields {
    fn new() -> Self {
        Fields {
            t: StringField::new("t"),
            x: StringField::new("x"),
            id: StringField::new("id"),
            seq: memchr::memmem::Finder::new(b"\"seq\":").into_owned(),
        }
    }

    /// The `seq` of a `message` push; `None` for any other frame.
    fn message_seq(&self, body: &str) -> Option<u64> {
        if self.x.find(body) != Some("message") || self.t.find(body) != Some("send") {
            return None;
        }
        number_after(
            body,
            self.seq.find(body.as_bytes())? + self.seq.needle().len(),
        )
    }
}

/// The unsigned integer starting at byte `start` of `body`.
fn number_after(body: &str, start: usize) -> Option<u64> {
    let rest = body.get(start..)?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..digits)?.parse().ok()
}

/// Where the client stands in its room between connections.
struct Position {
    epoch: String,
    last: u64,
}

/// The name of room number `room`.
pub fn room_name(room: usize) -> String {
    format!("storm{room}")
}

async fn connect(url: &str) -> Result<super::Ws, super::Error> {
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("sec-websocket-protocol", "wsx.v1.json".parse()?);
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(req, Some(crate::client_config()), true)
            .await?;
    Ok(ws)
}

/// Runs client `index` until `stop` changes. Its first connection waits for a permit of
/// `gate` (the ramp's bound on handshakes in flight); reconnections wait only for their
/// backoff, as real clients would.
pub(crate) async fn run(
    index: usize,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> ClientLog {
    let room = index % shared.rooms;
    let mut log = ClientLog {
        index,
        room,
        ..ClientLog::default()
    };
    let username = format!("s{index}");
    let room_name = room_name(room);
    let sender = index < shared.rooms;
    let fields = Fields::new();
    let mut position: Option<Position> = None;
    let mut token: Option<String> = None;
    // The number of the next reconnection attempt (from 1), 0 for the first connection:
    // it sets the backoff ceiling, and is 1 again after each join.
    let mut attempt = 0u32;
    let mut connections = 0u64;
    let mut sent = 0u64;
    // One wait for the stop signal for the whole life of the task; once it fires the
    // task returns, so it is never polled again.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        if attempt > 0 {
            let delay = shared.backoff.delay(attempt);
            tokio::select! {
                _ = &mut stopped => return log,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        connections += 1;
        let permit = match log.joins {
            0 => gate.clone().acquire_owned().await.ok(),
            _ => None,
        };
        let attempt_started = Instant::now();
        let after_restart = shared
            .restart_at
            .get()
            .is_some_and(|r| attempt_started >= *r);
        let connected = tokio::select! {
            _ = &mut stopped => return log,
            c = tokio::time::timeout(CONNECT_TIMEOUT, connect(&shared.url)) => c,
        };
        let Ok(Ok(mut ws)) = connected else {
            shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
            log.failed_after_restart += u32::from(after_restart);
            attempt += 1;
            continue;
        };
        shared.count_handshake();
        let id = format!("j{connections}");
        let since = position
            .as_ref()
            .map(|p| json!({"epoch": p.epoch, "seq": p.last}));
        let join = json!({"v": "1.0", "t": "request", "x": "join", "id": id,
            "p": {"username": username, "room": room_name, "since": since, "resumeToken": token}});
        if ws.send(Message::text(join.to_string())).await.is_err() {
            shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
            log.failed_after_restart += u32::from(after_restart);
            attempt += 1;
            continue;
        }
        // Live pushes may come before the answer; every one is after the answer's seq.
        let mut early = Vec::new();
        let deadline = Instant::now() + JOIN_TIMEOUT;
        let answer = loop {
            let frame = tokio::select! {
                _ = &mut stopped => return log,
                f = tokio::time::timeout_at(deadline, ws.next()) => f,
            };
            match frame {
                Ok(Some(Ok(Message::Text(body)))) => {
                    if let Some(seq) = fields.message_seq(&body) {
                        early.push(seq);
                    } else if fields.id.find(&body) == Some(id.as_str()) {
                        break serde_json::from_str::<Value>(&body).ok();
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break None,
            }
        };
        let joined = match answer {
            Some(a) if a["t"] == "response_ok" => Some(a),
            Some(refused) => {
                shared.note_error(|| format!("join of {username} refused: {}", refused["e"]));
                None
            }
            None => {
                shared.note_error(|| format!("join of {username}: no answer"));
                None
            }
        };
        let Some(joined) = joined else {
            shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
            log.failed_after_restart += u32::from(after_restart);
            attempt += 1;
            continue;
        };
        drop(permit);
        let p = &joined["p"];
        let room_seq = p["seq"].as_u64().unwrap_or(0);
        let epoch = p["epoch"].as_str().unwrap_or_default().to_owned();
        let mut last = room_seq;
        if position.is_some() {
            let recovered = p["recovered"] == true;
            log.not_recovered += u32::from(!recovered);
            for m in p["history"].as_array().into_iter().flatten() {
                if let Some(seq) = m["seq"].as_u64() {
                    log.record(seq);
                }
            }
            if after_restart && log.back_after.is_none() {
                let restart = shared.restart_at.get().copied().unwrap_or(attempt_started);
                log.back_after = Some(Instant::now().saturating_duration_since(restart));
                log.back_recovered = recovered;
                shared.back.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            log.base = Some(room_seq);
            shared.joined.fetch_add(1, Ordering::Relaxed);
        }
        for seq in early {
            log.record(seq);
            last = last.max(seq);
        }
        log.joins += 1;
        token = p["resumeToken"].as_str().map(str::to_owned);
        let progress = shared.progress.get(index);
        if let Some(p) = progress {
            p.store(last, Ordering::Relaxed);
        }
        // Connected: read, and send when this client is its room's sender.
        let mut tick = tokio::time::interval(shared.send_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unanswered = 0u64;
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => {
                    shared.settle_unanswered(unanswered);
                    return log;
                }
                frame = ws.next() => {
                    let body = match frame {
                        Some(Ok(Message::Text(body))) => body,
                        Some(Ok(_)) => continue,
                        _ => break,
                    };
                    if let Some(seq) = fields.message_seq(&body) {
                        log.record(seq);
                        last = last.max(seq);
                        if let Some(p) = progress {
                            p.store(last, Ordering::Relaxed);
                        }
                    } else if fields.id.find(&body).is_some_and(|id| id.starts_with('m')) {
                        unanswered = unanswered.saturating_sub(1);
                        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                        if fields.t.find(&body) == Some("response_ok") {
                            shared.acked.fetch_add(1, Ordering::Relaxed);
                        } else {
                            shared.refused.fetch_add(1, Ordering::Relaxed);
                            shared.note_error(|| format!("sendMessage refused: {body}"));
                        }
                    }
                }
                _ = tick.tick(), if sender => {
                    if !shared.flowing.load(Ordering::Relaxed) {
                        continue;
                    }
                    sent += 1;
                    let frame = format!(
                        r#"{{"v":"1.0","t":"request","x":"sendMessage","id":"m{sent}","p":{{"message":"storm {index} {sent}"}}}}"#
                    );
                    shared.in_flight.fetch_add(1, Ordering::Relaxed);
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    unanswered += 1;
                    if ws.send(Message::text(frame)).await.is_err() {
                        break;
                    }
                }
            }
        }
        // The connection is lost: what was sent and not answered may or may not be
        // stored (the audit reads what the room holds).
        shared.settle_unanswered(unanswered);
        position = Some(Position { epoch, last });
        attempt = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seq_of_message_pushes_only() {
        let f = Fields::new();
        let push = r#"{"v":"1.0","t":"send","x":"message","p":{"messageId":"a","username":"s1","message":"storm 1 2","timestamp":1,"room":"storm1","seq":42,"kind":"message"}}"#;
        assert_eq!(f.message_seq(push), Some(42));
        let joined =
            r#"{"v":"1.0","t":"send","x":"userJoined","p":{"username":"s1","room":"storm1"}}"#;
        assert_eq!(f.message_seq(joined), None);
        let ack = r#"{"v":"1.0","t":"response_ok","x":"sendMessage","id":"m1","p":{"seq":7}}"#;
        assert_eq!(f.message_seq(ack), None);
        assert_eq!(number_after(r#""seq":12}"#, 6), Some(12));
        assert_eq!(number_after(r#""seq":}"#, 6), None);
    }
}
