//! Pushes: typed streams per event, several subscribers each, and the `$error` stream.
//!
//! The I/O task validates a push once against its event's schema, then hands every
//! subscriber its own decoded copy through a bounded queue of its own. A subscriber that
//! does not keep up never blocks the connection: pushes that find its queue full are
//! dropped, and the place where they were dropped is marked in the queue by one
//! [`Lagged`] entry carrying how many, which the subscriber reads in order, between the
//! last push it got before the gap and the first one after. A dropped subscription is
//! removed on the next push of its event.

use crate::error::ServerError;
use futures::Stream;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::broadcast;
use wsx_core::event::Payload;
use wsx_core::validate::{self, PayloadError};

/// Takes a lock; a panic while holding one of these cannot leave the data half-changed
/// (every change is one statement), so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hands one push to one subscriber whose queue holds up to the given number of pushes;
/// `false` once the subscriber is gone.
type Deliver = Box<dyn Fn(&Value, usize) -> bool + Send + Sync>;

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
    /// How many pushes each subscriber may leave unread.
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

    /// Sets how many pushes each subscriber may leave unread (at least 1). It applies to
    /// subscriptions made before too: the bound is checked on delivery.
    pub(crate) fn set_buffer(&mut self, buffer: usize) {
        self.buffer = buffer.max(1);
    }

    /// A new typed subscription to event `name`.
    pub(crate) fn subscribe<T: Payload>(&self, name: &'static str) -> Subscription<T> {
        let queue = Arc::new(Mutex::new(Queue::default()));
        let tx = QueueSender(queue.clone());
        let deliver: Deliver = Box::new(move |value: &Value, capacity: usize| {
            if tx.receiver_gone() {
                return false;
            }
            match serde_json::from_value::<T>(value.clone()) {
                Ok(payload) => tx.push(payload, capacity, name),
                Err(e) => {
                    tracing::warn!(event = name, %e, "push does not decode; dropped");
                    true
                }
            }
        });
        lock(&self.topics)
            .entry(name)
            .or_insert_with(|| Topic {
                validate: validate_as::<T>,
                subscribers: Vec::new(),
            })
            .subscribers
            .push(deliver);
        Subscription { queue, event: name }
    }

    /// Delivers a push to every subscriber of its event; returns how many are subscribed
    /// (those whose queue was full included: they are told of the loss).
    pub(crate) fn deliver(&self, name: &str, value: &Value) -> usize {
        let mut topics = lock(&self.topics);
        let Some(topic) = topics.get_mut(name) else {
            tracing::trace!(event = name, "push without subscribers");
            return 0;
        };
        if let Err(e) = (topic.validate)(value) {
            tracing::warn!(event = name, error = %e, fields = ?e.fields(), "push breaks its schema; dropped");
            return 0;
        }
        let capacity = self.buffer;
        topic.subscribers.retain(|deliver| deliver(value, capacity));
        let delivered = topic.subscribers.len();
        if delivered == 0 {
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
        lock(&self.topics).clear();
    }
}

/// One subscriber's queue.
enum Entry<T> {
    Push(T),
    /// This many pushes were dropped here.
    Lagged(u64),
}

struct Queue<T> {
    entries: VecDeque<Entry<T>>,
    /// How many of `entries` are pushes (the bound applies to them, not to gap marks).
    pushes: usize,
    /// Every push this subscriber lost, since it subscribed.
    missed: u64,
    /// The client closed for good: nothing more will come.
    closed: bool,
    /// The [`Subscription`] was dropped: stop delivering.
    receiver_gone: bool,
    waker: Option<Waker>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            entries: VecDeque::new(),
            pushes: 0,
            missed: 0,
            closed: false,
            receiver_gone: false,
            waker: None,
        }
    }
}

/// The I/O task's end of one subscriber's queue; dropping it ends the subscription.
struct QueueSender<T>(Arc<Mutex<Queue<T>>>);

impl<T> QueueSender<T> {
    fn receiver_gone(&self) -> bool {
        lock(&self.0).receiver_gone
    }

