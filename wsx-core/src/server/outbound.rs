//! What a connection sends: frames encoded once per codec, and the bounded queue that
//! holds them until the connection's task writes them in one burst.

use crate::codec::{Codec, EncodeError, Encoded};
use crate::event::PushEvent;
use crate::protocol::OutFrame;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

type EncodeFn = dyn Fn(Codec) -> Result<Encoded, EncodeError> + Send + Sync;

/// A WebSocket message as the connection task writes it.
pub(crate) type WsMessage = axum::extract::ws::Message;

/// The WebSocket message for encoded bytes. A text frame's bytes are checked for UTF-8
/// here, once per encoding (so once per codec for a broadcast, not once per recipient).
pub(crate) fn ws_message(encoded: &Encoded) -> Option<WsMessage> {
    into_ws_message(encoded.clone())
}

/// [`ws_message`] taking the bytes: a reply's buffer becomes the message as it is (a
/// clone would first make its `Bytes` shared, an allocation per reply).
fn into_ws_message(encoded: Encoded) -> Option<WsMessage> {
    if encoded.text {
        match axum::extract::ws::Utf8Bytes::try_from(encoded.bytes) {
            Ok(text) => Some(WsMessage::Text(text)),
            Err(e) => {
                tracing::error!(%e, "a text frame is not UTF-8; not sent");
                None
            }
        }
    } else {
        Some(WsMessage::Binary(encoded.bytes))
    }
}

/// A push ready to go to many connections: encoded at most once per codec, however many
/// recipients use that codec.
pub struct SharedFrame {
    event: &'static str,
    droppable: bool,
    encode: Box<EncodeFn>,
    slots: [OnceLock<Option<(Encoded, WsMessage)>>; 4],
}

impl std::fmt::Debug for SharedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFrame")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl SharedFrame {
    /// A push of event `E`; the payload is kept and encoded on demand.
    pub fn push<E: PushEvent>(payload: E::Payload) -> Arc<SharedFrame> {
        Arc::new(SharedFrame {
            event: E::NAME,
            droppable: false,
            encode: Box::new(move |codec| codec.encode(&OutFrame::send(E::NAME, &payload))),
            slots: Default::default(),
        })
    }

    /// A frame of any serializable value, e.g. a pre-built envelope.
    pub fn from_fn(
        event: &'static str,
        encode: impl Fn(Codec) -> Result<Encoded, EncodeError> + Send + Sync + 'static,
    ) -> Arc<SharedFrame> {
        Arc::new(SharedFrame {
            event,
            droppable: false,
            encode: Box::new(encode),
            slots: Default::default(),
        })
    }

    /// Marks the frame droppable: a slow consumer loses it (oldest first) rather than
    /// being disconnected. For typing indicators, presence, statistics.
    pub fn droppable(self: Arc<Self>) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut frame) => {
                frame.droppable = true;
                Arc::new(frame)
            }
            Err(shared) => shared,
        }
    }

    /// The event name.
    pub fn event(&self) -> &'static str {
        self.event
    }

    /// Whether a slow consumer may lose it.
    pub fn is_droppable(&self) -> bool {
        self.droppable
    }

    /// The bytes for a codec, encoding them on first use. `None` if encoding failed
    /// (logged once).
    pub fn encoded(&self, codec: Codec) -> Option<&Encoded> {
        self.slot(codec).map(|(encoded, _)| encoded)
    }

    /// The ready-to-write message for a codec (made with the encoding).
    pub(crate) fn message(&self, codec: Codec) -> Option<&WsMessage> {
        self.slot(codec).map(|(_, message)| message)
    }

    fn slot(&self, codec: Codec) -> Option<&(Encoded, WsMessage)> {
        self.slots[codec.index()]
            .get_or_init(|| match (self.encode)(codec) {
                Ok(e) => ws_message(&e).map(|m| (e, m)),
                Err(err) => {
                    tracing::error!(event = self.event, codec = codec.name(), %err, "push could not be encoded");
                    None
                }
            })
            .as_ref()
    }
}

/// One item of a connection's outbound queue.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A message to write.
    Message { msg: WsMessage, droppable: bool },
    /// Close the connection with this code and reason after what is queued before it.
    Close { code: u16, reason: String },
}

impl Outbound {
    /// The bytes this item holds (what it counts against the connection's byte limit).
    pub(crate) fn size(&self) -> usize {
        match self {
            Outbound::Message { msg, .. } => match msg {
                WsMessage::Text(t) => t.len(),
                WsMessage::Binary(b) => b.len(),
                WsMessage::Ping(b) | WsMessage::Pong(b) => b.len(),
                WsMessage::Close(_) => 0,
            },
            Outbound::Close { reason, .. } => reason.len(),
        }
    }

