//! The server: maps the events of a `define_events!` set to async handlers, on axum.
//!
//! # Layout
//! - [`ServerBuilder`] (`builder.rs`) registers one handler per event ([`handler`]
//!   explains their shape), the hooks (`hooks.rs`, named for when they run) and the
//!   [`ServerConfig`] (`config.rs`).
//! - [`Server`] (here) mounts into an ordinary axum `Router` ([`Server::route`]), pushes
//!   to rooms ([`Server::to`]) and shuts down gracefully ([`Server::shutdown`]).
//! - [`Conn`] (`conn.rs`) is a connection as handlers see it: id, typed state, pushes,
//!   rooms. [`Peer`] (`peer.rs`) is its delivery end: codec and outbound queue.
//! - [`Adapter`] (`rooms.rs`) keeps the connections (the one registry) and rooms;
//!   [`LocalAdapter`] is the in-process default, `wsx_redis::RedisAdapter` shares them
//!   between nodes.
//! - [`TestClient`] (`testing.rs`) drives a server without a socket.
//!
//! # The path of one frame
//! 1. **Upgrade** — [`Server::route`] runs the `on_connect` hook and reads the
//!    subprotocol (`handshake.rs`), then `session.rs` runs the connection: one task, no
//!    spawn per request. The session reaches the server only through its `Host` trait.
//! 2. **Read** — `Session::drive` reads a burst of messages; `on_data` settles the codec
//!    on the first one and decodes the envelope into an `Inbound` (`inbound.rs`), the one
//!    frame type of every codec: a JSON message is read once, borrowed where it can be
//!    (`codec/json_read.rs`); a CBOR one has its envelope read straight from the bytes
//!    and only its payload transcoded into the JSON text it means (`codec/cbor_json.rs`),
//!    or, for another envelope, is transcoded whole and read as JSON, or, when it is not
//!    the plain CBOR wsx and cbor-x clients write, decoded owned (`codec/cbor.rs`). It
//!    takes a token from the rate limit (`limits.rs`) and finds the event's `Route`.
//! 3. **Handle** — the route's `ErasedHandler` (`route.rs`: `RequestRoute` or
//!    `SendRoute`) decodes the payload into its type (the typed fast path,
//!    `crate::typed`, else the JSON Schema validator, `crate::validate`); that decode is
//!    also the payload's content check (a payload no `serde_json::Value` holds makes the
//!    frame malformed, and the paths that decode nothing check it first), builds the
//!    extractors (`extract.rs`), calls the handler with a panic guard and polls it once
//!    (`start_handler`, in the connection's spare box, `spare.rs`): most finish there,
//!    the others wait in the session's set of running handlers.
//! 4. **Reply** — the result is encoded once in the connection's codec (`outbound.rs`;
//!    JSON from a per-event prefix, `codec/json_write.rs`; cbor-x records straight from
//!    serde, `codec/records_write.rs`, a `response_ok`'s envelope written as it is) and
//!    queued on the connection's [`Peer`] (`peer.rs`; its queue, bounded in frames and
//!    bytes, is in `outbound.rs`).
//! 5. **Write** — after the burst, the session writes everything queued with one flush
//!    (`write_batch`), under the write timeout; timers (ping, idle, the codec wait) keep
//!    running while it waits.
//!
//! A push takes the same end of the path: `Conn::push` / [`Emitter`] (`conn.rs`) build a
//! [`SharedFrame`] (encoded at most once per codec), the [`Adapter`] queues it on each
//! member's [`Peer`], and each member's session writes it. Errors are made in `error.rs`;
//! counters, their descriptions and handler timing are in `metrics.rs`.
//!
//! ```no_run
//! use axum::serve::ListenerExt;
//! use wsx_core::server::{Conn, HandlerError, ServerBuilder, State};
//! # wsx_core::define_events! {
//! #     pub events EchoEvents;
//! #     request echo: EchoRequest { text: String } -> EchoResponse { text: String }
//! # }
//!
//! async fn echo(req: EchoRequest) -> Result<EchoResponse, HandlerError> {
//!     Ok(EchoResponse { text: req.text })
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerBuilder::<(), ()>::new(()).on_request::<Echo, _, _>(echo).build()?;
//! let app = axum::Router::new().route("/ws", server.route());
//! // Pushes are small writes: turn Nagle's algorithm off, or each waits for the ACK of
//! // the one before.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?
//!     .tap_io(|tcp| { let _ = tcp.set_nodelay(true); });
//! axum::serve(listener, app).with_graceful_shutdown(server.shutdown_on(tokio::signal::ctrl_c())).await?;
//! # Ok(()) }
//! ```

