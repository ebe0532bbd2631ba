//! The wsx example chat: a multi-room chat server whose events match the seed TypeScript
//! chat, and a terminal client.
//!
//! Run the server with `cargo run --release -p wsx-chat` (127.0.0.1:3001; `--help` for
//! the flags) and a client with `cargo run -p wsx-chat --bin wsx-chat-cli -- alice`.
//!
//! # Layout
//! - [`events`]: the chat's events, declared with `define_events!`; their TypeScript,
//!   JSON Schema and AsyncAPI exports are committed under `bindings/` at the repository
//!   root (`WSX_BLESS=1 cargo test -p wsx-chat --test bindings` regenerates them).
//! - [`config`]: flags and environment variables.
//! - [`app`]: the shared state: rooms, names in use, counters.
//! - [`chat`]: the WebSocket handlers, one concern per module, and the server built
//!   from them.
//! - [`limits`]: rate limits kept per user name and per client address.
//! - [`names`]: user names: normalisation, comparison, refused characters.
//! - [`store`]: every room message in SQLite (one node, the default) or PostgreSQL (nodes
//!   sharing one database), numbered in the database, with group commit.
//! - [`history`]: the last N messages of a room in memory, and replay after a reconnect.
//! - [`http`]: the REST API; [`sse`]: `GET /events`; [`metrics`]: `GET /metrics`;
//!   [`page`]: the browser page.
//! - [`cluster`]: several nodes on one PostgreSQL and one Redis (`--redis`): room
//!   messages in `seq` order on every node, names unique across nodes, member lists, the
//!   users of a node that is gone, system events under one id sequence.
//! - [`serve`]: all of it on one port, with graceful shutdown.
//! - [`cli`]: the terminal client's parsing, formatting and exactly-once transcript;
//!   `src/bin/wsx-chat.rs` is the server, `src/bin/wsx-chat-cli.rs` the terminal client
//!   (on `wsx-client`).
//!
//! # Limits
//! Everything a peer can make the server hold is bounded; each limit is a flag (and a
//! `WSX_CHAT_*` variable), see `wsx-chat --help`.
//!
//! | what | limit | flag (default) |
//! | --- | --- | --- |
//! | frames per connection | refused with `rate_limited`, closed (1008) after repeated strikes | `--rate-limit` (20/s, bursts of 40) |
//! | messages per user name | `rate_limited`, kept across reconnects | `--user-rate-limit` (as one connection) |
//! | messages per client address (IPv6: per /64) | `rate_limited`, whatever the names | `--ip-rate-limit` (five users' worth) |
//! | rooms brought into memory per client address | `rate_limited` on `join` | `--room-rate-limit` (`30/1m`) |
//! | live rooms (with members) | `join` of one more refused | `--max-rooms` (10,000) |
//! | empty rooms | leave memory at once without history; with history after | `--room-idle` (1m) |
//! | message size | closed with 1009 | `--max-message-bytes` (16 KiB) |
//! | silence | closed with 4000 | `--idle-timeout` (5m) |
//! | browsers' origins | 403 unless listed or the server's own (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`); never derived from `Host` | `--allow-origin` |
//!
//! Names: two names that look alike (the TR39 confusable skeleton of their case-folded
//! form, see [`names`]) are one name. A name held by a connection that died without
//! closing is taken back at once by a `join` that presents the `resumeToken` of that
//! connection's join; the stale connection is closed with 4001 (see
//! [`chat::rooms::CLOSE_REPLACED`]).

#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod chat;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod cluster;
#[cfg(feature = "server")]
pub mod config;
pub mod events;
#[cfg(feature = "server")]
pub mod history;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod limits;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod names;
#[cfg(feature = "server")]
pub mod page;
#[cfg(feature = "server")]
pub mod serve;
#[cfg(feature = "server")]
pub mod sse;
#[cfg(feature = "server")]
pub mod store;

#[cfg(feature = "server")]
#[doc(inline)]
pub use app::App;
#[cfg(feature = "server")]
#[doc(inline)]
pub use config::Config;
#[doc(inline)]
pub use events::*;
#[cfg(feature = "server")]
#[doc(inline)]
pub use serve::Chat;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
