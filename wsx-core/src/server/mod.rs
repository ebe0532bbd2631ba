//! The server: maps the events of a `define_events!` set to async handlers, on axum.
//!
//! # Layout
//! - [`ServerBuilder`] registers one handler per event ([`handler`] explains their shape),
//!   the connect / disconnect / shutdown hooks and the [`ServerConfig`].
//! - [`Server`] mounts into an ordinary axum `Router` ([`Server::route`]), pushes to
//!   rooms ([`Server::to`]) and shuts down gracefully ([`Server::shutdown`]).
//! - [`Conn`] is a connection as handlers see it: id, typed state, pushes, rooms.
//! - [`Adapter`] keeps rooms; [`LocalAdapter`] is the in-process default.
//! - [`TestClient`] drives a server without a socket.
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

mod config;
mod conn;
mod error;
mod extract;
pub mod handler;
mod handshake;
mod inbound;
mod limits;
mod outbound;
mod rooms;
mod session;
mod testing;

#[doc(inline)]
pub use crate::protocol::close_code;
pub use config::ServerConfig;
pub use conn::{Conn, Emitter, PushError};
pub use error::{DisconnectReason, HandlerError, Reject};
pub use extract::{Context, EventName, FromContext, State};
pub use handler::{RequestHandler, SendHandler};
pub use handshake::Handshake;
pub use outbound::SharedFrame;
pub use rooms::{Adapter, ConnId, LocalAdapter, Peer, RoomError, RoomInfo, Target};
pub use testing::TestClient;

use crate::codec::{Codec, CodecFamily};
use crate::error::{ErrorCode, WireError};
use crate::event::{EventKind, RequestEvent, SendEvent};
use crate::protocol::OutFrame;
use crate::validate;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use conn::Hub;
use futures::FutureExt;
use futures::future::BoxFuture;
use inbound::Inbound;
use outbound::Outbound;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tracing::Instrument;

#[doc(inline)]
pub use crate::protocol::{SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON};

/// An event's handler, type-erased: it decodes the payload, calls the handler and polls
/// it once ([`Started`]). `None` when the payload turned out not to be one JSON value
/// (see `InPayload::decode`): the caller decodes the frame the owned way and calls again.
type ErasedHandler<S, C> =
    Arc<dyn Fn(&Context<'_, S, C>, Inbound<'_>) -> Option<Started> + Send + Sync>;

