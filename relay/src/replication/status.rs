//! What this relay knows about how far behind its peer it is: read by
//! `/v1/health` (the moderator decides failback on it) and `/metrics`.

use super::peer_clock::PeerClock;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use twinline_core::Millis;
use twinline_core::protocol::ReplicationLag;

/// Lag to the peer, updated by the replication task.
#[derive(Debug, Default)]
pub struct ReplicationStatus {
    configured: AtomicBool,
    connected: AtomicBool,
    /// The peer's newest feed position we have heard of.
    peer_head: AtomicU64,
    /// The position we have applied up to.
    checkpoint: AtomicU64,
    /// Peer feed positions with the time (this relay's clock) they were
    /// first heard of, oldest first, none at or below the checkpoint: the
    /// age of the oldest unapplied change, whatever the peer's clock says.
    heard: std::sync::Mutex<VecDeque<(u64, Millis)>>,
    /// Whether at least one exchange with the peer has completed since start.
    synced_once: AtomicBool,
    /// A node of a deployment on PostgreSQL: replication runs on one node.
    clustered: AtomicBool,
    /// This node runs replication (always, with SQLite).
    leading: AtomicBool,
    /// The lag the replication node reports, on the others.
    relayed: std::sync::Mutex<Option<ReplicationLag>>,
    /// The peer's clock, estimated from the feed's frames.
    peer_clock: std::sync::Mutex<PeerClock>,
}

/// Peer positions [`ReplicationStatus`] keeps the arrival time of.
const HEARD_KEPT: usize = 1024;

/// A peer clock further than this from ours is warned about: the
/// last-writer-wins stamps stay ordered (they never go below what is
/// stored), but times people read (queue ages, message times) disagree
/// between the deployments.
pub const CLOCK_WARN_MS: i64 = 5_000;

impl ReplicationStatus {
    /// A status for a relay with (or without) a peer.
    pub fn new(configured: bool) -> ReplicationStatus {
        let status = ReplicationStatus::default();
        status.configured.store(configured, Relaxed);
        status
    }

    /// Records the peer's clock as read from a feed frame (`peer_now`, its
    /// time when it sent the frame) against ours when it arrived; warns
    /// when the estimate ([`PeerClock`]: the least delayed recent frame,
    /// so a backlog read late is not skew) first differs by more than
    /// [`CLOCK_WARN_MS`], and says when they agree again.
    pub fn saw_peer_clock(&self, peer_now: Millis, now: Millis) {
        let (before, offset) = {
            let mut clock = self
                .peer_clock
                .lock()
                .expect("the peer clock lock is never poisoned");
            (clock.estimate(), clock.sample(peer_now, now))
        };
        let skewed =
            |offset: Option<i64>| offset.is_some_and(|o| o.saturating_abs() > CLOCK_WARN_MS);
        match (skewed(before), skewed(Some(offset))) {
            (false, true) => tracing::warn!(
                offset_ms = offset,
                "the peer's clock differs from ours by more than {CLOCK_WARN_MS} ms: check NTP on both"
            ),
            (true, false) => tracing::info!(
                offset_ms = offset,
                "the peer's clock agrees with ours again"
            ),
            _ => {}
        }
    }

    /// The peer's clock minus ours, in ms, once measured.
    pub fn peer_clock_offset_ms(&self) -> Option<i64> {
        self.peer_clock
            .lock()
            .expect("the peer clock lock is never poisoned")
            .estimate()
    }

    /// Makes this the status of one node of several: only the node
    /// holding the replication lease measures the lag, the others report
    /// what it relays ([`ReplicationStatus::relay_lag`]).
    pub fn set_clustered(&self) {
        self.clustered.store(true, Relaxed);
    }

    /// Whether this node runs replication now.
    pub fn leading(&self) -> bool {
        !self.clustered.load(Relaxed) || self.leading.load(Relaxed)
    }

