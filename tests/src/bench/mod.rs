//! Benchmarks that print figures (never timed tests): relay throughput and
//! latency, idle connections and memory, replication lag and catch-up,
//! failover time seen by clients. The
//! `twinline-bench` binary runs them against release relay processes and
//! writes the figures as JSON.

pub mod failover;
pub mod relay;
pub mod replication;
pub mod stats;

use serde::Serialize;

/// One named figure.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The target the issue sets, if any.
    pub target: Option<String>,
}

impl Figure {
    /// Builds a figure.
    pub fn new(name: &str, value: f64, unit: &str, target: Option<&str>) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            target: target.map(str::to_string),
        }
    }
}

/// Resident memory of a process in KiB (Linux /proc).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
