//! Routes: each event's handler behind one erased interface, [`ErasedHandler`], and what
//! runs around every call.
//!
//! [`RequestRoute`] and [`SendRoute`] are its two implementations, for a request and a
//! one-way event: each decodes the payload into its type (the typed fast path, else the
//! validator), calls the handler with a panic guard, polls it once ([`start_handler`])
//! and encodes what it answers in the connection's codec. The session calls
//! [`ErasedHandler::start`] with the frame and queues what it returns ([`Started`]).

use super::HandlerError;
use super::conn::Conn;
use super::extract::Context;
use super::handler::{RequestHandler, SendHandler};
use super::inbound::{Inbound, Undecoded};
use super::metrics::HandlerSeconds;
use super::outbound::Outbound;
use super::spare::{self, Slot, Spare};
use crate::error::{ErrorCode, WireError};
use crate::event::{EventKind, RequestEvent, SendEvent};
use crate::protocol::{FrameError, OutFrame};
use crate::validate::{self, Validator};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use tracing::Instrument;

/// An event's handler behind one interface: the session holds every route as one of
/// these, whatever the handler's event, extractors and future.
pub(crate) trait ErasedHandler<S, C>: Send + Sync {
    /// Decodes the frame's payload, calls the handler (with a [`Context`] of the
    /// connection, the app state and the frame) and polls it once, in the connection's
    /// `spare` box when it fits: what to queue if it finished, else the rest of its work.
    fn start(&self, conn: &Conn<C>, state: &S, frame: Inbound<'_>, spare: &mut Spare) -> Started;
}

/// A handler, once started: what it queues (a reply, an error, or nothing) if it
/// finished on its first poll, as most do, else the rest of its work.
pub(crate) enum Started {
    /// Finished on the first poll.
    Done(Option<Outbound>),
    /// Waiting: the session polls it again when it wakes.
    Waiting(BoxFuture<'static, Option<Outbound>>),
    /// Not called: the frame's payload is one no `serde_json::Value` holds, so the frame
    /// is malformed (the session refuses it as it refuses a frame it cannot read).
    Malformed(FrameError),
}

/// The handlers by event name. Hashed with foldhash rather than SipHash: the names are
/// fixed when the server is built, and the lookup runs on every frame.
pub(crate) type Routes<S, C> = HashMap<&'static str, Route<S, C>, foldhash::fast::RandomState>;

/// One event's entry in the routes.
pub(crate) struct Route<S, C> {
    pub(crate) name: &'static str,
    pub(crate) kind: EventKind,
    pub(crate) handler: Box<dyn ErasedHandler<S, C>>,
    frames_in: std::sync::OnceLock<::metrics::Counter>,
}

impl<S, C> Route<S, C> {
    pub(crate) fn new(
        name: &'static str,
        kind: EventKind,
        handler: Box<dyn ErasedHandler<S, C>>,
    ) -> Self {
        Route {
            name,
            kind,
            handler,
            frames_in: std::sync::OnceLock::new(),
        }
    }