    /// This node took (true) or lost (false) the replication lease.
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Relaxed);
    }

    /// The lag the replication node reports (`None`: no node runs it).
    pub fn relay_lag(&self, lag: Option<ReplicationLag>) {
        *self.relayed.lock().unwrap_or_else(|p| p.into_inner()) = lag;
    }

    /// Marks the live link up or down.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Relaxed);
    }

    /// Records the peer's head and our checkpoint after an exchange, at
    /// `now`.
    pub fn record(&self, peer_head: u64, checkpoint: u64, now: Millis) {
        self.saw_peer_head(peer_head, now);
        self.checkpoint.store(checkpoint, Relaxed);
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        while heard.front().is_some_and(|&(seq, _)| seq <= checkpoint) {
            heard.pop_front();
        }
        self.synced_once.store(true, Relaxed);
    }

    /// Notes that the peer's head is at least `head`, heard of at `now`.
    pub fn saw_peer_head(&self, head: u64, now: Millis) {
        let before = self.peer_head.fetch_max(head, Relaxed);
        if head <= before.max(self.checkpoint.load(Relaxed)) {
            return;
        }
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        if heard.len() >= HEARD_KEPT {
            // Bounded: the newest entry takes the newer head and keeps its
            // older time (the lag reads a little high, never low).
            if let Some(last) = heard.back_mut() {
                last.0 = head;
            }
        } else {
            heard.push_back((head, now));
        }
    }

    /// Our checkpoint.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint.load(Relaxed)
    }

    /// The lag as reported in health, or None without a peer. Until the
    /// first exchange the lag is unknown, so it reports not connected.
    pub fn lag(&self, now: Millis) -> Option<ReplicationLag> {
        if !self.configured.load(Relaxed) {
            return None;
        }
        if !self.leading() {
            let relayed = self
                .relayed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            return Some(relayed.unwrap_or(ReplicationLag {
                changes: 0,
                seconds: 0.0,
                connected: false,
            }));
        }
        let head = self.peer_head.load(Relaxed);
        let checkpoint = self.checkpoint.load(Relaxed);
        let changes = head.saturating_sub(checkpoint);
        let oldest = self
            .heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|&&(seq, _)| seq > checkpoint)
            .map(|&(_, at)| at);
        Some(ReplicationLag {
            changes,
            seconds: match oldest {
                Some(at) if changes > 0 => now.0.saturating_sub(at.0) as f64 / 1000.0,
                _ => 0.0,
            },
            connected: self.connected.load(Relaxed) && self.synced_once.load(Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_what_was_heard_first_by_our_clock() {
        let status = ReplicationStatus::new(true);
        // Heard of changes up to 10 at 1 s, up to 20 at 4 s; applied to 10
        // at 5 s: what is left was first heard of at 4 s.
        status.saw_peer_head(10, Millis(1_000));
        status.saw_peer_head(20, Millis(4_000));
        assert_eq!(status.lag(Millis(4_500)).unwrap().seconds, 3.5);
        status.record(20, 10, Millis(5_000));
        let lag = status.lag(Millis(9_000)).unwrap();
        assert_eq!((lag.changes, lag.seconds), (10, 5.0));
        status.record(20, 20, Millis(9_500));
        let lag = status.lag(Millis(10_000)).unwrap();
        assert_eq!((lag.changes, lag.seconds), (0, 0.0));
        // Nothing the peer says about its own clock enters the figure: the
        // status has no way to hear it.
    }

    #[test]
    fn the_heard_positions_stay_bounded_and_never_read_low() {
        let status = ReplicationStatus::new(true);
        for seq in 1..=(HEARD_KEPT as u64 * 3) {
            status.saw_peer_head(seq, Millis(seq));
        }
        assert!(status.heard.lock().unwrap().len() <= HEARD_KEPT);
        let last = HEARD_KEPT as u64 * 3;
        status.record(last, last - 1, Millis(last));
        // The newest change was heard of at `last`; the bound may make it
        // read older, never younger.
        let lag = status.lag(Millis(last + 1_000)).unwrap();
        assert_eq!(lag.changes, 1);
        assert!(lag.seconds >= 1.0, "{lag:?}");
    }

    #[test]
    fn the_peer_clock_offset_is_measured_both_ways() {
        let status = ReplicationStatus::new(true);
        assert_eq!(status.peer_clock_offset_ms(), None);
        status.saw_peer_clock(Millis(610_000), Millis(10_000));
        assert_eq!(status.peer_clock_offset_ms(), Some(600_000));
        // The peer's clock set right: shown once the old samples age out
        // (two buckets of peer_clock::BUCKET_MS).
        status.saw_peer_clock(Millis(27_000), Millis(30_000));
        assert_eq!(status.peer_clock_offset_ms(), Some(-3_000));
    }
}
