//! Rooms: named groups of connections, and the [`Adapter`] that keeps them.
//!
//! The server talks to rooms only through the [`Adapter`] trait. [`LocalAdapter`], the
//! default, keeps everything in this process; an adapter that shares rooms between
//! several server processes (e.g. over Redis pub/sub) implements the same trait and
//! forwards [`Adapter::deliver`] to the other nodes.

use super::outbound::{Outbound, OutboundQueue, Overflow, SharedFrame};
use crate::codec::Codec;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// A connection's id, unique within a server process.
pub type ConnId = u64;

/// Why a room operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The connection is already in the most rooms allowed.
    #[error("a connection may be in at most {0} rooms")]
    TooManyRooms(usize),
    /// The connection is gone.
    #[error("the connection is closed")]
    Closed,
}

/// A room and how many connections are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// Connections in it.
    pub members: usize,
}

/// Who a push goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every connection of the server.
    All {
        /// A connection to leave out (usually the sender).
        except: Option<ConnId>,
    },
    /// The members of a room.
    Room {
        /// The room.
        room: String,
        /// A connection to leave out (usually the sender).
        except: Option<ConnId>,
    },
    /// One connection.
    Conn(ConnId),
}

/// The delivery end of one connection: what an adapter needs to reach it.
#[derive(Debug)]
pub struct Peer {
    id: ConnId,
    codec: AtomicU8,
    pub(crate) queue: OutboundQueue,
    rooms: Mutex<Vec<Arc<str>>>,
    /// Set when the connection must stop at once (slow consumer), once (the first reason
    /// wins); the task reads it without a lock whenever the queue's notification fires.
    killed: std::sync::OnceLock<(u16, String)>,
}

impl Peer {
    #[cfg(test)]
    pub(crate) fn new(id: ConnId, codec: Codec, queue_capacity: usize) -> Self {
        Peer::with_limits(id, codec, queue_capacity, usize::MAX)
    }

    /// A peer whose queue holds at most `queue_capacity` frames and `max_bytes` bytes.
    pub(crate) fn with_limits(
        id: ConnId,
        codec: Codec,
        queue_capacity: usize,
        max_bytes: usize,
    ) -> Self {
        Peer {
            id,
            codec: AtomicU8::new(codec.index() as u8),
            queue: OutboundQueue::new(queue_capacity).with_max_bytes(max_bytes),
            rooms: Mutex::new(Vec::new()),
            killed: std::sync::OnceLock::new(),
        }
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
        let _ = self.killed.set((code, reason.to_owned()));
        self.queue.close();
        self.queue.wake();
    }

    pub(crate) fn killed(&self) -> Option<&(u16, String)> {
        self.killed.get()
    }

    /// The rooms this connection is in.
    pub fn rooms(&self) -> Vec<String> {
        self.rooms
            .lock()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }

    fn add_room(&self, room: &Arc<str>, max: usize) -> Result<bool, RoomError> {
        let mut rooms = self.rooms.lock().map_err(|_| RoomError::Closed)?;
        if rooms.iter().any(|r| **r == **room) {
            return Ok(false);
        }
        if rooms.len() >= max {
            return Err(RoomError::TooManyRooms(max));
        }
        rooms.push(room.clone());
        Ok(true)
    }

    fn remove_room(&self, room: &str) -> bool {
        let Ok(mut rooms) = self.rooms.lock() else {
            return false;
        };
        let before = rooms.len();
        rooms.retain(|r| &**r != room);
        before != rooms.len()
    }

    fn take_rooms(&self) -> Vec<Arc<str>> {
        self.rooms
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

/// Keeps connections and rooms, and delivers pushes to them.
///
/// Implement it to share rooms between server processes; the methods are synchronous so
/// local delivery costs no allocation, and a distributed adapter forwards to its network
/// from inside `deliver` (e.g. through a channel to a publishing task).
pub trait Adapter: Send + Sync + 'static {
    /// A connection opened.
    fn connect(&self, peer: Arc<Peer>);
    /// A connection closed: forget it and remove it from every room. Returns the rooms
    /// it was in.
    fn disconnect(&self, id: ConnId) -> Vec<String>;
    /// Puts a connection in a room; `Ok(false)` if it was already there.
    fn join(&self, room: &str, id: ConnId, max_rooms: usize) -> Result<bool, RoomError>;
    /// Takes a connection out of a room; `false` if it was not there.
    fn leave(&self, room: &str, id: ConnId) -> bool;
    /// The members of a room.
    fn members(&self, room: &str) -> Vec<ConnId>;
    /// How many connections a room has (0 for a room that does not exist).
    fn count(&self, room: &str) -> usize;
    /// Every non-empty room.
    fn rooms(&self) -> Vec<RoomInfo>;
    /// How many connections there are.
    fn connections(&self) -> usize;
    /// Queues a frame for every connection of the target; returns how many got it.
    fn deliver(&self, target: &Target, frame: &Arc<SharedFrame>) -> usize;
}

/// A room's members by connection id.
type Members = HashMap<ConnId, Arc<Peer>>;

/// The in-process [`Adapter`]: rooms in a map behind a read-write lock.
#[derive(Debug, Default)]
pub struct LocalAdapter {
    peers: RwLock<HashMap<ConnId, Arc<Peer>>>,
    rooms: RwLock<HashMap<Arc<str>, Members>>,
}

impl LocalAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        LocalAdapter::default()
    }

    fn peer(&self, id: ConnId) -> Option<Arc<Peer>> {
        self.peers.read().ok().and_then(|p| p.get(&id).cloned())
    }
}

