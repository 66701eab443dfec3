//! The network between clients and relays.
//!
//! It keeps TCP's promises and breaks only the ones real networks break:
//! frames on one connection arrive in order, after 1 to 5 ms plus whatever
//! a slow path adds; a silent path neither delivers nor closes, and what
//! was sent into it arrives once it heals if the connection still exists.
//! (A crashed relay's connections close: the kernel resets them; the world
//! does that, as it knows which relay died.)

use super::queue::{Ev, Queue};
use std::collections::BTreeMap;
use twinline_core::Millis;
use twinline_core::random::SplitMix64;
use twinline_core::session::{ConnId, Input};

/// Which way a delivery goes on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    ToRelay,
    ToClient,
}

pub struct Network {
    /// Open (or opening) connections: (client, conn) → relay.
    conns: BTreeMap<(usize, ConnId), usize>,
    /// Per connection and direction: the last scheduled delivery (FIFO).
    fifo: BTreeMap<(usize, ConnId, Direction), Millis>,
    silent: Vec<[bool; 2]>,
    slow: Vec<[u64; 2]>,
    /// Held by a silent path: (client, relay, event), delivered when it heals.
    held: Vec<(usize, usize, Ev)>,
}

impl Network {
    pub fn new(clients: usize) -> Network {
        Network {
            conns: BTreeMap::new(),
            fifo: BTreeMap::new(),
            silent: vec![[false; 2]; clients],
            slow: vec![[0; 2]; clients],
            held: Vec::new(),
        }
    }

    /// One way, on the path between a client and a relay.
    pub fn latency(&self, rng: &mut SplitMix64, client: usize, relay: usize) -> u64 {
        rng.between(1, 5) + self.slow[client][relay]
    }

    pub fn is_silent(&self, client: usize, relay: usize) -> bool {
        self.silent[client][relay]
    }

    /// The relay a connection goes to, while it is open.
    pub fn relay_of(&self, client: usize, conn: ConnId) -> Option<usize> {
        self.conns.get(&(client, conn)).copied()
    }

    pub fn open(&mut self, client: usize, conn: ConnId, relay: usize) {
        self.conns.insert((client, conn), relay);
    }

    /// Forgets a connection; returns the relay it went to.
    pub fn close(&mut self, client: usize, conn: ConnId) -> Option<usize> {
        self.conns.remove(&(client, conn))
    }

    /// Every open connection of a client.
    pub fn conns_of(&self, client: usize) -> Vec<ConnId> {
        self.conns
            .keys()
            .filter(|(c, _)| *c == client)
            .map(|(_, conn)| *conn)
            .collect()
    }

    /// Every open connection to a relay.
    pub fn conns_to(&self, relay: usize) -> Vec<(usize, ConnId)> {
        self.conns
            .iter()
            .filter(|(_, r)| **r == relay)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Schedules a delivery on a connection, in order after earlier ones
    /// the same way; a silent path holds it instead.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        queue: &mut Queue,
        rng: &mut SplitMix64,
        now: Millis,
        (client, conn): (usize, ConnId),
        direction: Direction,
        relay: usize,
        ev: Ev,
    ) {
        if self.silent[client][relay] {
            self.held.push((client, relay, ev));
            return;
        }
        let latency = self.latency(rng, client, relay);
        let key = (client, conn, direction);
        let at = now
            .plus(latency)
            .max(*self.fifo.get(&key).unwrap_or(&Millis(0)));
        self.fifo.insert(key, at);
        queue.at(at, ev);
    }

    pub fn set_silent(&mut self, client: usize, relay: usize, on: bool) {
        self.silent[client][relay] = on;
    }

    pub fn set_slow(&mut self, client: usize, relay: usize, extra: u64) {
        self.slow[client][relay] = extra;
    }

    /// What paths held while silent, once they are not: each still-open
    /// connection's frames go on in order.
    pub fn release_held(&mut self, queue: &mut Queue, rng: &mut SplitMix64, now: Millis) {
        let held = std::mem::take(&mut self.held);
        for (client, relay, ev) in held {
            if self.silent[client][relay] {
                self.held.push((client, relay, ev));
                continue;
            }
            let (conn, direction) = match &ev {
                Ev::Input {
                    input:
                        Input::Opened { conn } | Input::Closed { conn } | Input::Frame { conn, .. },
                    ..
                } => (*conn, Direction::ToClient),
                Ev::Frame { conn, .. } | Ev::Connect { conn, .. } => (*conn, Direction::ToRelay),
                _ => continue,
            };
            if self.relay_of(client, conn) == Some(relay) {
                self.send(queue, rng, now, (client, conn), direction, relay, ev);
            }
        }
    }

    /// Every path clear and fast.
    pub fn heal(&mut self) {
        for paths in &mut self.silent {
            *paths = [false; 2];
        }
        for paths in &mut self.slow {
            *paths = [0; 2];
        }
    }
}
