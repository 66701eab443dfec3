//! Failure throttling: how many wrong passwords an account may receive, and
//! how many wrong passwords or admin tokens one address may send.
//!
//! Each key has a bucket of failures: it holds at most `burst` and refills
//! at `per_hour`. While it is empty, attempts for that key are refused
//! before any password is checked, with the time until the next one is
//! allowed (`Retry-After`). Successes never refill a bucket: otherwise an
//! attacker could log into its own account to earn more guesses at
//! another, or an honest login would hand an attacker a fresh budget.
//!
//! The account budget is OWASP ASVS 2.2.1's: in any hour at most `burst +
//! per_hour` failures, 10 + 90 = 100. Accounts are keyed by the username
//! as given, whether it exists or not, so throttling does not tell either.
//! Addresses are the client's ([`crate::net::ClientIp`], so behind a
//! `--trusted-proxy` each client has its own budget), keyed by [`AddrKey`]
//! like every per-address limit (an IPv6 client controls a whole /64).
//! Decisions are pure: time is passed in.

use crate::net::admission::AddrKey;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket's size and refill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Failures allowed back to back.
    pub burst: u32,
    /// Failures regained per hour.
    pub per_hour: u32,
}

/// Per account: at most 100 failures in any hour (ASVS 2.2.1).
pub const ACCOUNT_FAILURES: Budget = Budget {
    burst: 10,
    per_hour: 90,
};
/// Per address, wrong passwords: enough for an office of operators
/// mistyping, not for a guessing run (one every 6 s once the burst is used).
pub const ADDRESS_LOGIN_FAILURES: Budget = Budget {
    burst: 30,
    per_hour: 600,
};
/// Per address, wrong admin tokens (one a minute once the burst is used).
pub const ADDRESS_ADMIN_FAILURES: Budget = Budget {
    burst: 10,
    per_hour: 60,
};

/// Most keys tracked per throttle; past it, buckets that have refilled are
/// dropped, and new keys are not tracked until there is room again (the
/// address throttle still holds a spray of usernames back).
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    failures_left: f64,
    last: Instant,
}

/// Failure buckets by key.
#[derive(Debug)]
pub struct Throttle<K> {
    budget: Budget,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// An empty throttle.
    pub fn new(budget: Budget) -> Throttle<K> {
        Throttle {
            budget,
            buckets: HashMap::new(),
        }
    }

    fn per_second(&self) -> f64 {
        per_second(self.budget)
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        refilled(self.budget, bucket, now)
    }

    /// `Ok` if `key` may try again now, else how long until it may.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let Some(bucket) = self.buckets.get(key) else {
            return Ok(());
        };
        let left = self.refilled(*bucket, now);
        if left >= 1.0 {
            return Ok(());
        }
        let rate = self.per_second();
        if rate <= 0.0 {
            return Err(Duration::from_secs(3600));
        }
        Err(Duration::from_secs_f64(((1.0 - left) / rate).max(0.0)).max(Duration::from_secs(1)))
    }

    /// Records a failure for `key`.
    pub fn fail(&mut self, key: K, now: Instant) {
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(&key) {
            let budget = self.budget;
            let burst = f64::from(budget.burst);
            self.buckets
                .retain(|_, bucket| refilled(budget, *bucket, now) < burst);
            if self.buckets.len() >= MAX_KEYS {
                return;
            }
        }
        let full = Bucket {
            failures_left: f64::from(self.budget.burst),
            last: now,
        };
        let left = self
            .buckets
            .get(&key)
            .map_or(full.failures_left, |bucket| self.refilled(*bucket, now));
        self.buckets.insert(
            key,
            Bucket {
                failures_left: (left - 1.0).max(0.0),
                last: now,
            },
        );
    }
}

fn per_second(budget: Budget) -> f64 {
    f64::from(budget.per_hour) / 3600.0
}

/// Failures a bucket holds at `now`.
fn refilled(budget: Budget, bucket: Bucket, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
    (bucket.failures_left + elapsed * per_second(budget)).min(f64::from(budget.burst))
}

/// Login failures, by account and by address: an attempt waits if either
/// has none left.
#[derive(Debug)]
pub struct LoginThrottle {
    accounts: Mutex<Throttle<String>>,
    addresses: Mutex<Throttle<AddrKey>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            accounts: Mutex::new(Throttle::new(ACCOUNT_FAILURES)),
            addresses: Mutex::new(Throttle::new(ADDRESS_LOGIN_FAILURES)),
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl LoginThrottle {
    /// `Ok` if a sign-in to `account` from `address` may be checked now,
    /// else how long until it may.
    pub fn check(&self, account: &String, address: AddrKey, now: Instant) -> Result<(), Duration> {
        let by_account = locked(&self.accounts).check(account, now);
        let by_address = locked(&self.addresses).check(&address, now);
        match (by_account, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(wait), _) | (_, Err(wait)) => Err(wait),
        }
    }

    /// Records a wrong password (or an unknown username).
    pub fn fail(&self, account: String, address: AddrKey, now: Instant) {
        locked(&self.accounts).fail(account, now);
        locked(&self.addresses).fail(address, now);
    }
}

/// Wrong admin tokens, by address.
#[derive(Debug)]
pub struct AdminThrottle(Mutex<Throttle<AddrKey>>);

impl Default for AdminThrottle {
    fn default() -> Self {
        AdminThrottle(Mutex::new(Throttle::new(ADDRESS_ADMIN_FAILURES)))
    }
}

impl AdminThrottle {
    /// `Ok` if `address` may present an admin token now.
    pub fn check(&self, address: AddrKey, now: Instant) -> Result<(), Duration> {
        locked(&self.0).check(&address, now)
    }

    /// Records a wrong admin token.
    pub fn fail(&self, address: AddrKey, now: Instant) {
        locked(&self.0).fail(address, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Failures the throttle lets through in `span`, one attempt a second.
    fn allowed_in(budget: Budget, span: Duration) -> u32 {
        let mut throttle = Throttle::new(budget);
        let start = Instant::now();
        let mut allowed = 0;
        let mut t = Duration::ZERO;
        while t < span {
            let now = start + t;
            if throttle.check(&"ada", now).is_ok() {
                allowed += 1;
                throttle.fail("ada", now);
            }
            t += Duration::from_millis(250);
        }
        allowed
    }

    #[test]
    fn an_account_gets_at_most_a_hundred_failures_in_any_hour() {
        assert!(allowed_in(ACCOUNT_FAILURES, Duration::from_secs(3600)) <= 100);
        assert!(allowed_in(ACCOUNT_FAILURES, Duration::from_secs(3600)) >= 95);
        // And keeps being throttled: two hours give at most 190.
        assert!(allowed_in(ACCOUNT_FAILURES, Duration::from_secs(7200)) <= 190);
    }

    #[test]
    fn a_throttled_key_is_told_when_to_come_back_and_others_are_not_touched() {
        let mut throttle = Throttle::new(Budget {
            burst: 2,
            per_hour: 3600,
        });
        let now = Instant::now();
        throttle.fail("ada", now);
        throttle.fail("ada", now);
        let wait = throttle.check(&"ada", now).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2));
        assert!(throttle.check(&"bob", now).is_ok());
        assert!(throttle.check(&"ada", now + Duration::from_secs(1)).is_ok());
    }
}
