//! Whether the node is in touch with Redis, and what it lost while it was not.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A snapshot of a node's link to Redis ([`RedisAdapter::health`](crate::RedisAdapter::health)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// This node's number in the cluster (the high bits of its connection ids).
    pub node: u64,
    /// Whether the node is subscribed, its membership written, and its last command
    /// succeeded. While `false`, pushes to other nodes are dropped (and counted) and
    /// cluster queries fail; local connections are served as usual.
    pub connected: bool,
    /// How many times the link was lost since the adapter started.
    pub outages: u64,
    /// Pushes that did not reach Redis (during an outage, or with the publish queue
    /// full): they reached this node's members only.
    pub dropped_pushes: u64,
    /// Publications received from Redis that could not be read (a node of another
    /// version).
    pub bad_publications: u64,
    /// The last error Redis gave, if any.
    pub last_error: Option<String>,
}

/// The counters behind [`Health`], shared by the adapter's tasks.
#[derive(Debug, Default)]
pub(crate) struct HealthState {
    connected: AtomicBool,
    outages: AtomicU64,
    dropped: AtomicU64,
    bad: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl HealthState {
    pub(crate) fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The link works again (subscribed and membership rewritten).
    pub(crate) fn up(&self, node: u64) {
        if !self.connected.swap(true, Ordering::AcqRel) {
            metrics::gauge!("wsx_redis_connected").set(1.0);
            if self.outages.load(Ordering::Acquire) > 0 {
                tracing::info!(
                    node,
                    "redis: connected again, subscriptions and membership restored"
                );
            }
        }
    }

    /// The link failed: report it once per outage.
    pub(crate) fn down(&self, node: u64, what: &str, error: &dyn std::fmt::Display) {
        *self.last_error.lock() = Some(format!("{what}: {error}"));
        if self.connected.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::AcqRel);
            metrics::gauge!("wsx_redis_connected").set(0.0);
            metrics::counter!("wsx_redis_outages_total").increment(1);
            tracing::warn!(
                node,
                %error,
                what,
                "redis: connection lost; pushes to other nodes are dropped until it is back"
            );
        }
    }

    /// Pushes that did not reach Redis.
    pub(crate) fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::AcqRel);
        metrics::counter!("wsx_redis_pushes_dropped_total").increment(n);
    }

    pub(crate) fn bad_publication(&self) {
        self.bad.fetch_add(1, Ordering::AcqRel);
        metrics::counter!("wsx_redis_bad_publications_total").increment(1);
    }

    pub(crate) fn snapshot(&self, node: u64) -> Health {
        Health {
            node,
            connected: self.connected(),
            outages: self.outages.load(Ordering::Acquire),
            dropped_pushes: self.dropped.load(Ordering::Acquire),
            bad_publications: self.bad.load(Ordering::Acquire),
            last_error: self.last_error.lock().clone(),
        }
    }
}
