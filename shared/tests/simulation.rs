//! Deterministic simulation of the session state machine against fake
//! relays, a fake moderator and a faulty network on a virtual clock.
//!
//! Every schedule is seeded. On failure the seed is printed; rerun one with
//! `TWINLINE_SIM_SEED=<seed> cargo test -p twinline-core --test simulation
//! -- --nocapture`. `TWINLINE_SIM_SCHEDULES` changes how many run (1,000 by
//! default).
//!
//! After each schedule's faults, everything heals and the world runs on;
//! then: no message lost (every message anyone typed is stored on both
//! relays and shown by both sides), none duplicated, all replicas in the
//! same order, nothing left pending, every client connected (a client never
//! gives up while a deployment is reachable).

mod sim;

use sim::faults::schedule;
use sim::random::Rng;
use sim::world::World;
use std::time::Instant;
use twinline_core::Millis;

const CHATS: usize = 2;
const FAULT_WINDOW: u64 = 20_000;
const SETTLE: u64 = 30_000;

type Times = Vec<(&'static str, u64, bool)>;

fn run(seed: u64) -> (Vec<String>, Times, usize) {
    let mut rng = Rng::new(seed);
    let faults = schedule(&mut rng, CHATS * 2, FAULT_WINDOW);
    if std::env::var("TWINLINE_SIM_SEED").is_ok() {
        println!("faults: {faults:#?}");
    }
    let last_end = faults.iter().map(|f| f.at + f.duration).max().unwrap_or(0);
    let mut world = World::new(seed, CHATS, faults, FAULT_WINDOW);
    world.run(Millis(last_end.max(FAULT_WINDOW) + 1));
    world.heal();
    world.run(Millis(last_end.max(FAULT_WINDOW) + SETTLE));
    let messages = world.relays[0].store.len();
    (world.violations(), world.failover_times(), messages)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[test]
fn a_thousand_fault_schedules_lose_nothing() {
    let seeds: Vec<u64> = match std::env::var("TWINLINE_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("a numeric seed")],
        Err(_) => {
            let n = std::env::var("TWINLINE_SIM_SCHEDULES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000);
            (0..n).collect()
        }
    };
    let started = Instant::now();
    // (kind, isolated) -> times
    let mut times_by: std::collections::BTreeMap<(&str, bool), Vec<u64>> = Default::default();
    let mut messages = 0;
    for seed in &seeds {
        let (violations, times, stored) = run(*seed);
        assert!(
            violations.is_empty(),
            "seed {seed}: {violations:#?}\nrerun: TWINLINE_SIM_SEED={seed} cargo test -p twinline-core --test simulation -- --nocapture"
        );
        messages += stored;
        if std::env::var("TWINLINE_SIM_SLOW").is_ok()
            && times.iter().any(|(_, ms, i)| *i && *ms > 1_500)
        {
            println!("seed {seed}: {times:?}");
        }
        for (kind, ms, isolated) in times {
            times_by.entry((kind, isolated)).or_default().push(ms);
        }
    }
    for times in times_by.values_mut() {
        times.sort_unstable();
    }
    println!(
        "simulation: {} schedules, {} messages, 0 lost, 0 duplicated, all converged, in {:.1} s",
        seeds.len(),
        messages,
        started.elapsed().as_secs_f64()
    );
    for ((kind, isolated), times) in &times_by {
        let name = if *isolated {
            "alone"
        } else {
            "with other faults"
        };
        println!(
            "failover after {kind} ({name}): n={} p50={} ms p99={} ms max={} ms (virtual, to the first ack on the other deployment)",
            times.len(),
            percentile(times, 50.0),
            percentile(times, 99.0),
            times.last().copied().unwrap_or(0)
        );
    }
}
