//! The task of one connection: read, dispatch, write in bursts, keep time.
//!
//! One task per connection, no spawn per request: handler futures run inside the task
//! (in a `FuturesUnordered`), so an idle connection costs one task, its socket buffers
//! and a few hundred bytes of state. Everything queued for the connection since the last
//! write goes out as one burst with one flush.

use super::config::ServerConfig;
use super::conn::Conn;
use super::error::DisconnectReason;
use super::inbound::Inbound;
use super::limits::TokenBucket;
use super::metrics::io_counters;
use super::outbound::Outbound;
use super::peer::Peer;
use super::route::{Route, Routes, Started};
use super::spare::Spare;
use crate::codec::cbor_json::JsonBuffer;
use crate::codec::{Codec, CodecFamily, DecodeError, json_read};
use crate::error::{ErrorCode, WireError};
use crate::event::EventKind;
use crate::protocol::close_code;
use crate::protocol::{FrameError, FrameType, OutFrame};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

/// How many already-buffered messages are read in one go before writing replies.
const READ_BURST: usize = 64;

/// What a socket must be for a session: axum's `WebSocket`, or the in-memory pipe of
/// the test harness.
pub(crate) trait Transport:
    Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin + Send
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send
{
}

/// What a connection's task needs of its server: the routes and the state handlers get,
/// the limits, and a way to tell the server a connection ended. The server implements
/// it; the session knows nothing else of the server.
pub(crate) trait Host<S, C>: Send + Sync + 'static {
    /// The handlers by event name.
    fn routes(&self) -> &Routes<S, C>;
    /// The app state handlers get.
    fn state(&self) -> &S;
    /// The limits.
    fn config(&self) -> &ServerConfig;
    /// Whether a graceful shutdown is under way.
    fn is_shutting_down(&self) -> bool;
    /// Runs once the connection is open, before its first frame is read: the open hook.
    fn opened(&self, conn: &Conn<C>) -> impl Future<Output = ()> + Send;
    /// Runs when a connection ended, after its last frames were written and before the
    /// closing handshake: the disconnect hook, then leaving the registry and every room.
    fn end(&self, conn: Conn<C>, reason: DisconnectReason) -> impl Future<Output = ()> + Send;
}

/// The negotiated codec: a fixed family (from the subprotocol or query) or unknown until
/// the first frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Negotiated {
    pub(crate) family: Option<CodecFamily>,
}

/// The data of one WebSocket message: text (already checked for UTF-8) or binary.
#[derive(Clone, Copy)]
enum Data<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl<'a> Data<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Data::Text(t) => t.as_bytes(),
            Data::Binary(b) => b,
        }
    }
}

type InFlight = FuturesUnordered<BoxFuture<'static, Option<Outbound>>>;

/// The next finished handler, or never when none runs.
async fn next_reply(in_flight: &mut Option<Box<InFlight>>) -> Option<Option<Outbound>> {
    match in_flight {
        Some(running) => running.next().await,
        None => std::future::pending().await,
    }
}

struct Session<S, C, H> {
    server: Arc<H>,
    /// The app state's type, which the server's routes are made for.
    app_state: std::marker::PhantomData<fn() -> S>,
    conn: Conn<C>,
    /// Handlers that did not finish on their first poll; created on first use and dropped
    /// when empty, so an idle connection does not carry it.
    in_flight: Option<Box<InFlight>>,
    /// The box the last small handler future was polled in, kept for the next one.
    spare: Spare,
    bucket: Option<TokenBucket>,
    strikes: u32,
    bad_frames: u32,
    codec_fixed: bool,
    family: Option<CodecFamily>,
    last_message: Instant,
    /// The time of the read burst being handled, read from the clock once per burst
    /// (for the idle timer and the rate limit) rather than once per message: a clock
    /// read costs as much as reading the envelope of a small frame.
    burst_time: Option<Instant>,
    ping_sent: Option<Instant>,
    next_ping: Option<Instant>,
    /// Until when pushes wait for the first frame to settle the codec (no subprotocol
    /// fixed it); `None` once settled or given up.
    hold: Option<Instant>,
}