    /// The route's `wsx_frames_in_total` counter, looked up on first use.
    pub(crate) fn frames_in(&self) -> &::metrics::Counter {
        self.frames_in
            .get_or_init(|| ::metrics::counter!("wsx_frames_in_total", "event" => self.name))
    }
}

/// The route of request event `E`: decodes the payload, calls the handler (a panic
/// becomes `internal`), checks the response against its schema when `outgoing` is given,
/// and encodes the `response_ok` or `response_error` in the connection's codec.
pub(crate) struct RequestRoute<E, H, Args> {
    handler: H,
    incoming: &'static Validator,
    outgoing: Option<&'static Validator>,
    /// The JSON `response_ok` of this event up to its `id` ([`ok_prefix_of`]).
    ok_prefix: &'static str,
    seconds: HandlerSeconds,
    event: PhantomData<fn() -> (E, Args)>,
}

impl<E, H, Args> RequestRoute<E, H, Args> {
    pub(crate) fn new(
        handler: H,
        incoming: &'static Validator,
        outgoing: Option<&'static Validator>,
        ok_prefix: &'static str,
    ) -> Self {
        RequestRoute {
            handler,
            incoming,
            outgoing,
            ok_prefix,
            seconds: HandlerSeconds::default(),
            event: PhantomData,
        }
    }
}

impl<E, H, S, C, Args> ErasedHandler<S, C> for RequestRoute<E, H, Args>
where
    E: RequestEvent,
    H: RequestHandler<E, S, C, Args>,
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    fn start(&self, conn: &Conn<C>, state: &S, frame: Inbound<'_>, spare: &mut Spare) -> Started {
        let Inbound {
            id,
            sender_clock,
            payload,
            ..
        } = frame;
        let ctx = &Context {
            conn,
            state,
            event: E::NAME,
            request_id: id.as_deref(),
        };
        let timer = conn.handler_timing().then(|| self.seconds.start(E::NAME));
        let codec = ctx.conn.codec();
        let (outgoing, ok_prefix) = (self.outgoing, self.ok_prefix);
        let known_valid = E::TYPED_CHECK.then_some(E::known_valid as fn(&E::Payload) -> bool);
        // Decoded here, while the payload is borrowed from the message, and the handler
        // called here, while the context is borrowed from the session: its future holds
        // only what the handler took.
        let called = match payload.decode::<E::Payload>(self.incoming, known_valid) {
            Err(Undecoded::Malformed(e)) => return Started::Malformed(e),
            Err(Undecoded::Invalid(e)) => Err(e.to_wire()),
            Ok(payload) => guard_call(|| self.handler.clone().call(ctx, payload)),
        };
        let reply = move |result: Result<Result<E::Response, HandlerError>, WireError>,
                          id: Option<&str>| {
            let x = E::NAME;
            let w = sender_clock.as_ref();
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
                Ok(resp) => Outbound::encode_ok(codec, ok_prefix, x, id, w, resp),
                Err(wire) => Outbound::encode(codec, &OutFrame::error(x, id, w, wire)),
            };
            if let Err(wire) = &result {
                let code = wire.code.map(|c| c.as_str()).unwrap_or("error");
                ::metrics::counter!("wsx_errors_total", "code" => code).increment(1);
                tracing::debug!(code, message = %wire.message, "request failed");
            }
            if let Some(timer) = timer {
                timer.stop();
            }
            match encoded {
                Ok(item) => Some(item),
                Err(e) => {
                    tracing::error!(event = E::NAME, %e, "response could not be encoded");
                    let wire = WireError::new(ErrorCode::Internal, "response could not be encoded");
                    Outbound::encode(codec, &OutFrame::error(x, id, w, &wire)).ok()
                }
            }
        };
        start_handler(
            called,
            ctx.request_id,
            reply,
            || tracing::debug_span!("request", event = E::NAME),
            spare,
        )
    }
}

/// The route of one-way event `E`: decodes the payload, calls the handler, and answers
/// only a refusal (a `$error` push naming the event).
pub(crate) struct SendRoute<E, H, Args> {
    handler: H,
    incoming: &'static Validator,
    seconds: HandlerSeconds,
    event: PhantomData<fn() -> (E, Args)>,
}

impl<E, H, Args> SendRoute<E, H, Args> {
    pub(crate) fn new(handler: H, incoming: &'static Validator) -> Self {
        SendRoute {
            handler,
            incoming,
            seconds: HandlerSeconds::default(),
            event: PhantomData,
        }
    }
}

