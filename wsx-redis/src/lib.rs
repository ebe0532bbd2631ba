//! wsx-redis: one wsx app on several nodes, fanned out through Redis.
//!
//! Give a server a [`RedisAdapter`] and every process started the same way, pointed at
//! the same Redis, behaves as one server: a push to a room reaches its members on every
//! node (encoded once per codec on each node), a push to one connection reaches it on
//! the node that holds it (connection ids are unique across nodes), and the
//! `Server::cluster_*` questions answer for the whole cluster. A node that dies is
//! forgotten after [`RedisConfig::node_expiry`]; a node that loses Redis keeps serving
//! its own connections, reports the outage ([`RedisAdapter::health`], the
//! `wsx_redis_*` metrics, a log line) and recovers by itself.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wsx_core::server::ServerBuilder;
//! use wsx_redis::RedisAdapter;
//!
//! let server = ServerBuilder::<(), ()>::new(())
//!     .adapter(RedisAdapter::connect("redis://127.0.0.1:6379").await?)
//!     .build()?;
//! // Whole cluster: one Redis round trip or two.
//! let everyone = server.cluster_connections().await?;
//! // This node only: no round trip.
//! let here = server.members("general");
//! # Ok(()) }
//! ```
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | `adapter` | [`RedisAdapter`]: the [`Adapter`](wsx_core::server::Adapter) methods, the cluster queries |
//! | `tasks` | publishing, receiving (and reconnecting), membership writes, heartbeat, dead-node cleanup |
//! | `wire` | the bytes of one published push |
//! | `keys` | every key and channel name |
//! | `config` | [`RedisConfig`] and its defaults |
//! | `health` | [`Health`]: the link's state and what was dropped |
//!
//! The design, the guarantees and the failure table are in `docs/CLUSTER.md`.

mod adapter;
mod config;
mod health;
mod keys;
mod tasks;
mod wire;

#[doc(inline)]
pub use adapter::{ConnectError, RedisAdapter};
#[doc(inline)]
pub use config::RedisConfig;
#[doc(inline)]
pub use health::Health;
