//! Deterministic simulation of the session state machine and the real
//! moderation against fake relays and a faulty network on a virtual clock
//! (the harness is shared/tests/sim/).
//!
//! Every schedule is seeded. On failure the seed is printed; rerun one with
//! `TWINLINE_SIM_SEED=<seed> cargo test -p twinline-core --test simulation
//! -- --nocapture`, and add `TWINLINE_SIM_TRACE=visitor-0` (any client's
//! name, `world` or `all`) to see what it did. `TWINLINE_SIM_SCHEDULES`
//! changes how many run (1,000 by default).
//!
//! While each schedule runs, the safety rules of `sim/checks.rs` are checked
//! at every step (acked means stored, also across crashes; no message shown
//! twice; ...). After its faults everything heals and the world runs on;
//! then: no message lost (every message anyone typed is stored on both
//! relays and shown by both sides), none duplicated, all replicas in the
//! same order, nothing left pending, every client connected where the
//! moderator says (a client never gives up while a deployment is
//! reachable).

#[allow(dead_code)] // Each test binary uses its own part of the harness.
mod sim;

use sim::run::Setup;
use sim::run::run;
use sim::trace::Trace;
use sim::world::World;
use std::collections::BTreeMap;

/// What to run, from the environment.
struct Settings {
    seeds: Vec<u64>,
    trace: Option<String>,
    slow: bool,
}

#[expect(
    clippy::disallowed_methods,
    reason = "a test's settings come from its environment; the world never reads it"
)]
fn settings() -> Settings {
    let var = |name: &str| std::env::var(name).ok();
    let seeds = match var("TWINLINE_SIM_SEED") {
        Some(seed) => vec![seed.parse().expect("TWINLINE_SIM_SEED is a number")],
        None => {
            let n = var("TWINLINE_SIM_SCHEDULES")
                .map(|n| n.parse().expect("TWINLINE_SIM_SCHEDULES is a number"))
                .unwrap_or(1_000);
            (0..n).collect()
        }
    };
    Settings {
        seeds,
        trace: var("TWINLINE_SIM_TRACE"),
        slow: var("TWINLINE_SIM_SLOW").is_some(),
    }
}

#[expect(
    clippy::disallowed_macros,
    reason = "the figures are this test's report, read with --nocapture"
)]
fn report(line: &str) {
    println!("{line}");
}

/// Wall-clock seconds since the call, for the report (the world runs on
/// virtual time only).
#[expect(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "the run's own duration is reported; the world never reads a clock"
)]
fn stopwatch() -> impl Fn() -> f64 {
    let started = std::time::Instant::now();
    move || started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn simulate(seed: u64, trace: Option<&str>) -> World {
    let mut setup = Setup::random(seed);
    if let Some(spec) = trace {
        let trace = Trace::parse(spec, setup.chats).unwrap_or_else(|e| panic!("{e}"));
        setup = setup.trace(trace.printed());
    }
    run(setup)
}

#[test]
fn a_thousand_fault_schedules_lose_nothing() {
    let settings = settings();
    let elapsed = stopwatch();
    // (kind, isolated) -> times
    let mut times_by: BTreeMap<(&str, bool), Vec<u64>> = BTreeMap::new();
    let mut messages = 0;
    for &seed in &settings.seeds {
        let world = simulate(seed, settings.trace.as_deref());
        if settings.seeds.len() == 1 {
            let faults: Vec<_> = world.schedule().collect();
            report(&format!("faults: {faults:#?}"));
        }
        let violations = world.violations();
        assert!(
            violations.is_empty(),
            "seed {seed}: {violations:#?}\nrerun: TWINLINE_SIM_SEED={seed} cargo test -p twinline-core --test simulation -- --nocapture"
        );
        messages += world.relays[0].store.len();
        let times = world.failover_times();
        if settings.slow && times.iter().any(|(_, ms, alone)| *alone && *ms > 1_500) {
            report(&format!("seed {seed}: {times:?}"));
        }
        for (kind, ms, alone) in times {
            times_by.entry((kind, alone)).or_default().push(ms);
        }
    }
    for times in times_by.values_mut() {
        times.sort_unstable();
    }
    report(&format!(
        "simulation: {} schedules, {} messages, 0 lost, 0 duplicated, all converged, in {:.1} s",
        settings.seeds.len(),
        messages,
        elapsed()
    ));
    for ((kind, alone), times) in &times_by {
        let name = if *alone { "alone" } else { "with other faults" };
        report(&format!(
            "failover after {kind} ({name}): n={} p50={} ms p99={} ms max={} ms (virtual, to the first ack on the other deployment)",
            times.len(),
            percentile(times, 50.0),
            percentile(times, 99.0),
            times.last().copied().unwrap_or(0)
        ));
    }
}

/// The README's traced rerun, as written there.
fn readme_example() -> (u64, String) {
    const README: &str = include_str!("../../README.md");
    let line = README
        .lines()
        .find(|line| line.contains("TWINLINE_SIM_TRACE="))
        .expect("the README shows a traced rerun");
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key))
            .unwrap_or_else(|| panic!("the README's example sets {key}: {line}"))
            .to_string()
    };
    let seed = value("TWINLINE_SIM_SEED=").parse().expect("a numeric seed");
    (seed, value("TWINLINE_SIM_TRACE="))
}

#[test]
fn the_readme_trace_example_traces_the_client_it_names() {
    let (seed, spec) = readme_example();
    let setup = Setup::random(seed);
    let trace = Trace::parse(&spec, setup.chats).expect("the README names a client of the world");
    let world = run(setup.trace(trace));
    let lines = world.trace.expect("traced").lines;
    let of_client = |what: &str, pattern: &[&str]| {
        let found = lines
            .iter()
            .any(|l| l.contains(&spec) && pattern.iter().all(|p| l.contains(p)));
        assert!(found, "the trace shows {spec} {what}: {lines:#?}");
    };
    of_client("connecting", &["→ Connect"]);
    of_client("sending a message", &["→ Send", "says"]);
    of_client("getting acks", &["← Frame", "Ack"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" world ") && l.contains("fault")),
        "the trace shows the schedule's faults"
    );
    let others = lines
        .iter()
        .filter(|l| !l.contains(&spec) && !l.contains(" world "))
        .count();
    assert_eq!(others, 0, "only {spec} and the world are traced");
}

#[test]
fn a_trace_of_nothing_the_world_has_is_refused_not_silent() {
    let refused = Trace::parse("visitor-7", 2).expect_err("chat 7 does not exist");
    assert!(
        refused.contains("visitor-0, operator-0, visitor-1, operator-1"),
        "{refused}"
    );
    // A client's index, which the harness once took, is not a name.
    assert!(Trace::parse("0", 2).is_err());
    assert!(Trace::parse(" , ", 2).is_err());
    assert!(Trace::parse("operator-1,world", 2).is_ok());
}