impl<E, H, S, C, Args> ErasedHandler<S, C> for SendRoute<E, H, Args>
where
    E: SendEvent,
    H: SendHandler<E, S, C, Args>,
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    fn start(&self, conn: &Conn<C>, state: &S, frame: Inbound<'_>, spare: &mut Spare) -> Started {
        let Inbound { id, payload, .. } = frame;
        let ctx = &Context {
            conn,
            state,
            event: E::NAME,
            request_id: id.as_deref(),
        };
        let timer = conn.handler_timing().then(|| self.seconds.start(E::NAME));
        let codec = ctx.conn.codec();
        let known_valid = E::TYPED_CHECK.then_some(E::known_valid as fn(&E::Payload) -> bool);
        let called = match payload.decode::<E::Payload>(self.incoming, known_valid) {
            Err(Undecoded::Malformed(e)) => return Started::Malformed(e),
            Err(Undecoded::Invalid(e)) => {
                let mut wire = e.to_wire();
                wire.message = format!("event `{}`: {}", E::NAME, wire.message);
                Err(wire)
            }
            Ok(payload) => guard_call(|| self.handler.clone().call(ctx, payload)),
        };
        let report = move |result: Result<(), WireError>, _: Option<&str>| {
            if let Some(timer) = timer {
                timer.stop();
            }
            let wire = result.err()?;
            if let Some(code) = wire.code {
                ::metrics::counter!("wsx_errors_total", "code" => code.as_str()).increment(1);
            }
            Outbound::encode(codec, &OutFrame::error_push(&wire)).ok()
        };
        start_handler(
            called,
            None,
            report,
            || tracing::debug_span!("send", event = E::NAME),
            spare,
        )
    }
}

/// Polls a handler's future once and, if it finished, hands its result to `finish` (which
/// encodes the reply) at once: no future around it, and its box is the connection's
/// spare one ([`Spare`]) when the future is small. A handler that waits is boxed with
/// `finish` behind it, inside its span only when the span is enabled (a disabled span
/// still costs an enter and an exit on every poll).
///
/// That first poll is outside tokio's cooperative budget, so a handler always runs up to
/// its first real wait, in arrival order: within a long read burst the budget runs out,
/// and a handler refused by it would reach its first lock only after handlers of frames
/// that came after it (with several in flight, a sender's messages would take their
/// numbers out of order). A waiting handler is polled again by the session's set of
/// running handlers, which registers the real waker.
pub(crate) fn start_handler<F>(
    called: Result<F, WireError>,
    id: Option<&str>,
    finish: impl FnOnce(Result<F::Output, WireError>, Option<&str>) -> Option<Outbound> + Send + 'static,
    span: impl FnOnce() -> tracing::Span,
    spare: &mut Spare,
) -> Started
where
    F: Future + Send + 'static,
{
    let span = span();
    // The reply of a handler that finished is encoded in its span too.
    let entered = span.enter();
    let fut = match called {
        Ok(fut) => fut,
        Err(wire) => return Started::Done(finish(Err(wire), id)),
    };
    let slot = if Spare::keeps::<F>() {
        let mut kept = spare.take::<F>();
        let Some(slot) = kept.downcast_mut::<Slot<F>>() else {
            // `take` gives a slot for `F`, so this is not reached.
            return Started::Done(finish(Err(handler_failed()), id));
        };
        slot.set(Some(fut).into());
        if let Some(result) = first_poll(slot) {
            // Emptied in place: the finished future is dropped, its box kept.
            slot.set(None.into());
            spare.keep(kept);
            return Started::Done(finish(result, id));
        }
        // It waits, in its box; the connection keeps a new empty one (one allocation,
        // as a waiting handler always cost), not nothing (two for the next).
        let running = std::mem::replace(slot, spare::empty());
        spare.keep(kept);
        running
    } else {
        let mut slot: Slot<F> = Box::pin(Some(fut).into());
        if let Some(result) = first_poll(&mut slot) {
            return Started::Done(finish(result, id));
        }
        slot
    };
    drop(entered);
    // Only a handler that waits needs its own copy of the request id (inline up to 23
    // bytes).
    let id = id.map(smol_str::SmolStr::new);
    let mut slot = slot;
    let rest = async move { finish(finished(guarded(slot.as_mut()).await), id.as_deref()) };
    Started::Waiting(if span.is_disabled() {
        Box::pin(rest)
    } else {
        Box::pin(rest.instrument(span))
    })
}

