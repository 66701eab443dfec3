//! The run every test makes of a world: its faults play out while the users
//! type, then everything heals and the world runs on for [`SETTLE`] ms,
//! long enough for every client to follow the moderator and deliver what it
//! held. What a test asserts comes after: `World::violations` for the rules
//! every run keeps, and a scenario's own expectations.

use super::world::{Setup, World};
use twinline_core::Millis;

/// How long the world runs on after healing.
pub const SETTLE: u64 = 30_000;

/// Runs a world through its faults and lets it settle.
pub fn run(setup: Setup) -> World {
    let faults_end = setup
        .faults
        .iter()
        .map(|f| f.at + f.duration)
        .max()
        .unwrap_or(0);
    let healed_at = faults_end.max(setup.typing_until);
    let mut world = World::new(setup);
    world.run(Millis(healed_at + 1));
    world.heal();
    world.run(Millis(healed_at + SETTLE));
    world
}