    /// A reply (never droppable) encoded in `codec`.
    pub(crate) fn encode<T: Serialize + ?Sized>(
        codec: Codec,
        value: &T,
    ) -> Result<Outbound, EncodeError> {
        Outbound::reply(codec.encode_value(value)?)
    }

    /// A `response_ok` of event `x`: in the JSON codecs written from its prefix (see
    /// [`json_ok_prefix`](crate::codec::json_write::json_ok_prefix)) as a `String`, which a text
    /// message takes as it is (no UTF-8 check); in the others encoded whole.
    pub(crate) fn encode_ok<T: Serialize + ?Sized>(
        codec: Codec,
        json_prefix: &str,
        x: &str,
        id: Option<&str>,
        w: Option<&serde_json::Number>,
        p: &T,
    ) -> Result<Outbound, EncodeError> {
        if codec == Codec::CborRecords {
            if let Some(encoded) = crate::codec::encode_records_ok(x, id, w, p) {
                return Outbound::reply(encoded);
            }
        }
        if codec.family() != crate::codec::CodecFamily::Json {
            return Outbound::encode(codec, &OutFrame::ok(x, id, w, p));
        }
        let text = crate::codec::with_scratch(|out| {
            crate::codec::json_write::write_json_ok(out, json_prefix, id, w, p)
        })
        .map_err(|e| EncodeError(e.to_string()))?;
        let msg = if codec.is_text() {
            WsMessage::Text(text.into())
        } else {
            WsMessage::Binary(text.into_bytes().into())
        };
        Ok(Outbound::Message {
            msg,
            droppable: false,
        })
    }

    /// A reply item for encoded bytes; an error for text that is not UTF-8.
    fn reply(encoded: Encoded) -> Result<Outbound, EncodeError> {
        into_ws_message(encoded)
            .map(|msg| Outbound::Message {
                msg,
                droppable: false,
            })
            .ok_or_else(|| EncodeError("a text frame is not UTF-8".into()))
    }
}

/// One message re-encoded from `from` into `to`, keeping the order of its keys: JSON
/// to JSON changes only the frame type, JSON to CBOR goes through an ordered CBOR value.
fn transcoded(from: Codec, to: Codec, bytes: &[u8]) -> Result<Encoded, String> {
    use crate::codec::CodecFamily;
    match (from.family(), to.family()) {
        (CodecFamily::Json, CodecFamily::Json) => Ok(Encoded {
            text: to.is_text(),
            bytes: bytes::Bytes::copy_from_slice(bytes),
        }),
        (CodecFamily::Json, CodecFamily::Cbor) => {
            let value: ciborium::Value =
                serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            to.encode_value(&value).map_err(|e| e.to_string())
        }
        (CodecFamily::Cbor, _) => {
            let value = from.decode_value(bytes).map_err(|e| e.to_string())?;
            to.encode_value(&value).map_err(|e| e.to_string())
        }
    }
}

/// Why an item was refused by a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// The queue is full of frames that may not be dropped: the consumer is too slow.
    Full,
    /// The connection is closing or closed.
    Closed,
}

/// A connection's bounded outbound queue. Producers (handlers, broadcasts from other
/// connections) push under a short lock; the connection's task takes everything queued
/// at once and writes it as one burst with a single flush.
///
/// The queue is bounded twice: in items, and in bytes counted from the moment an item is
/// queued until the burst that took it is written ([`OutboundQueue::written`]), so a
/// peer that stops reading holds at most the byte limit (plus one frame larger than it).
#[derive(Debug)]
pub(crate) struct OutboundQueue {
    items: Mutex<QueueState>,
    ready: Notify,
    // u32s (4 GiB, 4 billion frames): every connection carries these.
    capacity: u32,
    max_bytes: u32,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Outbound>,
    /// Bytes of `items`.
    queued_bytes: u32,
    /// Bytes of the burst the task took and is writing.
    writing_bytes: u32,
    closed: bool,
    dropped: u32,
}

impl QueueState {
    fn held(&self) -> u32 {
        self.queued_bytes.saturating_add(self.writing_bytes)
    }
}

