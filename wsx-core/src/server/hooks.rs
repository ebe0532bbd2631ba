//! The app's hooks around a connection's life and the server's, named for when they run.
//!
//! In order: [`Hooks::before_upgrade`] (the HTTP upgrade request, before it is accepted),
//! [`Hooks::after_open`] (the connection is open, before its first frame is read),
//! [`Hooks::after_close`] (the connection ended, before it leaves its rooms), and once per
//! server [`Hooks::after_shutdown`] (every connection closed, or the deadline passed).
//! [`ServerBuilder`](super::ServerBuilder)'s `on_connect`, `on_open`, `on_disconnect` and
//! `on_shutdown` set them.

use super::conn::Conn;
use super::error::{DisconnectReason, Reject};
use super::handshake::Handshake;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Builds a connection's state from its upgrade request, or refuses it.
pub(crate) type UpgradeHook<S, C> =
    Arc<dyn Fn(Arc<Handshake>, S) -> BoxFuture<'static, Result<C, Reject>> + Send + Sync>;
/// Runs with an open connection.
pub(crate) type ConnHook<S, C> = Arc<dyn Fn(Conn<C>, S) -> BoxFuture<'static, ()> + Send + Sync>;
/// Runs with a connection that ended, and why.
pub(crate) type CloseHook<S, C> =
    Arc<dyn Fn(Conn<C>, S, DisconnectReason) -> BoxFuture<'static, ()> + Send + Sync>;
/// Runs with the app state.
pub(crate) type StateHook<S> = Arc<dyn Fn(S) -> BoxFuture<'static, ()> + Send + Sync>;

/// The app's hooks (see the [module docs](self)).
pub(crate) struct Hooks<S, C> {
    /// On the upgrade request, before it is accepted: authenticates and builds the
    /// connection's state (`on_connect`; default `C::default()`).
    pub(crate) before_upgrade: UpgradeHook<S, C>,
    /// Once the connection is open, before its first frame is read (`on_open`).
    pub(crate) after_open: Option<ConnHook<S, C>>,
    /// Once the connection ended, before it leaves its rooms (`on_disconnect`).
    pub(crate) after_close: Option<CloseHook<S, C>>,
    /// Once per server, at the end of a graceful shutdown (`on_shutdown`).
    pub(crate) after_shutdown: Option<StateHook<S>>,
}

impl<S, C: Default + Send + 'static> Hooks<S, C> {
    /// No hooks: every connection starts with `C::default()`.
    pub(crate) fn new() -> Self {
        Hooks {
            before_upgrade: Arc::new(|_, _| Box::pin(std::future::ready(Ok(C::default())))),
            after_open: None,
            after_close: None,
            after_shutdown: None,
        }
    }
}
