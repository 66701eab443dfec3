//! A drain as a lease: it lasts while whoever started it keeps asking about
//! it, so a deployment never stays drained without a live moderator saying
//! so.
//!
//! The moderator drains the deployment it switches away from, asks its
//! progress (`GET /v1/admin/drain`) at every probe (200 ms by default) and
//! undrains it once its clients have moved. If the moderator dies in
//! between, nobody would ever undrain it: the deployment would answer not
//! ready for good, and once the other one fails too, clients would have
//! nowhere to go. So every drain call renews the lease and a drain nobody
//! renewed for [`DRAIN_LEASE`] ends by itself.

use std::time::{Duration, Instant};

/// How long a drain lasts without a drain call (`POST` or `GET
/// /v1/admin/drain`) renewing it: fifty of the moderator's default probe
/// intervals.
pub const DRAIN_LEASE: Duration = Duration::from_secs(10);

/// A drain on, and when it was last renewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainLease {
    /// The deployment clients are told to move to.
    pub to: String,
    renewed: Instant,
}

impl DrainLease {
    /// A drain to `to`, started at `now`.
    pub fn start(to: String, now: Instant) -> DrainLease {
        DrainLease { to, renewed: now }
    }

    /// Someone asked about the drain at `now`.
    pub fn renew(&mut self, now: Instant) {
        self.renewed = self.renewed.max(now);
    }

    /// Whether the drain still holds at `now`.
    pub fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.renewed) < DRAIN_LEASE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_holds_while_renewed_and_ends_a_lease_after_the_last_call() {
        let start = Instant::now();
        let mut lease = DrainLease::start("redundant".into(), start);
        assert!(lease.live(start + DRAIN_LEASE - Duration::from_millis(1)));
        lease.renew(start + DRAIN_LEASE / 2);
        assert!(lease.live(start + DRAIN_LEASE));
        assert!(!lease.live(start + DRAIN_LEASE / 2 + DRAIN_LEASE));
        // A renewal from the past (calls racing) never shortens it.
        lease.renew(start);
        assert!(lease.live(start + DRAIN_LEASE));
    }
}
