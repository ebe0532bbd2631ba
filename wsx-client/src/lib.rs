//! A typed Rust client for wsx servers: requests, one-way sends and push streams over one
//! WebSocket, typed by the same `define_events!` set as the server, and built to survive
//! real networks.
//!
//! ```
//! use futures::StreamExt;
//! use std::time::Duration;
//! use wsx_client::Client;
//! use wsx_core::server::{Conn, HandlerError, ServerBuilder};
//!
//! wsx_core::define_events! {
//!     pub events ChatEvents;
//!     request join: JoinRequest { username: String.min(1).max(20) } -> JoinResponse { users: Vec<String> }
//!     push welcome: Welcome { text: String }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = ServerBuilder::<(), ()>::new(())
//! #     .on_request::<Join, _, _>(|conn: Conn<()>, req: JoinRequest| async move {
//! #         conn.push::<Welcome>(Welcome { text: format!("hi {}", req.username) }).ok();
//! #         Ok::<_, HandlerError>(JoinResponse { users: vec![req.username] })
//! #     })
//! #     .build()?;
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("ws://{}/ws", listener.local_addr()?);
//! # tokio::spawn(axum::serve(listener, axum::Router::new().route("/ws", server.route())).into_future());
//! // `url` is e.g. "ws://127.0.0.1:3001/ws"
//! let builder = Client::builder(url).request_timeout(Duration::from_secs(5));
//! // Subscribed before connecting: nothing the server pushes on open is missed.
//! let mut welcomes = builder.subscribe::<Welcome>();
//! let client = builder.connect().await?;
//!
//! let joined = client.request::<Join>(JoinRequest { username: "alice".into() }).await?;
//! assert_eq!(joined.users, ["alice"]);
//! // Each item is the push, or `Err(Lagged(n))` where the subscriber fell behind.
//! let welcome = welcomes.next().await.transpose()?;
//! assert_eq!(welcome.map(|w| w.text).as_deref(), Some("hi alice"));
//!
//! // Invalid payloads are refused before they reach the wire, with every failing field.
//! let err = client.request::<Join>(JoinRequest { username: String::new() }).await.unwrap_err();
//! assert!(matches!(err, wsx_client::Error::InvalidPayload { .. }));
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! # Features
//! | | |
//! | --- | --- |
//! | typed calls | [`Client::request`], [`Client::send`], [`Client::subscribe`] / [`Client::on`] by event type |
//! | first pushes | [`ClientBuilder::subscribe`]: subscribed before the socket opens, so a push sent on open is never missed |
//! | slow subscribers | bounded per subscriber ([`ClientBuilder::push_buffer`]); lost pushes are reported in the stream as [`Lagged`]`(n)` where they were lost |
//! | validation | payloads checked before sending, answers and pushes checked on receipt |
//! | codecs | JSON text (default) or CBOR ([`ClientBuilder::codec`]), negotiated by subprotocol |
//! | timeouts | per client and per call; a dropped request future cancels the request |
//! | errors | one [`Error`] enum; server errors keep their code and field paths ([`ServerError`]) |
//! | reconnection | backoff with full jitter per attempt ([`ReconnectPolicy`]); in-flight requests fail with [`Error::ConnectionLost`], never re-sent; sends wait in a bounded queue |
//! | final closes | after `1008` or `4000`–`4999` (idle timeout, app codes) no automatic reconnect: [`ConnectionState::Disconnected`] says why, [`Client::reconnect`] resumes ([which codes](ReconnectPolicy#final-close-codes)) |
//! | several servers | [`ClientBuilder::urls`]: the next URL on a failed connect or a lost connection |
//! | restore | [`ClientBuilder::on_reconnect`] runs before the queue is flushed |
//! | keep-alive | pings and a pong timeout detect half-open connections |
//! | states | [`Client::states`]: connecting, open, reconnecting (attempt, delay), disconnected (code, reason), closed (reason) |
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | `config` | the settings, fixed when the client is built |
//! | `builder` | [`ClientBuilder`] and its defaults: fills the config, holds early subscriptions |
//! | `client` | the [`Client`] handle |
//! | `shared` | what the handles and the I/O task share: config, requests, subscribers, state |
//! | `connection` | the I/O task: socket, keep-alive, reconnect loop, URL rotation, outbox |
//! | `pending` | requests in flight, id → answer |
//! | `reconnect` | [`ReconnectPolicy`] |
//! | `subscribe` | push streams ([`Subscription`], [`Lagged`]), callbacks, `$error` stream |
//! | `state` | [`ConnectionState`], [`CloseReason`] |
//! | `error` | [`Error`], [`ServerError`] |
//!
//! Modules depend one way: `builder` → `client` → `connection` → `shared` → `config`,
//! and each of them on the leaves (`pending`, `reconnect`, `subscribe`, `state`, `error`).
//!
//! # Delivery guarantees
//! Requests are sent at most once: one in flight when the connection drops fails with
//! [`Error::ConnectionLost`], and the caller decides whether retrying is safe. Requests
//! and sends issued while disconnected wait in a bounded queue and go out once, in order,
//! after the reconnect hook. A send written to a connection that turns out to be dead
//! (before the pong timeout notices) is lost.
//!
//! Pushes are never re-sent by the server, so one that arrives while nobody is
//! subscribed is gone, and one that finds a subscriber's buffer full is dropped for that
//! subscriber: its stream then yields `Err(`[`Lagged`]`(n))` at that point, and
//! [`Subscription::missed`] counts it. An app that must not miss any (a chat's messages)
//! resumes from its own sequence numbers, e.g. in the `on_reconnect` hook.

#![doc(html_root_url = "https://docs.rs/wsx-client/0.1.0")]

mod builder;
mod client;
mod config;
mod connection;
mod error;
mod pending;
mod reconnect;
mod shared;
mod state;
mod subscribe;

#[doc(inline)]
pub use builder::ClientBuilder;
#[doc(inline)]
pub use client::Client;
#[doc(inline)]
pub use error::{Error, ServerError};
#[doc(inline)]
pub use reconnect::ReconnectPolicy;
#[doc(inline)]
pub use state::{CloseReason, ConnectionState, StateStream};
#[doc(inline)]
pub use subscribe::{Lagged, Listener, ServerErrors, Subscription};
#[doc(inline)]
pub use wsx_core::Codec;