/// A handler, once started: what it queues (a reply, an error, or nothing) if it
/// finished on its first poll, as most do, else the rest of its work.
pub(crate) enum Started {
    /// Finished on the first poll.
    Done(Option<Outbound>),
    /// Waiting: the session polls it again when it wakes.
    Waiting(BoxFuture<'static, Option<Outbound>>),
}
type ConnectHook<S, C> =
    Arc<dyn Fn(Arc<Handshake>, S) -> BoxFuture<'static, Result<C, Reject>> + Send + Sync>;
type OpenHook<S, C> = Arc<dyn Fn(Conn<C>, S) -> BoxFuture<'static, ()> + Send + Sync>;
type DisconnectHook<S, C> =
    Arc<dyn Fn(Conn<C>, S, DisconnectReason) -> BoxFuture<'static, ()> + Send + Sync>;
type ShutdownHook<S> = Arc<dyn Fn(S) -> BoxFuture<'static, ()> + Send + Sync>;

/// The handlers by event name. Hashed with foldhash: the names are fixed when the server
/// is built, and SipHash of the name was ~0.8% of the echo server.
type Routes<S, C> = HashMap<&'static str, Route<S, C>, foldhash::fast::RandomState>;

pub(crate) struct Route<S, C> {
    pub(crate) name: &'static str,
    pub(crate) kind: EventKind,
    pub(crate) handler: ErasedHandler<S, C>,
    frames_in: std::sync::OnceLock<metrics::Counter>,
}

impl<S, C> Route<S, C> {
    /// The route's `wsx_frames_in_total` counter, looked up on first use.
    pub(crate) fn frames_in(&self) -> &metrics::Counter {
        self.frames_in
            .get_or_init(|| metrics::counter!("wsx_frames_in_total", "event" => self.name))
    }
}

/// A mistake found when building a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Two handlers for one event.
    #[error("event `{0}` has two handlers; register exactly one")]
    DuplicateHandler(&'static str),
    /// The JSON Schema of an event's payload does not compile (a bug in the schema).
    #[error("the schema of event `{event}` does not compile: {message}")]
    Schema {
        /// The event.
        event: &'static str,
        /// What the schema compiler said.
        message: String,
    },
}

/// Builds a [`Server`]: handlers, hooks, limits.
///
/// `S` is the app state every handler can take as [`State<S>`]; `C` the per-connection
/// state, created by the connect hook (default: `C::default()`).
pub struct ServerBuilder<S, C> {
    state: S,
    routes: Routes<S, C>,
    errors: Vec<BuildError>,
    connect: ConnectHook<S, C>,
    open: Option<OpenHook<S, C>>,
    disconnect: Option<DisconnectHook<S, C>>,
    shutdown: Option<ShutdownHook<S>>,
    config: ServerConfig,
    adapter: Option<Arc<dyn Adapter>>,
    default_codec: Codec,
}

impl<S, C> std::fmt::Debug for ServerBuilder<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("events", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<S, C> ServerBuilder<S, C>
where
    S: Clone + Send + Sync + 'static,
    C: Default + Send + Sync + 'static,
{
    /// A builder with the app state; connections start with `C::default()`.
    pub fn new(state: S) -> Self {
        ServerBuilder {
            state,
            routes: Routes::default(),
            errors: Vec::new(),
            connect: Arc::new(|_, _| Box::pin(std::future::ready(Ok(C::default())))),
            open: None,
            disconnect: None,
            shutdown: None,
            config: ServerConfig::default(),
            adapter: None,
            default_codec: Codec::JsonText,
        }
    }
}

impl<S, C> ServerBuilder<S, C>
where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    fn add_route(&mut self, name: &'static str, kind: EventKind, handler: ErasedHandler<S, C>) {
        if self.routes.contains_key(name) {
            self.errors.push(BuildError::DuplicateHandler(name));
            return;
        }
        self.routes.insert(
            name,
            Route {
                name,
                kind,
                handler,
                frames_in: std::sync::OnceLock::new(),
            },
        );
    }

    /// The compiled validator of a payload type, or a build error naming the event.
    fn validator_of<T: crate::event::Payload>(
        &mut self,
        event: &'static str,
    ) -> Option<&'static validate::Validator> {
        match validate::validator::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(BuildError::Schema {
                    event,
                    message: e.to_string(),
                });
                None
            }
        }
    }

    /// Registers the handler of request event `E`.
    ///
    /// The payload's validator is compiled here, once: a schema that does not compile is
    /// a [`BuildError::Schema`], not a failure of the first request.
    pub fn on_request<E, H, Args>(mut self, handler: H) -> Self
    where
        E: RequestEvent,
        H: RequestHandler<E, S, C, Args>,
    {
        let validate_outgoing = self.config.validate_outgoing;
        let (Some(incoming), outgoing) = (
            self.validator_of::<E::Payload>(E::NAME),
            self.validator_of::<E::Response>(E::NAME),
        ) else {
            return self;
        };
        let outgoing = outgoing.filter(|_| validate_outgoing);
        let seconds = HandlerSeconds::default();
        let known_valid = E::TYPED_CHECK.then_some(E::known_valid as fn(&E::Payload) -> bool);
        // The JSON `response_ok` of this event up to its `id`, built once.
        let ok_prefix = match ok_prefix_of(E::NAME) {
            Ok(prefix) => prefix,
            Err(e) => {
                self.errors.push(BuildError::Schema {
                    event: E::NAME,
                    message: e.to_string(),
                });
                return self;
            }
        };
        let erased: ErasedHandler<S, C> = Arc::new(
            move |ctx: &Context<'_, S, C>, inbound: Inbound<'_>| {
                let timer = seconds.start(E::NAME);
                let codec = ctx.conn.codec();
                let Inbound { w, p, .. } = inbound;
                // Decoded here, while the payload is borrowed from the message, and the
                // handler called here, while the context is borrowed from the session:
                // its future holds only what the handler took.
                let called = match p.decode::<E::Payload>(incoming, known_valid)? {
                    Err(e) => Err(e.to_wire()),
                    Ok(payload) => guard_call(|| handler.clone().call(ctx, payload)),
                };
                let reply = move |result: Result<Result<E::Response, HandlerError>, WireError>,
                                  id: Option<&str>| {
                    let x = E::NAME;
                    let result = result.and_then(|r| {
                        let resp = r.map_err(|e| e.to_wire())?;
                        if let Some(outgoing) = outgoing {
                            if let Err(e) = validate::check_with(outgoing, &resp) {
                                tracing::error!(event = E::NAME, error = %e, "response breaks its own schema");
                                return Err(WireError::new(ErrorCode::Internal, "response breaks its schema"));
                            }
                        }
                        Ok(resp)
                    });
                    let encoded = match &result {
                        Ok(resp) => Outbound::encode_ok(codec, ok_prefix, x, id, w.as_ref(), resp),
                        Err(wire) => {
                            Outbound::encode(codec, &OutFrame::error(x, id, w.as_ref(), wire))
                        }
                    };
                    if let Err(wire) = &result {
                        let code = wire.code.map(|c| c.as_str()).unwrap_or("error");
                        metrics::counter!("wsx_errors_total", "code" => code).increment(1);
                        tracing::debug!(code, message = %wire.message, "request failed");
                    }
                    timer.stop();
                    match encoded {
                        Ok(item) => Some(item),
                        Err(e) => {
                            tracing::error!(event = E::NAME, %e, "response could not be encoded");
                            let wire = WireError::new(
                                ErrorCode::Internal,
                                "response could not be encoded",
                            );
                            Outbound::encode(codec, &OutFrame::error(x, id, w.as_ref(), &wire)).ok()
                        }
                    }
                };
                Some(start_handler(called, ctx.request_id, reply, || {
                    tracing::debug_span!("request", event = E::NAME)
                }))
            },
        );
        self.add_route(E::NAME, EventKind::Request, erased);
        self
    }

    /// Registers the handler of one-way event `E`.
    pub fn on_send<E, H, Args>(mut self, handler: H) -> Self
    where
        E: SendEvent,
        H: SendHandler<E, S, C, Args>,
    {
        let Some(incoming) = self.validator_of::<E::Payload>(E::NAME) else {
            return self;
        };
        let seconds = HandlerSeconds::default();
        let known_valid = E::TYPED_CHECK.then_some(E::known_valid as fn(&E::Payload) -> bool);
        let erased: ErasedHandler<S, C> =
            Arc::new(move |ctx: &Context<'_, S, C>, inbound: Inbound<'_>| {
                let timer = seconds.start(E::NAME);
                let codec = ctx.conn.codec();
                let called = match inbound.p.decode::<E::Payload>(incoming, known_valid)? {
                    Err(e) => {
                        let mut wire = e.to_wire();
                        wire.message = format!("event `{}`: {}", E::NAME, wire.message);
                        Err(wire)
                    }
                    Ok(payload) => guard_call(|| handler.clone().call(ctx, payload)),
                };
                let report = move |result: Result<(), WireError>, _: Option<&str>| {
                    timer.stop();
                    let wire = result.err()?;
                    if let Some(code) = wire.code {
                        metrics::counter!("wsx_errors_total", "code" => code.as_str()).increment(1);
                    }
                    Outbound::encode(codec, &OutFrame::error_push(&wire)).ok()
                };
                Some(start_handler(called, None, report, || {
                    tracing::debug_span!("send", event = E::NAME)
                }))
            });
        self.add_route(E::NAME, EventKind::Send, erased);
        self
    }

    /// Runs before the upgrade: authenticate, check the `Origin`, and build the
    /// connection's state. A [`Reject`] answers the upgrade with its HTTP status.
    pub fn on_connect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<Handshake>, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, Reject>> + Send + 'static,
    {
        self.connect = Arc::new(move |h, s| Box::pin(hook(h, s)));
        self
    }

    /// Runs when a connection is open, before its first frame is read: greet it, put it
    /// in rooms. Pushes made here are the first frames the client receives.
    pub fn on_open<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Conn<C>, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.open = Some(Arc::new(move |c, s| Box::pin(hook(c, s))));
        self
    }

    /// Runs when a connection ends, before it leaves its rooms (so the app can tell
    /// them, e.g. push `userLeft`).
    pub fn on_disconnect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Conn<C>, S, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.disconnect = Some(Arc::new(move |c, s, r| Box::pin(hook(c, s, r))));
        self
    }

    /// Runs once during graceful shutdown, after every connection closed (or the
    /// deadline passed): persist state here.
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.shutdown = Some(Arc::new(move |s| Box::pin(hook(s))));
        self
    }

    /// Sets the limits (see [`ServerConfig`] for the defaults).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses another room adapter than [`LocalAdapter`].
    pub fn adapter(mut self, adapter: impl Adapter) -> Self {
        self.adapter = Some(Arc::new(adapter));
        self
    }

    /// The codec of pushes sent before the client's first frame tells its own, when no
    /// subprotocol or `codec=` query fixed it. Default [`Codec::JsonText`].
    pub fn default_codec(mut self, codec: Codec) -> Self {
        self.default_codec = codec;
        self
    }

    /// Checks the registrations and builds the server.
    pub fn build(self) -> Result<Server<S, C>, BuildError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        // Calibrated here rather than on the first request.
        handler_clock();
        let hub = Arc::new(Hub {
            adapter: self
                .adapter
                .unwrap_or_else(|| Arc::new(LocalAdapter::new())),
            max_rooms: self.config.max_rooms_per_connection,
            validate_outgoing: self.config.validate_outgoing,
        });
        Ok(Server {
            inner: Arc::new(ServerInner {
                state: self.state,
                routes: self.routes,
                connect: self.connect,
                open_hook: self.open,
                disconnect: self.disconnect,
                shutdown_hook: self.shutdown,
                config: self.config,
                hub,
                conns: RwLock::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                live: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                all_closed: tokio::sync::Notify::new(),
                default_codec: self.default_codec,
            }),
        })
    }
}

