//! The handle of one connection: its id, its typed state, pushes and rooms.

use super::handshake::Handshake;
use super::outbound::{Outbound, SharedFrame};
use super::peer::Peer;
use super::rooms::{Adapter, AdapterError, ConnId, RoomError, Target};
use crate::codec::Codec;
use crate::event::PushEvent;
use crate::protocol::OutFrame;
use crate::validate::{self, PayloadError};
use std::any::Any;
use std::sync::{Arc, Weak};

/// What every connection of a server shares: the rooms and the outgoing checks.
pub(crate) struct Hub {
    pub(crate) adapter: Arc<dyn Adapter>,
    pub(crate) max_rooms: usize,
    pub(crate) validate_outgoing: bool,
    /// Whether handler calls are timed ([`ServerConfig::handler_timing`](super::ServerConfig::handler_timing)).
    pub(crate) handler_timing: bool,
}

impl Hub {
    /// The members of `room`: what [`Server::to`](super::Server::to) and [`Conn::to`]
    /// both return.
    pub(crate) fn to_room(self: &Arc<Self>, room: &str) -> Emitter {
        Emitter::new(self.clone(), Target::room(room, None))
    }

    /// One connection by id, on whichever node holds it.
    pub(crate) fn to_conn(self: &Arc<Self>, id: ConnId) -> Emitter {
        Emitter::new(self.clone(), Target::Conn(id))
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("max_rooms", &self.max_rooms)
            .finish_non_exhaustive()
    }
}

/// Why a push was not queued.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    /// The payload breaks its own schema (checked when `validate_outgoing` is on).
    #[error("push payload is invalid: {0}")]
    Invalid(#[from] PayloadError),
    /// The connection is closed, or was just disconnected as a slow consumer.
    #[error("the connection is closed")]
    Closed,
    /// The payload could not be encoded.
    #[error("{0}")]
    Encode(String),
}

struct ConnInner<C> {
    peer: Arc<Peer>,
    state: C,
    handshake: Arc<Handshake>,
    hub: Arc<Hub>,
}

/// A connection, as handlers and hooks see it. Cheap to clone.
///
/// `C` is the app's per-connection state, created by the connect hook (or
/// `C::default()`); use interior mutability (`Mutex`, atomics) for what changes.
pub struct Conn<C> {
    inner: Arc<ConnInner<C>>,
}

