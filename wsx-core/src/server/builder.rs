//! [`ServerBuilder`]: handlers, hooks, limits and the adapter, checked and turned into a
//! [`Server`] by [`ServerBuilder::build`].

use super::conn::Hub;
use super::hooks::Hooks;
use super::metrics::handler_clock;
use super::route::{ErasedHandler, RequestRoute, Route, Routes, SendRoute, ok_prefix_of};
use super::{
    Adapter, Conn, DisconnectReason, Handshake, LocalAdapter, Reject, RequestHandler, SendHandler,
    Server, ServerConfig, ServerInner, describe_metrics,
};
use crate::codec::Codec;
use crate::event::{EventKind, RequestEvent, SendEvent};
use crate::validate;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

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
/// `S` is the app state every handler can take as [`State<S>`](super::State); `C` the per-connection
/// state, created by the connect hook (default: `C::default()`).
pub struct ServerBuilder<S, C> {
    state: S,
    routes: Routes<S, C>,
    errors: Vec<BuildError>,
    hooks: Hooks<S, C>,
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
            hooks: Hooks::new(),
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
    fn add_route(
        &mut self,
        name: &'static str,
        kind: EventKind,
        handler: Box<dyn ErasedHandler<S, C>>,
    ) {
        if self.routes.contains_key(name) {
            self.errors.push(BuildError::DuplicateHandler(name));
            return;
        }
        self.routes.insert(name, Route::new(name, kind, handler));
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
        Args: 'static,
    {
        let validate_outgoing = self.config.validate_outgoing;
        let (Some(incoming), outgoing) = (
            self.validator_of::<E::Payload>(E::NAME),
            self.validator_of::<E::Response>(E::NAME),
        ) else {
            return self;
        };
        let outgoing = outgoing.filter(|_| validate_outgoing);
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
        let route = RequestRoute::<E, H, Args>::new(handler, incoming, outgoing, ok_prefix);
        self.add_route(E::NAME, EventKind::Request, Box::new(route));
        self
    }

    /// Registers the handler of one-way event `E`.
    pub fn on_send<E, H, Args>(mut self, handler: H) -> Self
    where
        E: SendEvent,
        H: SendHandler<E, S, C, Args>,
        Args: 'static,
    {
        let Some(incoming) = self.validator_of::<E::Payload>(E::NAME) else {
            return self;
        };
        let route = SendRoute::<E, H, Args>::new(handler, incoming);
        self.add_route(E::NAME, EventKind::Send, Box::new(route));
        self
    }

    /// Runs on the HTTP upgrade request, before it is accepted (so before
    /// [`on_open`](Self::on_open)): authenticate, check the `Origin`, and build the
    /// connection's state. A [`Reject`] answers the upgrade with its HTTP status.
    pub fn on_connect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<Handshake>, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, Reject>> + Send + 'static,
    {
        self.hooks.before_upgrade = Arc::new(move |h, s| Box::pin(hook(h, s)));
        self
    }

    /// Runs once the connection is open, before its first frame is read: greet it, put
    /// it in rooms. Pushes made here are the first frames the client receives.
    pub fn on_open<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Conn<C>, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.after_open = Some(Arc::new(move |c, s| Box::pin(hook(c, s))));
        self
    }

    /// Runs once a connection ended (whoever closed it), before it leaves its rooms (so
    /// the app can tell them, e.g. push `userLeft`).
    pub fn on_disconnect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Conn<C>, S, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.after_close = Some(Arc::new(move |c, s, r| Box::pin(hook(c, s, r))));
        self
    }

    /// Runs once during graceful shutdown, after every connection closed (or the
    /// deadline passed): persist state here.
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.after_shutdown = Some(Arc::new(move |s| Box::pin(hook(s))));
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
        describe_metrics();
        let adapter = self
            .adapter
            .unwrap_or_else(|| Arc::new(LocalAdapter::new()));
        let first_id = adapter.id_base() + 1;
        let hub = Arc::new(Hub {
            adapter,
            max_rooms: self.config.max_rooms_per_connection,
            validate_outgoing: self.config.validate_outgoing,
            handler_timing: self.config.handler_timing,
        });
        Ok(Server {
            inner: Arc::new(ServerInner {
                state: self.state,
                routes: self.routes,
                hooks: self.hooks,
                config: self.config,
                hub,
                next_id: AtomicU64::new(first_id),
                live: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                all_closed: tokio::sync::Notify::new(),
                default_codec: self.default_codec,
            }),
        })
    }
}
