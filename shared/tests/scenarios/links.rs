//! A path between one client and the active deployment goes silent, and a
//! page reloads while it fails over.

use super::*;
use crate::sim::faults::Fault;
use crate::sim::run::Setup;
use crate::sim::run::run;
use DeploymentRole::Redundant;
use twinline_core::session::Timing;

#[test]
fn a_silent_link_is_found_by_the_heartbeat_and_left_while_the_other_side_stays() {
    let (silent, heals) = (5_000, 15_000);
    let world = run(Setup::new(8).chats(1).fault(
        silent,
        heals - silent,
        Fault::Silence {
            client: VISITOR,
            relay: 0,
        },
    ));
    kept_every_rule(&world);
    let timing = Timing::default();
    let bound = timing.heartbeat_interval + timing.heartbeat_timeout + 500;
    let moved =
        connected_to(&world.clients[VISITOR], Redundant, silent).expect("left the silent link");
    assert!(
        moved - silent <= bound,
        "found after {} ms (bound {bound})",
        moved - silent
    );
    stayed_on_the_primary(&world.clients[OPERATOR]);
    assert_eq!(
        switches(&world),
        vec![],
        "the primary is fine for the moderator"
    );
}

#[test]
fn a_reload_in_the_middle_of_a_failover_loses_nothing() {
    let crash = 5_000;
    let world = run(Setup::new(9)
        .chats(1)
        .fault(crash, 5_000, Fault::Crash { relay: 0 })
        .fault(crash + 2, 0, Fault::Reload { client: VISITOR }));
    // Among the rules: the reload lost nothing the page showed and
    // unsent nothing acked; nothing typed was lost.
    kept_every_rule(&world);
    let moved = connected_to(&world.clients[VISITOR], Redundant, crash).expect("moved");
    assert!(
        moved - crash <= 1_000,
        "the reloaded page is on the redundant after {} ms",
        moved - crash
    );
}
