//! The moderator fails, alone or with the primary, and an administrator
//! moves everyone for planned maintenance.

use super::*;
use crate::sim::faults::Fault;
use crate::sim::run::Setup;
use crate::sim::run::run;
use DeploymentRole::{Primary, Redundant};

#[test]
fn without_the_moderator_clients_stay_on_the_primary() {
    let (down, up) = (2_000, 18_000);
    let world = run(Setup::new(5)
        .chats(1)
        .fault(down, up - down, Fault::ModeratorDown));
    kept_every_rule(&world);
    for client in &world.clients {
        stayed_on_the_primary(client);
        let wait = longest_ack_wait(client, down, up);
        assert!(
            wait <= 20,
            "a message waited {wait} ms for its ack meanwhile"
        );
    }
}

#[test]
fn without_the_moderator_clients_bypass_it_to_the_redundant_and_return_once_the_primary_caught_up()
{
    let (crash, back) = (5_000, 10_000);
    let world = run(Setup::new(6)
        .chats(1)
        .fault(2_000, 28_000, Fault::ModeratorDown)
        .fault(crash, back - crash, Fault::Crash { relay: 0 }));
    kept_every_rule(&world);
    for client in [VISITOR, OPERATOR] {
        let c = &world.clients[client];
        let moved = connected_to(c, Redundant, crash).expect("moved to the redundant");
        assert!(
            moved - crash <= 500,
            "client {client} on the redundant after {} ms",
            moved - crash
        );
        let returned = connected_to(c, Primary, back).expect("back on the primary");
        assert!(
            returned < 30_000,
            "client {client} returned at {returned} ms, while the moderator was still down"
        );
    }
    assert_eq!(
        switches(&world),
        vec![],
        "no moderator ran to switch anything"
    );
}

#[test]
fn a_planned_switch_moves_every_client_without_an_interruption_and_back() {
    let (switch, release) = (5_000, 12_000);
    let world =
        run(Setup::new(7)
            .chats(1)
            .fault(switch, release - switch, Fault::PlannedSwitch { to: 1 }));
    kept_every_rule(&world);
    let switches = switches(&world);
    assert_eq!(switches.len(), 2, "{switches:?}");
    assert_eq!(
        (switches[0].0, switches[0].1, switches[0].2),
        (switch, "redundant", true)
    );
    let (back, to, manual, lacking) = switches[1];
    assert_eq!(
        (to, manual, lacking),
        ("primary", false, 0),
        "released: the automatic rules bring it back"
    );
    assert!(back >= release);
    for client in &world.clients {
        let moved = connected_to(client, Redundant, switch).expect("migrated");
        assert!(
            moved - switch <= 100,
            "migrated after {} ms",
            moved - switch
        );
        assert!(
            connected_to(client, Primary, back).is_some(),
            "back on the primary"
        );
        let states = link_states(client, switch, u64::MAX);
        assert!(
            states
                .iter()
                .all(|(_, state, _)| *state == LinkState::Connected),
            "make-before-break: never without a link: {states:?}"
        );
        let wait = longest_ack_wait(client, switch - 1_000, back + 1_000);
        assert!(
            wait <= 20,
            "a message waited {wait} ms for its ack across the switches"
        );
    }
}