mod builder;
mod config;
mod conn;
mod error;
mod extract;
pub mod handler;
mod handshake;
mod hooks;
mod inbound;
mod limits;
mod metrics;
mod outbound;
mod peer;
mod rooms;
mod route;
mod session;
mod spare;
mod testing;

#[doc(inline)]
pub use self::metrics::describe_metrics;
#[doc(inline)]
pub use crate::protocol::close_code;
pub use builder::{BuildError, ServerBuilder};
pub use config::ServerConfig;
pub use conn::{Conn, Emitter, PushError};
pub use error::{DisconnectReason, HandlerError, Reject};
pub use extract::{Context, EventName, FromContext, State};
pub use handler::{RequestHandler, SendHandler};
pub use handshake::Handshake;
pub use outbound::SharedFrame;
pub use peer::Peer;
pub use rooms::{
    Adapter, AdapterError, AdapterFuture, ConnId, LocalAdapter, RoomError, RoomInfo, Target,
};
pub use testing::TestClient;

use crate::codec::{Codec, CodecFamily};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use conn::Hub;
use futures::FutureExt;
use hooks::Hooks;
use outbound::Outbound;
use route::Routes;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tracing::Instrument;

#[doc(inline)]
pub use crate::protocol::{SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON};

pub(crate) struct ServerInner<S, C> {
    pub(crate) state: S,
    pub(crate) routes: Routes<S, C>,
    hooks: Hooks<S, C>,
    pub(crate) config: ServerConfig,
    hub: Arc<Hub>,
    /// The next connection id; starts above the adapter's [`Adapter::id_base`]. The
    /// connections themselves are registered in the adapter only.
    next_id: AtomicU64,
    live: AtomicUsize,
    shutting_down: AtomicBool,
    all_closed: tokio::sync::Notify,
    default_codec: Codec,
}

impl<S, C> ServerInner<S, C>
where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Takes a connection slot, unless the server is full or closing.
    fn reserve(&self) -> Result<(), Box<Response>> {
        if self.is_shutting_down() {
            return Err(Box::new(
                (
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "server shutting down",
                )
                    .into_response(),
            ));
        }
        let max = self.config.max_connections;
        let taken = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if taken.is_err() {
            ::metrics::counter!("wsx_connections_refused_total").increment(1);
            return Err(Box::new(
                (
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "too many connections",
                )
                    .into_response(),
            ));
        }
        Ok(())
    }

    fn release(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_closed.notify_waiters();
        }
    }

    /// Opens a session on an upgraded (or in-memory) socket.
    pub(crate) fn open(
        self: &Arc<Self>,
        handshake: Arc<Handshake>,
        state: C,
        family: Option<CodecFamily>,
    ) -> Conn<C> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let codec = match family {
            Some(CodecFamily::Cbor) => Codec::CborRecords,
            Some(CodecFamily::Json) => Codec::JsonText,
            None => self.default_codec,
        };
        let conn = Conn::new(
            id,
            codec,
            (self.config.outbound_queue, self.config.max_queued_bytes),
            state,
            handshake,
            self.hub.clone(),
        );
        self.hub.adapter.connect(conn.peer().clone());
        ::metrics::gauge!("wsx_connections").increment(1.0);
        ::metrics::counter!("wsx_connections_total").increment(1);
        conn
    }
}

impl<S, C> session::Host<S, C> for ServerInner<S, C>
where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    fn routes(&self) -> &Routes<S, C> {
        &self.routes
    }

    fn state(&self) -> &S {
        &self.state
    }

    fn config(&self) -> &ServerConfig {
        &self.config
    }

    fn is_shutting_down(&self) -> bool {
        ServerInner::is_shutting_down(self)
    }

    async fn opened(&self, conn: &Conn<C>) {
        if let Some(hook) = &self.hooks.after_open {
            let fut = hook(conn.clone(), self.state.clone());
            let guarded = AssertUnwindSafe(fut).catch_unwind();
            if Box::pin(guarded.instrument(tracing::info_span!("conn", id = conn.id())))
                .await
                .is_err()
            {
                tracing::error!(conn = conn.id(), "open hook panicked");
            }
        }
    }

    async fn end(&self, conn: Conn<C>, reason: DisconnectReason) {
        if let Some(hook) = &self.hooks.after_close {
            let fut = hook(conn.clone(), self.state.clone(), reason.clone());
            if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                tracing::error!(conn = conn.id(), "disconnect hook panicked");
            }
        }
        self.hub.adapter.disconnect(conn.id());
        ::metrics::gauge!("wsx_connections").decrement(1.0);
        self.release();
    }
}

