//! A soak's results: the table it prints and the JSON it writes (read by
//! scripts/bench-report.mjs for docs/benchmarks.md).

use super::checks::Invariants;
use super::world::Applied;
use serde::Serialize;

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
    /// Client outages by fault kind.
    pub failover: Vec<FailoverRow>,
    /// Outages not close to any fault.
    pub unblamed_outages: usize,
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
}
