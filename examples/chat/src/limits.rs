//! Rate limits that outlive a connection: per user name and per client address.
//!
//! The framework limits each connection's frames; a flooder that reconnects gets a fresh
//! bucket there. These limits are kept by the app, keyed by what a reconnect keeps: the
//! user's name (its comparison key) and the client's address (an IPv6 address by its
//! /64, what one host usually gets). Each is a GCRA limiter of the `governor` crate.
//!
//! | limit | key | default | counts |
//! | --- | --- | --- | --- |
//! | `--user-rate-limit` | name | `2×rate/2s` (as one connection) | `sendMessage`, `sendPrivate` |
//! | `--ip-rate-limit` | address | `10×rate/2s` (five users' worth) | `sendMessage`, `sendPrivate` |
//! | `--room-rate-limit` | address | `30/1m` | rooms brought into memory by `join` |
//!
//! # Bounded memory
//! A key's state is only worth keeping while its bucket is not full: a full bucket is
//! what a new key gets anyway. Every stats tick, and whenever a limiter holds more than
//! [`SWEEP_AT`] keys, the keys whose buckets have refilled are dropped
//! (`retain_recent`). What stays are keys that sent within the last period, and how many
//! those can be is bounded by how fast connections may send at all (their own limit
//! times the connection cap).

use crate::config::RateSpec;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use wsx_core::ErrorCode;
use wsx_core::server::HandlerError;

/// How many keys a limiter holds before it sweeps at once (besides every stats tick).
pub const SWEEP_AT: usize = 50_000;

/// The app's keyed rate limits.
#[derive(Debug)]
pub struct RateLimits {
    /// Messages per user name.
    by_user: Option<DefaultKeyedRateLimiter<String>>,
    /// Messages per client address.
    by_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Rooms brought into memory per client address.
    rooms_by_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(spec: RateSpec) -> Option<DefaultKeyedRateLimiter<K>> {
    let count = NonZeroU32::new(spec.count)?;
    let quota = Quota::with_period(spec.per / count.get())?.allow_burst(count);
    Some(DefaultKeyedRateLimiter::keyed(quota))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &Option<DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> bool {
    let Some(limiter) = limiter else {
        return true;
    };
    if limiter.len() >= SWEEP_AT {
        limiter.retain_recent();
    }
    limiter.check_key(key).is_ok()
}

fn sweep<K: std::hash::Hash + Eq + Clone>(limiter: &Option<DefaultKeyedRateLimiter<K>>) {
    if let Some(limiter) = limiter {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

impl RateLimits {
    /// Limiters for the given rates (a rate of 0 turns a limit off).
    pub fn new(user: RateSpec, address: RateSpec, rooms: RateSpec) -> Self {
        RateLimits {
            by_user: limiter(user),
            by_address: limiter(address),
            rooms_by_address: limiter(rooms),
        }
    }

    /// Takes one message from the user's and the address's budgets, or says which ran out.
    pub fn message(&self, user_key: &str, address: Option<IpAddr>) -> Result<(), HandlerError> {
        if !check(&self.by_user, &user_key.to_owned()) {
            metrics::counter!("chat_rate_limited_total", "limit" => "user").increment(1);
            return Err(HandlerError::new(
                "you are sending too fast (your name's rate limit, kept across reconnects): wait a moment",
            )
            .with_code(ErrorCode::RateLimited));
        }
        if let Some(address) = address.map(address_key)
            && !check(&self.by_address, &address)
        {
            metrics::counter!("chat_rate_limited_total", "limit" => "address").increment(1);
            return Err(HandlerError::new(
                "too many messages from your network address: wait a moment",
            )
            .with_code(ErrorCode::RateLimited));
        }
        Ok(())
    }

    /// Takes one room creation from the address's budget.
    pub fn new_room(&self, address: Option<IpAddr>) -> Result<(), HandlerError> {
        let Some(address) = address.map(address_key) else {
            return Ok(());
        };
        if check(&self.rooms_by_address, &address) {
            Ok(())
        } else {
            metrics::counter!("chat_rate_limited_total", "limit" => "rooms").increment(1);
            Err(HandlerError::new(
                "you are opening new rooms too fast: wait a moment, or join a room in use",
            )
            .with_code(ErrorCode::RateLimited))
        }
    }

    /// Drops the keys whose buckets refilled (every stats tick).
    pub fn sweep(&self) {
        sweep(&self.by_user);
        sweep(&self.by_address);
        sweep(&self.rooms_by_address);
    }

    /// How many keys the limiters hold, together.
    pub fn keys(&self) -> usize {
        self.by_user.as_ref().map_or(0, |l| l.len())
            + self.by_address.as_ref().map_or(0, |l| l.len())
            + self.rooms_by_address.as_ref().map_or(0, |l| l.len())
    }
}

/// The key of a client address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn spec(count: u32, per_ms: u64) -> RateSpec {
        RateSpec {
            count,
            per: Duration::from_millis(per_ms),
        }
    }

    #[test]
    fn budgets_are_per_key_and_keys_are_swept() {
        let limits = RateLimits::new(spec(3, 60_000), spec(5, 60_000), spec(0, 1000));
        let home: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            limits.message("bob", Some(home)).unwrap();
        }
        let err = limits.message("bob", Some(home)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::RateLimited);
        // Another name from the same address: the address still has 2.
        limits.message("carol", Some(home)).unwrap();
        limits.message("carol", Some(home)).unwrap();
        assert!(limits.message("carol", Some(home)).is_err());
        // A refused attempt still spent carol's own third message; another address is
        // another budget.
        let away: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limits.message("carol", Some(away)).is_err());
        limits.message("dave", Some(away)).unwrap();
        // Rooms unlimited with a count of 0.
        for _ in 0..100 {
            limits.new_room(Some(home)).unwrap();
        }
        // Keys still counting down are kept; a sweep never forgets a spent budget.
        let before = limits.keys();
        limits.sweep();
        assert_eq!(limits.keys(), before);
        assert!(limits.message("bob", Some(home)).is_err());
    }

    #[test]
    fn refilled_keys_are_dropped() {
        let limits = RateLimits::new(spec(1, 10), spec(0, 1), spec(0, 1));
        for i in 0..100 {
            limits.message(&format!("user{i}"), None).unwrap();
        }
        assert_eq!(limits.keys(), 100);
        // Each bucket refills 10 ms after its message; then a sweep forgets them all.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while limits.keys() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            limits.sweep();
        }
        assert_eq!(limits.keys(), 0);
    }

    #[test]
    fn an_ipv6_host_is_one_key() {
        let a = address_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        let other = address_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, other);
        let mapped = address_key("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(mapped, "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