/// A built server: mount it with [`Server::route`], push with [`Server::to`], stop it
/// with [`Server::shutdown`]. Cheap to clone.
pub struct Server<S, C> {
    inner: Arc<ServerInner<S, C>>,
}

impl<S, C> Clone for Server<S, C> {
    fn clone(&self) -> Self {
        Server {
            inner: self.inner.clone(),
        }
    }
}

impl<S, C> std::fmt::Debug for Server<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("connections", &self.inner.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<S, C> Server<S, C>
where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    /// The axum handler that upgrades to a wsx connection; mount it on any path:
    /// `Router::new().route("/ws", server.route())`.
    pub fn route<RS: Clone + Send + Sync + 'static>(&self) -> axum::routing::MethodRouter<RS> {
        let server = self.clone();
        axum::routing::get(move |req: Request| {
            let server = server.clone();
            async move { server.upgrade(req).await }
        })
    }

    async fn upgrade(self, req: Request) -> Response {
        if let Err(refused) = self.inner.reserve() {
            return *refused;
        }
        let (mut parts, _body) = req.into_parts();
        let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => ws,
            Err(rejection) => {
                self.inner.release();
                return rejection.into_response();
            }
        };
        let offered: Vec<String> = ws
            .requested_protocols()
            .filter_map(|p| p.to_str().ok())
            .map(str::to_owned)
            .collect();
        let ws = ws.protocols([SUBPROTOCOL_JSON, SUBPROTOCOL_CBOR]);
        let protocol = ws
            .selected_protocol()
            .and_then(|p| p.to_str().ok())
            .map(str::to_owned);
        let peer_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let handshake = Arc::new(Handshake::detached(
            &parts.uri,
            &parts.headers,
            peer_addr,
            protocol,
        ));
        drop(parts);
        let family = match handshake.protocol.as_deref() {
            Some(SUBPROTOCOL_CBOR) => Some(CodecFamily::Cbor),
            Some(SUBPROTOCOL_JSON) => Some(CodecFamily::Json),
            _ => match handshake.query("codec").as_deref() {
                Some("cbor") => Some(CodecFamily::Cbor),
                Some("json") => Some(CodecFamily::Json),
                _ => None,
            },
        };
        tracing::trace!(?offered, ?family, "upgrade");
        let state =
            match (self.inner.hooks.before_upgrade)(handshake.clone(), self.inner.state.clone())
                .await
            {
                Ok(state) => state,
                Err(reject) => {
                    self.inner.release();
                    ::metrics::counter!("wsx_connections_rejected_total").increment(1);
                    return (reject.status, reject.message).into_response();
                }
            };
        let config = &self.inner.config;
        let failed = self.clone();
        let server = self.clone();
        ws.read_buffer_size(config.read_buffer_size)
            .write_buffer_size(config.write_buffer_size)
            .max_message_size(config.max_message_size)
            .max_frame_size(config.max_message_size)
            .on_failed_upgrade(move |e| {
                tracing::debug!(%e, "upgrade failed");
                failed.inner.release();
            })
            .on_upgrade(move |socket| server.serve_socket(socket, handshake, state, family))
    }

    /// The task of one connection on an upgraded (or in-memory) socket: registers it, then
    /// runs the session (which runs the open hook first).
    ///
    /// Not an `async fn`: the socket goes straight into the session's future, which
    /// holds it once. Every async layer it passed through by value would keep its own
    /// copy in the connection's task for the connection's whole life.
    pub(crate) fn serve_socket<T: session::Transport + 'static>(
        &self,
        socket: T,
        handshake: Arc<Handshake>,
        state: C,
        family: Option<CodecFamily>,
    ) -> impl Future<Output = ()> + Send + 'static + use<S, C, T> {
        let conn = self.inner.open(handshake, state, family);
        let span = tracing::info_span!("conn", id = conn.id());
        let run = session::run(
            self.inner.clone(),
            conn,
            socket,
            session::Negotiated { family },
        );
        // A disabled span still takes 40 bytes in every connection's task: instrument
        // (boxed) only when something listens.
        if span.is_disabled() {
            futures::future::Either::Left(run)
        } else {
            futures::future::Either::Right(Box::pin(run.instrument(span)))
        }
    }

    /// Pushes to the members of a room (on every node, with a cluster adapter).
    pub fn to(&self, room: &str) -> Emitter {
        self.inner.hub.to_room(room)
    }

    /// Pushes to every connection (on every node, with a cluster adapter).
    pub fn everyone(&self) -> Emitter {
        Emitter::new(self.inner.hub.clone(), Target::All { except: None })
    }

    /// Pushes to one connection (on whichever node holds it, with a cluster adapter).
    pub fn to_conn(&self, id: ConnId) -> Emitter {
        self.inner.hub.to_conn(id)
    }

    /// A connection of this node by id.
    pub fn connection(&self, id: ConnId) -> Option<Conn<C>> {
        Conn::of_peer(&*self.inner.hub.adapter.peer(id)?)
    }

    /// Every open connection of this node.
    pub fn connections(&self) -> Vec<Conn<C>> {
        self.inner
            .hub
            .adapter
            .peers()
            .iter()
            .filter_map(|peer| Conn::of_peer(peer))
            .collect()
    }

    /// How many connections of this node are open or being opened.
    pub fn connection_count(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Every room with a member on this node, with this node's member count.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        self.inner.hub.adapter.rooms()
    }

    /// The members of a room on this node, sorted.
    pub fn members(&self, room: &str) -> Vec<ConnId> {
        self.inner.hub.adapter.members(room)
    }

    /// How many members of a room are on this node.
    pub fn count(&self, room: &str) -> usize {
        self.inner.hub.adapter.count(room)
    }

    /// The members of a room on every node, sorted (one backend query with a cluster
    /// adapter; this node's at once with [`LocalAdapter`]).
    pub async fn cluster_members(&self, room: &str) -> Result<Vec<ConnId>, AdapterError> {
        self.inner.hub.adapter.cluster_members(room).await
    }

    /// How many members a room has on every node.
    pub async fn cluster_count(&self, room: &str) -> Result<usize, AdapterError> {
        self.inner.hub.adapter.cluster_count(room).await
    }

    /// Every room with a member on some node, with its members on every node.
    pub async fn cluster_rooms(&self) -> Result<Vec<RoomInfo>, AdapterError> {
        self.inner.hub.adapter.cluster_rooms().await
    }

    /// How many connections every node has together.
    pub async fn cluster_connections(&self) -> Result<usize, AdapterError> {
        self.inner.hub.adapter.cluster_connections().await
    }

    /// The adapter that keeps this server's connections and rooms.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.inner.hub.adapter
    }

    /// The app state.
    pub fn state(&self) -> &S {
        &self.inner.state
    }

    /// The limits in force.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Graceful shutdown: refuse new connections, queue a close (1001, "server shutting
    /// down") behind what each connection already has queued, wait for them to flush
    /// and close up to [`ServerConfig::shutdown_deadline`], drop the rest, then run the
    /// shutdown hook.
    pub async fn shutdown(&self) {
        if self.inner.shutting_down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::info!(connections = self.connection_count(), "shutting down");
        for conn in self.connections() {
            conn.peer().enqueue(Outbound::Close {
                code: close_code::GOING_AWAY,
                reason: "server shutting down".into(),
            });
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.shutdown_deadline;
        while self.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            let closed = self.inner.all_closed.notified();
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + std::time::Duration::from_millis(50)),
                closed,
            )
            .await;
        }
        for conn in self.connections() {
            conn.peer()
                .kill(close_code::GOING_AWAY, "server shutting down");
        }
        if let Some(hook) = &self.inner.hooks.after_shutdown {
            hook(self.inner.state.clone()).await;
        }
    }

    /// A future for axum's `with_graceful_shutdown`: waits for `signal`, then runs
    /// [`Server::shutdown`].
    pub fn shutdown_on<F>(&self, signal: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future + Send + 'static,
    {
        let server = self.clone();
        async move {
            signal.await;
            server.shutdown().await;
        }
    }

    /// An in-process client for tests: no socket, the real dispatcher.
    pub async fn test_client(&self) -> Result<TestClient, Reject> {
        self.test_client_with(Handshake::default()).await
    }

    /// An in-process client with a given handshake (headers, query), through the
    /// connect hook.
    pub async fn test_client_with(&self, handshake: Handshake) -> Result<TestClient, Reject> {
        let handshake = Arc::new(handshake);
        if self.inner.reserve().is_err() {
            return Err(Reject {
                status: http::StatusCode::SERVICE_UNAVAILABLE,
                message: "server full".into(),
            });
        }
        let state =
            match (self.inner.hooks.before_upgrade)(handshake.clone(), self.inner.state.clone())
                .await
            {
                Ok(s) => s,
                Err(r) => {
                    self.inner.release();
                    return Err(r);
                }
            };
        let (client, socket) = testing::pair();
        let server = self.clone();
        tokio::spawn(async move {
            server
                .serve_socket(socket, handshake, state, Some(CodecFamily::Json))
                .await
        });
        Ok(client)
    }
}