/// Polls a handler's future once and, if it finished, hands its result to `finish` (which
/// encodes the reply) at once: no box, no future around it. A handler that waits is
/// boxed with `finish` behind it, inside its span only when the span is enabled (a
/// disabled span still costs an enter and an exit on every poll).
///
/// That first poll is outside tokio's cooperative budget: a handler always runs up to
/// its first real wait now, in arrival order. Within a long read burst the budget runs
/// out, and a handler refused by it would only reach its first lock later, after
/// handlers of frames that came after it (with several in flight, a sender's messages
/// then took their numbers out of order). A waiting handler is polled again by the
/// session's set of running handlers, which registers the real waker.
fn start_handler<F>(
    called: Result<F, WireError>,
    id: Option<&str>,
    finish: impl FnOnce(Result<F::Output, WireError>, Option<&str>) -> Option<Outbound> + Send + 'static,
    span: impl FnOnce() -> tracing::Span,
) -> Started
where
    F: Future + Send + 'static,
{
    let span = span();
    // The reply of a handler that finished is encoded in its span too.
    let entered = span.enter();
    let mut fut = match called {
        Ok(fut) => Box::pin(fut),
        Err(wire) => return Started::Done(finish(Err(wire), id)),
    };
    if let Some(result) = tokio::task::unconstrained(guarded(fut.as_mut())).now_or_never() {
        return Started::Done(finish(result, id));
    }
    drop(entered);
    // Only a handler that waits needs its own copy of the request id (inline up to 23
    // bytes).
    let id = id.map(smol_str::SmolStr::new);
    let rest = async move { finish(guarded(fut).await, id.as_deref()) };
    Started::Waiting(if span.is_disabled() {
        Box::pin(rest)
    } else {
        Box::pin(rest.instrument(span))
    })
}