    /// Queues `item`, or marks a gap if `capacity` pushes already wait. `false` once the
    /// subscriber is gone.
    fn push(&self, item: T, capacity: usize, event: &'static str) -> bool {
        let waker = {
            let mut queue = lock(&self.0);
            if queue.receiver_gone {
                return false;
            }
            if queue.pushes < capacity {
                queue.entries.push_back(Entry::Push(item));
                queue.pushes += 1;
            } else {
                queue.missed += 1;
                match queue.entries.back_mut() {
                    Some(Entry::Lagged(n)) => *n += 1,
                    _ => {
                        tracing::warn!(
                            event,
                            capacity,
                            "subscriber is not keeping up; pushes dropped"
                        );
                        queue.entries.push_back(Entry::Lagged(1));
                    }
                }
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

impl<T> Drop for QueueSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut queue = lock(&self.0);
            queue.closed = true;
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Said by a [`Subscription`] that fell behind: this many pushes were dropped at this
/// point of the stream, because [`push_buffer`](crate::ClientBuilder::push_buffer)
/// pushes were already waiting to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("subscription fell behind: {0} push(es) dropped")]
pub struct Lagged(pub u64);

/// A typed stream of one push event's payloads, from
/// [`Client::subscribe`](crate::Client::subscribe) or, to miss nothing the server sends
/// as the connection opens, [`ClientBuilder::subscribe`](crate::ClientBuilder::subscribe).
///
/// As a [`Stream`], it yields `Ok(payload)` for each push, in the order the server sent
/// them, and `Err(Lagged(n))` where `n` pushes were lost because the subscriber fell
/// more than [`push_buffer`](crate::ClientBuilder::push_buffer) pushes behind: the
/// connection never waits for a slow subscriber. [`recv`](Self::recv) yields the pushes
/// only, skipping (and logging) the gaps; [`missed`](Self::missed) counts every lost
/// push either way.
///
/// Keeps going across reconnects; ends (`None`) when the client closes for good. Drop it
/// to unsubscribe.
pub struct Subscription<T> {
    queue: Arc<Mutex<Queue<T>>>,
    event: &'static str,
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = lock(&self.queue);
        f.debug_struct("Subscription")
            .field("event", &self.event)
            .field("queued", &queue.pushes)
            .field("missed", &queue.missed)
            .finish()
    }
}

impl<T> Subscription<T> {
    /// The next push, skipping gaps: a [`Lagged`] entry is logged and passed over. Use
    /// the [`Stream`] (`next()`) to see where pushes were lost. `None` once the client
    /// is closed for good.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            match futures::StreamExt::next(self).await? {
                Ok(payload) => return Some(payload),
                Err(Lagged(n)) => {
                    tracing::warn!(
                        event = self.event,
                        missed = n,
                        "subscriber skipped lost pushes"
                    );
                }
            }
        }
    }

    /// How many pushes this subscription lost, in all, because it fell behind.
    pub fn missed(&self) -> u64 {
        lock(&self.queue).missed
    }

    /// The wire name of the event.
    pub fn event(&self) -> &'static str {
        self.event
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Result<T, Lagged>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut queue = lock(&self.queue);
        match queue.entries.pop_front() {
            Some(Entry::Push(payload)) => {
                queue.pushes -= 1;
                Poll::Ready(Some(Ok(payload)))
            }
            Some(Entry::Lagged(n)) => Poll::Ready(Some(Err(Lagged(n)))),
            None if queue.closed => Poll::Ready(None),
            None => {
                queue.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut queue = lock(&self.queue);
        queue.receiver_gone = true;
        queue.entries.clear();
        queue.pushes = 0;
    }
}
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

    /// Whether the callback has stopped for good: cancelled (once its task has wound
    /// down) or the client closed.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
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

    fn note(text: &str) -> Note {
        Note { text: text.into() }
    }

    #[tokio::test]
    async fn every_subscriber_gets_its_copy_and_invalid_pushes_are_dropped() {
        let subs = Subscribers::new(8);
        let mut a = subs.subscribe::<Note>("note");
        let mut b = subs.subscribe::<Note>("note");
        assert_eq!(subs.deliver("note", &json!({ "text": "" })), 0);
        assert_eq!(subs.deliver("note", &json!({ "text": "hi" })), 2);
        assert_eq!(a.next().await, Some(Ok(note("hi"))));
        assert_eq!(b.recv().await, Some(note("hi")));
        drop(a);
        assert_eq!(subs.deliver("note", &json!({ "text": "again" })), 1);
        subs.close();
        assert_eq!(b.recv().await, Some(note("again")));
        assert_eq!(b.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_queue_marks_the_gap_where_pushes_were_lost() {
        let subs = Subscribers::new(2);
        let mut slow = subs.subscribe::<Note>("note");
        for text in ["a", "b", "c", "d", "e"] {
            assert_eq!(subs.deliver("note", &json!({ "text": text })), 1);
        }
        assert_eq!(slow.missed(), 3);
        assert_eq!(slow.next().await, Some(Ok(note("a"))));
        // Room for one more: it comes after the gap.
        subs.deliver("note", &json!({ "text": "f" }));
        assert_eq!(slow.next().await, Some(Ok(note("b"))));
        assert_eq!(slow.next().await, Some(Err(Lagged(3))));
        assert_eq!(slow.next().await, Some(Ok(note("f"))));
        // A gap at the end is told before the stream ends.
        subs.deliver("note", &json!({ "text": "g" }));
        subs.deliver("note", &json!({ "text": "h" }));
        subs.deliver("note", &json!({ "text": "i" }));
        subs.close();
        let rest: Vec<_> = slow.collect().await;
        assert_eq!(rest, [Ok(note("g")), Ok(note("h")), Err(Lagged(1))]);
    }

    #[tokio::test]
    async fn recv_skips_gaps_and_missed_counts_them() {
        let mut subs = Subscribers::new(64);
        let mut slow = subs.subscribe::<Note>("note");
        // The bound is read on delivery: set after subscribing, it still applies.
        subs.set_buffer(1);
        subs.deliver("note", &json!({ "text": "a" }));
        subs.deliver("note", &json!({ "text": "b" }));
        subs.deliver("note", &json!({ "text": "c" }));
        assert_eq!(slow.recv().await, Some(note("a")));
        subs.deliver("note", &json!({ "text": "d" }));
        assert_eq!(slow.recv().await, Some(note("d")));
        assert_eq!(slow.missed(), 2);
    }
}
