//! Connection states: the current one, and a stream of every change.

use futures::Stream;
use futures::stream::BoxStream;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Where the connection stands. Changes are published in order on
/// [`Client::states`](crate::Client::states).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// A reconnection attempt is under way (TCP connect and WebSocket handshake), to
    /// [`Client::url`](crate::Client::url). The first connection is made by
    /// [`ClientBuilder::connect`](crate::ClientBuilder::connect) before any
    /// [`Client`](crate::Client) exists, so it is never observed here.
    Connecting {
        /// Reconnection attempt number, from 1.
        attempt: u32,
    },
    /// Connected. After a reconnect, the `on_reconnect` hook runs now, then the queued
    /// sends are flushed.
    Open,
    /// The connection dropped (or an attempt failed); the next attempt starts after `delay`.
    Reconnecting {
        /// The attempt about to be made, from 1.
        attempt: u32,
        /// How long the client waits before it.
        delay: Duration,
        /// Why the previous connection or attempt ended.
        error: String,
        /// The close code, when the server closed the previous connection (`1001`, going
        /// away, is its graceful shutdown: a restart); `None` when the connection was
        /// lost or an attempt failed.
        close_code: Option<u16>,
    },
    /// The server closed the connection with a code that the
    /// [`ReconnectPolicy`](crate::ReconnectPolicy) treats as final (by default `1008`
    /// policy violation and the app codes `4000`–`4999`, among them `4000`, the server's
    /// idle timeout): the client does **not** reconnect by itself. It stays like this,
    /// open to calls (sends and requests wait in the queue, requests within their
    /// timeout), until [`Client::reconnect`](crate::Client::reconnect) is called, say when
    /// the user acts again; the `on_reconnect` hook then runs as after any reconnect.
    Disconnected {
        /// The close code the server sent.
        code: u16,
        /// The reason the server gave with it (may be empty).
        reason: String,
    },
    /// Closed for good; every call fails with [`Error::Closed`](crate::Error::Closed).
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

impl ConnectionState {
    /// Whether the client is connected.
    pub fn is_open(&self) -> bool {
        matches!(self, ConnectionState::Open)
    }

    /// Whether the client is closed for good.
    pub fn is_closed(&self) -> bool {
        matches!(self, ConnectionState::Closed { .. })
    }

    /// Whether the server closed the connection for good and the client waits for
    /// [`Client::reconnect`](crate::Client::reconnect).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, ConnectionState::Disconnected { .. })
    }
}

/// Why a client closed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`Client::close`](crate::Client::close) was called, or every handle was dropped.
    ClientClosed,
    /// Reconnection gave up after the configured number of attempts.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        last_error: String,
    },
    /// The server refused the connection with an HTTP client error (401, 403, 404…);
    /// retrying would not help, so the client did not.
    Refused {
        /// The HTTP status.
        status: u16,
    },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ClientClosed => f.write_str("closed by the client"),
            CloseReason::GaveUp {
                attempts,
                last_error,
            } => {
                write!(
                    f,
                    "gave up reconnecting after {attempts} attempt(s); last error: {last_error}"
                )
            }
            CloseReason::Refused { status } => {
                write!(f, "server refused the connection with HTTP {status}")
            }
        }
    }
}

/// Publishes state changes: the current state (watch) and every change (broadcast).
#[derive(Debug)]
pub(crate) struct StateCell {
    current: watch::Sender<ConnectionState>,
    changes: broadcast::Sender<ConnectionState>,
}

impl StateCell {
    pub(crate) fn new(initial: ConnectionState) -> Self {
        let (current, _) = watch::channel(initial);
        let (changes, _) = broadcast::channel(64);
        StateCell { current, changes }
    }

    pub(crate) fn set(&self, state: ConnectionState) {
        tracing::debug!(?state, "connection state");
        self.current.send_replace(state.clone());
        let _ = self.changes.send(state);
    }

    pub(crate) fn get(&self) -> ConnectionState {
        self.current.borrow().clone()
    }

    /// The close reason, if closed.
    pub(crate) fn closed(&self) -> Option<CloseReason> {
        match &*self.current.borrow() {
            ConnectionState::Closed { reason } => Some(reason.clone()),
            _ => None,
        }
    }

    pub(crate) fn watch(&self) -> watch::Receiver<ConnectionState> {
        self.current.subscribe()
    }

    pub(crate) fn stream(&self) -> StateStream {
        let rx = self.changes.subscribe();
        let closed = self.closed();
        StateStream {
            inner: Box::pin(futures::stream::unfold(
                (rx, closed, false),
                |(mut rx, closed, done)| async move {
                    if done {
                        return None;
                    }
                    if let Some(reason) = closed {
                        // Created after the close: say so once, then end.
                        return Some((ConnectionState::Closed { reason }, (rx, None, true)));
                    }
                    loop {
                        match rx.recv().await {
                            Ok(state) => {
                                let done = state.is_closed();
                                return Some((state, (rx, None, done)));
                            }
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                tracing::debug!(skipped = n, "state stream lagged");
                            }
                            Err(broadcast::error::RecvError::Closed) => return None,
                        }
                    }
                },
            )),
        }
    }
}

/// Every change of [`ConnectionState`], in order, from the moment it was created. Ends
/// after the client closes. A reader that falls more than 64 changes behind skips the
/// oldest.
pub struct StateStream {
    inner: BoxStream<'static, ConnectionState>,
}

impl fmt::Debug for StateStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStream").finish_non_exhaustive()
    }
}

impl Stream for StateStream {
    type Item = ConnectionState;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionState>> {
        self.inner.as_mut().poll_next(cx)
    }
}
