//! Handlers: plain async functions, typed by their event.
//!
//! A request handler takes any number of [extractors](super::FromContext) and then the
//! event's payload, and returns `Result<Response, E>` with `E: Into<HandlerError>`. A
//! one-way handler does the same and returns `()`.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use wsx_core::server::{Conn, HandlerError, ServerBuilder, State};
//!
//! wsx_core::define_events! {
//!     pub events Chat;
//!     request join: JoinRequest { username: String.min(1) } -> JoinResponse { users: Vec<String> }
//!     send typing: Typing { active: bool }
//! }
//!
//! #[derive(Clone, Default)]
//! struct App { users: Arc<Mutex<Vec<String>>> }
//!
//! async fn join(State(app): State<App>, req: JoinRequest) -> Result<JoinResponse, HandlerError> {
//!     let mut users = app.users.lock().map_err(|_| HandlerError::new("poisoned"))?;
//!     users.push(req.username);
//!     Ok(JoinResponse { users: users.clone() })
//! }
//!
//! async fn typing(conn: Conn<()>, t: Typing) {
//!     tracing::debug!(conn = conn.id(), active = t.active, "typing");
//! }
//!
//! let server = ServerBuilder::<App, ()>::new(App::default())
//!     .on_request::<Join, _, _>(join)
//!     .on_send::<Typing, _, _>(typing)
//!     .build();
//! assert!(server.is_ok());
//! ```

use super::error::HandlerError;
use super::extract::{Context, FromContext};
use crate::event::{RequestEvent, SendEvent};
use futures::TryFutureExt;
use futures::future::{Either, MapErr};
use std::future::{Future, Ready};

/// An async function that answers request event `E`.
#[diagnostic::on_unimplemented(
    message = "this function is not a request handler for event `{E}`",
    label = "not a request handler for this event",
    note = "a request handler is an `async fn` taking extractors (`State<S>`, `Conn<C>`, `Arc<Handshake>`, `EventName`) and then the event's request payload as its last argument",
    note = "it must return `Result<Response, E>` where `Response` is the event's response type and `E: Into<HandlerError>`",
    note = "the function and its future must be `Send + 'static`"
)]
pub trait RequestHandler<E: RequestEvent, S, C, Args>: Clone + Send + Sync + 'static {
    /// The future of one call: the handler's own future, not boxed again.
    type Future: Future<Output = Result<E::Response, HandlerError>> + Send + 'static;

    /// Runs the handler.
    fn call(self, ctx: &Context<'_, S, C>, payload: E::Payload) -> Self::Future;
}

/// An async function that handles one-way event `E`.
#[diagnostic::on_unimplemented(
    message = "this function is not a handler for one-way event `{E}`",
    label = "not a one-way handler for this event",
    note = "a one-way handler is an `async fn` taking extractors (`State<S>`, `Conn<C>`, `Arc<Handshake>`, `EventName`) and then the event's payload as its last argument, returning `()`",
    note = "the function and its future must be `Send + 'static`"
)]
pub trait SendHandler<E: SendEvent, S, C, Args>: Clone + Send + Sync + 'static {
    /// The future of one call.
    type Future: Future<Output = ()> + Send + 'static;

    /// Runs the handler.
    fn call(self, ctx: &Context<'_, S, C>, payload: E::Payload) -> Self::Future;
}

macro_rules! impl_handlers {
    ($($ty:ident),*) => {
        impl<F, Fut, Er, E, S, C, $($ty,)*> RequestHandler<E, S, C, ($($ty,)*)> for F
        where
            E: RequestEvent,
            F: FnOnce($($ty,)* E::Payload) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<E::Response, Er>> + Send + 'static,
            Er: Into<HandlerError> + 'static,
            $($ty: FromContext<S, C> + Send,)*
        {
            type Future = Either<
                Ready<Result<E::Response, HandlerError>>,
                MapErr<Fut, fn(Er) -> HandlerError>,
            >;

            #[allow(non_snake_case, unused_variables)]
            fn call(self, ctx: &Context<'_, S, C>, payload: E::Payload) -> Self::Future {
                $(
                    let $ty = match $ty::from_context(ctx) {
                        Ok(v) => v,
                        Err(e) => return Either::Left(std::future::ready(Err(e))),
                    };
                )*
                let into: fn(Er) -> HandlerError = Into::into;
                Either::Right(self($($ty,)* payload).map_err(into))
            }
        }

        impl<F, Fut, E, S, C, $($ty,)*> SendHandler<E, S, C, ($($ty,)*)> for F
        where
            E: SendEvent,
            F: FnOnce($($ty,)* E::Payload) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromContext<S, C> + Send,)*
        {
            type Future = Either<Ready<()>, Fut>;

            #[allow(non_snake_case, unused_variables)]
            fn call(self, ctx: &Context<'_, S, C>, payload: E::Payload) -> Self::Future {
                $(
                    let $ty = match $ty::from_context(ctx) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::warn!(event = ctx.event, error = %e, "one-way handler refused by an extractor");
                            return Either::Left(std::future::ready(()));
                        }
                    };
                )*
                Either::Right(self($($ty,)* payload))
            }
        }
    };
}

impl_handlers!();
impl_handlers!(T1);
impl_handlers!(T1, T2);
impl_handlers!(T1, T2, T3);
impl_handlers!(T1, T2, T3, T4);
impl_handlers!(T1, T2, T3, T4, T5);
impl_handlers!(T1, T2, T3, T4, T5, T6);
