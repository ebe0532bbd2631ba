//! The adapter's timings and limits, each with a documented default.

use std::time::Duration;

/// How a [`RedisAdapter`](crate::RedisAdapter) talks to Redis. Every field has a default
/// ([`RedisConfig::default`]); change what you need with struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use wsx_redis::RedisConfig;
///
/// let config = RedisConfig {
///     prefix: "myapp".into(),
///     node_expiry: Duration::from_secs(5),
///     ..RedisConfig::default()
/// };
/// assert_eq!(config.heartbeat(), Duration::from_millis(1250));
/// ```
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Start of every key and channel name, so that several apps (or tests) share one
    /// Redis. Default `"wsx"`.
    pub prefix: String,
    /// How long a node that stops sending heartbeats (killed, cut off) still counts as
    /// alive: after it, its connections vanish from every member list and count. The
    /// heartbeat runs four times per expiry. Default 10 s.
    pub node_expiry: Duration,
    /// How long joins and leaves are collected before they are written to Redis in one
    /// pipeline (the delay before another node's `cluster_members` sees them). Default
    /// 10 ms.
    pub membership_flush: Duration,
    /// Most pushes waiting to be published; a push beyond it is dropped and counted.
    /// Default 65 536.
    pub publish_queue: usize,
    /// Longest wait for one Redis command or query (a cluster query past it fails with
    /// [`AdapterError::Timeout`](wsx_core::server::AdapterError::Timeout)). Default 2 s.
    pub command_timeout: Duration,
    /// Longest pause between two attempts to reconnect after Redis went away (the pauses
    /// grow from 50 ms up to it). Default 1 s.
    pub reconnect_max_delay: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "wsx".into(),
            node_expiry: Duration::from_secs(10),
            membership_flush: Duration::from_millis(10),
            publish_queue: 65_536,
            command_timeout: Duration::from_secs(2),
            reconnect_max_delay: Duration::from_secs(1),
        }
    }
}

impl RedisConfig {
    /// How often a node renews its heartbeat key: a quarter of
    /// [`node_expiry`](Self::node_expiry), so three heartbeats may be lost before the
    /// others declare it dead.
    pub fn heartbeat(&self) -> Duration {
        self.node_expiry / 4
    }
}
