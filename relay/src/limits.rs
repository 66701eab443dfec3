//! Rate limits: a token bucket per connection (frames) and per client IP
//! (new connections and token requests). A refused frame gets a
//! `rate_limited` error and is simply not processed; the client keeps it in
//! its outbox and sends it again, so a limit slows a flood without losing a
//! message.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate == 0` means unlimited.
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Buckets per client IP, forgotten once full again.
#[derive(Debug)]
pub struct IpLimiter {
    rate: u32,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl IpLimiter {
    /// `rate` per second, bursts of ten times that; 0 = unlimited.
    pub fn new(rate: u32) -> IpLimiter {
        IpLimiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may open one more connection or ask one more token.
    pub fn allow(&self, ip: IpAddr) -> bool {
        if self.rate == 0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if buckets.len() > 100_000 {
            // Bound memory under a spray of addresses: drop idle buckets.
            buckets.retain(|_, bucket| now.duration_since(bucket.last).as_secs() < 60);
        }
        buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(self.rate, self.rate.saturating_mul(10), now))
            .take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(110)));
        assert!(!bucket.take(start + Duration::from_millis(110)));
    }

    #[test]
    fn ip_limits_are_per_address_and_zero_is_unlimited() {
        let limiter = IpLimiter::new(1);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..10).all(|_| limiter.allow(a)));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
        let open = IpLimiter::new(0);
        assert!((0..1000).all(|_| open.allow(a)));
    }
}
