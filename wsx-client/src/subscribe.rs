//! Pushes: typed streams per event, several subscribers each, and the `$error` stream.
//!
//! The I/O task validates a push once against its event's schema, then hands every
//! subscriber its own decoded copy through a bounded channel. A subscriber that does not
//! keep up loses pushes (logged), never blocks the connection; a dropped subscription is
//! removed on the next push.

use crate::error::ServerError;
use futures::Stream;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::sync::{broadcast, mpsc};
use wsx_core::event::Payload;
use wsx_core::validate::{self, PayloadError};

/// Hands one push to one subscriber; `false` once the subscriber is gone.
type Deliver = Box<dyn Fn(&Value) -> bool + Send + Sync>;

struct Topic {
    validate: fn(&Value) -> Result<(), PayloadError>,
    subscribers: Vec<Deliver>,
}

fn validate_as<T: Payload>(value: &Value) -> Result<(), PayloadError> {
    validate::validator::<T>()?
        .validate(value)
        .map_err(PayloadError::Invalid)
}

/// The subscribers of every push event, shared by the handles and the I/O task.
#[derive(Clone)]
pub(crate) struct Subscribers {
    topics: Arc<Mutex<HashMap<&'static str, Topic>>>,
    errors: broadcast::Sender<ServerError>,
    buffer: usize,
}

impl fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribers")
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl Subscribers {
    pub(crate) fn new(buffer: usize) -> Self {
        let (errors, _) = broadcast::channel(64);
        Subscribers {
            topics: Arc::default(),
            errors,
            buffer: buffer.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<&'static str, Topic>> {
        self.topics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new typed subscription to event `name`.
    pub(crate) fn subscribe<T: Payload>(&self, name: &'static str) -> Subscription<T> {
        let (tx, rx) = mpsc::channel::<T>(self.buffer);
        let deliver: Deliver = Box::new(move |value: &Value| {
            if tx.is_closed() {
                return false;
            }
            match serde_json::from_value::<T>(value.clone()) {
                Ok(payload) => match tx.try_send(payload) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(event = name, "subscriber is not keeping up; push dropped");
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                },
                Err(e) => {
                    tracing::warn!(event = name, %e, "push does not decode; dropped");
                    true
                }
            }
        });
        self.lock()
            .entry(name)
            .or_insert_with(|| Topic {
                validate: validate_as::<T>,
                subscribers: Vec::new(),
            })
            .subscribers
            .push(deliver);
        Subscription { rx }
    }

    /// Delivers a push to every subscriber of its event; returns how many got it.
    pub(crate) fn deliver(&self, name: &str, value: &Value) -> usize {
        let mut topics = self.lock();
        let Some(topic) = topics.get_mut(name) else {
            tracing::trace!(event = name, "push without subscribers");
            return 0;
        };
        if let Err(e) = (topic.validate)(value) {
            tracing::warn!(event = name, error = %e, fields = ?e.fields(), "push breaks its schema; dropped");
            return 0;
        }
        let mut delivered = 0;
        topic.subscribers.retain(|deliver| {
            let alive = deliver(value);
            delivered += usize::from(alive);
            alive
        });
        if topic.subscribers.is_empty() {
            topics.remove(name);
        }
        delivered
    }

    /// Publishes a `$error` push from the server.
    pub(crate) fn server_error(&self, error: ServerError) {
        tracing::warn!(code = ?error.code, message = %error.message, "server reported an error");
        let _ = self.errors.send(error);
    }

    pub(crate) fn server_errors(&self) -> ServerErrors {
        let rx = self.errors.subscribe();
        ServerErrors {
            inner: Box::pin(futures::stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(e) => return Some((e, rx)),
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })),
        }
    }

    /// Ends every subscription (the client closed for good).
    pub(crate) fn close(&self) {
        self.lock().clear();
    }
}

/// A typed stream of one push event's payloads, from
/// [`Client::subscribe`](crate::Client::subscribe). Ends when the client closes for good;
/// keeps going across reconnects. Drop it to unsubscribe.
pub struct Subscription<T> {
    rx: mpsc::Receiver<T>,
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("queued", &self.rx.len())
            .finish()
    }
}

impl<T> Subscription<T> {
    /// The next push; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }
}

impl<T> Stream for Subscription<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> Unpin for Subscription<T> {}

/// The `$error` pushes of the server (frames it could not decode, failed one-way
/// events), from [`Client::server_errors`](crate::Client::server_errors).
pub struct ServerErrors {
    inner: futures::stream::BoxStream<'static, ServerError>,
}

impl fmt::Debug for ServerErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerErrors").finish_non_exhaustive()
    }
}

impl Stream for ServerErrors {
    type Item = ServerError;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ServerError>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// A callback registered with [`Client::on`](crate::Client::on). It keeps running when
/// this handle is dropped; call [`Listener::cancel`] to stop it.
#[derive(Debug)]
pub struct Listener {
    pub(crate) task: tokio::task::AbortHandle,
}

impl Listener {
    /// Stops the callback.
    pub fn cancel(&self) {
        self.task.abort();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Note {
        #[schemars(length(min = 1))]
        text: String,
    }

    #[tokio::test]
    async fn every_subscriber_gets_its_copy_and_invalid_pushes_are_dropped() {
        let subs = Subscribers::new(8);
        let mut a = subs.subscribe::<Note>("note");
        let mut b = subs.subscribe::<Note>("note");
        assert_eq!(subs.deliver("note", &json!({ "text": "" })), 0);
        assert_eq!(subs.deliver("note", &json!({ "text": "hi" })), 2);
        assert_eq!(a.next().await, Some(Note { text: "hi".into() }));
        assert_eq!(b.recv().await, Some(Note { text: "hi".into() }));
        drop(a);
        assert_eq!(subs.deliver("note", &json!({ "text": "again" })), 1);
        subs.close();
        assert_eq!(
            b.recv().await,
            Some(Note {
                text: "again".into()
            })
        );
        assert_eq!(b.recv().await, None);
    }
}
