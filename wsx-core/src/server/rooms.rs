//! Rooms: named groups of connections, and the [`Adapter`] that keeps them.
//!
//! The server talks to its connections and rooms only through the [`Adapter`] trait,
//! which is also the one registry of open connections. [`LocalAdapter`], the default,
//! keeps everything in this process; an adapter that shares rooms between several server
//! processes (the `wsx-redis` crate) wraps a `LocalAdapter` for its own node's share and
//! forwards [`Adapter::deliver`] to the other nodes.
//!
//! Two kinds of calls:
//! - the hot paths ([`Adapter::connect`], [`join`](Adapter::join),
//!   [`leave`](Adapter::leave), [`deliver`](Adapter::deliver)) and this node's own share
//!   ([`members`](Adapter::members), [`count`](Adapter::count), …) are synchronous: local
//!   delivery costs no allocation and no await;
//! - the questions about the whole cluster ([`Adapter::cluster_members`], …) are
//!   asynchronous and fallible: a cluster adapter asks its backend. Their default answers
//!   are the local ones, at once.

use super::outbound::SharedFrame;
use super::peer::Peer;
use futures::future::BoxFuture;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// A connection's id, unique within a server process, and across the nodes of a cluster
/// when the adapter gives each node its own range ([`Adapter::id_base`]).
pub type ConnId = u64;

/// Why a question about the whole cluster got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The backend that shares the cluster's state (e.g. Redis) could not be reached or
    /// failed the query.
    #[error("the cluster backend is unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer in time.
    #[error("the cluster backend did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

/// The answer of a cluster-wide question: asynchronous, fallible.
pub type AdapterFuture<'a, T> = BoxFuture<'a, Result<T, AdapterError>>;

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
    /// Nobody (one connection, with that connection left out).
    Nobody,
}

impl Target {
    /// The members of `room`, but `except`.
    pub fn room(room: &str, except: Option<ConnId>) -> Target {
        Target::Room {
            room: room.to_owned(),
            except,
        }
    }
}

/// Keeps connections and rooms, and delivers pushes to them: the server's one registry
/// of open connections.
///
/// Implement it to share rooms between server processes. The hot paths and this node's
/// share are synchronous so local delivery costs no allocation; a distributed adapter
/// forwards to its network from inside `deliver` (e.g. through a channel to a publishing
/// task) and writes membership in the background. The `cluster_*` questions are
/// asynchronous and fallible; their default answers are this node's.
pub trait Adapter: Send + Sync + 'static {
    /// A connection opened.
    fn connect(&self, peer: Arc<Peer>);
    /// A connection closed: forget it and remove it from every room. Returns the rooms
    /// it was in.
    fn disconnect(&self, id: ConnId) -> Vec<String>;
    /// An open connection of this node.
    fn peer(&self, id: ConnId) -> Option<Arc<Peer>>;
    /// Every open connection of this node.
    fn peers(&self) -> Vec<Arc<Peer>>;
    /// Puts a connection in a room; `Ok(false)` if it was already there.
    fn join(&self, room: &str, id: ConnId, max_rooms: usize) -> Result<bool, RoomError>;
    /// Takes a connection out of a room; `false` if it was not there.
    fn leave(&self, room: &str, id: ConnId) -> bool;
    /// The members of a room on this node, sorted.
    fn members(&self, room: &str) -> Vec<ConnId>;
    /// How many connections of this node a room has (0 for a room that does not exist).
    fn count(&self, room: &str) -> usize;
    /// Every room with a member on this node, by name, with this node's member count.
    fn rooms(&self) -> Vec<RoomInfo>;
    /// How many connections this node has.
    fn connections(&self) -> usize;
    /// Queues a frame for every connection of the target (on every node); returns how
    /// many connections of this node got it.
    fn deliver(&self, target: &Target, frame: &Arc<SharedFrame>) -> usize;

    /// The members of a room on every node, sorted.
    fn cluster_members<'a>(&'a self, room: &'a str) -> AdapterFuture<'a, Vec<ConnId>> {
        Box::pin(std::future::ready(Ok(self.members(room))))
    }
    /// How many connections a room has on every node together.
    fn cluster_count<'a>(&'a self, room: &'a str) -> AdapterFuture<'a, usize> {
        Box::pin(std::future::ready(Ok(self.count(room))))
    }
    /// Every room with a member on some node, by name, with its members on all nodes.
    fn cluster_rooms(&self) -> AdapterFuture<'_, Vec<RoomInfo>> {
        Box::pin(std::future::ready(Ok(self.rooms())))
    }
    /// How many connections every node has together.
    fn cluster_connections(&self) -> AdapterFuture<'_, usize> {
        Box::pin(std::future::ready(Ok(self.connections())))
    }
    /// Where this node's connection ids start: a cluster adapter gives each node its own
    /// range, so that an id names one connection in the whole cluster. Read once, when
    /// the server is built. Default 0.
    fn id_base(&self) -> ConnId {
        0
    }
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
}

