//! Issue 19's client-side targets on the virtual clock, with the real
//! moderation deciding: a primary that swallows packets from the page's
//! first moment, both deployments down and then one back, and a silent
//! link, in use or idle, measured from the loss to the next ack over many
//! seeds.

use super::*;
use crate::sim::faults::Fault;
use crate::sim::run::{SETTLE, Setup, run};
use DeploymentRole::{Primary, Redundant};
use twinline_core::session::Timing;

/// The share of runs a p99 bound may miss.
fn p99(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples[(samples.len() * 99).div_ceil(100) - 1]
}

/// Prints `what`'s p50 / p99 / max over `samples` (docs/benchmarks.md
/// quotes them; the bounds asserted are the targets).
#[expect(
    clippy::disallowed_macros,
    reason = "the figures are this test's report, read with --nocapture"
)]
fn report(what: &str, samples: &[u64]) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let p50 = sorted[sorted.len().div_ceil(2) - 1];
    let max = sorted[sorted.len() - 1];
    eprintln!(
        "{what}: p50 {p50} ms, p99 {} ms, max {max} ms over {} runs (virtual clock)",
        p99(sorted.clone()),
        sorted.len()
    );
}

#[test]
fn a_primary_black_holed_from_the_start_costs_a_head_start_not_a_timeout() {
    let timing = Timing::default();
    for seed in 0..50 {
        let world = run(Setup::new(100 + seed).chats(1).fault(
            0,
            10_000,
            Fault::Silence {
                client: VISITOR,
                relay: 0,
            },
        ));
        kept_every_rule(&world);
        let visitor = &world.clients[VISITOR];
        let on = connected_to(visitor, Redundant, 0).expect("on the redundant");
        assert!(
            on <= timing.race_delay + 30,
            "seed {seed}: on the redundant after {on} ms"
        );
        // The moderator keeps the primary active (it answers the moderator
        // and the operator); this visitor stays where it got through until
        // the primary answers it, and what it types is acked at once.
        let worst = longest_ack_wait(visitor, on, 10_000);
        assert!(worst <= 50, "seed {seed}: a message waited {worst} ms");
        assert!(
            connected_to(visitor, Primary, 10_000).is_some(),
            "seed {seed}: back on the moderator's choice once it answers"
        );
        stayed_on_the_primary(&world.clients[OPERATOR]);
    }
}

#[test]
fn both_down_then_one_back_the_first_ack_comes_within_a_second() {
    let (down, back) = (5_000, 9_000);
    let mut firsts = Vec::new();
    for seed in 0..50 {
        let world = run(Setup::new(200 + seed)
            .chats(1)
            .fault(down, 20_000, Fault::Crash { relay: 1 })
            .fault(down, back - down, Fault::Crash { relay: 0 }));
        kept_every_rule(&world);
        for (i, client) in world.clients.iter().enumerate() {
            let first = client
                .acks
                .values()
                .filter(|at| at.0 >= back)
                .min()
                .expect("acked after the primary came back");
            firsts.push(first.0 - back);
            assert!(
                first.0 - back <= 1_000,
                "seed {seed}, client {i}: first ack {} ms after the primary came back",
                first.0 - back
            );
            for (at, wait) in client
                .ack_waits()
                .filter(|(at, _)| (down..back).contains(&at.0))
            {
                let acked = at.0 + wait.expect("acked in the end");
                assert!(
                    acked <= back + 1_000,
                    "seed {seed}, client {i}: typed at {} ms, acked at {acked} ms",
                    at.0
                );
            }
        }
    }
    report(
        "both down 4 s, then the primary back: answering to the first ack",
        &firsts,
    );
}

#[test]
fn a_silent_link_in_use_costs_well_under_two_seconds_to_the_next_ack() {
    // Silence at a random phase of the heartbeat; the visitor types at
    // that moment (the simulation's failover measure) and on as usual.
    let mut waits = Vec::new();
    for seed in 0..100 {
        let at = 5_000 + seed * 37 % 1_000;
        let world = run(Setup::new(300 + seed).chats(1).fault(
            at,
            6_000,
            Fault::Silence {
                client: VISITOR,
                relay: 0,
            },
        ));
        kept_every_rule(&world);
        let silent: Vec<u64> = world
            .failover_times()
            .into_iter()
            .filter(|(kind, _, _)| *kind == "silent")
            .map(|(_, ms, _)| ms)
            .collect();
        assert_eq!(silent.len(), 1, "seed {seed}: measured once");
        waits.extend(silent);
    }
    report("silent loss of a link in use, loss to the next ack", &waits);
    let timing = Timing::default();
    let worst = *waits.iter().max().unwrap();
    assert!(
        worst <= timing.reply_grace + timing.heartbeat_timeout + 200,
        "loss to the next ack: worst {worst} ms ({waits:?})"
    );
    assert!(p99(waits) <= 2_000);
}

#[test]
fn a_silent_link_on_an_idle_visitor_costs_under_two_seconds_to_the_next_ack() {
    // The visitor is idle (only the heartbeat runs) when the link goes
    // silent, and writes at some moment in the next second and a half.
    let mut waits = Vec::new();
    for seed in 0..200u64 {
        let mut world = World::new(Setup::new(400 + seed).chats(1).typing_until(0));
        let loss = 5_000 + seed * 53 % 1_000;
        world.run(Millis(loss));
        world.inject(
            Fault::Silence {
                client: VISITOR,
                relay: 0,
            },
            6_000,
        );
        let writes = loss + seed * 71 % 1_500;
        world.run(Millis(writes));
        let id = world.say(VISITOR);
        world.run(Millis(loss + 8_000));
        world.heal();
        world.run(Millis(loss + 8_000 + SETTLE));
        kept_every_rule(&world);
        let acked = world.clients[VISITOR].acks.get(&id).expect("acked");
        waits.push(acked.0 - loss);
    }
    report(
        "silent loss of an idle visitor's link, loss to the next ack",
        &waits,
    );
    let worst = *waits.iter().max().unwrap();
    assert!(p99(waits.clone()) <= 2_000, "p99 over {waits:?}");
    assert!(worst <= 2_100, "worst {worst} ms");
}
