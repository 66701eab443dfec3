//! A soak's results: the table it prints and the JSON it writes (read by
//! scripts/bench-report.mjs for docs/benchmarks.md).

use super::checks::{Invariants, Outage};
use super::faults::Fault;
use super::world::Applied;
use serde::Serialize;
use std::time::Duration;
use twinline_core::protocol::DeploymentRole;

/// p50, p99 and max of some millisecond samples (nearest rank).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Spread {
    /// From unsorted samples (all zero when there are none).
    pub fn of(samples: &[u64]) -> Spread {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let at = |p: f64| {
            if sorted.is_empty() {
                return 0;
            }
            let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Spread {
            p50: at(50.0),
            p99: at(99.0),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// Fraction of messages acked in time.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Availability {
    /// The deadline: written at t, acked by t + this.
    pub within_ms: u64,
    /// Messages that made it.
    pub acked_in_time: usize,
    /// Messages written during the fault phase.
    pub samples: usize,
    /// acked_in_time / samples.
    pub fraction: f64,
    /// Leading nines of the fraction (u32::MAX when nothing missed).
    pub nines: u32,
}

/// Windowed user-uptime: client windows in which every message was acked
/// in time.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Windowed {
    /// The window's length.
    pub window_ms: u64,
    /// Windows in which every message made it.
    pub up: usize,
    /// Client windows with at least one message.
    pub windows: usize,
    /// up / windows.
    pub fraction: f64,
}

/// How long each part was down by the schedule, as carried out: the time
/// between a fault's start and its heal, merged where faults overlap.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Downtime {
    /// The fault phase.
    pub span_ms: u64,
    /// The primary crashed, hung, stopped for maintenance or both down.
    pub primary_ms: u64,
    /// The same for the redundant.
    pub redundant_ms: u64,
    /// Both at once.
    pub both_ms: u64,
    /// The moderator crashed.
    pub moderator_ms: u64,
}

impl Downtime {
    /// From the faults as applied over a phase of `span`.
    pub fn of(applied: &[Applied], span: Duration) -> Downtime {
        let windows = |take: &dyn Fn(&Fault) -> bool| -> Vec<(u64, u64)> {
            applied
                .iter()
                .filter(|a| a.applied && take(&a.planned.fault))
                .map(|a| (a.start.0, a.end.0))
                .collect()
        };
        let down = |who: DeploymentRole| {
            windows(&move |f: &Fault| match *f {
                Fault::Crash { who: w } | Fault::Hang { who: w } => w == who,
                Fault::BothDown => true,
                Fault::Planned { to } => to.other() == who,
                _ => false,
            })
        };
        let (primary, redundant) = (
            merge(down(DeploymentRole::Primary)),
            merge(down(DeploymentRole::Redundant)),
        );
        Downtime {
            span_ms: span.as_millis() as u64,
            primary_ms: total(&primary),
            redundant_ms: total(&redundant),
            both_ms: total(&intersect(&primary, &redundant)),
            moderator_ms: total(&merge(windows(&|f| *f == Fault::ModeratorCrash))),
        }
    }
}

/// Sorted, non-overlapping intervals covering the same time.
fn merge(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let (start, end) = (a0.max(b0), a1.min(b1));
            if start < end {
                out.push((start, end));
            }
        }
    }
    out
}

fn total(spans: &[(u64, u64)]) -> u64 {
    spans.iter().map(|(start, end)| end - start).sum()
}

/// One client outage, for the raw report.
#[derive(Clone, Debug, Serialize)]
pub struct OutageRecord {
    /// The client (visitors by chat, then operators).
    pub client: usize,
    /// Its group.
    pub group: usize,
    /// When and from where.
    pub outage: Outage,
    /// Index of the fault it is blamed on, in `faults`.
    pub fault: Option<usize>,
    /// The client's link changes from 3 s before it to its end: ms from
    /// `outage.left`, state, deployment.
    pub story: Vec<(i64, String, Option<DeploymentRole>)>,
}

/// Client outages blamed on one kind of fault.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FailoverRow {
    /// The fault's label.
    pub fault: String,
    /// How many of these faults were applied.
    pub faults: usize,
    /// Client outages blamed on them.
    pub outages: usize,
    /// Outages that never ended (must be zero after healing).
    pub unrecovered: usize,
    /// Time not connected, per outage.
    pub interruption_ms: Spread,
    /// From the fault to connected again, per outage.
    pub recovery_ms: Spread,
    /// The raw recovery samples, for plots.
    pub recovery_samples_ms: Vec<u64>,
}

