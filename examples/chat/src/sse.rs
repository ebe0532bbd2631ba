//! `GET /events`: Server-Sent Events of what happens on the server.
//!
//! Events: `userConnected`, `userDisconnected`, `userRenamed` (`{ username, … }`),
//! `roomCreated`, `roomEmptied` (`{ room }`) and `stats` (as `GET /api/stats`, at once
//! on connecting — without an id — then every few seconds). Each carries an `id`, increasing by one. The last [`RING_CAPACITY`] events
//! are kept; a client that reconnects with `Last-Event-ID` (or `?lastEventId=`) first gets
//! the kept events after that id, then the live ones, with nothing lost or repeated
//! between the two: publishing and subscribing take the same lock, so an event is either
//! in the backlog a subscriber reads or in its live channel, never both (ids up to the
//! last replayed one are skipped anyway). A subscriber that falls too far behind is
//! disconnected and catches up from the ring when its browser reconnects. A comment
//! line goes out every 15 s so proxies keep the stream open.

use crate::app::App;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::BroadcastStream;

/// How many events the ring buffer keeps for `Last-Event-ID`.
pub const RING_CAPACITY: usize = 1000;
/// How often a heartbeat comment is sent.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// One system event.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemEvent {
    /// Its id: 1, 2, 3, … within this server process (on a cluster node: the cluster's
    /// sequence); 0 for a snapshot sent live only.
    pub id: u64,
    /// The SSE event type, e.g. `roomCreated`.
    pub kind: &'static str,
    /// Its JSON data.
    pub data: serde_json::Value,
}

struct Ring {
    next_id: u64,
    events: VecDeque<SystemEvent>,
}

/// The system event hub: a ring buffer and a live channel.
#[derive(Debug)]
pub struct SystemEvents {
    ring: Mutex<Ring>,
    live: broadcast::Sender<SystemEvent>,
    closed: watch::Sender<bool>,
    /// On a cluster node: where events go to be numbered for the whole cluster (see
    /// `crate::cluster`); they come back through [`SystemEvents::record`].
    relay: std::sync::OnceLock<mpsc::Sender<(&'static str, serde_json::Value)>>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("next_id", &self.next_id)
            .field("len", &self.events.len())
            .finish()
    }
}

impl Default for SystemEvents {
    fn default() -> Self {
        SystemEvents {
            ring: Mutex::new(Ring {
                next_id: 1,
                events: VecDeque::with_capacity(RING_CAPACITY),
            }),
            live: broadcast::channel(256).0,
            closed: watch::channel(false).0,
            relay: std::sync::OnceLock::new(),
        }
    }
}

/// Every kind of system event.
pub const KINDS: [&str; 6] = [
    "userConnected",
    "userDisconnected",
    "userRenamed",
    "roomCreated",
    "roomEmptied",
    "stats",
];

impl SystemEvents {
    /// Records and broadcasts an event (on a cluster node: hands it to the relay, which
    /// numbers it for the whole cluster; a full relay drops it).
    pub fn publish(&self, kind: &'static str, data: serde_json::Value) {
        if let Some(relay) = self.relay.get() {
            if relay.try_send((kind, data)).is_err() {
                metrics::counter!("chat_cluster_events_dropped_total").increment(1);
            }
            return;
        }
        let Ok(ring) = self.ring.lock() else {
            return;
        };
        let id = ring.next_id;
        self.insert(ring, id, kind, data);
    }

    /// Sends events to `relay` instead of numbering them here (once; later calls are
    /// ignored).
    pub fn set_relay(&self, relay: mpsc::Sender<(&'static str, serde_json::Value)>) {
        let _ = self.relay.set(relay);
    }

    /// Records and broadcasts an event numbered elsewhere (a cluster's events, in id
    /// order); an id not above the latest is ignored.
    pub fn record(&self, id: u64, kind: &'static str, data: serde_json::Value) {
        let Ok(ring) = self.ring.lock() else {
            return;
        };
        if id < ring.next_id {
            return;
        }
        self.insert(ring, id, kind, data);
    }

    /// Sends an event to the subscribers of this node now, without an id and without
    /// keeping it (a snapshot such as `stats`, not part of the event log).
    pub fn publish_live(&self, kind: &'static str, data: serde_json::Value) {
        let _ = self.live.send(SystemEvent { id: 0, kind, data });
    }

    /// The kind named `name`, if it is one of [`KINDS`].
    pub fn kind_named(name: &str) -> Option<&'static str> {
        KINDS.iter().find(|k| **k == name).copied()
    }

