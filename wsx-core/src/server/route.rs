//! Routes: each event's handler behind one erased signature, and what runs around every
//! call — the payload's decode and check, the panic guard, the first poll, the timing and
//! the reply's encoding.
//!
//! [`request_route`] and [`send_route`] build the erased handler of a request and of a
//! one-way event; the session calls it with the frame ([`Route::handler`]) and queues
//! what it returns ([`Started`]).

use super::HandlerError;
use super::extract::Context;
use super::handler::{RequestHandler, SendHandler};
use super::inbound::Inbound;
use super::outbound::Outbound;
use crate::error::{ErrorCode, WireError};
use crate::event::{EventKind, RequestEvent, SendEvent};
use crate::protocol::OutFrame;
use crate::validate;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tracing::Instrument;

/// An event's handler, type-erased: it decodes the payload, calls the handler and polls
/// it once ([`Started`]). `None` when the payload turned out not to be one JSON value
/// (see `InPayload::decode`): the caller decodes the frame the owned way and calls again.
pub(crate) type ErasedHandler<S, C> =
    Arc<dyn Fn(&Context<'_, S, C>, Inbound<'_>) -> Option<Started> + Send + Sync>;

/// A handler, once started: what it queues (a reply, an error, or nothing) if it
/// finished on its first poll, as most do, else the rest of its work.
pub(crate) enum Started {
    /// Finished on the first poll.
    Done(Option<Outbound>),
    /// Waiting: the session polls it again when it wakes.
    Waiting(BoxFuture<'static, Option<Outbound>>),
}
/// The handlers by event name. Hashed with foldhash: the names are fixed when the server
/// is built, and SipHash of the name was ~0.8% of the echo server.
pub(crate) type Routes<S, C> = HashMap<&'static str, Route<S, C>, foldhash::fast::RandomState>;

pub(crate) struct Route<S, C> {
    pub(crate) name: &'static str,
    pub(crate) kind: EventKind,
    pub(crate) handler: ErasedHandler<S, C>,
    pub(crate) frames_in: std::sync::OnceLock<::metrics::Counter>,
}

impl<S, C> Route<S, C> {
    /// The route's `wsx_frames_in_total` counter, looked up on first use.
    pub(crate) fn frames_in(&self) -> &::metrics::Counter {
        self.frames_in
            .get_or_init(|| ::metrics::counter!("wsx_frames_in_total", "event" => self.name))
    }
}

/// The route of request event `E`: decodes the payload (the typed fast path, else the
/// validator), calls the handler (a panic becomes `internal`), checks the response
/// against its schema when `outgoing` is given, and encodes the `response_ok` or
/// `response_error` in the connection's codec. The first poll happens here
/// ([`start_handler`]); a handler that waits is finished by the session.
pub(crate) fn request_route<E, H, S, C, Args>(
    handler: H,
    incoming: &'static validate::Validator,
    outgoing: Option<&'static validate::Validator>,
    ok_prefix: &'static str,
) -> ErasedHandler<S, C>
where
    E: RequestEvent,
    H: RequestHandler<E, S, C, Args>,
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    let seconds = HandlerSeconds::default();
    let known_valid = E::TYPED_CHECK.then_some(E::known_valid as fn(&E::Payload) -> bool);
    Arc::new(move |ctx: &Context<'_, S, C>, inbound: Inbound<'_>| {
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
                Err(wire) => Outbound::encode(codec, &OutFrame::error(x, id, w.as_ref(), wire)),
            };
            if let Err(wire) = &result {
                let code = wire.code.map(|c| c.as_str()).unwrap_or("error");
                ::metrics::counter!("wsx_errors_total", "code" => code).increment(1);
                tracing::debug!(code, message = %wire.message, "request failed");
            }
            timer.stop();
            match encoded {
                Ok(item) => Some(item),
                Err(e) => {
                    tracing::error!(event = E::NAME, %e, "response could not be encoded");
                    let wire = WireError::new(ErrorCode::Internal, "response could not be encoded");
                    Outbound::encode(codec, &OutFrame::error(x, id, w.as_ref(), &wire)).ok()
                }
            }
        };
        Some(start_handler(called, ctx.request_id, reply, || {
            tracing::debug_span!("request", event = E::NAME)
        }))
    })
}

/// The route of one-way event `E`: decodes the payload, calls the handler, and answers
/// only a refusal (a `$error` push naming the event).
pub(crate) fn send_route<E, H, S, C, Args>(
    handler: H,
    incoming: &'static validate::Validator,
) -> ErasedHandler<S, C>
where
    E: SendEvent,
    H: SendHandler<E, S, C, Args>,
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    let seconds = HandlerSeconds::default();
    let known_valid = E::TYPED_CHECK.then_some(E::known_valid as fn(&E::Payload) -> bool);
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
                ::metrics::counter!("wsx_errors_total", "code" => code.as_str()).increment(1);
            }
            Outbound::encode(codec, &OutFrame::error_push(&wire)).ok()
        };
        Some(start_handler(called, None, report, || {
            tracing::debug_span!("send", event = E::NAME)
        }))
    })
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
pub(crate) fn start_handler<F>(
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
struct HandlerSeconds(Arc<std::sync::OnceLock<::metrics::Histogram>>);

impl HandlerSeconds {
    /// Starts timing one call.
    fn start(&self, event: &'static str) -> HandlerTimer {
        let histogram = self
            .0
            .get_or_init(|| ::metrics::histogram!("wsx_handler_seconds", "event" => event))
            .clone();
        HandlerTimer {
            histogram,
            started: handler_clock().raw(),
        }
    }
}

/// One call being timed.
struct HandlerTimer {
    histogram: ::metrics::Histogram,
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
pub(crate) fn handler_clock() -> &'static quanta::Clock {
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
pub(crate) fn ok_prefix_of(name: &'static str) -> Result<&'static str, serde_json::Error> {
    static PREFIXES: std::sync::LazyLock<
        parking_lot::Mutex<HashMap<&'static str, &'static str, foldhash::fast::RandomState>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut prefixes = PREFIXES.lock();
    if let Some(prefix) = prefixes.get(name) {
        return Ok(prefix);
    }
    let prefix: &'static str = Box::leak(crate::codec::json_ok_prefix(name)?.into_boxed_str());
    prefixes.insert(name, prefix);
    Ok(prefix)
}
