//! The names of every Redis key and channel the adapter uses (see `docs/CLUSTER.md`).

use wsx_core::server::ConnId;

/// Bits of a [`ConnId`] below the node number: each node numbers its own connections
/// from `node << NODE_SHIFT`. With node numbers below 2^21 every id stays below 2^53, so
/// JavaScript numbers carry it exactly.
pub(crate) const NODE_SHIFT: u32 = 32;
/// Node numbers wrap below this (2^21 - 1).
pub(crate) const MAX_NODE: u64 = (1 << 21) - 1;

/// The node that holds a connection.
pub(crate) fn node_of(id: ConnId) -> u64 {
    id >> NODE_SHIFT
}

/// Key and channel names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// `INCR`ed to number a starting node.
    pub(crate) fn node_seq(&self) -> String {
        format!("{}:node-seq", self.prefix)
    }

    /// The set of node numbers that may hold state (alive, or dead and not yet cleaned).
    pub(crate) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// The node's heartbeat key; it expires `node_expiry` after the last heartbeat.
    pub(crate) fn alive(&self, node: u64) -> String {
        format!("{}:node:{node}:alive", self.prefix)
    }

    /// Hash: room name → how many of the node's connections are in it.
    pub(crate) fn node_rooms(&self, node: u64) -> String {
        format!("{}:node:{node}:rooms", self.prefix)
    }

    /// Set of the node's connection ids in one room.
    pub(crate) fn node_room(&self, node: u64, room: &str) -> String {
        format!("{}:node:{node}:room:{room}", self.prefix)
    }

    /// Prefix of [`Keys::node_room`], for the cleanup script.
    pub(crate) fn node_room_prefix(&self, node: u64) -> String {
        format!("{}:node:{node}:room:", self.prefix)
    }

    /// How many connections the node has.
    pub(crate) fn node_conns(&self, node: u64) -> String {
        format!("{}:node:{node}:conns", self.prefix)
    }

    /// Channel of pushes to every connection; every node subscribes.
    pub(crate) fn all_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// Channel of pushes to one connection of a node; only that node subscribes.
    pub(crate) fn node_channel(&self, node: u64) -> String {
        format!("{}:to-node:{node}", self.prefix)
    }

    /// Channel of pushes to a room; subscribed by the nodes with a member in it.
    pub(crate) fn room_channel(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }

    /// The room of a room channel's name.
    pub(crate) fn room_of_channel<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":room:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_round_trips() {
        let k = Keys::new("t1");
        assert_eq!(k.room_channel("a:b"), "t1:room:a:b");
        assert_eq!(k.room_of_channel("t1:room:a:b"), Some("a:b"));
        assert_eq!(k.room_of_channel("t1:all"), None);
        assert_eq!(k.room_of_channel("t2:room:a"), None);
        assert_eq!(k.node_room(7, "r"), "t1:node:7:room:r");
        assert!(k.node_room(7, "r").starts_with(&k.node_room_prefix(7)));
        assert_eq!(node_of((5 << NODE_SHIFT) + 9), 5);
        assert!((MAX_NODE << NODE_SHIFT) + u64::from(u32::MAX) < 1 << 53);
    }
}