    fn insert(
        &self,
        mut ring: std::sync::MutexGuard<'_, Ring>,
        id: u64,
        kind: &'static str,
        data: serde_json::Value,
    ) {
        let event = SystemEvent { id, kind, data };
        ring.next_id = id + 1;
        if ring.events.len() == RING_CAPACITY {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // Sent under the lock: subscribers see events in id order, and a subscriber
        // taking the lock sees each event in exactly one of backlog and channel.
        let _ = self.live.send(event);
    }

    /// The kept events after `last_id` and a channel of every later one.
    pub fn subscribe(
        &self,
        last_id: Option<u64>,
    ) -> (Vec<SystemEvent>, broadcast::Receiver<SystemEvent>) {
        match self.ring.lock() {
            Ok(ring) => {
                let rx = self.live.subscribe();
                let backlog = match last_id {
                    Some(last) => ring
                        .events
                        .iter()
                        .filter(|e| e.id > last)
                        .cloned()
                        .collect(),
                    None => Vec::new(),
                };
                (backlog, rx)
            }
            Err(_) => (Vec::new(), self.live.subscribe()),
        }
    }

    /// The id of the latest event (0: none).
    pub fn last_id(&self) -> u64 {
        self.ring.lock().map(|r| r.next_id - 1).unwrap_or(0)
    }

    /// Ends every stream (at shutdown, so the HTTP server can finish).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    async fn wait_closed(mut closed: watch::Receiver<bool>) {
        let _ = closed.wait_for(|c| *c).await;
    }
}

/// The query of `GET /events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Same as the `Last-Event-ID` header, for clients that cannot set headers.
    #[serde(rename = "lastEventId")]
    last_event_id: Option<u64>,
}

/// `GET /events`.
pub async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let last_id = header.or(query.last_event_id);
    let hub = app.events();
    let (backlog, rx) = hub.subscribe(last_id);
    let replayed_up_to = backlog.last().map(|e| e.id).or(last_id).unwrap_or(0);
    tracing::debug!(?last_id, replayed = backlog.len(), "sse subscriber");
    let clients = SseClient::new();
    let live = BroadcastStream::new(rx)
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(move |r| {
            std::future::ready(r.ok().filter(|e| e.id == 0 || e.id > replayed_up_to))
        });
    // The numbers right away (without an id: a snapshot, not part of the event log, so
    // a reconnecting browser's `Last-Event-ID` stays the last logged event).
    let now = Event::default()
        .event("stats")
        .data(app.stats_now().await.to_string());
    let logged = futures::stream::iter(backlog).chain(live).map(move |e| {
        let _alive = &clients;
        to_sse(&e)
    });
    let stream = futures::stream::once(std::future::ready(now))
        .chain(logged)
        .take_until(SystemEvents::wait_closed(hub.closed.subscribe()))
        .map(Ok);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
}

fn to_sse(e: &SystemEvent) -> Event {
    let event = Event::default().event(e.kind).data(e.data.to_string());
    // Id 0: a snapshot outside the log (see `SystemEvents::publish_live`).
    if e.id == 0 {
        event
    } else {
        event.id(e.id.to_string())
    }
}

/// Counts open streams in the `chat_sse_clients` gauge while alive.
struct SseClient;

impl SseClient {
    fn new() -> Self {
        metrics::gauge!("chat_sse_clients").increment(1.0);
        SseClient
    }
}

impl Drop for SseClient {
    fn drop(&mut self) {
        metrics::gauge!("chat_sse_clients").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn backlog_and_live_split_exactly() {
        let hub = SystemEvents::default();
        for i in 0..5 {
            hub.publish("stats", json!({ "i": i }));
        }
        let (backlog, mut rx) = hub.subscribe(Some(2));
        assert_eq!(backlog.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4, 5]);
        hub.publish("roomCreated", json!({ "room": "general" }));
        assert_eq!(rx.try_recv().unwrap().id, 6);
        assert!(rx.try_recv().is_err());
        assert!(hub.subscribe(None).0.is_empty());
        assert_eq!(hub.last_id(), 6);
    }

    #[test]
    fn the_ring_keeps_the_latest() {
        let hub = SystemEvents::default();
        for _ in 0..RING_CAPACITY + 10 {
            hub.publish("stats", json!({}));
        }
        let (backlog, _) = hub.subscribe(Some(0));
        assert_eq!(backlog.len(), RING_CAPACITY);
        assert_eq!(backlog[0].id, 11);
    }
}
