//! [`Peer`]: the delivery end of one connection — its id, codec, outbound queue and
//! rooms — as the [`Adapter`](super::Adapter) holds it and the connection's task drains it.

use super::outbound::{Outbound, OutboundQueue, Overflow, SharedFrame};
use super::rooms::{ConnId, RoomError};
use crate::codec::Codec;
use parking_lot::Mutex;
use std::any::Any;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};

/// The delivery end of one connection: what an adapter needs to reach it.
#[derive(Debug)]
pub struct Peer {
    id: ConnId,
    codec: AtomicU8,
    pub(crate) queue: OutboundQueue,
    rooms: Mutex<Vec<Arc<str>>>,
    /// The connection's handle (`Conn<C>` of the server's `C`), so that the adapter's
    /// registry is the only one: the server finds a connection's handle through its peer.
    /// Weak: the handle holds the peer.
    handle: Weak<dyn Any + Send + Sync>,
    /// Set when the connection must stop at once (slow consumer), once (the first reason
    /// wins); the task reads it without a lock whenever the queue's notification fires.
    /// Boxed: it is rare, and every idle connection carries the field.
    killed: OnceLock<Box<(u16, String)>>,
}

impl Peer {
    /// A peer without a connection handle (for tests of the adapter alone).
    #[cfg(test)]
    pub(crate) fn new(id: ConnId, codec: Codec, queue_capacity: usize) -> Self {
        Peer::with_handle(id, codec, queue_capacity, usize::MAX, Weak::<()>::new())
    }

    /// The peer of the connection whose handle is `handle`; its queue holds at most
    /// `queue_capacity` frames and `max_bytes` bytes.
    pub(crate) fn with_handle(
        id: ConnId,
        codec: Codec,
        queue_capacity: usize,
        max_bytes: usize,
        handle: Weak<dyn Any + Send + Sync>,
    ) -> Self {
        Peer {
            id,
            codec: AtomicU8::new(codec.index() as u8),
            queue: OutboundQueue::new(queue_capacity).with_max_bytes(max_bytes),
            rooms: Mutex::new(Vec::new()),
            handle,
            killed: OnceLock::new(),
        }
    }

    /// The connection's handle, while the connection is open.
    pub(crate) fn handle(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.handle.upgrade()
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The codec the connection's frames are encoded with.
    pub fn codec(&self) -> Codec {
        Codec::ALL
            .get(self.codec.load(Ordering::Relaxed) as usize)
            .copied()
            .unwrap_or(Codec::JsonText)
    }

    pub(crate) fn set_codec(&self, codec: Codec) {
        self.codec.store(codec.index() as u8, Ordering::Relaxed);
    }

    /// Queues a shared frame for this connection. A connection whose queue is full of
    /// frames that may not be dropped is disconnected (close 1008): it is not reading,
    /// and it must not slow anyone else down. Returns whether the frame was queued.
    pub fn deliver(&self, frame: &SharedFrame) -> bool {
        let Some(msg) = frame.message(self.codec()) else {
            return false;
        };
        let item = Outbound::Message {
            msg: msg.clone(),
            droppable: frame.is_droppable(),
        };
        self.enqueue(item)
    }

    pub(crate) fn enqueue(&self, item: Outbound) -> bool {
        self.enqueue_and(item, true)
    }

    /// Queues a reply from the connection's own task, which writes it after its read
    /// burst without being woken.
    pub(crate) fn enqueue_own(&self, item: Outbound) -> bool {
        self.enqueue_and(item, false)
    }

    fn enqueue_and(&self, item: Outbound, wake: bool) -> bool {
        match self.queue.push(item, wake) {
            Ok(()) => true,
            Err(Overflow::Closed) => false,
            Err(Overflow::Full) => {
                metrics::counter!("wsx_queue_overflows_total").increment(1);
                tracing::warn!(
                    conn = self.id,
                    "outbound queue full: disconnecting slow consumer"
                );
                self.kill(1008, "slow consumer: outbound queue full");
                false
            }
        }
    }

    /// Stops the connection at once, without flushing (for a peer that does not read).
    pub(crate) fn kill(&self, code: u16, reason: &str) {
        let _ = self.killed.set(Box::new((code, reason.to_owned())));
        self.queue.close();
        self.queue.wake();
    }

    pub(crate) fn killed(&self) -> Option<&(u16, String)> {
        self.killed.get().map(|k| &**k)
    }

    /// The rooms this connection is in.
    pub fn rooms(&self) -> Vec<String> {
        self.rooms.lock().iter().map(|s| s.to_string()).collect()
    }

    pub(super) fn add_room(&self, room: &Arc<str>, max: usize) -> Result<bool, RoomError> {
        let mut rooms = self.rooms.lock();
        if rooms.iter().any(|r| **r == **room) {
            return Ok(false);
        }
        if rooms.len() >= max {
            return Err(RoomError::TooManyRooms(max));
        }
        rooms.push(room.clone());
        Ok(true)
    }

    pub(super) fn remove_room(&self, room: &str) -> bool {
        let mut rooms = self.rooms.lock();
        let before = rooms.len();
        rooms.retain(|r| &**r != room);
        before != rooms.len()
    }

    pub(super) fn take_rooms(&self) -> Vec<Arc<str>> {
        std::mem::take(&mut *self.rooms.lock())
    }
}
