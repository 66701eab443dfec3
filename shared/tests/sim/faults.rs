//! Random fault schedules: what can go wrong, when, for how long.

use twinline_core::random::SplitMix64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL a relay; it restarts after the duration with its store.
    Crash { relay: usize },
    /// Both relays down at once.
    BothDown,
    /// The path between one client and one relay black-holes packets
    /// (nothing is closed; TCP holds what was sent until it heals).
    Silence { client: usize, relay: usize },
    /// The path between one client and one relay gets slow.
    Slow {
        client: usize,
        relay: usize,
        extra: u64,
    },
    /// The moderator process dies; it restarts when the fault ends,
    /// remembering nothing.
    ModeratorDown,
    /// Replication between the relays is cut.
    CutReplication,
    /// An administrator switches to this relay (held), then releases.
    PlannedSwitch { to: usize },
    /// The client's page reloads (session restored from its snapshot).
    Reload { client: usize },
}

#[derive(Clone, Debug)]
pub struct Scheduled {
    pub at: u64,
    pub duration: u64,
    pub fault: Fault,
}

/// 3 to 8 faults within `window` ms.
pub fn schedule(rng: &mut SplitMix64, clients: usize, window: u64) -> Vec<Scheduled> {
    let count = rng.between(3, 8);
    let mut out: Vec<Scheduled> = (0..count)
        .map(|_| {
            let at = rng.between(1_000, window);
            let client = rng.between(0, clients as u64 - 1) as usize;
            let relay = rng.between(0, 1) as usize;
            let (fault, duration) = match rng.between(0, 9) {
                0 | 1 => (Fault::Crash { relay }, rng.between(200, 6_000)),
                2 => (Fault::BothDown, rng.between(500, 4_000)),
                3 | 4 => (Fault::Silence { client, relay }, rng.between(300, 6_000)),
                5 => (
                    Fault::Slow {
                        client,
                        relay,
                        extra: rng.between(50, 400),
                    },
                    rng.between(1_000, 8_000),
                ),
                6 => (Fault::ModeratorDown, rng.between(1_000, 10_000)),
                7 => (Fault::CutReplication, rng.between(500, 6_000)),
                8 => (
                    Fault::PlannedSwitch { to: relay },
                    rng.between(1_000, 8_000),
                ),
                _ => (Fault::Reload { client }, 0),
            };
            Scheduled {
                at,
                duration,
                fault,
            }
        })
        .collect();
    out.sort_by_key(|s| s.at);
    out
}