pub(crate) async fn run<S, C, H, T>(
    server: Arc<H>,
    conn: Conn<C>,
    mut socket: T,
    negotiated: Negotiated,
) where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
    H: Host<S, C>,
    T: Transport,
{
    server.opened(&conn).await;
    let now = Instant::now();
    let config = server.config();
    let next_ping = config.ping_interval.map(|i| now + i);
    let bucket = config
        .rate_limit_per_second
        .map(|_| TokenBucket::new(config.rate_limit_burst));
    let mut s = Session {
        app_state: std::marker::PhantomData,
        conn,
        in_flight: None,
        spare: Spare::default(),
        bucket,
        strikes: 0,
        bad_frames: 0,
        codec_fixed: false,
        family: negotiated.family,
        last_message: now,
        burst_time: None,
        ping_sent: None,
        next_ping,
        hold: (negotiated.family.is_none() && !config.codec_wait.is_zero())
            .then(|| now + config.codec_wait),
        server,
    };
    let reason = s.drive(&mut socket).await;
    // Boxed: the closing path's state is not carried by every idle connection's task.
    Box::pin(finish(s.server, s.conn, socket, reason)).await;
}

/// Ends a session: flushes what is queued and sends the close frame when the reason
/// calls for one, then runs the disconnect hook and leaves every room.
async fn finish<S, C, H, T>(server: Arc<H>, conn: Conn<C>, mut socket: T, reason: DisconnectReason)
where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
    H: Host<S, C>,
    T: Transport,
{
    tracing::debug!(conn = conn.id(), ?reason, "connection ended");
    let peer = conn.peer().clone();
    peer.queue.close();
    let write_timeout = server.config().write_timeout;
    let sent_close = match reason.close_code() {
        // The app's close frame was written with the queue; the peer's own close was
        // answered by the WebSocket layer.
        _ if matches!(reason, DisconnectReason::Closed(..)) => true,
        Some(code) => {
            // A peer that does not read gets no more of its queue, only the close frame;
            // the others get what was answered before the close. Each write has the
            // write timeout as its deadline.
            if !matches!(
                reason,
                DisconnectReason::SlowConsumer | DisconnectReason::WriteTimeout
            ) {
                let mut batch = VecDeque::new();
                peer.queue.drain_into(&mut batch);
                let progress = AtomicU64::new(0);
                let _ = tokio::time::timeout(
                    write_timeout,
                    write_batch(&mut socket, &mut batch, &progress),
                )
                .await;
            }
            let frame = close_message(code, &close_text(&reason));
            matches!(
                tokio::time::timeout(write_timeout, socket.send(frame)).await,
                Ok(Ok(()))
            )
        }
        None => false,
    };
    let drain = sent_close && !matches!(reason, DisconnectReason::ClientClosed(_));
    // The app learns of the end (hooks, rooms) before the closing handshake below, which
    // may wait on the peer.
    server.end(conn, reason).await;
    if drain {
        // Read (and drop) what the peer sent before it saw the close, until its own close
        // or end of stream: closing a socket with unread data sends a TCP reset, which
        // may destroy the close frame before the peer reads it.
        Box::pin(drain_after_close(&mut socket)).await;
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), socket.close()).await;
}

/// How long, and for how many messages, a closing connection reads what the peer had
/// already sent.
const CLOSING_DRAIN: (Duration, usize) = (Duration::from_secs(1), 10_000);

