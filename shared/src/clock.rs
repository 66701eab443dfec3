//! Logical clocks.
//!
//! Messages are ordered by a [`Lamport`] clock so every replica that holds the
//! same set of messages shows them in the same order, whatever order they
//! arrived in. Chat metadata (state, assigned operator) is a last-writer-wins
//! register stamped with a hybrid logical clock ([`Hlc`]): close to wall time
//! so "last" means what people expect, yet monotonic and tie-free, so two
//! deployments that saw writes in different orders still agree on the winner.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// A Lamport timestamp: one more than the largest the writer had seen.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Lamport(pub u64);

impl Lamport {
    /// The timestamp for a new event after having seen `self`.
    pub fn next(self) -> Lamport {
        Lamport(self.0.saturating_add(1))
    }
}

/// A hybrid logical clock stamp: wall milliseconds, a counter for events in
/// the same millisecond, and the writer's node id to break the last ties.
///
/// Ordered lexicographically by (wall, counter, node).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Milliseconds, never behind the largest stamp this node has seen.
    pub wall: Millis,
    /// Distinguishes events within one `wall` millisecond.
    pub counter: u32,
    /// The node that wrote the stamp; unique per writer.
    pub node: u64,
}

impl Hlc {
    /// The zero stamp of `node`, older than anything it will write.
    pub fn zero(node: u64) -> Hlc {
        Hlc {
            wall: Millis(0),
            counter: 0,
            node,
        }
    }

    /// A new local event at physical time `now`, after everything in `self`.
    pub fn tick(self, now: Millis) -> Hlc {
        if now > self.wall {
            Hlc {
                wall: now,
                counter: 0,
                node: self.node,
            }
        } else {
            Hlc {
                wall: self.wall,
                counter: self.counter.saturating_add(1),
                node: self.node,
            }
        }
    }

    /// The local clock after receiving `remote` at physical time `now`: never
    /// behind either. The result keeps this node's id.
    pub fn observe(self, remote: Hlc, now: Millis) -> Hlc {
        let wall = now.max(self.wall).max(remote.wall);
        let counter = if wall == self.wall && wall == remote.wall {
            self.counter.max(remote.counter).saturating_add(1)
        } else if wall == self.wall {
            self.counter.saturating_add(1)
        } else if wall == remote.wall {
            remote.counter.saturating_add(1)
        } else {
            0
        };
        Hlc {
            wall,
            counter,
            node: self.node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_monotonic_even_if_wall_time_goes_back() {
        let a = Hlc::zero(1).tick(Millis(100));
        let b = a.tick(Millis(50));
        assert!(b > a);
        assert_eq!(b.wall, Millis(100));
        assert_eq!(b.counter, 1);
    }

    #[test]
    fn observe_moves_past_the_remote_stamp() {
        let local = Hlc::zero(1).tick(Millis(10));
        let remote = Hlc {
            wall: Millis(500),
            counter: 7,
            node: 2,
        };
        let after = local.observe(remote, Millis(20));
        assert!(after > remote);
        assert_eq!(after.node, 1);
        assert!(after.tick(Millis(20)) > after);
    }

    #[test]
    fn node_breaks_ties() {
        let a = Hlc {
            wall: Millis(1),
            counter: 0,
            node: 1,
        };
        let b = Hlc { node: 2, ..a };
        assert!(a < b);
    }
}
