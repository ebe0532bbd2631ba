//! The [`Client`] handle: typed requests, sends and subscriptions.

use crate::builder::{ClientBuilder, Config};
use crate::connection::{self, Command};
use crate::error::{Error, ServerError};
use crate::pending::{Outcome, Pending};
use crate::state::{CloseReason, ConnectionState, StateCell, StateStream};
use crate::subscribe::{Listener, ServerErrors, Subscribers, Subscription};
use rand::Rng;
use serde_json::Number;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use wsx_core::codec::EncodeError;
use wsx_core::event::{PushEvent, RequestEvent, SendEvent};
use wsx_core::protocol::OutFrame;
use wsx_core::validate::{self, PayloadError};
use wsx_core::{Codec, Event};

/// How many commands may wait for the I/O task before callers are made to wait.
const COMMAND_BUFFER: usize = 256;

/// What the handles and the I/O task share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) pending: Pending,
    pub(crate) subs: Subscribers,
    pub(crate) state: StateCell,
    /// Request ids are `<prefix>-<counter>`: unique per client, and the random prefix
    /// keeps two clients (or two runs) from reusing each other's ids.
    id_prefix: String,
    next_id: AtomicU64,
}

impl Shared {
    fn next_request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id_prefix)
    }

    fn closed_error(&self) -> Error {
        Error::Closed {
            reason: self.state.closed().unwrap_or(CloseReason::ClientClosed),
        }
    }
}

/// A connection to a wsx server, typed by the events of a `define_events!` set.
///
/// Cheap to clone; every clone talks to the same connection, which a background task
/// owns and re-establishes when it drops (see [`ReconnectPolicy`](crate::ReconnectPolicy)).
/// The connection closes when [`Client::close`] is called or the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    /// Set on the handle given to the `on_reconnect` hook: its calls skip the queue.
    restoring: bool,
}

impl Client {
    /// A builder for the server at `url`; see [`ClientBuilder`].
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// Connects to `url` with the default settings.
    pub async fn connect(url: impl Into<String>) -> Result<Client, Error> {
        ClientBuilder::new(url).connect().await
    }

