//! What a world is made of ([`Setup`]: seed, chats, faults, typing, trace)
//! and the run every test makes of it ([`run`]): its faults play out while
//! the users type, then everything heals and the world runs on for
//! [`SETTLE`] ms, long enough for every client to follow the moderator and
//! deliver what it held. What a test asserts comes after:
//! `World::violations` for the rules every run keeps, and a scenario's own
//! expectations.

use super::faults::{Fault, Scheduled, schedule};
use super::trace::Trace;
use super::world::World;
use twinline_core::Millis;
use twinline_core::random::SplitMix64;

/// Faults of a random schedule fall in this window, and users type in it.
pub const FAULT_WINDOW: u64 = 20_000;

/// What a world is made of.
pub struct Setup {
    /// The seed that made it, for reports and reruns.
    pub seed: u64,
    pub(super) rng: SplitMix64,
    /// Chats, each a visitor and an operator.
    pub chats: usize,
    pub faults: Vec<Scheduled>,
    /// Users type, each every 0.3 to 1.5 s, until then.
    pub typing_until: u64,
    pub trace: Option<Trace>,
}

impl Setup {
    /// Two chats, no faults, typing for [`FAULT_WINDOW`].
    pub fn new(seed: u64) -> Setup {
        Setup {
            seed,
            rng: SplitMix64::new(seed),
            chats: 2,
            faults: Vec::new(),
            typing_until: FAULT_WINDOW,
            trace: None,
        }
    }

    /// The simulation's: two chats and 3 to 8 random faults.
    pub fn random(seed: u64) -> Setup {
        let mut setup = Setup::new(seed);
        setup.faults = schedule(&mut setup.rng, setup.chats * 2, FAULT_WINDOW);
        setup
    }

    pub fn chats(mut self, chats: usize) -> Setup {
        self.chats = chats;
        self
    }

    /// Adds a fault at `at` ms for `duration` ms.
    pub fn fault(mut self, at: u64, duration: u64, fault: Fault) -> Setup {
        self.faults.push(Scheduled {
            at,
            duration,
            fault,
        });
        self.faults.sort_by_key(|s| s.at);
        self
    }

    pub fn typing_until(mut self, until: u64) -> Setup {
        self.typing_until = until;
        self
    }

    pub fn trace(mut self, trace: Trace) -> Setup {
        self.trace = Some(trace);
        self
    }
}

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
