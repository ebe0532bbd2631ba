//! Full-jitter reconnection delays, drawn as `wsx-client`'s `ReconnectPolicy` draws them:
//! the load generator's clients come back the way real wsx clients would.

use rand::Rng;
use std::time::Duration;

/// Exponential backoff with full jitter: the delay before attempt `n` (from 1) is drawn
/// uniformly in `[0, min(max, min · 2ⁿ)]`, and never less than `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The floor of every delay and the base of the exponential.
    pub min: Duration,
    /// The ceiling of every delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// `wsx-client`'s defaults: 250 ms and 30 s.
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The upper bound of the delay before attempt `attempt` (from 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max).max(self.min)
    }

    /// The delay before attempt `attempt` (from 1), drawn now.
    pub fn delay(&self, attempt: u32) -> Duration {
        let drawn = rand::rng().random_range(Duration::ZERO..=self.ceiling(attempt));
        drawn.max(self.min).min(self.max.max(self.min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_ceiling_and_are_jittered() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::from_millis(500));
        assert_eq!(b.ceiling(3), Duration::from_secs(2));
        assert_eq!(b.ceiling(1000), Duration::from_secs(30));
        let draws: Vec<Duration> = (0..200).map(|_| b.delay(4)).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= b.min && *d <= Duration::from_secs(4))
        );
        assert!(
            draws.iter().any(|d| *d != draws[0]),
            "every draw is the same: no jitter"
        );
    }
}
