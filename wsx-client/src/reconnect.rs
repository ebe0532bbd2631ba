//! The reconnection policy: exponential backoff with full jitter, drawn per attempt, and
//! the close codes after which the client does not reconnect by itself.

use rand::Rng;
use std::ops::RangeInclusive;
use std::time::Duration;

/// How the client reconnects after the connection drops.
///
/// The delay before attempt `n` (from 1) is drawn afresh for every attempt, uniformly in
/// `[0, min(max_delay, min_delay · 2ⁿ)]`, and never less than `min_delay` ("full jitter":
/// clients that lost the same server do not come back in lockstep). Once a connection
/// has stayed up for `stable_after`, the attempt counter starts again from 1. With
/// several URLs ([`ClientBuilder::urls`](crate::ClientBuilder::urls)) every attempt goes
/// to the URL after the one that failed or was lost, round the list.
///
/// # Final close codes
/// Some closes are the server's decision about this client, and reconnecting at once
/// would undo it (or repeat it): after a close frame whose code is *final*, the client
/// does not reconnect by itself but enters
/// [`ConnectionState::Disconnected`](crate::ConnectionState::Disconnected) with the code
/// and reason, and waits for [`Client::reconnect`](crate::Client::reconnect). By default
/// these are final:
///
/// | code | meaning | why final |
/// | --- | --- | --- |
/// | `1008` | policy violation (wsx: rate limit, too many bad frames, slow consumer) | the server judged this client; an instant reconnect would repeat it |
/// | `4000` | wsx's idle timeout ([`close_code::IDLE_TIMEOUT`](wsx_core::protocol::close_code::IDLE_TIMEOUT)) | the server closed a quiet client on purpose; reconnecting would make every quiet reader leave and rejoin |
/// | `4001`–`4999` | application codes ([`Conn::close`](wsx_core::server::Conn::close)) | an app picks a private code to say something specific (kicked, banned, logged out) |
///
/// Every other close reconnects: `1000` normal, `1001` going away (a restart), `1011`
/// server error, `1012` service restart, `1013` try again later, protocol errors (`1002`,
/// `1007`, `1009`: the offending message is not re-sent), and a connection lost without a
/// close frame. A server that wants a client to come back closes with one of those.
///
/// | setting | default |
/// | --- | --- |
/// | [`min_delay`](Self::min_delay) | 250 ms |
/// | [`max_delay`](Self::max_delay) | 30 s |
/// | [`max_attempts`](Self::max_attempts) | unlimited |
/// | [`stable_after`](Self::stable_after) | 10 s |
/// | [`final_close_codes`](Self::final_close_codes) | `1008`, `4000..=4999` |
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
/// assert!(policy.is_final(4000) && policy.is_final(1008) && !policy.is_final(1001));
///
/// // Reconnect after everything but the idle timeout.
/// let policy = policy.final_close_codes([4000..=4000]);
/// assert!(!policy.is_final(1008) && !policy.is_final(4001));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconnectPolicy {
    min_delay: Duration,
    max_delay: Duration,
    max_attempts: Option<u32>,
    stable_after: Duration,
    final_close_codes: Vec<RangeInclusive<u16>>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            stable_after: Duration::from_secs(10),
            final_close_codes: vec![1008..=1008, 4000..=4999],
        }
    }
}

impl ReconnectPolicy {
    /// Never reconnect: the first disconnect closes the client
    /// ([`CloseReason::GaveUp`](crate::CloseReason::GaveUp)), except a close with a final
    /// code, which leaves it [`Disconnected`](crate::ConnectionState::Disconnected) as
    /// with any policy.
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

    /// The close codes after which the client does not reconnect by itself, replacing
    /// the default (`1008` and `4000..=4999`; see [above](Self#final-close-codes)). One
    /// code is a range of one (`4000..=4000`); an empty list makes no close final.
    pub fn final_close_codes<I>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = RangeInclusive<u16>>,
    {
        self.final_close_codes = codes.into_iter().collect();
        self
    }

    /// Whether a close with `code` is final: no automatic reconnect after it.
    pub fn is_final(&self, code: u16) -> bool {
        self.final_close_codes
            .iter()
            .any(|range| range.contains(&code))
    }

    /// The configured attempt limit.
    pub fn get_max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The configured floor and base of the delays.
    pub fn get_min_delay(&self) -> Duration {
        self.min_delay
    }

    /// The configured ceiling of the delays.
    pub fn get_max_delay(&self) -> Duration {
        self.max_delay
    }

    pub(crate) fn stable_period(&self) -> Duration {
        self.stable_after
    }

    /// Whether attempt `attempt` (from 1) may be made.
    pub(crate) fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt <= max)
    }

    /// The upper bound of the delay before attempt `attempt` (from 1): the floor doubled
    /// per attempt, up to the ceiling.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsx_client::ReconnectPolicy;
    ///
    /// let policy = ReconnectPolicy::default();
    /// assert_eq!(policy.ceiling(1), Duration::from_millis(500));
    /// assert_eq!(policy.ceiling(20), Duration::from_secs(30));
    /// ```
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.min_delay
            .saturating_mul(factor)
            .min(self.max_delay)
            .max(self.min_delay)
    }

    /// The delay before attempt `attempt` (from 1): full jitter, drawn now, uniformly
    /// between zero and [`ceiling`](Self::ceiling), and never below the floor. The client
    /// waits this long before each attempt; a program that simulates many clients (the
    /// benchmark's reconnect storm) draws its delays here too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsx_client::ReconnectPolicy;
    ///
    /// let policy = ReconnectPolicy::default();
    /// let delay = policy.delay(3);
    /// assert!(delay >= Duration::from_millis(250) && delay <= policy.ceiling(3));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
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

    #[test]
    fn final_close_codes_default_and_replaced() {
        let p = ReconnectPolicy::default();
        for code in [1008, 4000, 4001, 4999] {
            assert!(p.is_final(code), "{code}");
        }
        for code in [1000, 1001, 1002, 1007, 1009, 1011, 1012, 1013, 3999, 5000] {
            assert!(!p.is_final(code), "{code}");
        }
        let none = p.clone().final_close_codes([]);
        assert!(!none.is_final(4000));
        let some = p.final_close_codes([4000..=4000, 4100..=4199]);
        assert!(some.is_final(4000) && some.is_final(4150));
        assert!(!some.is_final(1008) && !some.is_final(4001));
    }
}
