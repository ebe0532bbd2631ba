//! The I/O task: owns the socket, writes what the handles ask for, routes what arrives,
//! keeps the connection alive and replaces it when it dies.
//!
//! One task per client runs [`run`]: a *connection* loop while a socket is open, and a
//! *reconnect* loop in between. In both, commands from the handles keep being served:
//! while disconnected (or while the `on_reconnect` hook runs) messages wait in the bounded
//! outbox and go out, in order, once the connection is open and restored.
//!
//! A close frame whose code the policy treats as final ends the connection loop without a
//! reconnect loop: the task then waits (still queueing) for [`Command::Reconnect`].

use crate::config::Config;
use crate::error::{Error, ServerError};
use crate::pending::Outcome;
use crate::shared::Shared;
use crate::state::{CloseReason, ConnectionState};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsx_core::Codec;
use wsx_core::error::WireError;
use wsx_core::protocol::{ERROR_EVENT, FrameType};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Starts the `on_reconnect` hook, given the command channel its handle will use.
pub(crate) type Restore =
    Box<dyn Fn(mpsc::Sender<Command>) -> BoxFuture<'static, ()> + Send + Sync>;

/// What a handle asks of the I/O task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write a request (registered in the pending table under `id`).
    Request {
        id: String,
        frame: Message,
        restoring: bool,
    },
    /// Write a one-way event; `ack` says whether it was written or queued.
    Send {
        frame: Message,
        restoring: bool,
        ack: oneshot::Sender<Result<(), Error>>,
    },
    /// Close for good; `ack` fires once closed.
    Close { ack: oneshot::Sender<()> },
    /// Connect now: after a final close, or to cut a reconnect delay short.
    Reconnect,
}

/// A message waiting for a connection.
#[derive(Debug)]
enum Queued {
    Request { id: String, frame: Message },
    Send(Message),
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// No handshake within the handshake timeout.
    Timeout(Duration),
    /// The server answered the upgrade with an HTTP client error: do not retry.
    Refused(u16),
    /// Anything else (refused TCP, bad URL, a 5xx…).
    Other(String),
}

impl ConnectError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            ConnectError::Timeout(after) => Error::HandshakeTimeout { after },
            ConnectError::Refused(status) => Error::Connect {
                message: format!("server refused the upgrade with HTTP {status}"),
            },
            ConnectError::Other(message) => Error::Connect { message },
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Timeout(after) => write!(f, "handshake timed out after {after:?}"),
            ConnectError::Refused(status) => write!(f, "upgrade refused with HTTP {status}"),
            ConnectError::Other(message) => f.write_str(message),
        }
    }
}

/// The first connection: each URL in turn, one attempt each, until one opens. An HTTP
/// client error (the server refused) ends the search, as it ends reconnecting. Returns
/// the socket and the index of its URL.
pub(crate) async fn open_first(config: &Config) -> Result<(Ws, usize), Error> {
    let mut last = None;
    for (index, url) in config.urls.iter().enumerate() {
        match open(config, url).await {
            Ok(ws) => return Ok((ws, index)),
            Err(e @ ConnectError::Refused(_)) => return Err(e.into_error()),
            Err(e) => {
                tracing::debug!(url, error = %e, "connect failed");
                last = Some((url, e));
            }
        }
    }
    Err(match last {
        Some((_, e)) if config.urls.len() == 1 => e.into_error(),
        Some((url, e)) => Error::Connect {
            message: format!(
                "none of the {} URLs answered; the last, {url}: {e}",
                config.urls.len()
            ),
        },
        None => Error::Connect {
            message: "no URL to connect to".to_owned(),
        },
    })
}

/// One connection attempt to `url`: TCP, then the WebSocket handshake, within the
/// handshake timeout.
pub(crate) async fn open(config: &Config, url: &str) -> Result<Ws, ConnectError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Other(format!("bad URL: {e}")))?;
    for (name, value) in &config.headers {
        request.headers_mut().append(name, value.clone());
    }
    let offered = config.offered_subprotocols();
    if !offered.is_empty() {
        let offered = offered.join(", ");
        let value = http::HeaderValue::try_from(offered)
            .map_err(|_| ConnectError::Other("invalid subprotocol name".to_owned()))?;
        request
            .headers_mut()
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size));
    let attempt = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    match tokio::time::timeout(config.handshake_timeout, attempt).await {
        Err(_) => Err(ConnectError::Timeout(config.handshake_timeout)),
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            if (400..500).contains(&status) && status != 408 && status != 429 {
                Err(ConnectError::Refused(status))
            } else {
                Err(ConnectError::Other(format!(
                    "upgrade answered with HTTP {status}"
                )))
            }
        }
        Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
    }
}

