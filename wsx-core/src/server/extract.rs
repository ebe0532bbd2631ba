//! What a handler can ask for besides its payload.

use super::conn::Conn;
use super::error::HandlerError;
use super::handshake::Handshake;
use std::sync::Arc;

/// Everything a handler call can draw from: the connection, the app state, the request.
///
/// Borrowed for the call: extractors copy out what they keep, so a handler that takes
/// none costs no reference count.
#[derive(Debug)]
pub struct Context<'a, S, C> {
    /// The connection the event came from.
    pub conn: &'a Conn<C>,
    /// The app state.
    pub state: &'a S,
    /// The event's wire name.
    pub event: &'static str,
    /// The request id (`None` for one-way events).
    pub request_id: Option<&'a str>,
}

/// Something a handler takes as an argument, built from the call's [`Context`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument",
    label = "not an extractor",
    note = "handler arguments before the payload must be extractors: `State<S>`, `Conn<C>`, `Arc<Handshake>`, `EventName` (or a type of yours implementing `FromContext`)"
)]
pub trait FromContext<S, C>: Sized {
    /// Builds the value, or refuses the call with an error sent to the peer.
    fn from_context(ctx: &Context<'_, S, C>) -> Result<Self, HandlerError>;
}

/// The app state given to [`ServerBuilder::new`](super::ServerBuilder::new).
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone, C> FromContext<S, C> for State<S> {
    fn from_context(ctx: &Context<'_, S, C>) -> Result<Self, HandlerError> {
        Ok(State(ctx.state.clone()))
    }
}

impl<S, C> FromContext<S, C> for Conn<C> {
    fn from_context(ctx: &Context<'_, S, C>) -> Result<Self, HandlerError> {
        Ok(ctx.conn.clone())
    }
}

impl<S, C> FromContext<S, C> for Arc<Handshake> {
    fn from_context(ctx: &Context<'_, S, C>) -> Result<Self, HandlerError> {
        Ok(ctx.conn.handshake().clone())
    }
}

/// The wire name of the event being handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventName(pub &'static str);

impl<S, C> FromContext<S, C> for EventName {
    fn from_context(ctx: &Context<'_, S, C>) -> Result<Self, HandlerError> {
        Ok(EventName(ctx.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor<T: FromContext<(), ()>>() {}

    /// Every extractor `FromContext`'s diagnostic note names implements it.
    #[test]
    fn the_extractors_the_note_names_exist() {
        extractor::<State<()>>();
        extractor::<Conn<()>>();
        extractor::<Arc<Handshake>>();
        extractor::<EventName>();
    }
}
