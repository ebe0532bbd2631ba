//! The system events (`GET /events`) of every node, on every node, with one id sequence.
//!
//! A node does not number its own events: it hands each one to [`relay`], which numbers
//! and publishes it in one script (`INCR {prefix}:chat:event-id`, then `PUBLISH` on
//! `{prefix}:chat:events`). Scripts run one at a time, so every node receives the events
//! in id order and records them in its ring under the same ids: a browser that reconnects
//! to another node with `Last-Event-ID` goes on where it stopped. The counter starts at
//! the current time in milliseconds, so after Redis lost its data the ids still grow.
//! An event published while Redis is away is lost (counted in
//! `chat_cluster_events_dropped_total`); the `stats` snapshots are not numbered at all
//! (each node sends its subscribers the cluster's figures itself).

use super::Cluster;
use crate::sse::SystemEvents;
use tokio::sync::mpsc;

/// Numbers and publishes one event. KEYS: the counter. ARGV: channel, kind, data, now ms.
const PUBLISH_EVENT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[4]) end
local id = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
return id";

/// Events waiting to be published; beyond it they are dropped (counted).
pub(super) const EVENT_QUEUE: usize = 4096;

impl Cluster {
    pub(super) fn events_channel(&self) -> String {
        format!("{}:chat:events", self.inner.prefix)
    }
}

/// Publishes the node's system events, in order.
pub(super) async fn relay(
    cluster: Cluster,
    mut queue: mpsc::Receiver<(&'static str, serde_json::Value)>,
) {
    let channel = cluster.events_channel();
    let counter = format!("{}:chat:event-id", cluster.inner.prefix);
    let mut commands = cluster.commands();
    let mut batch = Vec::with_capacity(64);
    while queue.recv_many(&mut batch, 64).await > 0 {
        let n = batch.len() as u64;
        let mut pipe = redis::pipe();
        for (kind, data) in batch.drain(..) {
            pipe.cmd("EVAL")
                .arg(PUBLISH_EVENT)
                .arg(1)
                .arg(&counter)
                .arg(&channel)
                .arg(kind)
                .arg(data.to_string())
                .arg(crate::now_ms())
                .ignore();
        }
        if let Err(e) = pipe.exec_async(&mut commands).await {
            metrics::counter!("chat_cluster_events_dropped_total").increment(n);
            tracing::warn!(error = %e, "cluster: system events not published");
        }
    }
}

/// Records a published event (`ID\nKIND\nDATA`) in this node's ring.
pub(super) fn receive(events: &SystemEvents, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (Some(id), Some(kind), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        tracing::warn!("cluster: unreadable system event");
        return;
    };
    let (Ok(id), Some(kind), Ok(data)) = (
        id.parse::<u64>(),
        SystemEvents::kind_named(kind),
        serde_json::from_str(data),
    ) else {
        tracing::warn!("cluster: unreadable system event");
        return;
    };
    events.record(id, kind, data);
}