/// How a connection loop ended.
enum ConnectionEnd {
    /// The app closed the client.
    Closed,
    /// The connection died, or the server closed it with a code that is not final
    /// (`close_code`); reconnect.
    Dropped {
        error: String,
        close_code: Option<u16>,
    },
    /// The server closed with a final code: wait for [`Command::Reconnect`].
    Final { code: u16, reason: String },
}

impl ConnectionEnd {
    /// The connection died without a close from the server.
    fn lost(error: String) -> ConnectionEnd {
        ConnectionEnd::Dropped {
            error,
            close_code: None,
        }
    }
}

/// How [`Io::serve_until`] ended.
enum Served<T> {
    /// The future finished.
    Done(T),
    /// The app asked to connect now (only where that was allowed).
    ReconnectNow,
    /// The app closed the client.
    Closed,
}

/// The state of the I/O task, kept from one connection to the next.
struct Io {
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    /// To build the handle given to the hook without keeping the channel open forever.
    weak: mpsc::WeakSender<Command>,
    outbox: VecDeque<Queued>,
    /// Failed attempts in a row.
    attempt: u32,
    /// Who waits for [`Command::Close`] to finish.
    close_waiters: Vec<oneshot::Sender<()>>,
    /// The app's `on_reconnect` hook, if it gave one.
    restore: Option<Restore>,
}

/// Cancels the hook when the connection loop ends.
struct HookTask(JoinHandle<()>);

