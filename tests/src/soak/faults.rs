//! The fault schedule: which fault, when, for how long, drawn from a seed so
//! a failing soak can be run again exactly.
//!
//! Faults never overlap on the same resource (a deployment, the moderator,
//! one group's link to one deployment), with a few seconds of rest between
//! two faults on one resource; different resources overlap freely, which is
//! how "both down" also happens by accident (a crash of one deployment
//! while a group's link to the other is silent).

use serde::Serialize;
use std::time::Duration;
use twinline_core::protocol::DeploymentRole;
use twinline_core::random::SplitMix64;

/// Client groups: each has its own links to each deployment.
pub const GROUPS: usize = 2;

/// Rest on a resource after a fault before the next one there.
const REST: Duration = Duration::from_secs(3);

/// One kind of trouble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// SIGKILL one deployment; start it again after the fault's length.
    Crash {
        /// Which one.
        who: DeploymentRole,
    },
    /// SIGKILL both; start both again after the fault's length.
    BothDown,
    /// SIGKILL the moderator; start it again after the fault's length.
    ModeratorCrash,
    /// One group's link to one deployment stops forwarding, silently.
    Silent {
        /// Which group of clients.
        group: usize,
        /// Which deployment they lose.
        who: DeploymentRole,
    },
    /// One group's link to one deployment gets slow.
    Slow {
        /// Which group of clients.
        group: usize,
        /// Which deployment.
        who: DeploymentRole,
        /// Added one-way delay.
        delay_ms: u64,
    },
    /// Maintenance: the moderator is told to hold `to`, the other
    /// deployment is stopped cleanly (SIGTERM) and started again halfway
    /// through, then the hold is released.
    Planned {
        /// The deployment that stays up.
        to: DeploymentRole,
    },
}

impl Fault {
    /// A short label for tables: crash, both down, moderator, silent, slow,
    /// planned.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash (SIGKILL)",
            Fault::BothDown => "both down",
            Fault::ModeratorCrash => "moderator crash",
            Fault::Silent { .. } => "silent link loss",
            Fault::Slow { .. } => "slow link",
            Fault::Planned { .. } => "planned switch",
        }
    }

    /// What it occupies: deployments 0/1, moderator 2, links 3...
    fn resources(&self) -> Vec<usize> {
        let deployment = |who: DeploymentRole| match who {
            DeploymentRole::Primary => 0,
            DeploymentRole::Redundant => 1,
        };
        let link = |group: usize, who: DeploymentRole| 3 + group * 2 + deployment(who);
        match *self {
            Fault::Crash { who } => vec![deployment(who)],
            Fault::BothDown => vec![0, 1],
            Fault::ModeratorCrash => vec![2],
            Fault::Silent { group, who } | Fault::Slow { group, who, .. } => vec![link(group, who)],
            Fault::Planned { .. } => vec![0, 1, 2],
        }
    }
}

/// A fault at a time, for a while.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Scheduled {
    /// From the start of the fault phase.
    #[serde(serialize_with = "as_ms")]
    pub at: Duration,
    /// How long until it heals.
    #[serde(serialize_with = "as_ms")]
    pub length: Duration,
    /// What.
    pub fault: Fault,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn role(rng: &mut SplitMix64) -> DeploymentRole {
    if rng.between(0, 1) == 1 {
        DeploymentRole::Primary
    } else {
        DeploymentRole::Redundant
    }
}

/// A fault of a random kind and its length in ms. Weights favour the
/// faults docs/FAILURES.md is mostly about: crashes and silent loss.
fn draw(rng: &mut SplitMix64) -> (Fault, u64) {
    match rng.between(0, 99) {
        0..=29 => (Fault::Crash { who: role(rng) }, rng.between(500, 4_000)),
        30..=37 => (Fault::BothDown, rng.between(1_000, 4_000)),
        38..=47 => (Fault::ModeratorCrash, rng.between(1_000, 6_000)),
        48..=72 => (
            Fault::Silent {
                group: rng.between(0, GROUPS as u64 - 1) as usize,
                who: role(rng),
            },
            rng.between(3_000, 6_000),
        ),
        73..=87 => (
            Fault::Slow {
                group: rng.between(0, GROUPS as u64 - 1) as usize,
                who: role(rng),
                delay_ms: rng.between(50, 400),
            },
            rng.between(2_000, 5_000),
        ),
        _ => (Fault::Planned { to: role(rng) }, rng.between(4_000, 7_000)),
    }
}

/// `count` faults over `span`, leaving the first and last two seconds
/// quiet. Fewer come back if the span is too crowded to place them all.
pub fn schedule(seed: u64, count: usize, span: Duration) -> Vec<Scheduled> {
    let mut rng = SplitMix64::new(seed);
    let span_ms = span.as_millis() as u64;
    let mut placed: Vec<Scheduled> = Vec::new();
    let mut tries = 0;
    while placed.len() < count && tries < count * 200 {
        tries += 1;
        let (fault, length) = draw(&mut rng);
        if span_ms < length + 4_000 {
            continue;
        }
        let at = rng.between(2_000, span_ms - length - 2_000);
        let (start, end) = (at, at + length);
        let clash = placed.iter().any(|other| {
            let o_start = other.at.as_millis() as u64;
            let o_end = o_start + other.length.as_millis() as u64;
            let rest = REST.as_millis() as u64;
            let shared = fault
                .resources()
                .iter()
                .any(|r| other.fault.resources().contains(r));
            shared && start < o_end + rest && o_start < end + rest
        });
        if !clash {
            placed.push(Scheduled {
                at: Duration::from_millis(at),
                length: Duration::from_millis(length),
                fault,
            });
        }
    }
    placed.sort_by_key(|s| s.at);
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let a = schedule(7, 50, Duration::from_secs(180));
        let b = schedule(7, 50, Duration::from_secs(180));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.len(), 50, "50 faults fit in three minutes");
    }

    #[test]
    fn faults_on_one_resource_never_overlap() {
        let faults = schedule(11, 60, Duration::from_secs(180));
        for (i, a) in faults.iter().enumerate() {
            for b in &faults[i + 1..] {
                let shared = a
                    .fault
                    .resources()
                    .iter()
                    .any(|r| b.fault.resources().contains(r));
                if shared {
                    assert!(b.at >= a.at + a.length + REST, "{a:?} overlaps {b:?}");
                }
            }
        }
    }
}
