//! Who sends a delivery and when: the sender's decisions as plain
//! functions of a delivery, this deployment's name and the time.
//!
//! The rule (docs/PROTOCOL.md, "Webhooks"):
//!
//! - the deployment that stored the event's record from a client owns the
//!   delivery (the feed's `origin` of that record) and sends it when due;
//! - before each attempt the sender writes a claim (one more attempt, itself
//!   as owner, a lease running past the attempt's whole timeout) and sends
//!   only if the store kept that claim; after it, the outcome (`delivered`,
//!   or the next attempt with the lease running past it, or `failed`);
//! - the other deployment sends only a delivery it has held, pending and
//!   unchanged, for longer than the hand-over delay, by its own clock, and
//!   whose lease has run out: the owner is gone (or cut off). It then claims
//!   it the same way, and its claim replicates;
//! - `delivered` replicated stops the other deployment (it wins every
//!   merge, [`crate::store::webhooks`]);
//! - a sender sends nothing after it starts until its deployment has
//!   caught up with the peer's feed (or a hand-over delay passed without):
//!   a deployment back from a crash learns what the other delivered
//!   meanwhile before it acts on its own old claims ([`may_start`]).
//!
//! So a delivery is sent by two deployments only when its owner stopped
//! mid-attempt (died after sending, before its `delivered` replicated) or
//! was cut off for longer than the hand-over delay; either way the second
//! send is the same event id with the same body: a retry, which receivers
//! dedupe by `webhook-id` as Standard Webhooks asks.

use crate::store::webhooks::{Delivery, DeliveryState};
use std::collections::BTreeMap;
use twinline_core::{Hlc, Millis};

/// The longest wait between two attempts.
pub const MAX_BACKOFF_MS: u64 = 60 * 60 * 1000;

/// How long a delivery is retried after its first attempt before it is
/// `failed` (at least this long: the last attempt is the first one after).
pub const RETRY_FOR_MS: u64 = 24 * 60 * 60 * 1000;

/// An attempt's whole timeout (connect, send, answer).
pub const ATTEMPT_TIMEOUT_MS: u64 = 10_000;

/// A claim's lease runs this long past the attempt's timeout (or past the
/// next attempt's time), so a slow store write after an attempt does not
/// let the other deployment in.
pub const LEASE_MARGIN_MS: u64 = 5_000;

/// The sender's timing (the defaults are in [`Timing::default`]; tests
/// shorten them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The wait after the first failed attempt; doubled after each.
    pub retry_base_ms: u64,
    /// How long the other deployment holds an unchanged pending delivery
    /// whose lease ran out before it takes it over.
    pub handover_ms: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            retry_base_ms: 5_000,
            handover_ms: 30_000,
        }
    }
}

/// The wait before attempt `failed + 1` after `failed` failed attempts:
/// `base * 2^(failed - 1)` capped at an hour, plus up to a quarter more of
/// jitter (`jitter` in 0..=1), still capped.
pub fn backoff(timing: &Timing, failed: u32, jitter: f64) -> u64 {
    let exponent = failed.saturating_sub(1).min(40);
    let delay = timing
        .retry_base_ms
        .saturating_mul(1u64 << exponent)
        .min(MAX_BACKOFF_MS);
    let extra = (delay as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as u64;
    delay.saturating_add(extra).min(MAX_BACKOFF_MS)
}

/// What to do with one pending delivery now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Claim it and send it.
    Send,
    /// Nothing yet; look again at this time (this deployment's clock).
    WaitUntil(Millis),
}

/// Decides for `delivery`, held here unchanged since `held_since`.
pub fn decide(
    delivery: &Delivery,
    me: &str,
    now: Millis,
    held_since: Millis,
    timing: &Timing,
) -> Decision {
    if delivery.state != DeliveryState::Pending {
        return Decision::WaitUntil(Millis(u64::MAX));
    }
    if delivery.owner == me {
        return if now >= delivery.next_attempt {
            Decision::Send
        } else {
            Decision::WaitUntil(delivery.next_attempt)
        };
    }
    let handed_over = Millis(held_since.0.saturating_add(timing.handover_ms));
    let free = handed_over
        .max(delivery.lease_until)
        .max(delivery.next_attempt);
    if now >= free {
        Decision::Send
    } else {
        Decision::WaitUntil(free)
    }
}