impl HookTask {
    /// Cancels the hook and waits until its future is dropped, so nothing it does can
    /// come after what the caller does next.
    async fn cancel(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for HookTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the client until it closes for good.
pub(crate) async fn run(
    shared: Arc<Shared>,
    ws: Ws,
    commands: mpsc::Receiver<Command>,
    weak: mpsc::WeakSender<Command>,
    restore: Option<Restore>,
) {
    let mut io = Io {
        shared,
        commands,
        weak,
        outbox: VecDeque::new(),
        attempt: 0,
        close_waiters: Vec::new(),
        restore,
    };
    let mut ws = ws;
    let mut restoring = false;
    loop {
        let started = Instant::now();
        let end = io.serve_connection(ws, restoring).await;
        if started.elapsed() >= io.shared.config.reconnect.stable_period() {
            io.attempt = 0;
        }
        let next = match end {
            ConnectionEnd::Closed => return io.finish(CloseReason::ClientClosed),
            ConnectionEnd::Dropped { error, close_code } => {
                let lost = io.shared.pending.fail_sent();
                tracing::info!(%error, lost, queued = io.outbox.len(), url = io.shared.url(), "connection lost");
                io.shared.next_url();
                io.reconnect(error, close_code, false).await
            }
            ConnectionEnd::Final { code, reason } => {
                let lost = io.shared.pending.fail_sent();
                tracing::info!(code, %reason, lost, queued = io.outbox.len(), "server closed the connection for good; waiting for reconnect()");
                let error = format!("server closed the connection: {code} {reason}");
                io.shared
                    .state
                    .set(ConnectionState::Disconnected { code, reason });
                match io.serve_until(std::future::pending::<()>(), true).await {
                    Served::Closed => return io.finish(CloseReason::ClientClosed),
                    Served::Done(()) | Served::ReconnectNow => {}
                }
                io.reconnect(error, Some(code), true).await
            }
        };
        match next {
            Ok(next) => {
                ws = next;
                restoring = true;
            }
            Err(reason) => return io.finish(reason),
        }
    }
}

impl Io {
    /// Serves one open connection until it ends.
    async fn serve_connection(&mut self, mut ws: Ws, restoring: bool) -> ConnectionEnd {
        if restoring {
            self.shared.state.set(ConnectionState::Open);
        }
        let config = self.shared.config.clone();
        let mut hook = match (&self.restore, restoring, self.weak.upgrade()) {
            (Some(hook), true, Some(commands)) => Some(HookTask(tokio::spawn(hook(commands)))),
            _ => None,
        };
        if hook.is_none() {
            if let Err(e) = self.flush(&mut ws).await {
                return ConnectionEnd::lost(e);
            }
        }
        let mut ping = config.ping_interval.map(|every| {
            let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        let mut pong_deadline: Option<Instant> = None;
        // A hook that hangs must not hold the queue forever.
        let mut hook_deadline = hook
            .as_ref()
            .map(|_| Instant::now() + config.request_timeout);
        loop {
            tokio::select! {
                message = ws.next() => {
                    pong_deadline = None;
                    match message {
                        None => return ConnectionEnd::lost("connection closed".to_owned()),
                        Some(Err(e)) => return ConnectionEnd::lost(e.to_string()),
                        Some(Ok(Message::Text(text))) => self.on_message(true, text.as_bytes()),
                        Some(Ok(Message::Binary(bytes))) => self.on_message(false, &bytes),
                        Some(Ok(Message::Close(frame))) => {
                            // Send the answer to the close, briefly: the socket is done.
                            let _ = tokio::time::timeout(config.pong_timeout.min(Duration::from_secs(1)), ws.flush()).await;
                            return match frame {
                                Some(f) if config.reconnect.is_final(u16::from(f.code)) => ConnectionEnd::Final {
                                    code: u16::from(f.code),
                                    reason: f.reason.to_string(),
                                },
                                Some(f) => ConnectionEnd::Dropped {
                                    error: format!("server closed the connection: {} {}", u16::from(f.code), f.reason),
                                    close_code: Some(u16::from(f.code)),
                                },
                                None => ConnectionEnd::lost("server closed the connection".to_owned()),
                            };
                        }
                        Some(Ok(_)) => {}
                    }
                }
                command = self.commands.recv() => match command {
                    None => {
                        self.goodbye(&mut ws).await;
                        return ConnectionEnd::Closed;
                    }
                    Some(Command::Close { ack }) => {
                        self.close_waiters.push(ack);
                        self.goodbye(&mut ws).await;
                        return ConnectionEnd::Closed;
                    }
                    // Connected already.
                    Some(Command::Reconnect) => {}
                    Some(command) => {
                        let at_once = hook.is_none() || matches!(
                            command,
                            Command::Request { restoring: true, .. } | Command::Send { restoring: true, .. }
                        );
                        if at_once {
                            if let Err(e) = self.write_command(&mut ws, command).await {
                                return ConnectionEnd::lost(e);
                            }
                        } else {
                            self.enqueue(command);
                        }
                    }
                },
                _ = tick(&mut ping) => {
                    if let Err(e) = write(&mut ws, Message::Ping(Default::default()), config.pong_timeout).await {
                        return ConnectionEnd::lost(e);
                    }
                    if pong_deadline.is_none() {
                        pong_deadline = Some(Instant::now() + config.pong_timeout);
                    }
                }
                _ = sleep_until(pong_deadline) => {
                    return ConnectionEnd::lost(format!("no answer to ping within {:?}", config.pong_timeout));
                }
                _ = sleep_until(hook_deadline) => {
                    tracing::warn!(after = ?config.request_timeout, "on_reconnect hook still running; cancelled, flushing the queue");
                    if let Some(task) = hook.take() {
                        task.cancel().await;
                    }
                    hook_deadline = None;
                    if let Err(e) = self.flush(&mut ws).await {
                        return ConnectionEnd::lost(e);
                    }
                }
                _ = join(&mut hook) => {
                    hook = None;
                    hook_deadline = None;
                    tracing::debug!(queued = self.outbox.len(), "on_reconnect hook done; flushing the queue");
                    if let Err(e) = self.flush(&mut ws).await {
                        return ConnectionEnd::lost(e);
                    }
                }
            }
        }
    }

    /// Waits before each attempt and makes it, until one succeeds, the attempts run
    /// out, or the app closes the client. With `now`, the first attempt is made at once
    /// and counts as attempt 1 whatever the policy's limit (the app asked for it).
    /// [`Command::Reconnect`] cuts a wait short. Every failed attempt moves on to the
    /// next URL.
    async fn reconnect(
        &mut self,
        mut error: String,
        mut close_code: Option<u16>,
        mut now: bool,
    ) -> Result<Ws, CloseReason> {
        let policy = self.shared.config.reconnect.clone();
        if now {
            self.attempt = 0;
        }
        loop {
            self.attempt = self.attempt.saturating_add(1);
            if !now {
                if !policy.allows(self.attempt) {
                    return Err(CloseReason::GaveUp {
                        attempts: self.attempt - 1,
                        last_error: error,
                    });
                }
                let delay = policy.delay(self.attempt);
                self.shared.state.set(ConnectionState::Reconnecting {
                    attempt: self.attempt,
                    delay,
                    error: error.clone(),
                    close_code,
                });
                if let Served::Closed = self.serve_until(tokio::time::sleep(delay), true).await {
                    return Err(CloseReason::ClientClosed);
                }
            }
            now = false;
            self.shared.state.set(ConnectionState::Connecting {
                attempt: self.attempt,
            });
            let config = self.shared.config.clone();
            let url = self.shared.url().to_owned();
            let attempt = match self.serve_until(open(&config, &url), false).await {
                Served::Done(attempt) => attempt,
                // `ReconnectNow` is not given while connecting (not interruptible).
                Served::ReconnectNow | Served::Closed => return Err(CloseReason::ClientClosed),
            };
            match attempt {
                Ok(ws) => {
                    tracing::info!(attempt = self.attempt, url, "reconnected");
                    return Ok(ws);
                }
                Err(ConnectError::Refused(status)) => return Err(CloseReason::Refused { status }),
                Err(e) => {
                    tracing::debug!(attempt = self.attempt, url, error = %e, "reconnect attempt failed");
                    error = e.to_string();
                    close_code = None;
                    self.shared.next_url();
                }
            }
        }
    }

    /// Runs `fut` while queueing what the handles ask. A [`Command::Reconnect`] ends the
    /// wait if `interruptible`, and is ignored otherwise.
    async fn serve_until<F: Future>(&mut self, fut: F, interruptible: bool) -> Served<F::Output> {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Served::Done(out),
                command = self.commands.recv() => match command {
                    None => return Served::Closed,
                    Some(Command::Close { ack }) => {
                        self.close_waiters.push(ack);
                        return Served::Closed;
                    }
                    Some(Command::Reconnect) => {
                        if interruptible {
                            return Served::ReconnectNow;
                        }
                    }
                    Some(command) => self.enqueue(command),
                },
            }
        }
    }

    /// Queues a message for the next connection, or refuses it if the queue is full.
    fn enqueue(&mut self, command: Command) {
        let capacity = self.shared.config.send_queue;
        if self.outbox.len() >= capacity {
            // Requests cancelled while queued no longer take a place.
            let pending = &self.shared.pending;
            self.outbox.retain(|queued| match queued {
                Queued::Request { id, .. } => pending.is_waiting(id),
                Queued::Send(_) => true,
            });
        }
        let full = self.outbox.len() >= capacity;
        match command {
            Command::Request { id, frame, .. } => {
                if full {
                    self.shared
                        .pending
                        .complete(&id, Outcome::QueueFull(capacity));
                } else if self.shared.pending.is_waiting(&id) {
                    self.outbox.push_back(Queued::Request { id, frame });
                }
            }
            Command::Send { frame, ack, .. } => {
                if full {
                    let _ = ack.send(Err(Error::QueueFull { capacity }));
                } else {
                    self.outbox.push_back(Queued::Send(frame));
                    let _ = ack.send(Ok(()));
                }
            }
            Command::Close { ack } => self.close_waiters.push(ack),
            Command::Reconnect => {}
        }
    }

    /// Writes one command to the socket.
    async fn write_command(&mut self, ws: &mut Ws, command: Command) -> Result<(), String> {
        let timeout = self.shared.config.pong_timeout;
        match command {
            Command::Request { id, frame, .. } => {
                // Marked before the write: if the write fails, the request may have
                // reached the server, so it fails as lost rather than being re-sent.
                if self.shared.pending.mark_sent(&id) {
                    write(ws, frame, timeout).await?;
                }
                Ok(())
            }
            Command::Send { frame, ack, .. } => match write(ws, frame.clone(), timeout).await {
                Ok(()) => {
                    let _ = ack.send(Ok(()));
                    Ok(())
                }
                Err(e) => {
                    // Not written: it goes out on the next connection instead.
                    self.outbox.push_front(Queued::Send(frame));
                    let _ = ack.send(Ok(()));
                    Err(e)
                }
            },
            Command::Close { ack } => {
                self.close_waiters.push(ack);
                Ok(())
            }
            Command::Reconnect => Ok(()),
        }
    }

    /// Sends everything queued, in order (requests nobody waits for any more are skipped).
    async fn flush(&mut self, ws: &mut Ws) -> Result<(), String> {
        let timeout = self.shared.config.pong_timeout;
        while let Some(queued) = self.outbox.pop_front() {
            match queued {
                Queued::Request { id, frame } => {
                    if self.shared.pending.mark_sent(&id) {
                        write(ws, frame, timeout).await?;
                    }
                }
                Queued::Send(frame) => {
                    if let Err(e) = write(ws, frame.clone(), timeout).await {
                        self.outbox.push_front(Queued::Send(frame));
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes the socket politely (1000), without waiting long for the server.
    async fn goodbye(&mut self, ws: &mut Ws) {
        let close = ws.close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "client closed".into(),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
    }

    /// Routes one message from the server.
    fn on_message(&self, text: bool, bytes: &[u8]) {
        let frame = match Codec::sniff(text, bytes).decode(bytes) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable message from the server; ignored");
                return;
            }
        };
        let pending = &self.shared.pending;
        match frame.t {
            FrameType::ResponseOk | FrameType::ResponseError => {
                let Some(id) = frame.id else { return };
                let outcome = match frame.t {
                    FrameType::ResponseOk => Outcome::Ok(frame.p.unwrap_or(Value::Null)),
                    _ => Outcome::Err(frame.e.unwrap_or_else(|| WireError {
                        message: "response_error without `e`".to_owned(),
                        code: None,
                        cause: None,
                    })),
                };
                if !pending.complete(&id, outcome) {
                    tracing::debug!(%id, event = %frame.x, "answer to a request nobody waits for; discarded");
                }
            }
            FrameType::Send if frame.x == ERROR_EVENT => {
                let payload = frame.p.unwrap_or(Value::Null);
                let wire =
                    serde_json::from_value::<WireError>(payload.clone()).unwrap_or_else(|_| {
                        WireError {
                            message: payload.to_string(),
                            code: None,
                            cause: None,
                        }
                    });
                self.shared
                    .subs
                    .server_error(ServerError::from_wire(ERROR_EVENT, wire));
            }
            FrameType::Send => {
                let payload = frame.p.unwrap_or(Value::Null);
                self.shared.subs.deliver(&frame.x, &payload);
            }
            FrameType::Request => {
                tracing::debug!(event = %frame.x, "the server sent a request; this client answers none");
            }
        }
    }

    /// Closes for good: every waiting call fails, every subscription ends.
    fn finish(mut self, reason: CloseReason) {
        tracing::info!(%reason, "client closed");
        self.shared.state.set(ConnectionState::Closed {
            reason: reason.clone(),
        });
        self.shared.pending.close(&reason);
        let dropped = self
            .outbox
            .iter()
            .filter(|q| matches!(q, Queued::Send(_)))
            .count();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "queued sends dropped: the client closed before they could go out"
            );
        }
        self.outbox.clear();
        self.shared.subs.close();
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Send { ack, .. } = command {
                let _ = ack.send(Err(Error::Closed {
                    reason: reason.clone(),
                }));
            } else if let Command::Close { ack } = command {
                let _ = ack.send(());
            }
        }
        for ack in self.close_waiters.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Writes one message, bounded in time: a peer that stopped reading must not wedge the
/// task.
async fn write(ws: &mut Ws, message: Message, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, ws.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err(format!("write blocked for more than {timeout:?}")),
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn join(hook: &mut Option<HookTask>) {
    match hook {
        Some(task) => {
            if let Err(e) = (&mut task.0).await {
                if e.is_panic() {
                    tracing::error!("on_reconnect hook panicked");
                }
            }
        }
        None => std::future::pending().await,
    }
}
