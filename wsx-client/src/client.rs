//! The [`Client`] handle: typed requests, sends and subscriptions.

use crate::config::Config;
use crate::connection::{self, Command, Restore};
use crate::error::{Error, ServerError};
use crate::pending::Outcome;
use crate::shared::Shared;
use crate::state::{ConnectionState, StateCell, StateStream};
use crate::subscribe::{Listener, ServerErrors, Subscribers, Subscription};
use futures::future::BoxFuture;
use serde_json::Number;
use std::sync::Arc;
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

/// The app's `on_reconnect` hook.
pub(crate) type ReconnectHook = Arc<dyn Fn(Client) -> BoxFuture<'static, ()> + Send + Sync>;

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
    /// Connects (see [`connection::open_first`]) and starts the I/O task.
    pub(crate) async fn start(
        config: Config,
        subs: Subscribers,
        hook: Option<ReconnectHook>,
    ) -> Result<Client, Error> {
        let (ws, url) = connection::open_first(&config).await?;
        let state = StateCell::new(ConnectionState::Open);
        let shared = Arc::new(Shared::new(config, subs, state, url));
        let restore = hook.map(|hook| {
            let shared = shared.clone();
            Box::new(move |commands| hook(Client::restoring(shared.clone(), commands))) as Restore
        });
        let (commands, rx) = mpsc::channel(COMMAND_BUFFER);
        tokio::spawn(connection::run(
            shared.clone(),
            ws,
            rx,
            commands.downgrade(),
            restore,
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

    /// A typed stream of push event `E`'s payloads, from now on. Any number of
    /// subscriptions may exist per event; each gets every push, and learns of pushes it
    /// lost by falling behind ([`Lagged`](crate::Lagged)). Pushes that break their schema
    /// are dropped (and logged).
    ///
    /// Pushes the server sends as the connection opens (a greeting from its open hook)
    /// may arrive before this is called: subscribe on the builder
    /// ([`ClientBuilder::subscribe`](crate::ClientBuilder::subscribe)) to be sure of them.
    pub fn subscribe<E: PushEvent>(&self) -> Subscription<E::Payload> {
        self.shared.subs.subscribe::<E::Payload>(E::NAME)
    }

    /// Calls `callback` with every push of event `E`, on a task of its own. Pushes lost
    /// because the callback fell behind are logged and skipped.
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

    /// Connects again now, when the server closed the connection with a final code
    /// ([`ConnectionState::Disconnected`]): call it when the user acts again. It goes to
    /// the same URL as the connection the server closed, at once. The
    /// `on_reconnect` hook runs, then the queued messages go out, as after any
    /// reconnect; if the attempt fails, the [`ReconnectPolicy`](crate::ReconnectPolicy)'s
    /// backoff takes over. While the client waits between reconnect attempts, this
    /// makes the next attempt at once; while it is connecting or open, it does nothing.
    ///
    /// Returns once the I/O task has taken the request, not when the connection is
    /// open: follow [`Client::states`] or use [`Client::wait_open`]. Fails with
    /// [`Error::Closed`] if the client is closed for good.
    pub async fn reconnect(&self) -> Result<(), Error> {
        self.commands
            .send(Command::Reconnect)
            .await
            .map_err(|_| self.shared.closed_error())
    }

    /// The URL of the server this client is connected to, or trying now (one of
    /// [`ClientBuilder::urls`](crate::ClientBuilder::urls)).
    pub fn url(&self) -> &str {
        self.shared.url()
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
