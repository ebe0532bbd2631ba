//! A room's recent history in memory, and replay for reconnecting clients.
//!
//! # The replay window
//! Each room keeps its last N messages (`--history`, default 100) in a [`RoomLog`],
//! loaded from the database when the room is first used after a start. A client that
//! joins with `since: { epoch, seq }` is *recoverable* when the epoch is the room's and
//! every message after `seq` is among those N, i.e. it missed at most N messages; it then
//! gets exactly those messages, in order, with `recovered: true`. Otherwise (another
//! epoch, a `seq` from the future, or more than N missed) it gets `recovered: false` and
//! the latest N, and should show a "some messages were missed" notice. Older messages
//! stay readable with the `history` request and `GET /api/room/:name/history`.
//!
//! # Exactly once
//! A message is queued for the database under the room's queueing lock; the database
//! gives it its `seq` in the transaction that stores it (see [`crate::store`]), and once
//! committed (completions run in queue order, so in `seq` order) it is recorded in the log
//! and broadcast under the room's log lock. The join handler holds the same log lock while it
//! subscribes the connection to the room and reads the backlog. So the backlog holds
//! exactly the messages up to the `seq` in the join answer, and every live `message` push
//! the connection gets has a greater `seq`: no message is in both, none is in neither.
//! A message whose commit fails is never recorded nor broadcast, and its `seq` is not
//! used up: the transaction that took it rolled back.
//!
//! A live push may reach the client before the join answer (they travel separately); a
//! client shows the answer's history first, then the pushes with `seq` greater than the
//! answer's `seq`.

use crate::events::{ChatMessage, RoomPosition};
use crate::store::RoomRecord;
use std::collections::VecDeque;

/// The latest messages of a room, its epoch and its sequence counter.
#[derive(Debug)]
pub struct RoomLog {
    epoch: String,
    last_seq: u64,
    recent: VecDeque<ChatMessage>,
    capacity: usize,
}

/// What a join gets to see of a room's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The messages, oldest first.
    pub history: Vec<ChatMessage>,
    /// `None` without `since`; else whether `history` holds every missed message.
    pub recovered: Option<bool>,
}

impl RoomLog {
    /// A log from what the database holds, keeping `capacity` messages.
    pub fn new(record: RoomRecord, capacity: usize) -> Self {
        let mut recent: VecDeque<ChatMessage> = record.recent.into();
        while recent.len() > capacity {
            recent.pop_front();
        }
        RoomLog {
            epoch: record.epoch,
            last_seq: record.last_seq,
            recent,
            capacity,
        }
    }

    /// The room's history epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The sequence number of the latest message (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Records a committed message. Messages are recorded in `seq` order; a `seq` may be
    /// skipped (a message another process stored, on a shared database) but never
    /// repeated.
    pub fn record(&mut self, message: ChatMessage) {
        debug_assert!(
            message.seq > self.last_seq,
            "messages are recorded in sequence"
        );
        self.last_seq = message.seq;
        if self.capacity == 0 {
            return;
        }
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(message);
    }

    /// What a join shows: the latest messages, or with `since` the missed ones when
    /// they are all still kept (see the module docs).
    pub fn replay(&self, since: Option<&RoomPosition>) -> Replay {
        let latest = || self.recent.iter().cloned().collect::<Vec<_>>();
        let Some(since) = since else {
            return Replay {
                history: latest(),
                recovered: None,
            };
        };
        let oldest_kept = self.recent.front().map_or(self.last_seq + 1, |m| m.seq);
        let recoverable =
            since.epoch == self.epoch && since.seq <= self.last_seq && since.seq + 1 >= oldest_kept;
        if recoverable {
            let missed = self
                .recent
                .iter()
                .filter(|m| m.seq > since.seq)
                .cloned()
                .collect();
            Replay {
                history: missed,
                recovered: Some(true),
            }
        } else {
            Replay {
                history: latest(),
                recovered: Some(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::MessageKind;

    fn log_with(n: u64, capacity: usize) -> RoomLog {
        let mut log = RoomLog::new(
            RoomRecord {
                epoch: "e1".into(),
                last_seq: 0,
                recent: vec![],
            },
            capacity,
        );
        for seq in 1..=n {
            log.record(ChatMessage {
                message_id: format!("m{seq}"),
                username: "a".into(),
                message: "x".into(),
                timestamp: 0,
                room: "r".into(),
                seq,
                kind: MessageKind::Message,
            });
        }
        log
    }

    fn seqs(r: &Replay) -> Vec<u64> {
        r.history.iter().map(|m| m.seq).collect()
    }

    fn at(epoch: &str, seq: u64) -> RoomPosition {
        RoomPosition {
            epoch: epoch.into(),
            seq,
        }
    }

    #[test]
    fn replay_gives_exactly_the_missed_messages() {
        let log = log_with(10, 4);
        assert_eq!(seqs(&log.replay(None)), [7, 8, 9, 10]);
        assert_eq!(log.replay(None).recovered, None);
        // Missed 8, 9, 10.
        let r = log.replay(Some(&at("e1", 7)));
        assert_eq!((seqs(&r), r.recovered), (vec![8, 9, 10], Some(true)));
        // Missed exactly the window.
        let r = log.replay(Some(&at("e1", 6)));
        assert_eq!((seqs(&r), r.recovered), (vec![7, 8, 9, 10], Some(true)));
        // Up to date.
        let r = log.replay(Some(&at("e1", 10)));
        assert_eq!((seqs(&r), r.recovered), (vec![], Some(true)));
    }

    #[test]
    fn replay_refuses_what_it_cannot_prove() {
        let log = log_with(10, 4);
        for since in [at("e1", 5), at("e0", 9), at("e1", 11)] {
            let r = log.replay(Some(&since));
            assert_eq!(
                (seqs(&r), r.recovered),
                (vec![7, 8, 9, 10], Some(false)),
                "{since:?}"
            );
        }
        // An empty room recovers a client that saw nothing.
        let empty = log_with(0, 4);
        assert_eq!(empty.replay(Some(&at("e1", 0))).recovered, Some(true));
        // Without a window, only an up-to-date client recovers.
        let none = log_with(3, 0);
        assert_eq!(none.replay(Some(&at("e1", 3))).recovered, Some(true));
        assert_eq!(none.replay(Some(&at("e1", 2))).recovered, Some(false));
    }
}