/// The `wsx_handler_seconds` histogram of one event, looked up once (on first use, after
/// the app installed its recorder) rather than once per message.
#[derive(Clone, Default)]
struct HandlerSeconds(Arc<std::sync::OnceLock<metrics::Histogram>>);

impl HandlerSeconds {
    /// Starts timing one call.
    fn start(&self, event: &'static str) -> HandlerTimer {
        let histogram = self
            .0
            .get_or_init(|| metrics::histogram!("wsx_handler_seconds", "event" => event))
            .clone();
        HandlerTimer {
            histogram,
            started: handler_clock().raw(),
        }
    }
}

/// One call being timed.
struct HandlerTimer {
    histogram: metrics::Histogram,
    started: u64,
}

impl HandlerTimer {
    /// Records the time since [`HandlerSeconds::start`].
    fn stop(self) {
        let clock = handler_clock();
        let nanos = clock.delta_as_nanos(self.started, clock.raw());
        self.histogram.record(nanos as f64 * 1e-9);
    }
}

/// The clock handlers are timed with: the CPU's time-stamp counter where it is steady
/// (quanta checks), calibrated once per process when the first server is built. Two
/// reads of the system clock per request were ~3% of the echo server's time; two
/// counter reads are a fraction of that.
fn handler_clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// What a handler's panic is answered with.
fn handler_failed() -> WireError {
    tracing::error!("handler panicked");
    WireError::new(ErrorCode::Internal, "internal error: the handler failed")
}