/// Whether a sender that started at `started` may send yet: once this
/// deployment has caught up with its peer's feed (`caught_up`: no peer, or
/// replication connected with nothing left to apply), or after a
/// hand-over delay without. A deployment coming back (a restart, a
/// failback) first learns what the other delivered while it was away,
/// instead of sending its own stale claims again.
pub fn may_start(started: Millis, now: Millis, caught_up: bool, timing: &Timing) -> bool {
    caught_up || now.0 >= started.0.saturating_add(timing.handover_ms)
}

/// The claim written before an attempt: one attempt more, `me` as owner,
/// the lease past the attempt's timeout (and the next attempt with it),
/// stamped above the stored copy.
pub fn claim(delivery: &Delivery, me: &str, now: Millis, stamp: Hlc) -> Delivery {
    let lease_until = Millis(now.0 + ATTEMPT_TIMEOUT_MS + LEASE_MARGIN_MS);
    Delivery {
        attempts: delivery.attempts.saturating_add(1),
        owner: me.to_string(),
        lease_until,
        // Should the outcome never be stored (a crash, a failing store),
        // the next attempt is the lease's end, not at once.
        next_attempt: lease_until,
        first_attempt: Some(delivery.first_attempt.unwrap_or(now)),
        stamp,
        ..delivery.clone()
    }
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered(u16),
    /// Another answer (its status), or none (`None`: refused, timed out,
    /// unreachable), with why.
    Failed(Option<u16>, String),
    /// An answer that says no attempt will ever succeed (an SMTP server's
    /// 5xx for a transcript email), with why: `failed` at once.
    Refused(Option<u16>, String),
}

/// The delivery after the attempt `claimed` was written for.
pub fn after(
    claimed: &Delivery,
    attempt: Attempt,
    now: Millis,
    stamp: Hlc,
    timing: &Timing,
    jitter: f64,
) -> Delivery {
    let mut next = Delivery {
        stamp,
        ..claimed.clone()
    };
    match attempt {
        Attempt::Delivered(status) => {
            next.state = DeliveryState::Delivered;
            next.last_status = Some(status);
            next.last_error.clear();
            next.delivered_at = Some(now);
        }
        Attempt::Refused(status, error) => {
            next.last_status = status;
            next.last_error = error.chars().take(ERROR_CHARS).collect();
            next.state = DeliveryState::Failed;
        }
        Attempt::Failed(status, error) => {
            next.last_status = status;
            next.last_error = error.chars().take(ERROR_CHARS).collect();
            let first = claimed.first_attempt.unwrap_or(now);
            if now.0.saturating_sub(first.0) >= RETRY_FOR_MS {
                next.state = DeliveryState::Failed;
            } else {
                let wait = backoff(timing, claimed.attempts, jitter);
                next.next_attempt = Millis(now.0 + wait);
                next.lease_until = Millis(now.0 + wait + ATTEMPT_TIMEOUT_MS + LEASE_MARGIN_MS);
            }
        }
    }
    next
}

/// The longest `last_error` kept: a record's text field limit, which the
/// store checks (a longer one would be refused, and the outcome lost).
pub const ERROR_CHARS: usize = twinline_core::model::MAX_FIELD_CHARS;

/// Since when this deployment has held each pending delivery unchanged:
/// the clock of the hand-over delay, kept in memory (a restart starts it
/// again, which only makes a take-over later).
#[derive(Debug, Default)]
pub struct Holdings {
    held: BTreeMap<String, (Hlc, Millis)>,
}

impl Holdings {
    /// Notes `delivery` as seen now; returns since when it has been held
    /// unchanged (now, if it changed or is new).
    pub fn observe(&mut self, key: &str, stamp: Hlc, now: Millis) -> Millis {
        match self.held.get(key) {
            Some((seen, since)) if *seen == stamp => *since,
            _ => {
                self.held.insert(key.to_string(), (stamp, now));
                now
            }
        }
    }