impl Adapter for LocalAdapter {
    fn connect(&self, peer: Arc<Peer>) {
        if let Ok(mut peers) = self.peers.write() {
            peers.insert(peer.id(), peer);
        }
    }

    fn disconnect(&self, id: ConnId) -> Vec<String> {
        let peer = self.peers.write().ok().and_then(|mut p| p.remove(&id));
        let Some(peer) = peer else { return Vec::new() };
        let rooms = peer.take_rooms();
        if let Ok(mut map) = self.rooms.write() {
            for room in &rooms {
                if let Some(members) = map.get_mut(room) {
                    members.remove(&id);
                    if members.is_empty() {
                        map.remove(room);
                    }
                }
            }
        }
        rooms.iter().map(|r| r.to_string()).collect()
    }

    fn join(&self, room: &str, id: ConnId, max_rooms: usize) -> Result<bool, RoomError> {
        let peer = self.peer(id).ok_or(RoomError::Closed)?;
        let mut map = self.rooms.write().map_err(|_| RoomError::Closed)?;
        let key: Arc<str> = match map.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => Arc::from(room),
        };
        if !peer.add_room(&key, max_rooms)? {
            return Ok(false);
        }
        map.entry(key).or_default().insert(id, peer);
        Ok(true)
    }

    fn leave(&self, room: &str, id: ConnId) -> bool {
        let Some(peer) = self.peer(id) else {
            return false;
        };
        if !peer.remove_room(room) {
            return false;
        }
        if let Ok(mut map) = self.rooms.write() {
            if let Some(members) = map.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    map.remove(room);
                }
            }
        }
        true
    }

    fn members(&self, room: &str) -> Vec<ConnId> {
        let Ok(map) = self.rooms.read() else {
            return Vec::new();
        };
        let mut ids: Vec<ConnId> = map
            .get(room)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    fn count(&self, room: &str) -> usize {
        self.rooms
            .read()
            .ok()
            .and_then(|m| m.get(room).map(|r| r.len()))
            .unwrap_or(0)
    }

    fn rooms(&self) -> Vec<RoomInfo> {
        let Ok(map) = self.rooms.read() else {
            return Vec::new();
        };
        let mut rooms: Vec<RoomInfo> = map
            .iter()
            .map(|(name, m)| RoomInfo {
                name: name.to_string(),
                members: m.len(),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    fn connections(&self) -> usize {
        self.peers.read().map(|p| p.len()).unwrap_or(0)
    }

    fn deliver(&self, target: &Target, frame: &Arc<SharedFrame>) -> usize {
        let mut delivered = 0;
        match target {
            Target::All { except } => {
                let Ok(peers) = self.peers.read() else {
                    return 0;
                };
                for (id, peer) in peers.iter() {
                    if Some(*id) != *except && peer.deliver(frame) {
                        delivered += 1;
                    }
                }
            }
            Target::Room { room, except } => {
                let Ok(map) = self.rooms.read() else { return 0 };
                if let Some(members) = map.get(room.as_str()) {
                    for (id, peer) in members.iter() {
                        if Some(*id) != *except && peer.deliver(frame) {
                            delivered += 1;
                        }
                    }
                }
            }
            Target::Conn(id) => {
                if let Some(peer) = self.peer(*id) {
                    if peer.deliver(frame) {
                        delivered += 1;
                    }
                }
            }
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_leave_count_and_cleanup() {
        let a = LocalAdapter::new();
        for id in 1..=3 {
            a.connect(Arc::new(Peer::new(id, Codec::JsonText, 8)));
        }
        assert_eq!(a.join("general", 1, 2), Ok(true));
        assert_eq!(a.join("general", 1, 2), Ok(false));
        assert_eq!(a.join("general", 2, 2), Ok(true));
        assert_eq!(a.join("rust", 1, 2), Ok(true));
        assert_eq!(a.join("third", 1, 2), Err(RoomError::TooManyRooms(2)));
        assert_eq!(a.members("general"), vec![1, 2]);
        assert_eq!(a.count("rust"), 1);
        assert!(a.leave("rust", 1));
        assert!(!a.leave("rust", 1));
        assert_eq!(
            a.rooms(),
            vec![RoomInfo {
                name: "general".into(),
                members: 2
            }]
        );
        assert_eq!(a.disconnect(1), vec!["general".to_string()]);
        assert_eq!(a.members("general"), vec![2]);
        assert_eq!(a.connections(), 2);
        assert_eq!(a.join("general", 1, 2), Err(RoomError::Closed));
    }

    #[test]
    fn deliver_respects_except_and_targets() {
        let a = LocalAdapter::new();
        for id in 1..=3 {
            a.connect(Arc::new(Peer::new(id, Codec::JsonText, 8)));
        }
        a.join("r", 1, 8).unwrap();
        a.join("r", 2, 8).unwrap();
        let frame = SharedFrame::from_fn("x", |c| c.encode_value(&1));
        assert_eq!(
            a.deliver(
                &Target::Room {
                    room: "r".into(),
                    except: Some(1)
                },
                &frame
            ),
            1
        );
        assert_eq!(
            a.deliver(
                &Target::Room {
                    room: "r".into(),
                    except: None
                },
                &frame
            ),
            2
        );
        assert_eq!(a.deliver(&Target::All { except: None }, &frame), 3);
        assert_eq!(a.deliver(&Target::Conn(3), &frame), 1);
        assert_eq!(
            a.deliver(
                &Target::Room {
                    room: "nope".into(),
                    except: None
                },
                &frame
            ),
            0
        );
    }
}