/// Everything a soak found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// "two deployments" or "single deployment".
    pub mode: String,
    /// The schedule's seed.
    pub seed: u64,
    /// The schedule: chaos or seed, and its parameters.
    pub plan: String,
    /// Concurrent chats.
    pub chats: usize,
    /// Operator clients (each holds several chats).
    pub operators: usize,
    /// Length of the fault phase.
    pub minutes: f64,
    /// Messages each side of a chat writes per second.
    pub rate_per_side: f64,
    /// Messages written (greetings included).
    pub messages: usize,
    /// Every fault, as carried out.
    pub faults: Vec<Applied>,
    /// Faults actually applied.
    pub faults_applied: usize,
    /// Whether every client settled (connected, nothing pending, complete)
    /// after healing.
    pub settled: bool,
    /// Lost, duplicated, out-of-order, diverged.
    pub invariants: Invariants,
    /// Message availability.
    pub availability: Availability,
    /// Windowed user-uptime, for each window length.
    pub windowed: Vec<Windowed>,
    /// How long each part was down.
    pub downtime: Downtime,
    /// Client outages by fault kind.
    pub failover: Vec<FailoverRow>,
    /// Outages not close to any fault.
    pub unblamed_outages: usize,
    /// Every client outage.
    pub outages: Vec<OutageRecord>,
    /// How late the soak's own timers fired during the fault phase (the
    /// load generator's scheduling delay, sampled every 100 ms): when this
    /// is high, clients and proxies were starved and their outages may be
    /// the generator's, not the software's.
    pub generator_lag_ms: Spread,
    /// Times (ms from the phase start) at which the generator was more
    /// than 250 ms late.
    pub generator_stalls: Vec<(u64, u64)>,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// Problems met while checking (e.g. a store that could not be read).
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the soak passed: every invariant zero, everyone settled,
    /// every outage over.
    pub fn passed(&self) -> bool {
        self.invariants.clean()
            && self.settled
            && self.problems.is_empty()
            && self.failover.iter().all(|row| row.unrecovered == 0)
    }

    /// Prints the table.
    pub fn print(&self) {
        println!(
            "\nsoak, {}: {} chats ({} operators), {:.1} min, {} msg/s per side, seed {}",
            self.mode, self.chats, self.operators, self.minutes, self.rate_per_side, self.seed
        );
        println!("{}", self.plan);
        println!(
            "faults applied: {} of {}; messages written: {}; settled: {}; took {:.0} s",
            self.faults_applied,
            self.faults.len(),
            self.messages,
            self.settled,
            self.seconds
        );
        let i = &self.invariants;
        println!(
            "lost {}  duplicated {}  out of order {}  diverged {}  -> {}",
            i.lost,
            i.duplicated,
            i.out_of_order,
            i.diverged,
            if self.passed() { "PASS" } else { "FAIL" }
        );
        let a = &self.availability;
        let nines = if a.nines == u32::MAX {
            "all".to_string()
        } else {
            a.nines.to_string()
        };
        println!(
            "availability (acked within {} ms): {}/{} = {:.4}% ({} nines)",
            a.within_ms,
            a.acked_in_time,
            a.samples,
            a.fraction * 100.0,
            nines
        );
        for w in &self.windowed {
            println!(
                "user-uptime, {} s windows: {}/{} client windows = {:.4}%",
                w.window_ms / 1000,
                w.up,
                w.windows,
                w.fraction * 100.0
            );
        }
        let d = &self.downtime;
        let share = |ms: u64| ms as f64 / d.span_ms.max(1) as f64 * 100.0;
        println!(
            "down by the schedule: primary {:.1} s ({:.2}%), redundant {:.1} s ({:.2}%), both {:.1} s ({:.2}%), moderator {:.1} s",
            d.primary_ms as f64 / 1000.0,
            share(d.primary_ms),
            d.redundant_ms as f64 / 1000.0,
            share(d.redundant_ms),
            d.both_ms as f64 / 1000.0,
            share(d.both_ms),
            d.moderator_ms as f64 / 1000.0
        );
        println!(
            "\n{:<18} {:>6} {:>8} {:>11} {:>24} {:>24}",
            "fault",
            "faults",
            "outages",
            "unrecovered",
            "not connected p50/p99/max",
            "fault->back p50/p99/max"
        );
        for row in &self.failover {
            println!(
                "{:<18} {:>6} {:>8} {:>11} {:>24} {:>24}",
                row.fault,
                row.faults,
                row.outages,
                row.unrecovered,
                format!(
                    "{}/{}/{} ms",
                    row.interruption_ms.p50, row.interruption_ms.p99, row.interruption_ms.max
                ),
                format!(
                    "{}/{}/{} ms",
                    row.recovery_ms.p50, row.recovery_ms.p99, row.recovery_ms.max
                ),
            );
        }
        println!("outages not near any fault: {}", self.unblamed_outages);
        println!(
            "load generator timer lateness p50/p99/max: {}/{}/{} ms; {} stalls over 250 ms",
            self.generator_lag_ms.p50,
            self.generator_lag_ms.p99,
            self.generator_lag_ms.max,
            self.generator_stalls.len()
        );
        for problem in &self.problems {
            println!("problem: {problem}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_uses_nearest_rank() {
        let samples: Vec<u64> = (1..=100).rev().collect();
        let spread = Spread::of(&samples);
        assert_eq!((spread.p50, spread.p99, spread.max), (50, 99, 100));
        assert_eq!(Spread::of(&[]).max, 0);
    }

    #[test]
    fn downtime_merges_overlaps_and_finds_both_down() {
        use DeploymentRole::{Primary, Redundant};
        let at = Applied::carried_out;
        let applied = [
            at(Fault::Crash { who: Primary }, 0, 1_000),
            at(Fault::Hang { who: Primary }, 500, 1_500),
            at(Fault::Crash { who: Redundant }, 1_200, 2_000),
            at(Fault::Planned { to: Primary }, 3_000, 4_000),
            at(Fault::ModeratorCrash, 0, 100),
        ];
        let d = Downtime::of(&applied, Duration::from_secs(10));
        assert_eq!(
            (d.primary_ms, d.redundant_ms, d.both_ms, d.moderator_ms),
            (1_500, 1_800, 300, 100)
        );
    }
}