/// Calls a handler (its extractors and whatever it does before returning its future),
/// turning a panic into an internal error.
fn guard_call<Fut>(call: impl FnOnce() -> Fut) -> Result<Fut, WireError> {
    std::panic::catch_unwind(AssertUnwindSafe(call)).map_err(|_| handler_failed())
}

/// Runs a handler's future, turning a panic while polling it into an internal error.
async fn guarded<Fut: Future>(fut: Fut) -> Result<Fut::Output, WireError> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|_| handler_failed())
}

/// The JSON `response_ok` prefix of an event (see
/// [`json_ok_prefix`](crate::codec::json_ok_prefix)), made once per event name in a
/// process and kept for its life, so a reply borrows it instead of counting references
/// to it: the names are `'static` and few, so is the memory.
fn ok_prefix_of(name: &'static str) -> Result<&'static str, serde_json::Error> {
    static PREFIXES: std::sync::LazyLock<
        std::sync::Mutex<HashMap<&'static str, &'static str, foldhash::fast::RandomState>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut prefixes = PREFIXES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(prefix) = prefixes.get(name) {
        return Ok(prefix);
    }
    let prefix: &'static str = Box::leak(crate::codec::json_ok_prefix(name)?.into_boxed_str());
    prefixes.insert(name, prefix);
    Ok(prefix)
}

pub(crate) struct ServerInner<S, C> {
    pub(crate) state: S,
    pub(crate) routes: Routes<S, C>,
    connect: ConnectHook<S, C>,
    open_hook: Option<OpenHook<S, C>>,
    disconnect: Option<DisconnectHook<S, C>>,
    shutdown_hook: Option<ShutdownHook<S>>,
    pub(crate) config: ServerConfig,
    hub: Arc<Hub>,
    conns: RwLock<HashMap<ConnId, Conn<C>>>,
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
            metrics::counter!("wsx_connections_refused_total").increment(1);
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
        let peer = Arc::new(Peer::with_limits(
            id,
            codec,
            self.config.outbound_queue,
            self.config.max_queued_bytes,
        ));
        self.hub.adapter.connect(peer.clone());
        let conn = Conn::new(peer, state, handshake, self.hub.clone());
        if let Ok(mut conns) = self.conns.write() {
            conns.insert(id, conn.clone());
        }
        metrics::gauge!("wsx_connections").increment(1.0);
        metrics::counter!("wsx_connections_total").increment(1);
        conn
    }

    pub(crate) async fn finish(&self, conn: Conn<C>, reason: DisconnectReason) {
        if let Some(hook) = &self.disconnect {
            let fut = hook(conn.clone(), self.state.clone(), reason.clone());
            if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                tracing::error!(conn = conn.id(), "disconnect hook panicked");
            }
        }
        self.hub.adapter.disconnect(conn.id());
        if let Ok(mut conns) = self.conns.write() {
            conns.remove(&conn.id());
        }
        metrics::gauge!("wsx_connections").decrement(1.0);
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
        let state = match (self.inner.connect)(handshake.clone(), self.inner.state.clone()).await {
            Ok(state) => state,
            Err(reject) => {
                self.inner.release();
                metrics::counter!("wsx_connections_rejected_total").increment(1);
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
            .on_upgrade(move |socket| async move {
                server.serve_socket(socket, handshake, state, family).await;
            })
    }

    pub(crate) async fn serve_socket<T: session::Transport>(
        &self,
        socket: T,
        handshake: Arc<Handshake>,
        state: C,
        family: Option<CodecFamily>,
    ) {
        let conn = self.inner.open(handshake, state, family);
        if let Some(hook) = &self.inner.open_hook {
            let fut = hook(conn.clone(), self.inner.state.clone());
            let guarded = AssertUnwindSafe(fut).catch_unwind();
            if Box::pin(guarded.instrument(tracing::info_span!("conn", id = conn.id())))
                .await
                .is_err()
            {
                tracing::error!(conn = conn.id(), "open hook panicked");
            }
        }
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
            drop(span);
            run.await;
        } else {
            Box::pin(run.instrument(span)).await;
        }
    }

    /// Pushes to the members of a room.
    pub fn to(&self, room: &str) -> Emitter {
        Emitter::new(
            self.inner.hub.clone(),
            Target::Room {
                room: room.to_owned(),
                except: None,
            },
        )
    }

    /// Pushes to every connection.
    pub fn everyone(&self) -> Emitter {
        Emitter::new(self.inner.hub.clone(), Target::All { except: None })
    }

    /// Pushes to one connection.
    pub fn to_conn(&self, id: ConnId) -> Emitter {
        Emitter::new(self.inner.hub.clone(), Target::Conn(id))
    }

    /// A connection by id.
    pub fn connection(&self, id: ConnId) -> Option<Conn<C>> {
        self.inner
            .conns
            .read()
            .ok()
            .and_then(|c| c.get(&id).cloned())
    }

    /// Every open connection.
    pub fn connections(&self) -> Vec<Conn<C>> {
        self.inner
            .conns
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many connections are open or being opened.
    pub fn connection_count(&self) -> usize {
        self.inner.live.load(Ordering::Acquire)
    }

    /// Every non-empty room with its member count.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        self.inner.hub.adapter.rooms()
    }

    /// The members of a room.
    pub fn members(&self, room: &str) -> Vec<ConnId> {
        self.inner.hub.adapter.members(room)
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
        if let Some(hook) = &self.inner.shutdown_hook {
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
        let state = match (self.inner.connect)(handshake.clone(), self.inner.state.clone()).await {
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