/// A length as the queue counts it (saturating at 4 GiB).
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl OutboundQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        OutboundQueue {
            items: Mutex::new(QueueState::default()),
            ready: Notify::new(),
            capacity: count(capacity.max(1)),
            max_bytes: u32::MAX,
        }
    }

    /// Bounds the bytes held as well (see the type's docs).
    pub(crate) fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = count(max_bytes.max(1));
        self
    }

    /// Queues an item. When full (in items or bytes), drops the oldest droppable frames
    /// to make room; if that is not enough, refuses with [`Overflow::Full`]. An item
    /// that alone exceeds the byte limit is taken when nothing else is held.
    ///
    /// The first item after a drain wakes the connection's task when `wake` is set; the
    /// task itself queues without it, as it writes what is queued once it is done reading
    /// (a wake-up to itself is wasted).
    pub(crate) fn push(&self, item: Outbound, wake: bool) -> Result<(), Overflow> {
        let mut state = self.items.lock();
        if state.closed {
            return Err(Overflow::Closed);
        }
        let is_close = matches!(item, Outbound::Close { .. });
        let size = count(item.size());
        let over = |state: &QueueState| {
            count(state.items.len()) >= self.capacity
                || (state.held() > 0 && state.held().saturating_add(size) > self.max_bytes)
        };
        while !is_close && over(&state) {
            let oldest_droppable = state.items.iter().position(|i| {
                matches!(
                    i,
                    Outbound::Message {
                        droppable: true,
                        ..
                    }
                )
            });
            match oldest_droppable {
                Some(at) => {
                    if let Some(gone) = state.items.remove(at) {
                        state.queued_bytes = state.queued_bytes.saturating_sub(count(gone.size()));
                    }
                    state.dropped = state.dropped.saturating_add(1);
                    metrics::counter!("wsx_frames_dropped_total").increment(1);
                }
                None if matches!(
                    item,
                    Outbound::Message {
                        droppable: true,
                        ..
                    }
                ) =>
                {
                    state.dropped = state.dropped.saturating_add(1);
                    metrics::counter!("wsx_frames_dropped_total").increment(1);
                    return Ok(());
                }
                None => return Err(Overflow::Full),
            }
        }
        if is_close {
            state.closed = true;
        }
        // The task drains everything at once, so only the first item after a drain needs
        // to wake it: later ones are taken with that one.
        let was_empty = state.items.is_empty();
        state.queued_bytes = state.queued_bytes.saturating_add(size);
        state.items.push_back(item);
        drop(state);
        if was_empty && wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Takes everything queued into `into` (which is cleared first). Its bytes stay
    /// counted until [`written`](Self::written).
    pub(crate) fn drain_into(&self, into: &mut VecDeque<Outbound>) {
        into.clear();
        let mut state = self.items.lock();
        std::mem::swap(&mut state.items, into);
        let taken = std::mem::take(&mut state.queued_bytes);
        state.writing_bytes = state.writing_bytes.saturating_add(taken);
    }

    /// The burst taken by the last drains was written (or dropped): its bytes are free.
    pub(crate) fn written(&self) {
        let mut state = self.items.lock();
        state.writing_bytes = 0;
    }

    /// Re-encodes every queued message from codec `from` into `to`: the pushes queued
    /// before the connection's first frame told its codec. A message that cannot be
    /// re-encoded is dropped (and logged).
    pub(crate) fn transcode(&self, from: Codec, to: Codec) {
        let mut state = self.items.lock();
        let mut queued: u32 = 0;
        state.items.retain_mut(|item| {
            if let Outbound::Message { msg, .. } = item {
                let bytes: &[u8] = match msg {
                    WsMessage::Text(t) => t.as_bytes(),
                    WsMessage::Binary(b) => b,
                    _ => return true,
                };
                let again = transcoded(from, to, bytes)
                    .and_then(|e| into_ws_message(e).ok_or_else(|| "not UTF-8".to_owned()));
                match again {
                    Ok(m) => *msg = m,
                    Err(e) => {
                        tracing::error!(%e, from = from.name(), to = to.name(), "a held push could not be re-encoded; dropped");
                        return false;
                    }
                }
            }
            queued = queued.saturating_add(count(item.size()));
            true
        });
        state.queued_bytes = queued;
    }

    /// Refuses every later push (the connection is going away).
    pub(crate) fn close(&self) {
        let mut state = self.items.lock();
        state.closed = true;
    }

    /// Wakes the connection's task (to notice it was killed, or to drain again).
    pub(crate) fn wake(&self) {
        self.ready.notify_one();
    }

    /// Resolves when something was queued since the last drain.
    pub(crate) fn ready(&self) -> tokio::sync::futures::Notified<'_> {
        self.ready.notified()
    }

    /// How many items wait.
    pub(crate) fn len(&self) -> usize {
        self.items.lock().items.len()
    }

    /// How many droppable frames were dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        u64::from(self.items.lock().dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: u8, droppable: bool) -> Outbound {
        Outbound::Message {
            msg: WsMessage::Binary(Bytes::from(vec![n])),
            droppable,
        }
    }

    fn first_bytes(q: &OutboundQueue) -> Vec<u8> {
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        out.iter()
            .filter_map(|o| match o {
                Outbound::Message { msg, .. } => Some(msg.clone().into_data()[0]),
                Outbound::Close { .. } => None,
            })
            .collect()
    }

    /// Whether the queue's notification is ready now.
    fn is_ready(q: &OutboundQueue) -> bool {
        use futures::FutureExt;
        q.ready().now_or_never().is_some()
    }

    #[test]
    fn the_first_push_after_a_drain_wakes_the_task_and_later_ones_ride_along() {
        let q = OutboundQueue::new(8);
        assert!(!is_ready(&q));
        q.push(msg(1, false), true).unwrap();
        q.push(msg(2, false), true).unwrap();
        assert!(is_ready(&q), "the first push wakes");
        assert!(!is_ready(&q), "one wake-up for both");
        assert_eq!(first_bytes(&q), [1, 2], "the drain takes both");
        q.push(msg(3, false), true).unwrap();
        assert!(is_ready(&q), "a push after the drain wakes again");
        assert_eq!(first_bytes(&q), [3]);
        q.push(msg(4, false), false).unwrap();
        assert!(!is_ready(&q), "the task's own push does not wake it");
        assert_eq!(first_bytes(&q), [4], "but is drained with the rest");
    }

    #[test]
    fn full_queue_drops_oldest_droppable_then_refuses() {
        let q = OutboundQueue::new(3);
        q.push(msg(1, false), true).unwrap();
        q.push(msg(2, true), true).unwrap();
        q.push(msg(3, true), true).unwrap();
        q.push(msg(4, false), true).unwrap();
        assert_eq!(q.dropped(), 1);
        q.push(msg(5, false), true).unwrap();
        assert_eq!(q.push(msg(6, false), true), Err(Overflow::Full));
        assert_eq!(q.len(), 3);
        assert_eq!(first_bytes(&q), vec![1, 4, 5]);
    }

    fn sized(len: usize, droppable: bool) -> Outbound {
        Outbound::Message {
            msg: WsMessage::Binary(Bytes::from(vec![0u8; len])),
            droppable,
        }
    }

    #[test]
    fn bytes_are_bounded_until_written() {
        let q = OutboundQueue::new(1000).with_max_bytes(100);
        q.push(sized(60, false), true).unwrap();
        q.push(sized(30, true), true).unwrap();
        // 60 + 30 + 40 > 100: the droppable frame makes room.
        q.push(sized(40, false), true).unwrap();
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.push(sized(10, false), true), Err(Overflow::Full));
        let mut batch = VecDeque::new();
        q.drain_into(&mut batch);
        assert_eq!(batch.len(), 2);
        // Taken but not written: still held.
        assert_eq!(q.push(sized(10, false), true), Err(Overflow::Full));
        q.written();
        q.push(sized(10, false), true).unwrap();
        q.drain_into(&mut batch);
        q.written();
        // One frame larger than the limit passes when nothing else is held.
        q.push(sized(500, false), true).unwrap();
        assert_eq!(q.push(sized(1, false), true), Err(Overflow::Full));
    }

    #[test]
    fn held_pushes_are_re_encoded_in_the_codec_that_settled() {
        let q = OutboundQueue::new(8);
        let payload = serde_json::json!({"text": "hi", "n": 1});
        let push = OutFrame::send("welcome", &payload);
        q.push(Outbound::encode(Codec::JsonText, &push).unwrap(), true)
            .unwrap();
        q.transcode(Codec::JsonText, Codec::CborRecords);
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        let Some(Outbound::Message {
            msg: WsMessage::Binary(b),
            ..
        }) = out.front()
        else {
            panic!("expected a binary frame, got {out:?}");
        };
        assert!(b.starts_with(&[0xd9, 0xdf, 0xff]), "a cbor-x record");
        let back = Codec::CborRecords.decode_value(b).unwrap();
        assert_eq!(back["x"], "welcome");
        assert_eq!(back["p"], serde_json::json!({"text": "hi", "n": 1}));
    }

    #[test]
    fn close_is_always_accepted_and_ends_the_queue() {
        let q = OutboundQueue::new(1);
        q.push(msg(1, false), true).unwrap();
        q.push(
            Outbound::Close {
                code: 1001,
                reason: "bye".into(),
            },
            true,
        )
        .unwrap();
        assert_eq!(q.push(msg(2, false), true), Err(Overflow::Closed));
    }

    #[test]
    fn shared_frame_encodes_once_per_codec() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let frame = SharedFrame::from_fn("x", move |codec| {
            c.fetch_add(1, Ordering::SeqCst);
            codec.encode_value(&serde_json::json!({"a": 1}))
        });
        for _ in 0..100 {
            assert!(frame.encoded(Codec::JsonText).is_some());
        }
        assert!(frame.encoded(Codec::JsonBinary).is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