    pub(crate) async fn start(config: Config) -> Result<Client, Error> {
        let ws = connection::open(&config)
            .await
            .map_err(connection::ConnectError::into_error)?;
        let state = StateCell::new(ConnectionState::Open);
        let prefix: String = {
            let mut rng = rand::rng();
            (0..8)
                .map(|_| {
                    char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[rng.random_range(0..36)])
                })
                .collect()
        };
        let shared = Arc::new(Shared {
            subs: Subscribers::new(config.push_buffer),
            config,
            pending: Pending::default(),
            state,
            id_prefix: prefix,
            next_id: AtomicU64::new(1),
        });
        let (commands, rx) = mpsc::channel(COMMAND_BUFFER);
        tokio::spawn(connection::run(
            shared.clone(),
            ws,
            rx,
            commands.downgrade(),
        ));
        Ok(Client {
            shared,
            commands,
            restoring: false,
        })
    }

    /// The handle given to the `on_reconnect` hook.
    pub(crate) fn restoring(shared: Arc<Shared>, commands: mpsc::Sender<Command>) -> Client {
        Client {
            shared,
            commands,
            restoring: true,
        }
    }

    /// Sends request `E` and waits for its typed answer, up to the client's request
    /// timeout.
    ///
    /// The payload is validated first: an invalid one fails with
    /// [`Error::InvalidPayload`] and never reaches the wire. The answer is validated
    /// against `E::Response`'s schema. Dropping the future cancels the request: its
    /// answer, if one comes, is discarded. A request made while the client is
    /// reconnecting waits (within its timeout) and is sent once on the new connection;
    /// one already sent when the connection drops fails with [`Error::ConnectionLost`]
    /// and is never re-sent.
    pub async fn request<E: RequestEvent>(
        &self,
        payload: E::Payload,
    ) -> Result<E::Response, Error> {
        self.request_with_timeout::<E>(payload, self.shared.config.request_timeout)
            .await
    }

    /// [`Client::request`] with its own timeout.
    pub async fn request_with_timeout<E: RequestEvent>(
        &self,
        payload: E::Payload,
        timeout: Duration,
    ) -> Result<E::Response, Error> {
        let value = validate::check(&payload).map_err(|e| refused::<E>(e))?;
        let id = self.shared.next_request_id();
        let w = Number::from(now_ms());
        let frame = encode(
            self.shared.config.codec,
            &OutFrame::request(E::NAME, &id, &w, &value),
        )?;
        let (guard, answer) = self
            .shared
            .pending
            .insert(id.clone())
            .map_err(|reason| Error::Closed { reason })?;
        let exchange = async {
            let command = Command::Request {
                id: guard.id().to_owned(),
                frame,
                restoring: self.restoring,
            };
            self.commands
                .send(command)
                .await
                .map_err(|_| self.shared.closed_error())?;
            answer.await.map_err(|_| self.shared.closed_error())
        };
        let outcome = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Timeout {
                event: E::NAME,
                after: timeout,
            })??;
        drop(guard);
        match outcome {
            Outcome::Ok(value) => {
                validate::decode::<E::Response>(value).map_err(|e| Error::Protocol {
                    message: format!(
                        "the answer to `{}` breaks its schema: {}",
                        E::NAME,
                        describe(&e)
                    ),
                })
            }
            Outcome::Err(wire) => Err(Error::Server(ServerError::from_wire(E::NAME, wire))),
            Outcome::Lost => Err(Error::ConnectionLost { event: E::NAME }),
            Outcome::Closed(reason) => Err(Error::Closed { reason }),
            Outcome::QueueFull(capacity) => Err(Error::QueueFull { capacity }),
        }
    }

    /// Sends one-way event `E`. Returns once the message is written, or queued while the
    /// client reconnects (it goes out, once, on the next connection; a full queue is
    /// [`Error::QueueFull`]). The payload is validated first.
    pub async fn send<E: SendEvent>(&self, payload: E::Payload) -> Result<(), Error> {
        let value = validate::check(&payload).map_err(|e| refused::<E>(e))?;
        let frame = encode(self.shared.config.codec, &OutFrame::send(E::NAME, &value))?;
        let (ack, written) = oneshot::channel();
        self.commands
            .send(Command::Send {
                frame,
                restoring: self.restoring,
                ack,
            })
            .await
            .map_err(|_| self.shared.closed_error())?;
        written.await.map_err(|_| self.shared.closed_error())?
    }

    /// A typed stream of push event `E`'s payloads. Any number of subscriptions may
    /// exist per event; each gets every push. Pushes that break their schema are
    /// dropped (and logged).
    pub fn subscribe<E: PushEvent>(&self) -> Subscription<E::Payload> {
        self.shared.subs.subscribe::<E::Payload>(E::NAME)
    }

    /// Calls `callback` with every push of event `E`, on a task of its own.
    pub fn on<E, F>(&self, mut callback: F) -> Listener
    where
        E: PushEvent,
        F: FnMut(E::Payload) + Send + 'static,
    {
        let mut pushes = self.subscribe::<E>();
        let task = tokio::spawn(async move {
            while let Some(payload) = pushes.recv().await {
                callback(payload);
            }
        });
        Listener {
            task: task.abort_handle(),
        }
    }

    /// The `$error` pushes of the server: frames it could not decode, one-way events it
    /// refused. Also logged.
    pub fn server_errors(&self) -> ServerErrors {
        self.shared.subs.server_errors()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.shared.state.get()
    }

    /// Every state change from now on.
    pub fn states(&self) -> StateStream {
        self.shared.state.stream()
    }

    /// Waits until the connection is open, up to `timeout`; `false` on timeout or if the
    /// client closed.
    pub async fn wait_open(&self, timeout: Duration) -> bool {
        let mut rx: watch::Receiver<ConnectionState> = self.shared.state.watch();
        let open = rx.wait_for(|s| s.is_open() || s.is_closed());
        matches!(tokio::time::timeout(timeout, open).await, Ok(Ok(s)) if s.is_open())
    }

    /// The codec of this client's messages.
    pub fn codec(&self) -> Codec {
        self.shared.config.codec
    }

    /// How many requests wait for an answer.
    pub fn pending_requests(&self) -> usize {
        self.shared.pending.len()
    }

    /// Closes the connection (close code 1000) and the client for good: waiting calls
    /// fail with [`Error::Closed`], subscriptions end.
    pub async fn close(&self) {
        let (ack, closed) = oneshot::channel();
        if self.commands.send(Command::Close { ack }).await.is_ok() {
            let _ = closed.await;
        }
    }
}

fn refused<E: Event>(e: PayloadError) -> Error {
    match e {
        PayloadError::Invalid(fields) => Error::InvalidPayload {
            event: E::NAME,
            fields,
        },
        PayloadError::Schema { type_name, message } => Error::Protocol {
            message: format!("the schema of `{type_name}` does not compile: {message}"),
        },
    }
}

fn describe(e: &PayloadError) -> String {
    match e {
        PayloadError::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{} {}", f.path, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn encode<P: serde::Serialize + ?Sized>(
    codec: Codec,
    frame: &OutFrame<'_, P>,
) -> Result<Message, Error> {
    let encoded = codec
        .encode(frame)
        .map_err(|EncodeError(message)| Error::Protocol { message })?;
    if encoded.text {
        Utf8Bytes::try_from(encoded.bytes)
            .map(Message::Text)
            .map_err(|_| Error::Protocol {
                message: "JSON encoder produced invalid UTF-8".to_owned(),
            })
    } else {
        Ok(Message::Binary(encoded.bytes))
    }
}

/// The sender clock of a request (`w`): milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
