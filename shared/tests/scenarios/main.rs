//! Scenarios: docs/FAILURES.md's rows, each a world with chosen faults at
//! chosen times, over the same harness as the seeded simulation
//! (shared/tests/sim/): real sessions, the real moderation, fake relays, a
//! virtual clock. Each run must keep every rule the simulation checks
//! (`World::violations`), and then what its row promises, with bounds on
//! the virtual clock.
//!
//! One chat: client 0 is its visitor, client 1 its operator. To see one
//! run, trace it: `Setup::trace(Trace::parse("all", 1).unwrap().printed())`
//! and `cargo test -p twinline-core --test scenarios NAME -- --nocapture`.
//!
//! - `deployments`: the active one crashes, the standby crashes, both go,
//!   the primary comes back.
//! - `moderator`: it dies alone or with the primary; a planned switch.
//! - `links`: a silent link; a reload in the middle of a failover.
//! - `availability`: issue 19's client-side costs: a primary black-holed
//!   from the start, both down then one back, a silent link in use or
//!   idle, over many seeds.
//! - `harness`: the checks themselves catch what they are there for.

#[allow(dead_code)] // Each test binary uses its own part of the harness.
#[path = "../sim/mod.rs"]
mod sim;

mod availability;
mod deployments;
mod harness;
mod links;
mod moderator;

use sim::moderator::{PROBE_EVERY, Switch};
use sim::world::{Client, World};
use twinline_core::Millis;
use twinline_core::protocol::DeploymentRole;
use twinline_core::session::LinkState;

pub const VISITOR: usize = 0;
pub const OPERATOR: usize = 1;

/// The moderation's default `down_after`: failed probes before a
/// deployment counts as down.
pub const DOWN_AFTER: u64 = 2;

/// A failover the moderator makes after a crash: the probes that find it
/// down, plus one probe interval of phase.
pub const MODERATOR_NOTICES: u64 = (DOWN_AFTER + 1) * PROBE_EVERY;

/// The rules every run keeps held; panics with what broke.
pub fn kept_every_rule(world: &World) {
    let violations = world.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

/// When `client` was first connected to `role` at or after `from`.
pub fn connected_to(client: &Client, role: DeploymentRole, from: u64) -> Option<u64> {
    client
        .links
        .iter()
        .find(|(at, state, on)| at.0 >= from && *state == LinkState::Connected && *on == Some(role))
        .map(|(at, _, _)| at.0)
}

/// Every link state the client reported in `from..to`.
pub fn link_states(
    client: &Client,
    from: u64,
    to: u64,
) -> Vec<(u64, LinkState, Option<DeploymentRole>)> {
    client
        .links
        .iter()
        .filter(|(at, _, _)| (from..to).contains(&at.0))
        .map(|(at, state, on)| (at.0, *state, *on))
        .collect()
}

/// The client connected once, to the primary, and never lost it.
pub fn stayed_on_the_primary(client: &Client) {
    let states = link_states(client, 0, u64::MAX);
    let connected: Vec<_> = states
        .iter()
        .filter(|(_, state, _)| *state != LinkState::Connecting)
        .collect();
    assert!(
        connected.len() == 1
            && connected[0].1 == LinkState::Connected
            && connected[0].2 == Some(DeploymentRole::Primary),
        "connected once, to the primary, and never again: {states:?}"
    );
}

/// The longest a message typed in `from..to` waited for its ack (every one
/// of them must have been acked).
pub fn longest_ack_wait(client: &Client, from: u64, to: u64) -> u64 {
    client
        .ack_waits()
        .filter(|(at, _)| (from..to).contains(&at.0))
        .map(|(at, wait)| {
            wait.unwrap_or_else(|| panic!("the message typed at {} ms was never acked", at.0))
        })
        .max()
        .expect("messages were typed then")
}

/// The moderator's switches of the active deployment: (virtual time, to,
/// manual, messages the new active one lacked then).
pub fn switches(world: &World) -> Vec<(u64, &str, bool, u64)> {
    world
        .moderator
        .switches
        .iter()
        .map(|Switch { failover, lacking }| {
            let Millis(at) = failover.at;
            (at, failover.to.as_str(), failover.manual, *lacking)
        })
        .collect()
}
