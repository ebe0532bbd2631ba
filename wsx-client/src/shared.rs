//! What the [`Client`](crate::Client) handles and the I/O task share.

use crate::config::Config;
use crate::error::Error;
use crate::pending::Pending;
use crate::state::{CloseReason, StateCell};
use crate::subscribe::Subscribers;
use rand::Rng;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The state of one client, behind an `Arc`: settings, requests in flight, subscribers,
/// connection state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) pending: Pending,
    pub(crate) subs: Subscribers,
    pub(crate) state: StateCell,
    /// Which of `config.urls` the connection uses, or the attempt under way tries. Only
    /// the I/O task changes it.
    url_index: AtomicUsize,
    /// Request ids are `<prefix>-<counter>`: unique per client, and the random prefix
    /// keeps two clients (or two runs) from reusing each other's ids.
    id_prefix: String,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: Config, subs: Subscribers, state: StateCell, url: usize) -> Self {
        let id_prefix = {
            let mut rng = rand::rng();
            (0..8)
                .map(|_| {
                    char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[rng.random_range(0..36)])
                })
                .collect()
        };
        Shared {
            config,
            pending: Pending::default(),
            subs,
            state,
            url_index: AtomicUsize::new(url),
            id_prefix,
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id_prefix)
    }

    /// The error of a call made on a closed client.
    pub(crate) fn closed_error(&self) -> Error {
        Error::Closed {
            reason: self.state.closed().unwrap_or(CloseReason::ClientClosed),
        }
    }

    /// The URL in use (or being tried).
    pub(crate) fn url(&self) -> &str {
        self.config.url(self.url_index.load(Ordering::Relaxed))
    }

    /// Moves on to the next URL, round the list.
    pub(crate) fn next_url(&self) {
        let next = (self.url_index.load(Ordering::Relaxed) + 1) % self.config.urls.len().max(1);
        self.url_index.store(next, Ordering::Relaxed);
    }
}
