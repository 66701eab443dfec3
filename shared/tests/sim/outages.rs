//! What each fault does to the world, and healing: crashes lose
//! connections and uncommitted sends, silent paths hold what is sent into
//! them, the moderator forgets everything, reloads restart a session from
//! its snapshot. At a crash or a silence the clients on that deployment type
//! a message at once: its ack is the failover time the simulation reports.

use super::faults::{Fault, Scheduled};
use super::moderator::{NAMES, ROLES};
use super::queue::Ev;
use super::world::{World, session_config};
use twinline_core::moderation::Command;
use twinline_core::session::{Input, LinkState, Session};
use twinline_core::{MessageId, Millis};

/// A failover measured: the fault's time and the ack of a message typed
/// at that moment.
#[derive(Clone, Debug)]
pub struct Failover {
    pub kind: &'static str,
    pub at: Millis,
    pub client: usize,
    pub message: MessageId,
    /// The fault measured.
    pub fault: usize,
}

impl World {
    /// Starts a fault now, for `duration` ms (a scenario's own timing).
    pub fn inject(&mut self, fault: Fault, duration: u64) {
        let i = self.faults.len();
        let scheduled = Scheduled {
            at: self.now.0,
            duration,
            fault,
        };
        self.faults.push((scheduled, false));
        self.fault(i, true);
        self.queue.at(self.now.plus(duration), Ev::FaultEnd(i));
    }

    pub(super) fn crash(&mut self, relay: usize) {
        self.relays[relay].crash();
        for (client, conn) in self.net.conns_to(relay) {
            self.net.close(client, conn);
            if !self.net.is_silent(client, relay) {
                let delay = self.net.latency(&mut self.rng, client, relay);
                let input = Input::Closed { conn };
                self.queue
                    .at(self.now.plus(delay), Ev::Input { client, input });
            }
        }
        self.checks.after_crash(self.now, &self.relays);
    }

    /// Each client on `relay` types a message now; its ack time is the
    /// failover time.
    fn measure(&mut self, kind: &'static str, fault: usize, relay: usize, only: Option<usize>) {
        for client in 0..self.clients.len() {
            if only.is_some_and(|c| c != client) {
                continue;
            }
            let on_it = self.clients[client].link == (LinkState::Connected, Some(ROLES[relay]));
            if on_it && self.relays[1 - relay].up && !self.net.is_silent(client, 1 - relay) {
                let message = self.say(client);
                self.failovers.push(Failover {
                    kind,
                    at: self.now,
                    client,
                    message,
                    fault,
                });
            }
        }
    }

    pub(super) fn fault(&mut self, i: usize, start: bool) {
        // A fault already ended by heal() has nothing left to end.
        if self.faults[i].1 == start {
            return;
        }
        self.faults[i].1 = start;
        let fault = self.faults[i].0.fault.clone();
        if let Some(trace) = &mut self.trace {
            let edge = if start { "starts" } else { "ends" };
            trace.world(self.now.0, &format!("fault {fault:?} {edge}"));
        }
        match (fault, start) {
            (Fault::Crash { relay }, true) => {
                let was_up = self.relays[relay].up;
                self.crash(relay);
                if was_up {
                    self.measure("crash", i, relay, None);
                }
            }
            (Fault::Crash { relay }, false) => self.relays[relay].up = true,
            (Fault::BothDown, true) => {
                self.crash(0);
                self.crash(1);
            }
            (Fault::BothDown, false) => {
                self.relays[0].up = true;
                self.relays[1].up = true;
            }
            (Fault::Silence { client, relay }, true) => {
                let was = self.net.is_silent(client, relay);
                self.net.set_silent(client, relay, true);
                if !was && self.relays[relay].up {
                    self.measure("silent", i, relay, Some(client));
                }
            }
            (Fault::Silence { client, relay }, false) => {
                self.net.set_silent(client, relay, false);
                self.net
                    .release_held(&mut self.queue, &mut self.rng, self.now);
            }
            (
                Fault::Slow {
                    client,
                    relay,
                    extra,
                },
                start,
            ) => self
                .net
                .set_slow(client, relay, if start { extra } else { 0 }),
            (Fault::ModeratorDown, true) => self.moderator.crash(),
            (Fault::ModeratorDown, false) => self.moderator.restart(self.now),
            (Fault::CutReplication, start) => self.replication_cut = start,
            (Fault::PlannedSwitch { to }, start) => {
                let command = if start {
                    Command::Switch {
                        to: NAMES[to].into(),
                        hold: true,
                    }
                } else {
                    Command::Release
                };
                let switches = self.moderator.switches.len();
                let calls = self.moderator.command(self.now, command, &self.relays);
                self.trace_switches(switches);
                self.call_relays(calls);
            }
            (Fault::Reload { client }, true) => self.reload(client),
            (Fault::Reload { .. }, false) => {}
        }
    }

    /// The page reloads: its sockets vanish and the session restarts from
    /// the last snapshot it persisted.
    fn reload(&mut self, client: usize) {
        let Some(snapshot) = self.clients[client].snapshot.clone() else {
            return;
        };
        for conn in self.net.conns_of(client) {
            if let Some(relay) = self.net.close(client, conn) {
                self.relays[relay].drop_peer(client, conn);
            }
        }
        let role = self.clients[client].role;
        let seed = self.rng.next_u64();
        let now = self.now;
        let session = Session::restore(session_config(role), snapshot, now, seed);
        self.checks.after_reload(now, client, &session);
        self.clients[client].session = session;
        self.drain(client);
    }

    /// Ends every fault: relays up, paths clear, moderator back, no hold.
    pub fn heal(&mut self) {
        for i in 0..self.faults.len() {
            if self.faults[i].1 {
                self.fault(i, false);
            }
        }
        for relay in &mut self.relays {
            relay.up = true;
        }
        self.net.heal();
        self.net
            .release_held(&mut self.queue, &mut self.rng, self.now);
        self.moderator.restart(self.now);
        self.replication_cut = false;
        if let Some(trace) = &mut self.trace {
            trace.world(self.now.0, "healed");
        }
    }

    /// Failover times: (kind, ms from the fault to the ack, isolated),
    /// where isolated means no other fault was active meanwhile.
    pub fn failover_times(&self) -> Vec<(&'static str, u64, bool)> {
        self.failovers
            .iter()
            .filter_map(|f| {
                let acked = *self.clients[f.client].acks.get(&f.message)?;
                let isolated = self
                    .schedule()
                    .enumerate()
                    .all(|(i, s)| i == f.fault || s.at + s.duration < f.at.0 || s.at > acked.0);
                Some((f.kind, acked.since(f.at), isolated))
            })
            .collect()
    }
}
