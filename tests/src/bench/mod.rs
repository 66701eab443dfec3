//! Benchmarks that print figures (never timed tests). The `twinline-bench`
//! binary runs them against release processes and writes the figures as
//! JSON.
//!
//! # Layout
//! - The comparison with the Socket.IO reference peer, each scenario run
//!   unchanged against either server: [`server`] (what is under test, and
//!   its CPU, memory and files from /proc), [`wire`] (one connection in
//!   either protocol), [`socketio`] (the Socket.IO framing), [`peer`] (the
//!   peer's Node process); scenarios [`load`] (full load, everyday load,
//!   idle connections), [`restart`] (SIGKILL and restart), [`steady`]
//!   (resource use over time).
//! - Twinline alone: [`replication`] (lag, catch-up), [`failover`]
//!   (failover time seen by clients), [`incidents`] (what one incident of
//!   each kind costs each client, for the availability arithmetic),
//!   [`nodes`] (cross-node fan-out on PostgreSQL), [`node_failover`] (a
//!   node SIGKILLed, and a rolling restart, under 1,000 clients),
//!   [`reconnects`] (what one reconnect costs the relay, in storms).
//! - [`stats`] holds the percentiles of latency samples.

pub mod failover;
pub mod incidents;
pub mod load;
pub mod node_failover;
pub mod nodes;
pub mod peer;
pub mod reconnects;
pub mod replication;
pub mod restart;
pub mod server;
pub mod socketio;
pub mod stats;
pub mod steady;
pub mod wire;

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
    /// The server it was measured on (comparison figures), e.g. "twinline".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Which repetition of the comparison (1, 2, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
}

impl Figure {
    /// Builds a figure.
    pub fn new(name: &str, value: f64, unit: &str, target: Option<&str>) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            target: target.map(str::to_string),
            server: None,
            run: None,
        }
    }

    /// The same figure, labelled with the server and run it came from.
    pub fn on(mut self, server: &str, run: u32) -> Figure {
        self.server = Some(server.into());
        self.run = Some(run);
        self
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

/// CPU time the whole machine has spent busy so far (every core, every
/// process; Linux /proc/stat, in clock ticks of 1/100 s): set beside a
/// process's own [`cpu_seconds`], it shows how much of a window others
/// took.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait
    // are not busy.
    let total: f64 = fields.iter().take(8).sum();
    Some((total - fields.get(3)? - fields.get(4)?) / 100.0)
}
