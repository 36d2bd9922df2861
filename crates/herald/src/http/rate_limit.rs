//! The per-client request limit: at most `rate_limit_per_second` requests a second from one
//! client address, after a burst of `rate_limit_burst`; beyond it HTTP 429 with `Retry-After`.
//!
//! A keyed GCRA limiter (`governor`) does the counting. An IPv6 client is keyed by its /64: one
//! host usually owns a whole /64, and keying single addresses would let it pick a fresh one per
//! request. Memory is bounded twice: [`RateLimit::sweep`] forgets clients whose allowance is full
//! again (they are indistinguishable from new ones), and should more than
//! `rate_limit_max_clients` still be remembered, the limiter starts afresh, which only ever
//! errs towards letting requests through.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use crate::config::HttpConfig;

pub struct RateLimit {
    quota: Quota,
    limiter: ArcSwap<DefaultKeyedRateLimiter<IpAddr>>,
    exempt: Vec<IpNet>,
    max_clients: usize,
}

impl RateLimit {
    /// The limit `[http]` configures, or `None` when `rate_limit_per_second` is 0 (off).
    pub fn from_config(http: &HttpConfig) -> Option<Self> {
        let per_second = NonZeroU32::new(http.rate_limit_per_second)?;
        let burst = NonZeroU32::new(http.rate_limit_burst).unwrap_or(per_second);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Self {
            quota,
            limiter: ArcSwap::from_pointee(DefaultKeyedRateLimiter::keyed(quota)),
            exempt: http.rate_limit_exempt.clone(),
            max_clients: http.rate_limit_max_clients.max(1),
        })
    }

    /// Takes one request from `client`'s allowance: `Err(wait)` when it has none left, with how
    /// long until it has one again.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        if self.exempt.iter().any(|n| n.contains(&client)) {
            return Ok(());
        }
        let limiter = self.limiter.load();
        limiter
            .check_key(&key(client))
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Clients remembered now.
    pub fn clients(&self) -> usize {
        self.limiter.load().len()
    }

    /// Forgets clients whose allowance is full again; starts afresh if more than the maximum
    /// remain.
    pub fn sweep(&self) {
        let limiter = self.limiter.load();
        limiter.retain_recent();
        limiter.shrink_to_fit();
        let remembered = limiter.len();
        if remembered > self.max_clients {
            tracing::warn!(
                remembered,
                max = self.max_clients,
                "more client addresses than rate_limit_max_clients: the request limit starts afresh"
            );
            self.limiter
                .store(Arc::new(DefaultKeyedRateLimiter::keyed(self.quota)));
        }
    }

    /// Sweeps every `every` until `shutdown`.
    pub async fn sweep_every(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => self.sweep(),
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// An IPv4 address as it is; an IPv6 address as its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// `Retry-After` in whole seconds, never 0 (a client told 0 would retry at once and be refused
/// again).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32, exempt: &[&str], max_clients: usize) -> RateLimit {
        RateLimit::from_config(&HttpConfig {
            rate_limit_per_second: per_second,
            rate_limit_burst: burst,
            rate_limit_exempt: exempt.iter().map(|n| n.parse().unwrap()).collect(),
            rate_limit_max_clients: max_clients,
            ..HttpConfig::default()
        })
        .expect("a limit")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_while_another_client_is_untouched() {
        let l = limit(2, 3, &[], 10);
        for _ in 0..3 {
            assert_eq!(l.check(ip("203.0.113.7")), Ok(()));
        }
        let wait = l.check(ip("203.0.113.7")).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert_eq!(l.check(ip("203.0.113.8")), Ok(()));
    }

    #[test]
    fn exempt_networks_are_never_limited() {
        let l = limit(1, 1, &["127.0.0.0/8"], 10);
        for _ in 0..100 {
            assert_eq!(l.check(ip("127.0.0.1")), Ok(()));
        }
        assert_eq!(l.clients(), 0);
    }

    #[test]
    fn ipv6_clients_share_the_allowance_of_their_64() {
        let l = limit(1, 1, &[], 10);
        assert_eq!(l.check(ip("2001:db8:1:2::1")), Ok(()));
        assert!(l.check(ip("2001:db8:1:2:ffff::9")).is_err());
        assert_eq!(l.check(ip("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn zero_per_second_turns_the_limit_off() {
        let http = HttpConfig {
            rate_limit_per_second: 0,
            ..HttpConfig::default()
        };
        assert!(RateLimit::from_config(&http).is_none());
    }

    #[test]
    fn more_clients_than_the_maximum_make_the_limiter_start_afresh() {
        // A slow refill, so no client is forgotten as idle during the test.
        let l = RateLimit::from_config(&HttpConfig {
            rate_limit_per_second: 1,
            rate_limit_burst: 1,
            rate_limit_exempt: Vec::new(),
            rate_limit_max_clients: 3,
            ..HttpConfig::default()
        })
        .unwrap();
        for n in 1..=5 {
            let _ = l.check(ip(&format!("203.0.113.{n}")));
        }
        assert!(l.check(ip("203.0.113.1")).is_err());
        l.sweep();
        assert_eq!(l.clients(), 0);
        assert_eq!(l.check(ip("203.0.113.1")), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
