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
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Most messages a room holds back waiting for an earlier one (cluster mode); beyond
/// it newer ones are dropped here and read from the database when the gap is filled.
pub const MAX_HELD: usize = 1_000;

/// The latest messages of a room, its epoch and its sequence counter.
#[derive(Debug)]
pub struct RoomLog {
    epoch: String,
    last_seq: u64,
    recent: VecDeque<ChatMessage>,
    capacity: usize,
    /// Cluster mode: messages that arrived ahead of their turn, by `seq`.
    held: BTreeMap<u64, ChatMessage>,
    /// Since when a message has been held (a gap is open).
    gap_since: Option<Instant>,
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
            held: BTreeMap::new(),
            gap_since: None,
        }
    }

    /// Cluster mode: a committed message, from this node or another, in whatever order
    /// they come. Returns the messages to deliver now, in `seq` order, each recorded: the
    /// message itself if it is the next `seq`, followed by the held ones it unblocks.
    /// A message not newer than the last one recorded is a repeat and dropped; a later
    /// one is held (up to [`MAX_HELD`]) until the gap before it is filled.
    pub fn offer(&mut self, message: ChatMessage) -> Vec<ChatMessage> {
        if message.seq <= self.last_seq {
            return Vec::new();
        }
        if message.seq > self.last_seq + 1 {
            if self.held.len() < MAX_HELD {
                self.held.entry(message.seq).or_insert(message);
            }
            self.gap_since.get_or_insert_with(Instant::now);
            return Vec::new();
        }
        let mut ready = vec![message];
        self.record(ready[0].clone());
        while let Some(next) = self.held.remove(&(self.last_seq + 1)) {
            self.record(next.clone());
            ready.push(next);
        }
        let last = self.last_seq;
        self.held.retain(|&seq, _| seq > last);
        self.gap_since = if self.held.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        ready
    }

    /// Whether a message has been held for `wait` or longer (time to read the gap from
    /// the database).
    pub fn gap_older_than(&self, wait: Duration) -> bool {
        self.gap_since.is_some_and(|t| t.elapsed() >= wait)
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

    fn message(seq: u64) -> ChatMessage {
        ChatMessage {
            message_id: format!("m{seq}"),
            username: "a".into(),
            message: "x".into(),
            timestamp: 0,
            room: "r".into(),
            seq,
            kind: MessageKind::Message,
        }
    }

    #[test]
    fn offers_are_delivered_in_order_once() {
        let mut log = log_with(2, 10);
        let seqs = |v: Vec<ChatMessage>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        // A repeat and an old one are dropped.
        assert_eq!(seqs(log.offer(message(2))), Vec::<u64>::new());
        assert_eq!(seqs(log.offer(message(1))), Vec::<u64>::new());
        // Ahead of its turn: held, the gap noted.
        assert_eq!(seqs(log.offer(message(5))), Vec::<u64>::new());
        assert_eq!(seqs(log.offer(message(4))), Vec::<u64>::new());
        assert_eq!(seqs(log.offer(message(5))), Vec::<u64>::new());
        assert!(log.gap_older_than(Duration::ZERO));
        // The missing one unblocks the held ones.
        assert_eq!(seqs(log.offer(message(3))), [3, 4, 5]);
        assert!(!log.gap_older_than(Duration::ZERO));
        assert_eq!(log.last_seq(), 5);
        assert_eq!(seqs(log.offer(message(4))), Vec::<u64>::new());
        assert_eq!(seqs(log.offer(message(6))), [6]);
        assert_eq!(seqs(log.replay(None).history), [1, 2, 3, 4, 5, 6]);
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