    /// Forgets deliveries no longer pending (keeps those in `pending`).
    pub fn retain(&mut self, pending: &std::collections::BTreeSet<String>) {
        self.held.retain(|key, _| pending.contains(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::webhooks::EventType;
    use proptest::prelude::*;

    fn stamp(wall: u64) -> Hlc {
        Hlc {
            wall: Millis(wall),
            counter: 0,
            node: 1,
        }
    }

    fn pending(owner: &str) -> Delivery {
        Delivery::queued(
            "wh_1",
            "evt_1",
            "demo",
            EventType::MessageCreated,
            "{}".into(),
            Millis(1),
            owner,
        )
    }

    const T: Timing = Timing {
        retry_base_ms: 5_000,
        handover_ms: 30_000,
    };

    #[test]
    fn the_owner_sends_when_due_and_the_other_waits_for_the_hand_over() {
        let d = pending("primary");
        assert_eq!(
            decide(&d, "primary", Millis(100), Millis(100), &T),
            Decision::Send
        );
        assert_eq!(
            decide(&d, "redundant", Millis(100), Millis(100), &T),
            Decision::WaitUntil(Millis(30_100))
        );
        assert_eq!(
            decide(&d, "redundant", Millis(30_100), Millis(100), &T),
            Decision::Send
        );
    }

    #[test]
    fn a_claim_in_flight_keeps_the_other_deployment_out_until_its_lease_ends() {
        let claimed = claim(&pending("primary"), "primary", Millis(1_000), stamp(1_000));
        assert_eq!(claimed.attempts, 1);
        assert_eq!(claimed.first_attempt, Some(Millis(1_000)));
        let lease = claimed.lease_until;
        assert_eq!(lease, Millis(16_000));
        assert_eq!(
            decide(&claimed, "primary", Millis(2_000), Millis(0), &T),
            Decision::WaitUntil(lease),
            "an outcome never stored is retried after the lease, not at once"
        );
        // Held since long ago: still the lease.
        assert_eq!(
            decide(&claimed, "redundant", Millis(2_000), Millis(0), &T),
            Decision::WaitUntil(Millis(30_000))
        );
        let short = Timing {
            handover_ms: 1_000,
            ..T
        };
        assert_eq!(
            decide(&claimed, "redundant", Millis(2_000), Millis(0), &short),
            Decision::WaitUntil(lease)
        );
        assert_eq!(
            decide(&claimed, "redundant", lease, Millis(0), &short),
            Decision::Send
        );
        // The owner's own claim is its to retry when due.
        let failed = after(
            &claimed,
            Attempt::Failed(Some(500), "HTTP 500".into()),
            Millis(2_000),
            stamp(2_000),
            &T,
            0.0,
        );
        assert_eq!(failed.next_attempt, Millis(7_000));
        let long = after(
            &claimed,
            Attempt::Failed(None, "x".repeat(1_000)),
            Millis(2_000),
            stamp(2_000),
            &T,
            0.0,
        );
        assert_eq!(long.last_error.chars().count(), ERROR_CHARS);
        assert_eq!(failed.lease_until, Millis(7_000 + 15_000));
        assert_eq!(
            decide(&failed, "primary", Millis(6_999), Millis(0), &T),
            Decision::WaitUntil(Millis(7_000))
        );
        assert_eq!(
            decide(&failed, "redundant", Millis(7_000), Millis(0), &short),
            Decision::WaitUntil(Millis(22_000)),
            "the lease covers the wait before the owner's next attempt"
        );
    }

    #[test]
    fn nothing_sends_a_delivered_or_failed_delivery() {
        let claimed = claim(&pending("primary"), "primary", Millis(1), stamp(1));
        let done = after(
            &claimed,
            Attempt::Delivered(204),
            Millis(2),
            stamp(2),
            &T,
            0.5,
        );
        assert_eq!(done.state, DeliveryState::Delivered);
        assert_eq!(done.delivered_at, Some(Millis(2)));
        for me in ["primary", "redundant"] {
            assert!(matches!(
                decide(&done, me, Millis(u64::MAX / 2), Millis(0), &T),
                Decision::WaitUntil(_)
            ));
        }
    }

    #[test]
    fn a_permanent_refusal_fails_the_delivery_at_once() {
        let claimed = claim(&pending("primary"), "primary", Millis(1), stamp(1));
        let refused = after(
            &claimed,
            Attempt::Refused(Some(550), "SMTP: 550 no such mailbox".into()),
            Millis(2),
            stamp(2),
            &T,
            0.5,
        );
        assert_eq!(refused.state, DeliveryState::Failed);
        assert_eq!(refused.last_status, Some(550));
        assert_eq!(refused.attempts, 1);
        assert!(matches!(
            decide(&refused, "primary", Millis(u64::MAX / 2), Millis(0), &T),
            Decision::WaitUntil(_)
        ));
    }

    #[test]
    fn retries_go_on_for_a_day_then_the_delivery_fails() {
        let mut d = claim(&pending("primary"), "primary", Millis(0), stamp(0));
        let mut now = 0;
        let mut waits = Vec::new();
        while d.state == DeliveryState::Pending {
            now += 1;
            d = after(
                &d,
                Attempt::Failed(None, "refused".into()),
                Millis(now),
                stamp(now),
                &T,
                1.0,
            );
            if d.state == DeliveryState::Pending {
                waits.push(d.next_attempt.0 - now);
                now = d.next_attempt.0;
                d = claim(&d, "primary", Millis(now), stamp(now));
            }
        }
        assert_eq!(d.state, DeliveryState::Failed);
        assert!(now >= RETRY_FOR_MS, "retried for {now} ms");
        assert_eq!(waits[0], 6_250, "5 s and a quarter of jitter");
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF_MS);
        assert!(waits.len() < 40, "{} attempts", waits.len());
    }

    #[test]
    fn a_sender_back_from_a_restart_waits_to_catch_up_or_a_hand_over() {
        assert!(!may_start(Millis(1_000), Millis(1_000), false, &T));
        assert!(may_start(Millis(1_000), Millis(1_000), true, &T));
        assert!(!may_start(Millis(1_000), Millis(30_999), false, &T));
        assert!(may_start(Millis(1_000), Millis(31_000), false, &T));
    }

    #[test]
    fn holding_restarts_when_the_delivery_changes() {
        let mut held = Holdings::default();
        assert_eq!(held.observe("a", stamp(1), Millis(10)), Millis(10));
        assert_eq!(held.observe("a", stamp(1), Millis(20)), Millis(10));
        assert_eq!(held.observe("a", stamp(2), Millis(30)), Millis(30));
        held.retain(&Default::default());
        assert_eq!(held.observe("a", stamp(2), Millis(40)), Millis(40));
    }

    proptest! {
        /// Every wait is between the base and an hour, and never shorter
        /// than the one before (jitter aside: a quarter).
        #[test]
        fn backoff_grows_within_its_bounds(base in 1u64..100_000, failed in 1u32..80, jitter in 0.0f64..=1.0) {
            let timing = Timing { retry_base_ms: base, handover_ms: 0 };
            let wait = backoff(&timing, failed, jitter);
            prop_assert!(wait >= base.min(MAX_BACKOFF_MS));
            prop_assert!(wait <= MAX_BACKOFF_MS);
            prop_assert!(backoff(&timing, failed + 1, 0.0) >= backoff(&timing, failed, 0.0));
        }

        /// At any time, for any delivery, at most the owner or the other
        /// deployment may send before the hand-over, never both.
        #[test]
        fn before_the_hand_over_only_the_owner_sends(now in 0u64..100_000, lease in 0u64..100_000, next in 0u64..100_000, held in 0u64..100_000) {
            let d = Delivery { lease_until: Millis(lease), next_attempt: Millis(next), ..pending("primary") };
            let other = decide(&d, "redundant", Millis(now), Millis(held), &T);
            if other == Decision::Send {
                prop_assert!(now >= lease && now >= held + T.handover_ms);
            }
        }
    }
}
