//! The per-connection rate limit: a token bucket.

use tokio::time::Instant;

/// Refills `rate` tokens per second up to `burst`; each message takes one. The rate and
/// the burst are the server's, given to each [`take`](Self::take): every connection
/// carries a bucket, and only its tokens and clock are its own.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens.
    pub(crate) fn new(burst: u32) -> Self {
        TokenBucket {
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one, after refilling `rate` per second since the last
    /// take, up to `burst`.
    pub(crate) fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(burst.max(1)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let start = Instant::now();
        let mut b = TokenBucket::new(3);
        let mut take = |at| b.take(at, 10, 3);
        assert!(take(start) && take(start) && take(start));
        assert!(!take(start));
        assert!(!take(start + Duration::from_millis(50)));
        assert!(take(start + Duration::from_millis(160)));
        assert!(!take(start + Duration::from_millis(160)));
        // never more than the burst, however long the pause
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| take(later)));
        assert!(!take(later));
    }
}