impl Adapter for LocalAdapter {
    fn connect(&self, peer: Arc<Peer>) {
        self.peers.write().insert(peer.id(), peer);
    }

    fn disconnect(&self, id: ConnId) -> Vec<String> {
        let peer = self.peers.write().remove(&id);
        let Some(peer) = peer else { return Vec::new() };
        let rooms = peer.take_rooms();
        let mut map = self.rooms.write();
        for room in &rooms {
            if let Some(members) = map.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    map.remove(room);
                }
            }
        }
        drop(map);
        rooms.iter().map(|r| r.to_string()).collect()
    }

    fn peer(&self, id: ConnId) -> Option<Arc<Peer>> {
        self.peers.read().get(&id).cloned()
    }

    fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.read().values().cloned().collect()
    }

    fn join(&self, room: &str, id: ConnId, max_rooms: usize) -> Result<bool, RoomError> {
        let peer = self.peer(id).ok_or(RoomError::Closed)?;
        let mut map = self.rooms.write();
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
        let mut map = self.rooms.write();
        if let Some(members) = map.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                map.remove(room);
            }
        }
        true
    }

    fn members(&self, room: &str) -> Vec<ConnId> {
        let map = self.rooms.read();
        let mut ids: Vec<ConnId> = map
            .get(room)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    fn count(&self, room: &str) -> usize {
        self.rooms.read().get(room).map_or(0, |r| r.len())
    }

    fn rooms(&self) -> Vec<RoomInfo> {
        let map = self.rooms.read();
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
        self.peers.read().len()
    }

    fn deliver(&self, target: &Target, frame: &Arc<SharedFrame>) -> usize {
        let mut delivered = 0;
        match target {
            Target::All { except } => {
                for (id, peer) in self.peers.read().iter() {
                    if Some(*id) != *except && peer.deliver(frame) {
                        delivered += 1;
                    }
                }
            }
            Target::Room { room, except } => {
                if let Some(members) = self.rooms.read().get(room.as_str()) {
                    for (id, peer) in members.iter() {
                        if Some(*id) != *except && peer.deliver(frame) {
                            delivered += 1;
                        }
                    }
                }
            }
            Target::Conn(id) => {
                if let Some(peer) = self.peers.read().get(id) {
                    if peer.deliver(frame) {
                        delivered += 1;
                    }
                }
            }
            Target::Nobody => {}
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

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
    fn the_cluster_questions_of_a_single_node_are_its_own_answers() {
        use futures::executor::block_on;
        let a = LocalAdapter::new();
        for id in 1..=2 {
            a.connect(Arc::new(Peer::new(id, Codec::JsonText, 8)));
        }
        a.join("r", 2, 8).unwrap();
        assert_eq!(block_on(a.cluster_members("r")), Ok(vec![2]));
        assert_eq!(block_on(a.cluster_count("r")), Ok(1));
        assert_eq!(block_on(a.cluster_rooms()), Ok(a.rooms()));
        assert_eq!(block_on(a.cluster_connections()), Ok(2));
        assert_eq!(a.id_base(), 0);
        let mut ids: Vec<ConnId> = a.peers().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2]);
        assert_eq!(a.peer(2).map(|p| p.id()), Some(2));
        assert!(a.peer(3).is_none());
        let frame = SharedFrame::from_fn("x", |c| c.encode_value(&1));
        assert_eq!(a.deliver(&Target::Nobody, &frame), 0);
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
