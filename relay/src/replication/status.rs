//! What this relay knows about how far behind its peer it is: read by
//! `/v1/health` (the moderator decides failback on it) and `/metrics`.

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
    /// Wall time (ms) of the oldest peer change not yet applied, 0 if none.
    oldest_pending_at: AtomicU64,
    /// Whether at least one exchange with the peer has completed since start.
    synced_once: AtomicBool,
    /// A node of a deployment on PostgreSQL: replication runs on one node.
    clustered: AtomicBool,
    /// This node runs replication (always, with SQLite).
    leading: AtomicBool,
    /// The lag the replication node reports, on the others.
    relayed: std::sync::Mutex<Option<ReplicationLag>>,
}

impl ReplicationStatus {
    /// A status for a relay with (or without) a peer.
    pub fn new(configured: bool) -> ReplicationStatus {
        let status = ReplicationStatus::default();
        status.configured.store(configured, Relaxed);
        status
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

    /// Records the peer's head and our checkpoint after an exchange.
    pub fn record(&self, peer_head: u64, checkpoint: u64, oldest_pending_at: Option<Millis>) {
        self.peer_head.fetch_max(peer_head, Relaxed);
        self.checkpoint.store(checkpoint, Relaxed);
        self.oldest_pending_at
            .store(oldest_pending_at.map_or(0, |at| at.0), Relaxed);
        self.synced_once.store(true, Relaxed);
    }

    /// Notes that the peer's head moved (from the live stream).
    pub fn saw_peer_head(&self, head: u64) {
        self.peer_head.fetch_max(head, Relaxed);
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
        let oldest = self.oldest_pending_at.load(Relaxed);
        let changes = head.saturating_sub(checkpoint);
        Some(ReplicationLag {
            changes,
            seconds: if changes == 0 || oldest == 0 {
                0.0
            } else {
                now.0.saturating_sub(oldest) as f64 / 1000.0
            },
            connected: self.connected.load(Relaxed) && self.synced_once.load(Relaxed),
        })
    }
}