/// Polls a handler's future once, under the panic guard: its result if it finished.
fn first_poll<F: Future>(slot: &mut Slot<F>) -> Option<Result<F::Output, WireError>> {
    tokio::task::unconstrained(guarded(slot.as_mut()))
        .now_or_never()
        .map(finished)
}

/// The result of a slot's future: the slot is polled only while it holds one.
fn finished<T>(polled: Result<Option<T>, WireError>) -> Result<T, WireError> {
    polled.and_then(|output| output.ok_or_else(handler_failed))
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
/// [`json_ok_prefix`](crate::codec::json_write::json_ok_prefix)), made once per event name in a
/// process and kept for its life, so a reply borrows it instead of counting references
/// to it: the names are `'static` and few, so is the memory.
pub(crate) fn ok_prefix_of(name: &'static str) -> Result<&'static str, serde_json::Error> {
    static PREFIXES: std::sync::LazyLock<
        parking_lot::Mutex<HashMap<&'static str, &'static str, foldhash::fast::RandomState>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut prefixes = PREFIXES.lock();
    if let Some(prefix) = prefixes.get(name) {
        return Ok(prefix);
    }
    let prefix: &'static str =
        Box::leak(crate::codec::json_write::json_ok_prefix(name)?.into_boxed_str());
    prefixes.insert(name, prefix);
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use std::future::Future;
    use tokio::sync::oneshot;

    /// One future type for every call: what a handler's future is.
    async fn job(rx: oneshot::Receiver<u8>) -> u8 {
        rx.await.unwrap_or(0)
    }

    fn reply_of(result: Result<u8, WireError>, _: Option<&str>) -> Option<Outbound> {
        let n = result.unwrap();
        Some(Outbound::Close {
            code: u16::from(n),
            reason: String::new(),
        })
    }

    fn code(item: Option<Outbound>) -> Option<u16> {
        match item {
            Some(Outbound::Close { code, .. }) => Some(code),
            _ => None,
        }
    }

    /// Whether a spare holds a box for futures of `fut`'s (unnameable) type.
    fn holds_like<F: Future + 'static>(_: &F) -> fn(&Spare) -> bool {
        Spare::holds::<F>
    }

    fn start_job<F>(fut: F, spare: &mut Spare) -> Started
    where
        F: Future<Output = u8> + Send + 'static,
    {
        start_handler(Ok(fut), Some("1"), reply_of, tracing::Span::none, spare)
    }

    #[test]
    fn a_finished_handler_keeps_its_box_and_a_waiting_one_leaves_an_empty_box() {
        let mut spare = Spare::default();
        let (tx, rx) = oneshot::channel();
        tx.send(7).unwrap();
        let fut = job(rx);
        let keeps = holds_like(&fut);
        assert!(!keeps(&spare));
        // Finished on the first poll: answered at once, the box kept for its type.
        let started = start_job(fut, &mut spare);
        assert!(matches!(started, Started::Done(ref item) if code(item.clone()) == Some(7)));
        assert!(keeps(&spare));

        // Waits: it takes its box, the connection keeps an empty one of the same type.
        let (tx, rx) = oneshot::channel();
        let Started::Waiting(rest) = start_job(job(rx), &mut spare) else {
            panic!("the handler waits for its channel");
        };
        assert!(keeps(&spare), "an empty box of the same type is kept");
        tx.send(9).unwrap();
        assert_eq!(code(futures::executor::block_on(rest)), Some(9));

        // The next call of that type finishes in the kept box.
        let (tx, rx) = oneshot::channel();
        tx.send(3).unwrap();
        let started = start_job(job(rx), &mut spare);
        assert!(matches!(started, Started::Done(ref item) if code(item.clone()) == Some(3)));
        assert!(keeps(&spare));
    }
}
