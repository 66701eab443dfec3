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
    /// SIGSTOP one deployment, SIGCONT it after the fault's length: it
    /// accepts connections (the kernel does) and answers nothing, to
    /// clients, the moderator and its peer alike. A black-holed data
    /// center, or a machine that hangs.
    Hang {
        /// Which one.
        who: DeploymentRole,
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
            Fault::Hang { .. } => "hang (SIGSTOP)",
        }
    }

    /// Whether it can take the link away from a client of `group` that is
    /// on `deployment`: the deployment failing or stopped, its link to it
    /// silent or slow, or everything down. A moderator crash, or any fault
    /// of the other deployment, is not such a cause: clients on a
    /// deployment that answers should not notice either.
    pub fn hits(&self, deployment: DeploymentRole, group: usize) -> bool {
        match *self {
            Fault::Crash { who } | Fault::Hang { who } => who == deployment,
            Fault::BothDown => true,
            Fault::ModeratorCrash => false,
            Fault::Silent { group: g, who } | Fault::Slow { group: g, who, .. } => {
                g == group && who == deployment
            }
            Fault::Planned { to } => to.other() == deployment,
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
            Fault::Crash { who } | Fault::Hang { who } => vec![deployment(who)],
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

/// The kinds of fault, as the command line names them (`--mix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// [`Fault::Crash`].
    Crash,
    /// [`Fault::BothDown`].
    BothDown,
    /// [`Fault::ModeratorCrash`].
    Moderator,
    /// [`Fault::Silent`].
    Silent,
    /// [`Fault::Slow`].
    Slow,
    /// [`Fault::Planned`].
    Planned,
    /// [`Fault::Hang`].
    Hang,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Crash,
        Kind::BothDown,
        Kind::Moderator,
        Kind::Silent,
        Kind::Slow,
        Kind::Planned,
        Kind::Hang,
    ];

    /// The name `--mix` takes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Crash => "crash",
            Kind::BothDown => "both-down",
            Kind::Moderator => "moderator",
            Kind::Silent => "silent",
            Kind::Slow => "slow",
            Kind::Planned => "planned",
            Kind::Hang => "hang",
        }
    }

    /// Whether it is something that happens to one deployment (the kinds a
    /// deployment's own failures in [`renewal`] are drawn from).
    pub fn of_a_deployment(self) -> bool {
        matches!(self, Kind::Crash | Kind::Hang | Kind::Planned)
    }
}

/// Fault kinds with weights: which kind a fault is, drawn in proportion.
/// Written `crash=30,silent=25,...`; a kind left out never happens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mix(Vec<(Kind, u64)>);

/// Why a `--mix` did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MixError {
    /// Not `kind=weight`.
    #[error("{0:?} is not kind=weight")]
    Shape(String),
    /// No such kind.
    #[error(
        "unknown fault kind {0:?} (kinds: crash, both-down, moderator, silent, slow, planned, hang)"
    )]
    Kind(String),
    /// Every weight is zero.
    #[error("the mix gives no fault kind a weight")]
    Empty,
}

impl std::str::FromStr for Mix {
    type Err = MixError;

    fn from_str(text: &str) -> Result<Mix, MixError> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| MixError::Shape(part.into()))?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| MixError::Kind(name.trim().into()))?;
            let weight: u64 = weight
                .trim()
                .parse()
                .map_err(|_| MixError::Shape(part.into()))?;
            if weight > 0 {
                weights.push((kind, weight));
            }
        }
        if weights.is_empty() {
            return Err(MixError::Empty);
        }
        Ok(Mix(weights))
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(kind, weight)| format!("{}={weight}", kind.name()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Mix {
    /// The chaos soak's mix: weights favour the faults docs/FAILURES.md is
    /// mostly about, crashes and silent loss.
    pub fn chaos() -> Mix {
        Mix(vec![
            (Kind::Crash, 30),
            (Kind::BothDown, 8),
            (Kind::Moderator, 10),
            (Kind::Silent, 25),
            (Kind::Slow, 15),
            (Kind::Planned, 12),
        ])
    }

    /// The seed schedule's mix of a deployment's own failures: mostly
    /// crashes, some hangs, a little maintenance.
    pub fn deployment() -> Mix {
        Mix(vec![(Kind::Crash, 6), (Kind::Hang, 3), (Kind::Planned, 1)])
    }

    /// The kinds with a weight.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.0.iter().map(|(kind, _)| *kind)
    }

    fn draw(&self, rng: &mut SplitMix64) -> Kind {
        let total: u64 = self.0.iter().map(|(_, w)| w).sum();
        let mut pick = rng.between(0, total - 1);
        for (kind, weight) in &self.0 {
            if pick < *weight {
                return *kind;
            }
            pick -= weight;
        }
        self.0[0].0
    }
}

