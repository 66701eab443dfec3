//! The peer's clock, estimated from the `now` its feed frames carry.
//!
//! A frame says when the peer sent it; subtracting our clock at arrival
//! gives the peer's clock minus ours *less the frame's transit time*. The
//! transit is never negative, so every sample is a lower bound of the true
//! offset, and the best estimate is the largest recent sample (the frame
//! that waited least), as NTP keeps the sample with the least delay. Taking
//! the latest sample instead read a backlog as skew: a relay resumed after a
//! hang (or a stream that queued for seconds) reads frames sent seconds ago
//! and warned "the peer's clock differs by 7,487 ms" for a clock that was
//! right. The maximum is kept over two buckets of [`BUCKET_MS`], so a real
//! change of the peer's clock shows within two buckets.

use twinline_core::Millis;

/// How long one bucket of samples lasts (our clock).
pub const BUCKET_MS: u64 = 5_000;

/// The largest sample of the current bucket and of the one before it.
#[derive(Debug, Default, Clone)]
pub struct PeerClock {
    bucket_start: Option<Millis>,
    current: Option<i64>,
    previous: Option<i64>,
}

impl PeerClock {
    /// Takes the sample of one frame (`peer_now`, the peer's time when it
    /// sent it, against `now`, ours when it arrived) and returns the
    /// estimate: the peer's clock minus ours, in ms.
    pub fn sample(&mut self, peer_now: Millis, now: Millis) -> i64 {
        let offset = (peer_now.0 as i64).saturating_sub(now.0 as i64);
        match self.bucket_start {
            Some(start) if now.0 < start.0.saturating_add(BUCKET_MS) => {}
            Some(start) if now.0 < start.0.saturating_add(2 * BUCKET_MS) => {
                self.previous = self.current.take();
                self.bucket_start = Some(now);
            }
            _ => {
                // First sample, or nothing heard for two buckets: an old
                // maximum says nothing about the clock now.
                self.previous = None;
                self.current = None;
                self.bucket_start = Some(now);
            }
        }
        self.current = Some(self.current.map_or(offset, |max| max.max(offset)));
        self.estimate().unwrap_or(offset)
    }

    /// The estimate, once a sample was taken.
    pub fn estimate(&self) -> Option<i64> {
        match (self.current, self.previous) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_of_old_frames_is_not_read_as_skew() {
        let mut clock = PeerClock::default();
        assert_eq!(clock.sample(Millis(100_000), Millis(100_002)), -2);
        // Resumed after a 7.5 s hang: frames sent before it arrive now.
        assert_eq!(clock.sample(Millis(100_010), Millis(107_500)), -2);
        assert_eq!(clock.sample(Millis(107_400), Millis(107_503)), -2);
        // Still not, one bucket later: the estimate is the least delayed
        // frame of the last two buckets (103 ms in transit), not 7 s.
        assert_eq!(
            clock.sample(Millis(106_000), Millis(108_000 + BUCKET_MS)),
            -103
        );
    }

    #[test]
    fn a_peer_clock_that_really_moved_shows_within_two_buckets() {
        let mut clock = PeerClock::default();
        clock.sample(Millis(100_000), Millis(100_001));
        let mut now = 100_001;
        let mut estimate = 0;
        while now < 100_001 + 3 * BUCKET_MS {
            now += 500;
            // The peer's clock stepped back 60 s.
            estimate = clock.sample(Millis(now - 60_000), Millis(now + 1));
        }
        assert_eq!(estimate, -60_001);
    }

    #[test]
    fn ahead_or_behind_the_estimate_is_the_least_delayed_sample() {
        let mut clock = PeerClock::default();
        clock.sample(Millis(610_000), Millis(10_040));
        assert_eq!(clock.sample(Millis(610_100), Millis(10_110)), 599_990);
        let mut behind = PeerClock::default();
        behind.sample(Millis(7_000), Millis(10_050));
        assert_eq!(behind.sample(Millis(7_100), Millis(10_105)), -3_005);
    }

    #[test]
    fn silence_for_two_buckets_starts_afresh() {
        let mut clock = PeerClock::default();
        clock.sample(Millis(610_000), Millis(10_000));
        let later = 10_000 + 2 * BUCKET_MS + 1;
        assert_eq!(clock.sample(Millis(later - 3_000), Millis(later)), -3_000);
    }
}
