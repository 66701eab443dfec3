//! Prometheus text metrics, kept as plain atomics: counting must never slow
//! the message path or take a lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the ack latency histogram, in seconds.
const ACK_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counters of one relay.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections accepted.
    pub connections_total: AtomicU64,
    /// Frames received from clients.
    pub frames_in: AtomicU64,
    /// Error frames sent, any code.
    pub errors_sent: AtomicU64,
    /// Frames refused by a rate limit (connection or IP).
    pub rate_limited: AtomicU64,
    /// Upgrades or token requests refused for their Origin.
    pub origin_refused: AtomicU64,
    /// Sign-ins refused unchecked: throttled, or too many checks at once.
    pub login_throttled: AtomicU64,
    /// Operator frames refused by authorisation (not their site or chat).
    pub operator_forbidden: AtomicU64,
    /// New messages stored.
    pub messages_stored: AtomicU64,
    /// Messages received again (replays): acked, not stored twice.
    pub messages_duplicate: AtomicU64,
    /// Messages an operator replayed on someone else's behalf.
    pub messages_replayed: AtomicU64,
    /// Changes applied from the peer.
    pub replicated_in: AtomicU64,
    /// Changes from the peer the store refused (out of range, taken id).
    pub replicated_refused: AtomicU64,
    /// Changes from the peer of a kind this version does not know (a newer
    /// peer): skipped, the checkpoint held before them.
    pub replicated_unknown_kind: AtomicU64,
    ack_buckets: [AtomicU64; ACK_BUCKETS.len()],
    ack_count: AtomicU64,
    ack_sum_micros: AtomicU64,
}

/// Gauges read at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Open WebSocket connections.
    pub connections: usize,
    /// Chats with at least one follower here.
    pub chats_followed: usize,
    /// Online operators (here and at the peer).
    pub operators_online: usize,
    /// Store commits and the requests they carried.
    pub commits: u64,
    /// Requests committed.
    pub commit_requests: u64,
    /// Changes behind the peer.
    pub replication_lag_changes: u64,
    /// Seconds behind the peer.
    pub replication_lag_seconds: f64,
    /// Whether the live replication stream is up.
    pub replication_connected: bool,
    /// Draining for maintenance.
    pub draining: bool,
    /// The peer's clock minus ours, in seconds (0 until measured).
    pub peer_clock_offset_seconds: f64,
    /// 1 while the store cannot take writes (see `/v1/health`'s `store`).
    pub store_not_ready: bool,
}

impl Metrics {
    /// Records the time from a `send` frame's arrival to its `ack`.
    pub fn observe_ack(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        for (bound, bucket) in ACK_BUCKETS.iter().zip(&self.ack_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.ack_count.fetch_add(1, Relaxed);
        self.ack_sum_micros
            .fetch_add(latency.as_micros() as u64, Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, deployment: &str, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let label = format!("deployment=\"{}\"", deployment.replace('"', ""));
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let _ = writeln!(out, "{name}{{{label}}} {value}");
        };
        let counters: [(&str, &str, &AtomicU64); 13] = [
            (
                "twinline_connections_total",
                "WebSocket connections accepted.",
                &self.connections_total,
            ),
            (
                "twinline_frames_received_total",
                "Frames received from clients.",
                &self.frames_in,
            ),
            (
                "twinline_error_frames_total",
                "Error frames sent to clients.",
                &self.errors_sent,
            ),
            (
                "twinline_rate_limited_total",
                "Frames or requests refused by a rate limit.",
                &self.rate_limited,
            ),
            (
                "twinline_origin_refused_total",
                "Requests refused for a foreign Origin.",
                &self.origin_refused,
            ),
            (
                "twinline_login_throttled_total",
                "Sign-ins refused without checking the password (throttled or busy).",
                &self.login_throttled,
            ),
            (
                "twinline_operator_forbidden_total",
                "Operator frames refused: not a site or chat of theirs.",
                &self.operator_forbidden,
            ),
            (
                "twinline_messages_stored_total",
                "New messages stored durably.",
                &self.messages_stored,
            ),
            (
                "twinline_messages_duplicate_total",
                "Replayed messages acknowledged without storing twice.",
                &self.messages_duplicate,
            ),
            (
                "twinline_messages_replayed_total",
                "Messages by others that an operator's console replayed after a failover.",
                &self.messages_replayed,
            ),
            (
                "twinline_replication_applied_total",
                "Changes applied from the peer deployment.",
                &self.replicated_in,
            ),
            (
                "twinline_replication_refused_total",
                "Changes from the peer refused: numbers out of range or a taken id.",
                &self.replicated_refused,
            ),
            (
                "twinline_replication_unknown_kind_total",
                "Changes from a newer peer of a kind this version does not know: skipped until an upgrade.",
                &self.replicated_unknown_kind,
            ),
        ];
        for (name, help, counter) in counters {
            line(name, "counter", help, counter.load(Relaxed).to_string());
        }
        let gauges_list: [(&str, &str, String); 11] = [
            (
                "twinline_connections",
                "Open WebSocket connections.",
                gauges.connections.to_string(),
            ),
            (
                "twinline_chats_followed",
                "Chats with a follower on this relay.",
                gauges.chats_followed.to_string(),
            ),
            (
                "twinline_operators_online",
                "Operators online (both deployments).",
                gauges.operators_online.to_string(),
            ),
            (
                "twinline_store_commits",
                "Store transactions committed.",
                gauges.commits.to_string(),
            ),
            (
                "twinline_store_commit_requests",
                "Write requests carried by those commits.",
                gauges.commit_requests.to_string(),
            ),
            (
                "twinline_replication_lag_changes",
                "Changes of the peer not yet applied here.",
                gauges.replication_lag_changes.to_string(),
            ),
            (
                "twinline_replication_lag_seconds",
                "Age of the oldest peer change not yet applied here.",
                format!("{:.3}", gauges.replication_lag_seconds),
            ),
            (
                "twinline_replication_connected",
                "1 if the live replication stream from the peer is up.",
                u8::from(gauges.replication_connected).to_string(),
            ),
            (
                "twinline_draining",
                "1 while draining for maintenance.",
                u8::from(gauges.draining).to_string(),
            ),
            (
                "twinline_peer_clock_offset_seconds",
                "The peer's clock minus this relay's, from the replication stream (0 until measured).",
                format!("{:.3}", gauges.peer_clock_offset_seconds),
            ),
            (
                "twinline_store_not_ready",
                "1 while the store cannot take writes: failing commits, a nearly full disk, an unreachable database.",
                u8::from(gauges.store_not_ready).to_string(),
            ),
        ];
        for (name, help, value) in gauges_list {
            line(name, "gauge", help, value);
        }
        let name = "twinline_ack_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a send frame's arrival to its durable ack.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in ACK_BUCKETS.iter().zip(&self.ack_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{label},le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.ack_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{label},le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{{label}}} {:.6}",
            self.ack_sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{label}}} {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_ack() {
        let metrics = Metrics::default();
        metrics.observe_ack(Duration::from_micros(300));
        metrics.observe_ack(Duration::from_millis(30));
        let text = metrics.render("primary", &Gauges::default());
        assert!(text.contains(
            "twinline_ack_latency_seconds_bucket{deployment=\"primary\",le=\"0.0005\"} 1"
        ));
        assert!(
            text.contains(
                "twinline_ack_latency_seconds_bucket{deployment=\"primary\",le=\"0.05\"} 2"
            )
        );
        assert!(text.contains("twinline_ack_latency_seconds_count{deployment=\"primary\"} 2"));
        assert!(text.contains("# TYPE twinline_connections gauge"));
    }
}
