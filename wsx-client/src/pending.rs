//! Requests waiting for their answer: id → the caller's oneshot.
//!
//! The caller holds a [`PendingGuard`]; dropping it (the request future was dropped, or it
//! timed out) removes the entry, so a late answer finds nothing and is discarded instead
//! of leaking. The I/O task marks entries as sent when they reach the socket: only those
//! fail with `ConnectionLost` when the connection drops; entries still queued wait for the
//! next connection.

use crate::state::CloseReason;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;
use wsx_core::error::WireError;

/// How a request ended, as the I/O task reports it.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `response_ok` with its payload (`Null` when absent).
    Ok(Value),
    /// `response_error`.
    Err(WireError),
    /// The connection dropped after the request was written.
    Lost,
    /// The client closed for good.
    Closed(CloseReason),
    /// The send queue was full.
    QueueFull(usize),
}

struct Entry {
    tx: oneshot::Sender<Outcome>,
    sent: bool,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Set once the client is closed for good: new requests fail at once.
    closed: Option<CloseReason>,
}

/// The table of requests in flight, shared by the handles and the I/O task.
#[derive(Clone, Default)]
pub(crate) struct Pending {
    table: Arc<Mutex<Table>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("len", &self.len()).finish()
    }
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding this lock cannot leave the table inconsistent (every
        // operation is a single map call), so a poisoned lock is still usable.
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a request; fails with the close reason if the client is closed.
    pub(crate) fn insert(
        &self,
        id: String,
    ) -> Result<(PendingGuard, oneshot::Receiver<Outcome>), CloseReason> {
        let (tx, rx) = oneshot::channel();
        let mut table = self.lock();
        if let Some(reason) = &table.closed {
            return Err(reason.clone());
        }
        table.entries.insert(id.clone(), Entry { tx, sent: false });
        Ok((
            PendingGuard {
                pending: self.clone(),
                id,
            },
            rx,
        ))
    }

    /// Whether the request is still wanted (not cancelled, not timed out).
    pub(crate) fn is_waiting(&self, id: &str) -> bool {
        self.lock().entries.contains_key(id)
    }

    /// Marks a request as written to the socket; `false` if nobody waits for it any more.
    pub(crate) fn mark_sent(&self, id: &str) -> bool {
        match self.lock().entries.get_mut(id) {
            Some(entry) => {
                entry.sent = true;
                true
            }
            None => false,
        }
    }

    /// Completes a request; `false` if nobody waits for it (cancelled, or a stray id).
    pub(crate) fn complete(&self, id: &str, outcome: Outcome) -> bool {
        let entry = self.lock().entries.remove(id);
        match entry {
            Some(entry) => entry.tx.send(outcome).is_ok(),
            None => false,
        }
    }

    /// Fails every request already written with [`Outcome::Lost`]; returns how many.
    pub(crate) fn fail_sent(&self) -> usize {
        let lost: Vec<Entry> = {
            let mut table = self.lock();
            let ids: Vec<String> = table
                .entries
                .iter()
                .filter(|(_, e)| e.sent)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| table.entries.remove(id))
                .collect()
        };
        let n = lost.len();
        for entry in lost {
            let _ = entry.tx.send(Outcome::Lost);
        }
        n
    }

    /// Closes the table for good: every waiting request fails, new ones are refused.
    pub(crate) fn close(&self, reason: &CloseReason) {
        let entries: Vec<Entry> = {
            let mut table = self.lock();
            table.closed = Some(reason.clone());
            table.entries.drain().map(|(_, e)| e).collect()
        };
        for entry in entries {
            let _ = entry.tx.send(Outcome::Closed(reason.clone()));
        }
    }

    /// How many requests wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn remove(&self, id: &str) {
        self.lock().entries.remove(id);
    }
}

/// Removes its request from the table when dropped: cancellation and timeouts.
#[derive(Debug)]
pub(crate) struct PendingGuard {
    pending: Pending,
    id: String,
}

impl PendingGuard {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.remove(&self.id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_cancels() {
        let p = Pending::default();
        let (guard, _rx) = p.insert("a".into()).unwrap();
        assert_eq!(p.len(), 1);
        drop(guard);
        assert_eq!(p.len(), 0);
        assert!(
            !p.complete("a", Outcome::Ok(Value::Null)),
            "late answer is discarded"
        );
    }

    #[test]
    fn only_sent_requests_are_lost() {
        let p = Pending::default();
        let (_g1, mut rx1) = p.insert("sent".into()).unwrap();
        let (_g2, mut rx2) = p.insert("queued".into()).unwrap();
        assert!(p.mark_sent("sent"));
        assert_eq!(p.fail_sent(), 1);
        assert!(matches!(rx1.try_recv(), Ok(Outcome::Lost)));
        assert!(rx2.try_recv().is_err());
        assert!(p.is_waiting("queued"));
        p.close(&CloseReason::ClientClosed);
        assert!(matches!(
            rx2.try_recv(),
            Ok(Outcome::Closed(CloseReason::ClientClosed))
        ));
        assert!(p.insert("late".into()).is_err());
    }
}
