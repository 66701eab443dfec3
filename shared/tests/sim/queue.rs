//! The virtual clock's agenda: every event of the world, in time order,
//! ties broken by the order they were scheduled in (so a run is a function
//! of its seed, never of a heap's internals).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use twinline_core::Millis;
use twinline_core::moderation::Action as RelayCall;
use twinline_core::protocol::ClientFrame;
use twinline_core::session::{ConnId, Input};

/// Something that happens at a time.
#[derive(Debug)]
pub enum Ev {
    /// Something for a client's session.
    Input {
        client: usize,
        input: Input,
    },
    /// A frame arriving at a relay.
    Frame {
        relay: usize,
        client: usize,
        conn: ConnId,
        frame: ClientFrame,
    },
    /// A connection attempt reaching a relay.
    Connect {
        relay: usize,
        client: usize,
        conn: ConnId,
    },
    /// A relay's group commit reaches the disk.
    Commit {
        relay: usize,
    },
    /// The user types a message.
    Say {
        client: usize,
    },
    /// A scheduled fault begins or ends.
    FaultStart(usize),
    FaultEnd(usize),
    /// The replication streams move on.
    Replicate,
    /// The moderator probes both deployments.
    Probe,
    /// A drain or undrain call from the moderator reaches its relay.
    RelayCall(RelayCall),
}

struct Queued {
    at: Millis,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// See the module docs.
#[derive(Default)]
pub struct Queue {
    seq: u64,
    heap: BinaryHeap<Reverse<Queued>>,
}

impl Queue {
    pub fn at(&mut self, at: Millis, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse(q)| q.at)
    }

    /// The next event, if it is due by `until`.
    pub fn pop_until(&mut self, until: Millis) -> Option<(Millis, Ev)> {
        if self.next_at()? > until {
            return None;
        }
        self.heap.pop().map(|Reverse(q)| (q.at, q.ev))
    }
}