/// A fault of a kind drawn from `mix` and its length in ms.
fn draw(rng: &mut SplitMix64, mix: &Mix) -> (Fault, u64) {
    let group = |rng: &mut SplitMix64| rng.between(0, GROUPS as u64 - 1) as usize;
    match mix.draw(rng) {
        Kind::Crash => (Fault::Crash { who: role(rng) }, rng.between(500, 4_000)),
        Kind::BothDown => (Fault::BothDown, rng.between(1_000, 4_000)),
        Kind::Moderator => (Fault::ModeratorCrash, rng.between(1_000, 6_000)),
        Kind::Silent => (
            Fault::Silent {
                group: group(rng),
                who: role(rng),
            },
            rng.between(3_000, 6_000),
        ),
        Kind::Slow => (
            Fault::Slow {
                group: group(rng),
                who: role(rng),
                delay_ms: rng.between(50, 400),
            },
            rng.between(2_000, 5_000),
        ),
        Kind::Planned => (Fault::Planned { to: role(rng) }, rng.between(4_000, 7_000)),
        Kind::Hang => (Fault::Hang { who: role(rng) }, rng.between(1_000, 4_000)),
    }
}

/// `count` faults over `span`, leaving the first and last two seconds
/// quiet. Fewer come back if the span is too crowded to place them all.
pub fn schedule(seed: u64, count: usize, span: Duration, mix: &Mix) -> Vec<Scheduled> {
    let mut rng = SplitMix64::new(seed);
    let span_ms = span.as_millis() as u64;
    let mut placed: Vec<Scheduled> = Vec::new();
    let mut tries = 0;
    while placed.len() < count && tries < count * 200 {
        tries += 1;
        let (fault, length) = draw(&mut rng, mix);
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

/// The seed schedule: each deployment fails on its own, as an alternating
/// renewal process (up for an exponentially distributed time of mean
/// `mtbf`, then down for one of mean `mttr`, the kind of each failure drawn
/// from `mix`); the moderator likewise if `moderator` gives its MTBF and
/// MTTR. The processes are independent, so both deployments are down at
/// once only by chance, as the white paper's arithmetic assumes.
#[derive(Clone, Debug, Serialize)]
pub struct Renewal {
    /// Mean time between failures of one deployment (from a repair to the
    /// next failure).
    #[serde(serialize_with = "as_ms")]
    pub mtbf: Duration,
    /// Mean time to repair a deployment.
    #[serde(serialize_with = "as_ms")]
    pub mttr: Duration,
    /// Kinds of a deployment's failures ([`Kind::of_a_deployment`]).
    pub mix: Mix,
    /// The moderator's MTBF and MTTR, if it fails too.
    #[serde(skip)]
    pub moderator: Option<(Duration, Duration)>,
}

/// A repair never takes less (a process needs a moment to start again).
const SHORTEST_REPAIR_MS: u64 = 100;
/// A deployment stays up at least this long after a repair, so one fault is
/// carried out before the next begins there.
const SHORTEST_UPTIME_MS: u64 = 1_000;
/// Faults begin this long after the fault phase starts, and are healed
/// this long before it ends.
const QUIET_MS: u64 = 2_000;

/// An exponentially distributed time of mean `mean_ms`.
fn exponential(rng: &mut SplitMix64, mean_ms: f64) -> u64 {
    // Uniform in (0, 1]: 53 random bits, never zero.
    let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    (-mean_ms * u.ln()) as u64
}

/// One resource's failures over `span`: `fault` makes each one's fault.
fn alternating(
    rng: &mut SplitMix64,
    span_ms: u64,
    (mtbf, mttr): (Duration, Duration),
    mut fault: impl FnMut(&mut SplitMix64) -> Fault,
) -> Vec<Scheduled> {
    let (up_mean, down_mean) = (mtbf.as_millis() as f64, mttr.as_millis() as f64);
    let mut out = Vec::new();
    let mut at = QUIET_MS + exponential(rng, up_mean).max(SHORTEST_UPTIME_MS);
    while at + SHORTEST_REPAIR_MS + QUIET_MS <= span_ms {
        let drawn = fault(rng);
        let length = exponential(rng, down_mean)
            .max(SHORTEST_REPAIR_MS)
            .min(span_ms - QUIET_MS - at);
        out.push(Scheduled {
            at: Duration::from_millis(at),
            length: Duration::from_millis(length),
            fault: drawn,
        });
        at += length + exponential(rng, up_mean).max(SHORTEST_UPTIME_MS);
    }
    out
}

/// The seed schedule over `span` (see [`Renewal`]). Each deployment, and
/// the moderator, draws from a stream of its own, so the primary's
/// failures are the same with or without the redundant's: the single
/// deployment soak on a seed meets exactly the primary's failures of the
/// two-deployment soak on that seed.
pub fn renewal(seed: u64, span: Duration, plan: &Renewal) -> Vec<Scheduled> {
    let span_ms = span.as_millis() as u64;
    let mut all = Vec::new();
    for (stream, who) in [
        (1u64, DeploymentRole::Primary),
        (2, DeploymentRole::Redundant),
    ] {
        let mut rng = SplitMix64::new(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        all.extend(alternating(
            &mut rng,
            span_ms,
            (plan.mtbf, plan.mttr),
            |rng| match plan.mix.draw(rng) {
                Kind::Hang => Fault::Hang { who },
                Kind::Planned => Fault::Planned { to: who.other() },
                _ => Fault::Crash { who },
            },
        ));
    }
    if let Some(times) = plan.moderator {
        let mut rng = SplitMix64::new(seed ^ 3u64.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        all.extend(alternating(&mut rng, span_ms, times, |_| {
            Fault::ModeratorCrash
        }));
    }
    all.sort_by_key(|s| s.at);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let a = schedule(7, 50, Duration::from_secs(180), &Mix::chaos());
        let b = schedule(7, 50, Duration::from_secs(180), &Mix::chaos());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.len(), 50, "50 faults fit in three minutes");
    }

    #[test]
    fn faults_on_one_resource_never_overlap() {
        let faults = schedule(11, 60, Duration::from_secs(180), &Mix::chaos());
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

    fn plan() -> Renewal {
        Renewal {
            mtbf: Duration::from_secs(30),
            mttr: Duration::from_secs(3),
            mix: Mix::deployment(),
            moderator: Some((Duration::from_secs(60), Duration::from_secs(2))),
        }
    }

    #[test]
    fn a_mix_parses_and_prints_back() {
        let mix: Mix = "crash=3, hang=1".parse().expect("a mix");
        assert_eq!(mix.to_string(), "crash=3,hang=1");
        assert_eq!(
            mix.kinds().collect::<Vec<_>>(),
            vec![Kind::Crash, Kind::Hang]
        );
        assert_eq!("crash=0".parse::<Mix>(), Err(MixError::Empty));
        assert!(matches!("fire=1".parse::<Mix>(), Err(MixError::Kind(_))));
        assert!(matches!("crash".parse::<Mix>(), Err(MixError::Shape(_))));
        assert_eq!(Mix::chaos().to_string().parse::<Mix>(), Ok(Mix::chaos()));
    }

    #[test]
    fn a_mix_of_one_kind_draws_only_it() {
        let mix: Mix = "moderator=1".parse().expect("a mix");
        let faults = schedule(3, 20, Duration::from_secs(180), &mix);
        assert!(!faults.is_empty());
        assert!(faults.iter().all(|f| f.fault == Fault::ModeratorCrash));
    }

    #[test]
    fn the_seed_schedule_repeats_and_keeps_the_primary_without_the_redundant() {
        let span = Duration::from_secs(900);
        let a = renewal(5, span, &plan());
        assert_eq!(format!("{a:?}"), format!("{:?}", renewal(5, span, &plan())));
        let primary = |faults: &[Scheduled]| -> Vec<String> {
            faults
                .iter()
                .filter(|f| {
                    f.fault.resources().contains(&0) && f.fault.resources().len() == 1
                        || f.fault
                            == Fault::Planned {
                                to: DeploymentRole::Redundant,
                            }
                })
                .map(|f| format!("{f:?}"))
                .collect()
        };
        let without_moderator = renewal(
            5,
            span,
            &Renewal {
                moderator: None,
                ..plan()
            },
        );
        assert_eq!(primary(&a), primary(&without_moderator));
        assert!(a.iter().any(|f| f.fault == Fault::ModeratorCrash));
    }

    #[test]
    fn the_seed_schedule_has_the_means_it_was_given() {
        // 15 minutes at MTBF 30 s + MTTR 3 s: about 27 failures per
        // deployment; over many seeds the means come out near the plan.
        let span = Duration::from_secs(900);
        let (mut downs, mut count, mut per_run) = (0u64, 0u64, Vec::new());
        for seed in 0..200 {
            let faults = renewal(
                seed,
                span,
                &Renewal {
                    moderator: None,
                    ..plan()
                },
            );
            per_run.push(faults.len());
            for f in &faults {
                downs += f.length.as_millis() as u64;
                count += 1;
            }
            for who in [0, 1] {
                let mine: Vec<&Scheduled> = faults
                    .iter()
                    .filter(|f| match f.fault {
                        Fault::Crash { who: w } | Fault::Hang { who: w } => {
                            (w == DeploymentRole::Primary) == (who == 0)
                        }
                        Fault::Planned { to } => (to == DeploymentRole::Redundant) == (who == 0),
                        _ => false,
                    })
                    .collect();
                for pair in mine.windows(2) {
                    assert!(
                        pair[1].at >= pair[0].at + pair[0].length,
                        "one deployment's failures never overlap: {pair:?}"
                    );
                }
            }
        }
        let mean_down = downs as f64 / count as f64;
        assert!(
            (2_600.0..3_400.0).contains(&mean_down),
            "mean repair {mean_down} ms"
        );
        let mean_count = per_run.iter().sum::<usize>() as f64 / per_run.len() as f64;
        // Two deployments, each failing every 30 s + 3 s on average, the
        // first 2 s and the uptime floor aside: about 2 x 26.
        assert!(
            (46.0..58.0).contains(&mean_count),
            "failures per run {mean_count}"
        );
        assert!(
            per_run.iter().all(|n| *n >= 24),
            "dozens in every run: {per_run:?}"
        );
    }
}
