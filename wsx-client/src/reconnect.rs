//! The reconnection policy: exponential backoff with full jitter, drawn per attempt.

use rand::Rng;
use std::time::Duration;

/// How the client reconnects after the connection drops.
///
/// The delay before attempt `n` (from 1) is drawn afresh for every attempt, uniformly in
/// `[0, min(max_delay, min_delay · 2ⁿ)]`, and never less than `min_delay` ("full jitter":
/// clients that lost the same server do not come back in lockstep). Once a connection
/// has stayed up for `stable_after`, the attempt counter starts again from 1.
///
/// | setting | default |
/// | --- | --- |
/// | [`min_delay`](Self::min_delay) | 250 ms |
/// | [`max_delay`](Self::max_delay) | 30 s |
/// | [`max_attempts`](Self::max_attempts) | unlimited |
/// | [`stable_after`](Self::stable_after) | 10 s |
///
/// ```
/// use std::time::Duration;
/// use wsx_client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy::default()
///     .min_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(5))
///     .max_attempts(Some(20));
/// assert_eq!(policy.get_max_attempts(), Some(20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    min_delay: Duration,
    max_delay: Duration,
    max_attempts: Option<u32>,
    stable_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            stable_after: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// Never reconnect: the first disconnect closes the client.
    pub fn disabled() -> Self {
        ReconnectPolicy {
            max_attempts: Some(0),
            ..ReconnectPolicy::default()
        }
    }

    /// The floor of every delay, and the base of the exponential. Default 250 ms.
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The ceiling of every delay. Default 30 s.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How many attempts in a row may fail before the client closes for good
    /// ([`CloseReason::GaveUp`](crate::CloseReason::GaveUp)); `None` retries forever.
    /// Default `None`.
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How long a connection must stay up for the attempt counter to reset. Default 10 s.
    pub fn stable_after(mut self, period: Duration) -> Self {
        self.stable_after = period;
        self
    }

    /// The configured attempt limit.
    pub fn get_max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    pub(crate) fn stable_period(&self) -> Duration {
        self.stable_after
    }

    /// Whether attempt `attempt` (from 1) may be made.
    pub(crate) fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }

    /// The upper bound of the delay before attempt `attempt` (from 1).
    pub(crate) fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.min_delay
            .saturating_mul(factor)
            .min(self.max_delay)
            .max(self.min_delay)
    }

    /// The delay before attempt `attempt` (from 1): full jitter, drawn now.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let drawn = rand::rng().random_range(Duration::ZERO..=ceiling);
        drawn
            .max(self.min_delay)
            .min(self.max_delay.max(self.min_delay))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_max() {
        let p = ReconnectPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(500));
        assert_eq!(p.ceiling(2), Duration::from_millis(1000));
        assert_eq!(p.ceiling(7), Duration::from_secs(30));
        assert_eq!(p.ceiling(1000), Duration::from_secs(30));
    }

    #[test]
    fn delay_is_jittered_per_attempt_within_bounds() {
        let p = ReconnectPolicy::default();
        let draws: Vec<Duration> = (0..50).map(|_| p.delay(5)).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= Duration::from_millis(250) && *d <= p.ceiling(5))
        );
        let first = draws[0];
        assert!(
            draws.iter().any(|d| *d != first),
            "every draw is the same: no jitter"
        );
    }

    #[test]
    fn attempts_are_limited() {
        let p = ReconnectPolicy::default().max_attempts(Some(2));
        assert!(p.allows(1) && p.allows(2) && !p.allows(3));
        assert!(!ReconnectPolicy::disabled().allows(1));
        assert!(ReconnectPolicy::default().allows(u32::MAX));
    }
}
