//! The user of one connection, as the server knows them: their name, their rooms, where
//! they type. (The framework's per-connection task and the terminal client's connection
//! are other things; this is the chat's per-user state.)

use crate::names::UserName;
use std::collections::HashMap;
use std::sync::Mutex;
use wsx_core::server::{Conn, HandlerError};

/// The user of a connection (`Conn<User>`): named by the first `join`, in the rooms
/// joined since.
#[derive(Debug, Default)]
pub struct User {
    state: Mutex<UserState>,
    /// Orders a connection's requests that depend on each other. The server answers
    /// several requests of one connection at once, starting them in arrival order. A
    /// request that changes who or where the user is (`join`, `leave`, `setNick`)
    /// holds it for writing, every other request of the connection for reading, each for
    /// its whole run: a change waits for the requests sent before it and is waited for
    /// by the ones sent after it (a message right after a `join` goes to the room just
    /// joined; a `leave` right after a message comes after it), while requests that
    /// change nothing still overlap. The lock is fair: it serves in arrival order.
    order: tokio::sync::RwLock<()>,
}

#[derive(Debug, Default)]
struct UserState {
    /// Set by the first `join`; every message is signed with it.
    name: Option<UserName>,
    /// The secret that lets a later connection take the name back (`resumeToken`).
    resume_token: Option<String>,
    /// Rooms in the order joined; the last one is where a request without `room` goes.
    rooms: Vec<String>,
    /// Rooms taken over from a stale connection of the same user: the user is shown
    /// there, but this connection gets the room's pushes only once it joins again (with
    /// `since`, so nothing is missed or doubled). A join of one of these announces
    /// nobody; a disconnect leaves them like the others.
    held: Vec<String>,
    /// Rooms where the user is typing → generation of the latest `typing`, so an expiry
    /// timer knows whether a newer `typing` superseded it.
    typing: HashMap<String, u64>,
    typing_generation: u64,
}

impl User {
    /// Held while a request changes the user's name or rooms (see `order`).
    pub async fn changing(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.order.write().await
    }

    /// Held while a request uses the user's name or rooms (see `order`).
    pub async fn using(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.order.read().await
    }

    fn with<T>(&self, f: impl FnOnce(&mut UserState) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// The user's name, once they joined.
    pub fn name(&self) -> Option<UserName> {
        self.with(|s| s.name.clone()).flatten()
    }

    /// Names the user.
    pub fn set_name(&self, name: UserName) {
        self.with(|s| s.name = Some(name));
    }

    /// Names the user and keeps its resume token.
    pub fn set_identity(&self, name: UserName, resume_token: String) {
        self.with(|s| {
            s.name = Some(name);
            s.resume_token = Some(resume_token);
        });
    }

    /// The user's resume token, once they joined.
    pub fn resume_token(&self) -> Option<String> {
        self.with(|s| s.resume_token.clone()).flatten()
    }

    /// The rooms, in the order joined.
    pub fn rooms(&self) -> Vec<String> {
        self.with(|s| s.rooms.clone()).unwrap_or_default()
    }

    /// The rooms joined and the rooms held (see `held`): every room the user is shown in.
    pub fn all_rooms(&self) -> Vec<String> {
        self.with(|s| s.rooms.iter().chain(&s.held).cloned().collect())
            .unwrap_or_default()
    }

    /// The rooms held (see `held`): the user is shown there but has not joined again.
    pub fn held_rooms(&self) -> Vec<String> {
        self.with(|s| s.held.clone()).unwrap_or_default()
    }

    /// Takes the rooms of a stale connection of the same user (see `held`).
    pub fn hold(&self, rooms: Vec<String>) {
        self.with(|s| {
            for room in rooms {
                if !s.rooms.contains(&room) && !s.held.contains(&room) {
                    s.held.push(room);
                }
            }
        });
    }

    /// Whether `room` was held (and is no longer: the connection is joining it).
    pub fn unhold(&self, room: &str) -> bool {
        self.with(|s| {
            let before = s.held.len();
            s.held.retain(|r| r != room);
            s.held.len() != before
        })
        .unwrap_or(false)
    }

    /// Ends the user's identity on this connection: another connection took its name back. Returns the
    /// rooms it was shown in; afterwards it has no name and no room, so its requests
    /// are refused and its disconnect tells nobody.
    pub fn evict(&self) -> Vec<String> {
        self.with(|s| {
            s.name = None;
            s.resume_token = None;
            let mut rooms = std::mem::take(&mut s.rooms);
            rooms.append(&mut s.held);
            rooms
        })
        .unwrap_or_default()
    }

    /// Whether the user is in a room.
    pub fn is_in(&self, room: &str) -> bool {
        self.with(|s| s.rooms.iter().any(|r| r == room))
            .unwrap_or(false)
    }

    /// Makes `room` the most recently joined room.
    pub fn enter(&self, room: &str) {
        self.with(|s| {
            s.rooms.retain(|r| r != room);
            s.rooms.push(room.to_owned());
        });
    }

    /// Forgets a room, joined or held; `false` if the user was not in it.
    pub fn exit(&self, room: &str) -> bool {
        self.with(|s| {
            let before = s.rooms.len() + s.held.len();
            s.rooms.retain(|r| r != room);
            s.held.retain(|r| r != room);
            s.rooms.len() + s.held.len() != before
        })
        .unwrap_or(false)
    }

    /// The room a request means: the one it names, or the most recently joined one.
    pub fn resolve_room(&self, room: Option<&str>) -> Result<String, HandlerError> {
        match room {
            Some(room) => Ok(room.to_owned()),
            None => self
                .with(|s| s.rooms.last().cloned())
                .flatten()
                .ok_or_else(|| HandlerError::new("you are in no room: join one first")),
        }
    }

    /// The room a request means, which the user must be in.
    pub fn member_room(&self, room: Option<&str>) -> Result<String, HandlerError> {
        let room = self.resolve_room(room)?;
        if self.is_in(&room) {
            Ok(room)
        } else {
            Err(HandlerError::new(format!(
                "you are not in room `{room}`: join it first"
            )))
        }
    }

    /// Notes a `typing` in a room; returns its generation and whether the user was
    /// already typing there.
    pub fn start_typing(&self, room: &str) -> (u64, bool) {
        self.with(|s| {
            s.typing_generation += 1;
            let generation = s.typing_generation;
            let was = s.typing.insert(room.to_owned(), generation).is_some();
            (generation, was)
        })
        .unwrap_or((0, true))
    }

    /// Stops typing in a room; `true` if the user was typing there. With a generation,
    /// only if no newer `typing` came since.
    pub fn stop_typing(&self, room: &str, generation: Option<u64>) -> bool {
        self.with(|s| match (s.typing.get(room), generation) {
            (Some(current), Some(g)) if *current != g => false,
            (Some(_), _) => {
                s.typing.remove(room);
                true
            }
            (None, _) => false,
        })
        .unwrap_or(false)
    }
}

/// The user's name, or the error a request gets before the first `join`.
pub fn require_name(conn: &Conn<User>) -> Result<UserName, HandlerError> {
    conn.state()
        .name()
        .ok_or_else(|| HandlerError::new("join a room first: you have no name yet"))
}