impl<C> Clone for Conn<C> {
    fn clone(&self) -> Self {
        Conn {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Conn<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl<C> Conn<C> {
    /// A new connection and its peer, which points back to it (weakly) so that the
    /// adapter's registry also finds the handle.
    pub(crate) fn new(
        id: ConnId,
        codec: Codec,
        (queue_capacity, max_queued_bytes): (usize, usize),
        state: C,
        handshake: Arc<Handshake>,
        hub: Arc<Hub>,
    ) -> Self
    where
        C: Send + Sync + 'static,
    {
        let inner = Arc::new_cyclic(|weak: &Weak<ConnInner<C>>| {
            let handle: Weak<dyn Any + Send + Sync> = weak.clone();
            ConnInner {
                peer: Arc::new(Peer::with_handle(
                    id,
                    codec,
                    queue_capacity,
                    max_queued_bytes,
                    handle,
                )),
                state,
                handshake,
                hub,
            }
        });
        Conn { inner }
    }

    /// The handle of the connection a peer belongs to, while it is open.
    pub(crate) fn of_peer(peer: &Peer) -> Option<Conn<C>>
    where
        C: Send + Sync + 'static,
    {
        let inner = peer.handle()?.downcast::<ConnInner<C>>().ok()?;
        Some(Conn { inner })
    }

    pub(crate) fn peer(&self) -> &Arc<Peer> {
        &self.inner.peer
    }

    /// The connection's id, unique in this server process (and in the cluster, with a
    /// cluster adapter).
    pub fn id(&self) -> ConnId {
        self.inner.peer.id()
    }

    /// The app's state for this connection.
    pub fn state(&self) -> &C {
        &self.inner.state
    }

    /// The upgrade request: headers, query, peer address.
    pub fn handshake(&self) -> &Arc<Handshake> {
        &self.inner.handshake
    }

    /// Whether the server times handler calls.
    pub(crate) fn handler_timing(&self) -> bool {
        self.inner.hub.handler_timing
    }

    /// The codec the connection speaks.
    pub fn codec(&self) -> Codec {
        self.inner.peer.codec()
    }

    /// Pushes an event to this connection.
    pub fn push<E: PushEvent>(&self, payload: E::Payload) -> Result<(), PushError> {
        if self.inner.hub.validate_outgoing {
            validate::check(&payload)?;
        }
        let item = Outbound::encode(self.codec(), &OutFrame::send(E::NAME, &payload))
            .map_err(|e| PushError::Encode(e.to_string()))?;
        metrics::counter!("wsx_frames_out_total", "event" => E::NAME).increment(1);
        if self.inner.peer.enqueue(item) {
            Ok(())
        } else {
            Err(PushError::Closed)
        }
    }

    /// Puts this connection in a room. `Ok(false)` if it already was.
    pub fn join(&self, room: &str) -> Result<bool, RoomError> {
        self.inner
            .hub
            .adapter
            .join(room, self.id(), self.inner.hub.max_rooms)
    }

    /// Takes this connection out of a room. `false` if it was not in it.
    pub fn leave(&self, room: &str) -> bool {
        self.inner.hub.adapter.leave(room, self.id())
    }

    /// The members of a room on every node, sorted (see
    /// [`Server::cluster_members`](super::Server::cluster_members)).
    pub async fn cluster_members(&self, room: &str) -> Result<Vec<ConnId>, AdapterError> {
        self.inner.hub.adapter.cluster_members(room).await
    }

    /// How many members a room has on every node (see
    /// [`Server::cluster_count`](super::Server::cluster_count)).
    pub async fn cluster_count(&self, room: &str) -> Result<usize, AdapterError> {
        self.inner.hub.adapter.cluster_count(room).await
    }

    /// The rooms this connection is in, in the order joined.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.peer.rooms()
    }

    /// Pushes to every member of `room`, this connection included if it is a member.
    pub fn to(&self, room: &str) -> Emitter {
        self.inner.hub.to_room(room)
    }

    /// Pushes to every member of `room` except this connection.
    pub fn others_in(&self, room: &str) -> Emitter {
        Emitter::new(self.inner.hub.clone(), Target::room(room, Some(self.id())))
    }

    /// Pushes to every connection of the server except this one.
    pub fn broadcast(&self) -> Emitter {
        Emitter::new(
            self.inner.hub.clone(),
            Target::All {
                except: Some(self.id()),
            },
        )
    }

    /// Pushes to another connection by id.
    pub fn to_conn(&self, id: ConnId) -> Emitter {
        self.inner.hub.to_conn(id)
    }

    /// Closes the connection after what is already queued, with a close code and reason.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        self.inner.peer.enqueue(Outbound::Close {
            code,
            reason: reason.into(),
        });
    }

    /// How many droppable pushes this connection lost to a full queue.
    pub fn dropped(&self) -> u64 {
        self.inner.peer.queue.dropped()
    }

    /// How many frames wait in this connection's outbound queue.
    pub fn queued(&self) -> usize {
        self.inner.peer.queue.len()
    }
}

/// Pushes one event to a group of connections, encoding it once per codec in use.
///
/// Get one from [`Conn::to`], [`Conn::others_in`], [`Conn::broadcast`] or
/// [`Server::to`](super::Server::to).
#[derive(Debug, Clone)]
pub struct Emitter {
    hub: Arc<Hub>,
    target: Target,
}

impl Emitter {
    pub(crate) fn new(hub: Arc<Hub>, target: Target) -> Self {
        Emitter { hub, target }
    }

    /// Leaves one connection out.
    pub fn except(mut self, id: ConnId) -> Self {
        match &mut self.target {
            Target::All { except } | Target::Room { except, .. } => *except = Some(id),
            Target::Conn(target) if *target == id => self.target = Target::Nobody,
            Target::Conn(_) | Target::Nobody => {}
        }
        self
    }

    /// Pushes an event; returns how many connections it was queued for.
    pub fn push<E: PushEvent>(&self, payload: E::Payload) -> Result<usize, PushError> {
        self.send_frame::<E>(payload, false)
    }

    /// Pushes an event that a slow consumer may lose (typing indicators, statistics):
    /// when a queue is full, the oldest droppable frames go first.
    pub fn push_droppable<E: PushEvent>(&self, payload: E::Payload) -> Result<usize, PushError> {
        self.send_frame::<E>(payload, true)
    }

    fn send_frame<E: PushEvent>(
        &self,
        payload: E::Payload,
        droppable: bool,
    ) -> Result<usize, PushError> {
        if self.hub.validate_outgoing {
            validate::check(&payload)?;
        }
        let mut frame = SharedFrame::push::<E>(payload);
        if droppable {
            frame = frame.droppable();
        }
        let n = self.hub.adapter.deliver(&self.target, &frame);
        metrics::counter!("wsx_frames_out_total", "event" => E::NAME).increment(n as u64);
        Ok(n)
    }

    /// Delivers a frame built elsewhere (e.g. received from another server process).
    pub fn push_frame(&self, frame: &Arc<SharedFrame>) -> usize {
        self.hub.adapter.deliver(&self.target, frame)
    }
}
