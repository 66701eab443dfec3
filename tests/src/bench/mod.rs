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

/// CPU time (user + system) a process has used so far, in seconds (Linux
/// /proc; fields 14 and 15 of `stat`, in clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from after it.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // after_name starts at field 3, so fields 14 and 15 are at 11 and 12.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}
