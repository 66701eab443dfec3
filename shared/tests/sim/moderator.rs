//! The moderator process around the real `twinline_core::moderation`: the
//! simulation runs the decisions the moderator runs, driven the way
//! relay/src/moderator drives them (a probe of each deployment every
//! [`PROBE_EVERY`] ms, drain progress asked after a probe of the drained
//! one, drain and undrain calls carried to the relays).
//!
//! A crash loses its memory: it restarts with a fresh `Moderation` whose
//! first epoch is the time of the restart (the real one passes wall-clock
//! milliseconds), so clients never take its answers for stale ones.

use super::relay::Relay;
use twinline_core::Millis;
use twinline_core::moderation::{
    Action as RelayCall, Command, Endpoint, Failover, Moderation, ModerationConfig,
};
use twinline_core::protocol::{ActiveDeployment, DeploymentRole};

/// The real moderator's default `--probe-interval-ms`.
pub const PROBE_EVERY: u64 = 200;

pub const NAMES: [&str; 2] = ["primary", "redundant"];
pub const ROLES: [DeploymentRole; 2] = [DeploymentRole::Primary, DeploymentRole::Redundant];

/// A relay's index in the world.
pub fn index(role: DeploymentRole) -> usize {
    match role {
        DeploymentRole::Primary => 0,
        DeploymentRole::Redundant => 1,
    }
}

pub fn url(relay: usize) -> String {
    format!("http://{}", NAMES[relay])
}

/// A switch of the active deployment, with what the relays held then.
#[derive(Clone, Debug)]
pub struct Switch {
    pub failover: Failover,
    /// Messages the new active deployment lacked that the old one had.
    pub lacking: u64,
}

pub struct Moderator {
    machine: Option<Moderation>,
    /// Every switch of every incarnation, in order.
    pub switches: Vec<Switch>,
}

fn machine(now: Millis) -> Moderation {
    let endpoint = |i: usize| Endpoint {
        name: NAMES[i].into(),
        url: url(i),
    };
    Moderation::new(ModerationConfig::default(), endpoint(0), endpoint(1), now.0)
}

impl Moderator {
    pub fn new(now: Millis) -> Moderator {
        Moderator {
            machine: Some(machine(now)),
            switches: Vec::new(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.machine.is_some()
    }

    pub fn crash(&mut self) {
        self.machine = None;
    }

    pub fn restart(&mut self, now: Millis) {
        if self.machine.is_none() {
            self.machine = Some(machine(now));
        }
    }

    /// `GET /v1/active`, while the moderator runs.
    pub fn answer(&self) -> Option<ActiveDeployment> {
        self.machine.as_ref().map(Moderation::active)
    }

    /// The deployment the moderator names, while it runs.
    pub fn active(&self) -> Option<usize> {
        self.machine.as_ref().map(|m| index(m.active_role()))
    }

    /// One round of probes, as each prober task does it.
    pub fn probe(
        &mut self,
        now: Millis,
        relays: &[Relay; 2],
        replication_cut: bool,
    ) -> Vec<RelayCall> {
        let Some(machine) = self.machine.as_mut() else {
            return Vec::new();
        };
        let epoch = machine.active().epoch;
        for relay in 0..2 {
            let role = ROLES[relay];
            let answer = relays[relay]
                .up
                .then(|| relays[relay].health(&relays[1 - relay], replication_cut));
            machine.handle_probe(now, role, answer);
            if machine.drain_in_progress() == Some(role) {
                let clients = relays[relay].up.then(|| relays[relay].peers.len() as u64);
                machine.handle_drain_progress(now, role, clients);
            }
        }
        self.after(epoch, relays)
    }

    /// An administrator's switch (with hold) or release; refused while the
    /// moderator is down or when the rules refuse it.
    pub fn command(
        &mut self,
        now: Millis,
        command: Command,
        relays: &[Relay; 2],
    ) -> Vec<RelayCall> {
        let Some(machine) = self.machine.as_mut() else {
            return Vec::new();
        };
        let epoch = machine.active().epoch;
        if machine.handle_command(now, command).is_err() {
            return Vec::new();
        }
        self.after(epoch, relays)
    }

    fn after(&mut self, epoch: u64, relays: &[Relay; 2]) -> Vec<RelayCall> {
        let machine = self.machine.as_mut().expect("running");
        if machine.active().epoch != epoch
            && let Some(failover) = machine.history().last()
        {
            let to = index(machine.active_role());
            self.switches.push(Switch {
                failover: failover.clone(),
                lacking: relays[to].lag_behind(&relays[1 - to]),
            });
        }
        std::iter::from_fn(|| machine.poll_action()).collect()
    }
}