async fn drain_after_close<T: Transport>(socket: &mut T) {
    let (time, most) = CLOSING_DRAIN;
    let deadline = Instant::now() + time;
    for _ in 0..most {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// The reason text sent with a close code.
pub(crate) fn close_text(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::IdleTimeout => "idle timeout: no message received".into(),
        DisconnectReason::SlowConsumer => "slow consumer: outbound queue full".into(),
        DisconnectReason::WriteTimeout => "write timeout: the peer does not read".into(),
        DisconnectReason::ProtocolError(detail) => {
            format!("protocol error: {}", crate::error::excerpt(detail, 100))
        }
        DisconnectReason::InvalidData(_) => "invalid UTF-8 in a text message".into(),
        DisconnectReason::RateLimited => "rate limit exceeded repeatedly".into(),
        DisconnectReason::TooManyBadFrames => "too many undecodable frames".into(),
        DisconnectReason::MessageTooLarge => "message too large".into(),
        DisconnectReason::ServerShutdown => "server shutting down".into(),
        DisconnectReason::Closed(_, r) => r.clone(),
        DisconnectReason::ClientClosed(_)
        | DisconnectReason::TransportError(_)
        | DisconnectReason::PongTimeout => String::new(),
    }
}

enum Wrote {
    Flushed,
    Closed(u16, String),
}

impl<S, C, H> Session<S, C, H>
where
    S: Clone + Send + Sync + 'static,
    C: Send + Sync + 'static,
    H: Host<S, C>,
{
    async fn drive<T: Transport>(&mut self, socket: &mut T) -> DisconnectReason {
        let peer = self.conn.peer().clone();
        let mut batch: VecDeque<Outbound> = VecDeque::new();
        let timer = sleep_until(self.next_deadline());
        tokio::pin!(timer);
        // The queue's notification is made once and polled across iterations (a fresh
        // `Notified` per iteration takes the waiter lock twice, on every loop). It is the
        // task's only wake-up from other tasks: new frames, and a kill.
        let ready = peer.queue.ready();
        tokio::pin!(ready);
        let max_in_flight = self.server.config().max_in_flight.max(1);
        loop {
            // Whether to write what is queued: after a wake-up from another task, and
            // after this task queued replies of its own (quietly: no wake-up to itself), and
            // when the wait for the codec ends.
            let write;
            tokio::select! {
                biased;
                _ = &mut ready => {
                    ready.set(peer.queue.ready());
                    if peer.killed().is_some() {
                        return self.killed_reason();
                    }
                    write = true;
                }
                Some(reply) = next_reply(&mut self.in_flight), if self.in_flight_len() > 0 => {
                    if let Some(item) = reply {
                        peer.enqueue_own(item);
                    }
                    self.release_in_flight();
                    write = true;
                }
                msg = socket.next(), if self.in_flight_len() < max_in_flight => {
                    self.burst_time = None;
                    if let Some(reason) = self.on_message(msg) {
                        return reason;
                    }
                    // Read what is already buffered before writing the replies: one flush
                    // per burst, not per frame. Polled with the task's own waker, which the
                    // socket already holds: a no-op waker (`now_or_never`) would replace it
                    // in the socket's read and write slots, and the next wait would clone
                    // the task's back (reference counts, atomic, on every message).
                    for _ in 0..READ_BURST {
                        self.collect_ready(&peer);
                        if self.in_flight_len() >= max_in_flight {
                            break;
                        }
                        let polled =
                            std::future::poll_fn(|cx| Poll::Ready(socket.poll_next_unpin(cx)))
                                .await;
                        match polled {
                            Poll::Ready(msg) => {
                                if let Some(reason) = self.on_message(msg) {
                                    return reason;
                                }
                            }
                            Poll::Pending => break,
                        }
                    }
                    self.collect_ready(&peer);
                    write = true;
                }
                _ = &mut timer => {
                    let held = self.hold.is_some();
                    if let Some(reason) = Box::pin(self.on_timer(socket)).await {
                        return reason;
                    }
                    // The wait for the codec is over: send what was held.
                    write = held && self.hold.is_none();
                    timer.as_mut().reset(self.next_deadline());
                }
            }
            if !write || self.hold.is_some() {
                continue;
            }
            if peer.killed().is_some() {
                return self.killed_reason();
            }
            peer.queue.drain_into(&mut batch);
            if batch.is_empty() {
                continue;
            }
            let mut more = false;
            // Boxed: the write's state exists only while writing, not in every idle
            // connection's task.
            let progress = AtomicU64::new(0);
            let mut writing = Box::pin(write_batch(socket, &mut batch, &progress));
            // Most writes finish at once; only one that waits on the socket arms the
            // write timeout (no clock read or timer for the others).
            let wrote = match futures::poll!(writing.as_mut()) {
                Poll::Ready(r) => r,
                Poll::Pending => {
                    // Boxed: the wait's timers exist only while a write waits, not in
                    // every idle connection's task.
                    let waited = Box::pin(self.wait_for_write(
                        writing.as_mut(),
                        &peer,
                        ready.as_mut(),
                        timer.as_mut(),
                        &progress,
                        &mut more,
                    ))
                    .await;
                    timer.as_mut().reset(self.next_deadline());
                    match waited {
                        Ok(r) => r,
                        Err(reason) => return reason,
                    }
                }
            };
            drop(writing);
            peer.queue.written();
            if more {
                peer.queue.wake();
            }
            match wrote {
                Ok(Wrote::Flushed) => {}
                Ok(Wrote::Closed(code, reason)) => {
                    return if self.server.is_shutting_down() && code == close_code::GOING_AWAY {
                        DisconnectReason::ServerShutdown
                    } else {
                        DisconnectReason::Closed(code, reason)
                    };
                }
                Err(e) => return DisconnectReason::TransportError(e.to_string()),
            }
        }
    }

    /// Waits for a write that did not finish at once, while the idle and pong timers keep
    /// running and other tasks may queue more (`more`). `Err` ends the connection: killed,
    /// a timer passed, or no frame was taken for the write timeout.
    async fn wait_for_write<'p, W>(
        &mut self,
        mut writing: Pin<&mut W>,
        peer: &'p Peer,
        mut ready: Pin<&mut tokio::sync::futures::Notified<'p>>,
        mut timer: Pin<&mut tokio::time::Sleep>,
        progress: &AtomicU64,
        more: &mut bool,
    ) -> Result<W::Output, DisconnectReason>
    where
        W: std::future::Future,
    {
        let write_timeout = self.server.config().write_timeout;
        let stall = sleep_until(Instant::now() + write_timeout);
        tokio::pin!(stall);
        let mut seen = progress.load(Ordering::Relaxed);
        // A ping waits for the write; the other deadlines do not.
        timer.as_mut().reset(self.timeout_deadline());
        loop {
            tokio::select! {
                biased;
                r = writing.as_mut() => return Ok(r),
                _ = ready.as_mut() => {
                    ready.set(peer.queue.ready());
                    if peer.killed().is_some() {
                        return Err(self.killed_reason());
                    }
                    *more = true;
                }
                _ = stall.as_mut() => {
                    let now = progress.load(Ordering::Relaxed);
                    if now == seen {
                        metrics::counter!("wsx_write_timeouts_total").increment(1);
                        tracing::warn!(conn = self.conn.id(), ?write_timeout, "write made no progress: disconnecting");
                        return Err(DisconnectReason::WriteTimeout);
                    }
                    seen = now;
                    stall.as_mut().reset(Instant::now() + write_timeout);
                }
                _ = timer.as_mut() => {
                    if let Some(reason) = self.expired(Instant::now()) {
                        return Err(reason);
                    }
                    timer.as_mut().reset(self.timeout_deadline());
                }
            }
        }
    }

    /// The idle and pong deadlines: what still runs while a write waits (not the next
    /// ping, which needs the socket; nor the codec wait, over before anything is written).
    fn timeout_deadline(&self) -> Instant {
        let config = self.server.config();
        let mut deadline = Instant::now() + Duration::from_secs(3600);
        if let Some(sent) = self.ping_sent {
            deadline = deadline.min(sent + config.pong_timeout);
        }
        if let Some(idle) = config.idle_timeout {
            deadline = deadline.min(self.last_message + idle);
        }
        deadline
    }

    /// Whether the idle timeout or the pong timeout has passed at `now`.
    fn expired(&self, now: Instant) -> Option<DisconnectReason> {
        let config = self.server.config();
        if let Some(idle) = config.idle_timeout {
            if now >= self.last_message + idle {
                return Some(DisconnectReason::IdleTimeout);
            }
        }
        if let Some(sent) = self.ping_sent {
            if now >= sent + config.pong_timeout {
                return Some(DisconnectReason::PongTimeout);
            }
        }
        None
    }

    /// The time of the current read burst.
    fn now(&mut self) -> Instant {
        *self.burst_time.get_or_insert_with(Instant::now)
    }

    /// Takes a message's token from the rate limit, if there is one; `false` when the
    /// bucket is empty.
    fn take_token(&mut self) -> bool {
        let config = self.server.config();
        let (Some(rate), burst) = (config.rate_limit_per_second, config.rate_limit_burst) else {
            return true;
        };
        let now = self.now();
        // A connection has a bucket when the server has a rate.
        self.bucket
            .as_mut()
            .is_none_or(|bucket| bucket.take(now, rate, burst))
    }

    fn in_flight_len(&self) -> usize {
        self.in_flight.as_ref().map_or(0, |f| f.len())
    }

    /// Drops the handler set once it is empty.
    fn release_in_flight(&mut self) {
        if self.in_flight_len() == 0 {
            self.in_flight = None;
        }
    }

    /// Moves the replies of handlers that already finished into the queue.
    fn collect_ready(&mut self, peer: &Peer) {
        while let Some(running) = self.in_flight.as_mut() {
            if running.is_empty() {
                break;
            }
            match running.next().now_or_never() {
                Some(Some(Some(item))) => {
                    peer.enqueue_own(item);
                }
                Some(Some(None)) => {}
                Some(None) | None => break,
            }
        }
        self.release_in_flight();
    }

    fn killed_reason(&self) -> DisconnectReason {
        match self.conn.peer().killed() {
            Some((code, _)) if *code == close_code::POLICY_VIOLATION => {
                DisconnectReason::SlowConsumer
            }
            Some((code, reason)) => DisconnectReason::Closed(*code, reason.clone()),
            None => DisconnectReason::SlowConsumer,
        }
    }

    /// The next timer: the idle and pong deadlines, the next ping, and the end of the
    /// wait for the codec.
    fn next_deadline(&self) -> Instant {
        let mut deadline = self.timeout_deadline();
        if let (None, Some(next)) = (self.ping_sent, self.next_ping) {
            deadline = deadline.min(next);
        }
        if let Some(hold) = self.hold {
            deadline = deadline.min(hold);
        }
        deadline
    }

    async fn on_timer<T: Transport>(&mut self, socket: &mut T) -> Option<DisconnectReason> {
        let now = Instant::now();
        if let Some(reason) = self.expired(now) {
            return Some(reason);
        }
        if self.hold.is_some_and(|hold| now >= hold) {
            self.hold = None;
        }
        let config = self.server.config();
        if let (None, Some(next), Some(interval)) =
            (self.ping_sent, self.next_ping, config.ping_interval)
        {
            if now >= next {
                self.ping_sent = Some(now);
                self.next_ping = Some(now + interval);
                let ping = socket.send(Message::Ping(Bytes::from_static(b"wsx")));
                match tokio::time::timeout(config.write_timeout, ping).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Some(DisconnectReason::TransportError(e.to_string())),
                    Err(_) => return Some(DisconnectReason::WriteTimeout),
                }
            }
        }
        None
    }

    /// Handles one read from the socket; `Some` ends the connection.
    fn on_message(
        &mut self,
        msg: Option<Result<Message, axum::Error>>,
    ) -> Option<DisconnectReason> {
        let msg = match msg {
            None => return Some(DisconnectReason::ClientClosed(None)),
            Some(Err(e)) => return Some(read_error(e)),
            Some(Ok(m)) => m,
        };
        // Any frame proves the peer is alive.
        self.ping_sent = None;
        if matches!(msg, Message::Text(_) | Message::Binary(_))
            && self.server.config().idle_timeout.is_some()
        {
            self.last_message = self.now();
        }
        match msg {
            Message::Text(t) => self.on_data(Data::Text(t.as_str())),
            Message::Binary(b) => self.on_data(Data::Binary(&b)),
            Message::Ping(_) | Message::Pong(_) => None,
            Message::Close(frame) => Some(DisconnectReason::ClientClosed(frame.map(|f| f.code))),
        }
    }

    fn on_data(&mut self, data: Data<'_>) -> Option<DisconnectReason> {
        let bytes = data.bytes();
        let sniffed = Codec::sniff(matches!(data, Data::Text(_)), bytes);
        if !self.codec_fixed {
            self.codec_fixed = true;
            let before = self.conn.codec();
            let codec = match self.family {
                Some(family) if family != sniffed.family() => before,
                _ => sniffed,
            };
            self.conn.peer().set_codec(codec);
            // Pushes held for this moment were encoded in the default codec.
            if self.hold.take().is_some() && codec != before {
                self.conn.peer().queue.transcode(before, codec);
            }
        }
        let codec = self.conn.codec();
        io_counters().bytes_in.increment(bytes.len() as u64);
        // Decoded as what the frame actually is, answered in the connection's codec. A
        // JSON frame is borrowed from the message where it can be; CBOR from its JSON
        // transcoding (`cbor_json`), which lives here for as long as the frame does.
        let mut cbor_as_json = None;
        let decoded = match (data, sniffed) {
            (Data::Text(text), _) => json_read::decode_str(text)
                .map_err(DecodeError::into_frame_error)
                .and_then(Inbound::from_json),
            (Data::Binary(b), Codec::JsonBinary) => json_read::decode_slice(b)
                .map_err(DecodeError::into_frame_error)
                .and_then(Inbound::from_json),
            _ => Inbound::from_cbor(
                sniffed,
                bytes,
                &mut cbor_as_json.insert(JsonBuffer::take()).0,
            ),
        };
        if !self.take_token() {
            self.strikes += 1;
            let wire = WireError::new(ErrorCode::RateLimited, "rate limit exceeded: slow down");
            // A frame whose payload is malformed is answered as one that could not be read.
            let (event, id, sender_clock) = match &decoded {
                Ok(f) if f.kind == FrameType::Request && f.payload.check().is_ok() => {
                    (&*f.event, f.id.as_deref(), f.sender_clock.as_ref())
                }
                _ => ("", None, None),
            };
            self.reply_error(codec, event, id, sender_clock, &wire);
            if self.strikes > self.server.config().rate_limit_strikes {
                return Some(DisconnectReason::RateLimited);
            }
            return None;
        }
        match decoded {
            Ok(inbound) => self.dispatch(codec, inbound),
            Err(e) => self.refuse_frame(codec, e),
        }
    }

    /// Answers a frame that could not be decoded; `Some` when there were too many.
    fn refuse_frame(&mut self, codec: Codec, fe: FrameError) -> Option<DisconnectReason> {
        self.bad_frames += 1;
        let wire = fe.to_wire();
        match fe.id.as_deref() {
            Some(id) => self.reply_error(
                codec,
                fe.x.as_deref().unwrap_or(""),
                Some(id),
                fe.w.as_ref(),
                &wire,
            ),
            None => self.reply_error(codec, "", None, None, &wire),
        }
        if self.bad_frames > self.server.config().max_bad_frames {
            return Some(DisconnectReason::TooManyBadFrames);
        }
        None
    }

    /// Starts the handler of a frame, or answers why there is none; `Some` ends the
    /// connection (a malformed frame too many).
    fn dispatch(&mut self, codec: Codec, frame: Inbound<'_>) -> Option<DisconnectReason> {
        // Fields borrowed one by one (no clone of the server's `Arc`, whose count every
        // connection would otherwise bump on every frame).
        let route: Option<&Route<S, C>> = self.server.routes().get(&*frame.event);
        let handler = route.filter(|route| {
            matches!(
                (frame.kind, route.kind),
                (FrameType::Request, EventKind::Request) | (FrameType::Send, EventKind::Send)
            )
        });
        if let Some(route) = handler {
            let started = start(
                &mut self.in_flight,
                &mut self.spare,
                &self.conn,
                self.server.state(),
                route,
                frame,
            );
            return started.err().and_then(|e| self.refuse_frame(codec, e));
        }
        // Not decoded by a handler: checked here, so that a malformed payload is refused
        // as such on every path.
        if let Err(e) = frame.payload.check() {
            return self.refuse_frame(codec, e);
        }
        match (frame.kind, route) {
            (FrameType::Request | FrameType::Send, found) => {
                let message = match found {
                    Some(route) => format!(
                        "event `{}` is {}; it cannot be sent as a `{}`",
                        frame.event,
                        match route.kind {
                            EventKind::Request => "a request",
                            EventKind::Send => "a one-way event",
                            EventKind::Push => "a server push",
                        },
                        frame.kind.as_str()
                    ),
                    None => format!("no handler for event `{}`", frame.event),
                };
                metrics::counter!("wsx_frames_in_total", "event" => "unknown").increment(1);
                let wire = WireError::new(ErrorCode::UnknownEvent, message);
                self.reply_error(
                    codec,
                    &frame.event,
                    frame.id.as_deref(),
                    frame.sender_clock.as_ref(),
                    &wire,
                );
            }
            (FrameType::ResponseOk | FrameType::ResponseError, _) => {
                tracing::debug!(conn = self.conn.id(), event = %frame.event, "ignoring a response: the server sends no requests");
            }
        }
        None
    }

    /// Queues an error: a `response_error` when there is a request id, else a `$error`
    /// push.
    fn reply_error(
        &self,
        codec: Codec,
        event: &str,
        id: Option<&str>,
        sender_clock: Option<&serde_json::Number>,
        wire: &WireError,
    ) {
        if let Some(code) = wire.code {
            metrics::counter!("wsx_errors_total", "code" => code.as_str()).increment(1);
        }
        let encoded = match id {
            Some(id) => {
                Outbound::encode(codec, &OutFrame::error(event, Some(id), sender_clock, wire))
            }
            None => Outbound::encode(codec, &OutFrame::error_push(wire)),
        };
        match encoded {
            Ok(item) => {
                self.conn.peer().enqueue_own(item);
            }
            Err(e) => tracing::error!(%e, "error reply could not be encoded"),
        }
    }
}

