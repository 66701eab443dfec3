//! The checks catch what they are there for: a test of the harness, so a
//! green simulation means something.

use super::*;
use crate::sim::faults::Fault;
use crate::sim::run::Setup;

#[test]
fn the_checks_catch_a_relay_that_acks_before_it_commits() {
    let mut world = World::new(Setup::new(10).chats(1));
    // The primary acks on receipt and takes 200 ms to commit: a crash in
    // between loses a message its writer was told is safe.
    world.relays[0].acks_before_commit = true;
    world.relays[0].commit_ms = (200, 200);
    world.run(Millis(3_000));
    let id = world.say(VISITOR);
    world.run(Millis(3_050));
    assert!(
        world.clients[VISITOR].acks.contains_key(&id),
        "acked before its commit"
    );
    let flagged = |world: &World, what: &str| {
        let caught = world.checks.violations();
        assert!(
            caught
                .iter()
                .any(|v| v.contains(&id.to_string()) && v.contains(what)),
            "{what:?} not among {caught:#?}"
        );
    };
    // At the step the ack arrived...
    flagged(&world, "acked but in no relay's committed store");
    // ...and when the crash makes the promise false.
    world.inject(Fault::Crash { relay: 0 }, 1_000);
    flagged(&world, "was acked, and a crash lost it");
}

#[test]
fn the_checks_catch_a_message_shown_twice_one_nobody_stored_and_an_epoch_going_back() {
    use crate::sim::checks::Checks;
    use crate::sim::relay::Relay;
    use twinline_core::protocol::{ActiveDeployment, DeploymentRole};
    use twinline_core::{MessageId, Ulid};

    let relays = [
        Relay::new(DeploymentRole::Primary, "primary"),
        Relay::new(DeploymentRole::Redundant, "redundant"),
    ];
    let mut checks = Checks::new(2);
    let mine = MessageId(Ulid::new(Millis(1), 1));
    checks.on_shown(Millis(10), VISITOR, mine, true, &relays);
    assert!(
        checks.violations().is_empty(),
        "its own message, shown once"
    );
    checks.on_shown(Millis(11), VISITOR, mine, true, &relays);
    let phantom = MessageId(Ulid::new(Millis(1), 2));
    checks.on_shown(Millis(12), OPERATOR, phantom, false, &relays);
    let answer = |epoch| ActiveDeployment {
        epoch,
        active: "primary".into(),
        url: String::new(),
        held: false,
        deployments: Vec::new(),
    };
    checks.on_answer(Millis(13), &answer(5));
    checks.on_answer(Millis(14), &answer(4));
    assert_eq!(
        checks.violations(),
        [
            format!("at 11 ms, visitor-0: shows {mine} twice"),
            format!(
                "at 12 ms, operator-0: shows {phantom}, which it did not write and no relay stored"
            ),
            "at 14 ms, world: the moderator answered epoch 4 after 5".to_string(),
        ]
    );
}
