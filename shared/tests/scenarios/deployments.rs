//! A deployment fails: the active one while chatting, the standby, both at
//! once; and the primary comes back.

use super::*;
use crate::sim::faults::Fault;
use crate::sim::run::Setup;
use crate::sim::run::run;
use DeploymentRole::{Primary, Redundant};

const CRASH: u64 = 5_000;

#[test]
fn the_standby_takes_over_when_the_active_deployment_crashes_mid_chat() {
    let back = CRASH + 8_000;
    let world = run(Setup::new(1)
        .chats(1)
        .fault(CRASH, back - CRASH, Fault::Crash { relay: 0 }));
    kept_every_rule(&world);
    for client in [VISITOR, OPERATOR] {
        let moved = connected_to(&world.clients[client], Redundant, CRASH).expect("moved");
        assert!(
            moved - CRASH <= 500,
            "client {client} on the redundant after {} ms",
            moved - CRASH
        );
    }
    let measured = world.failover_times();
    assert_eq!(
        measured.len(),
        2,
        "both sides typed as the primary died: {measured:?}"
    );
    for (_, ms, _) in measured {
        assert!(
            ms <= 500,
            "a message typed at the crash waited {ms} ms for its ack"
        );
    }
    let switches = switches(&world);
    let (failover, to, manual, _) = switches[0];
    assert_eq!((to, manual), ("redundant", false));
    assert!(
        (CRASH..=CRASH + MODERATOR_NOTICES).contains(&failover),
        "the moderator failed over at {failover} ms"
    );
    let (failback, to, _, lacking) = switches[1];
    assert_eq!(to, "primary");
    assert!(
        failback > back,
        "failback at {failback} ms, before the primary was back at {back}"
    );
    assert_eq!(
        lacking, 0,
        "the primary was made active with {lacking} messages missing"
    );
    for client in [VISITOR, OPERATOR] {
        assert!(
            connected_to(&world.clients[client], Primary, failback).is_some(),
            "client {client} back"
        );
    }
}

#[test]
fn a_standby_crash_changes_nothing_for_either_side() {
    let world = run(Setup::new(2)
        .chats(1)
        .fault(CRASH, 5_000, Fault::Crash { relay: 1 }));
    kept_every_rule(&world);
    assert_eq!(switches(&world), vec![], "the moderator never switched");
    for client in &world.clients {
        stayed_on_the_primary(client);
        let wait = longest_ack_wait(client, CRASH, CRASH + 5_000);
        assert!(
            wait <= 20,
            "a message waited {wait} ms for its ack meanwhile"
        );
    }
}

#[test]
fn with_both_deployments_down_what_is_typed_waits_and_is_delivered_after() {
    let (down, up) = (CRASH, CRASH + 4_000);
    let world = run(Setup::new(3)
        .chats(1)
        .fault(down, up - down, Fault::BothDown));
    kept_every_rule(&world);
    for client in &world.clients {
        let during = link_states(client, down, up);
        assert!(
            during
                .iter()
                .all(|(_, state, _)| *state != LinkState::Connected),
            "nothing to be connected to: {during:?}"
        );
        let typed: Vec<_> = client
            .ack_waits()
            .filter(|(at, _)| (down..up).contains(&at.0))
            .collect();
        assert!(!typed.is_empty(), "the user typed during the outage");
        for (at, wait) in typed {
            let acked = at.0 + wait.expect("acked in the end");
            assert!(
                (up..up + 6_000).contains(&acked),
                "typed at {} ms, acked at {acked} ms: after the relays came back, within the longest backoff",
                at.0
            );
        }
    }
}

#[test]
fn the_primary_is_made_active_again_only_once_it_has_caught_up() {
    // The primary is back at 8 s but cannot catch up until replication
    // returns at 14 s: until then the redundant stays active.
    let (back, replication) = (8_000, 14_000);
    let world = run(Setup::new(4)
        .chats(1)
        .fault(CRASH, back - CRASH, Fault::Crash { relay: 0 })
        .fault(back - 100, replication - back + 100, Fault::CutReplication));
    kept_every_rule(&world);
    let switches = switches(&world);
    assert_eq!(switches.len(), 2, "{switches:?}");
    let (failback, to, _, lacking) = switches[1];
    assert_eq!(to, "primary");
    assert!(
        failback >= replication,
        "failback at {failback} ms, before replication returned at {replication}"
    );
    assert_eq!(lacking, 0);
}