/// Starts the handler of a frame. Most handlers finish without waiting: the route polls
/// it once (see `start_handler`) and its reply is queued at once, so only the ones that
/// really wait take a slot in `in_flight`. `Err` when the frame turned out malformed as
/// its payload was decoded: for the session to refuse.
fn start<S, C>(
    in_flight: &mut Option<Box<InFlight>>,
    spare: &mut Spare,
    conn: &Conn<C>,
    state: &S,
    route: &Route<S, C>,
    frame: Inbound<'_>,
) -> Result<(), FrameError> {
    match route.handler.start(conn, state, frame, spare) {
        Started::Done(Some(item)) => {
            conn.peer().enqueue_own(item);
        }
        Started::Done(None) => {}
        Started::Waiting(fut) => in_flight.get_or_insert_with(Default::default).push(fut),
        Started::Malformed(e) => return Err(e),
    }
    route.frames_in().increment(1);
    Ok(())
}

/// Why a read failed, by the WebSocket layer's error type (never by its text).
fn read_error(e: axum::Error) -> DisconnectReason {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(t) = err.downcast_ref::<tungstenite::Error>() {
            return match t {
                tungstenite::Error::Capacity(_) => DisconnectReason::MessageTooLarge,
                tungstenite::Error::Protocol(p) => DisconnectReason::ProtocolError(p.to_string()),
                tungstenite::Error::Utf8(detail) => DisconnectReason::InvalidData(detail.clone()),
                other => DisconnectReason::TransportError(other.to_string()),
            };
        }
        source = err.source();
    }
    DisconnectReason::TransportError(e.to_string())
}

/// Writes a burst with one flush; `progress` counts the frames the socket took.
async fn write_batch<T: Transport>(
    socket: &mut T,
    batch: &mut VecDeque<Outbound>,
    progress: &AtomicU64,
) -> Result<Wrote, axum::Error> {
    let mut frames = 0u64;
    while let Some(item) = batch.pop_front() {
        match item {
            Outbound::Message { msg, .. } => {
                frames += 1;
                socket.feed(msg).await?;
                progress.store(frames, Ordering::Relaxed);
            }
            Outbound::Close { code, reason } => {
                socket.feed(close_message(code, &reason)).await?;
                socket.flush().await?;
                return Ok(Wrote::Closed(code, reason));
            }
        }
    }
    socket.flush().await?;
    let counters = io_counters();
    counters.writes.increment(1);
    counters.frames_written.increment(frames);
    Ok(Wrote::Flushed)
}
