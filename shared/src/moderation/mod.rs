//! The moderator's decisions: which deployment is active, and when to move
//! clients between them. Sans-IO: the moderator process probes, calls the
//! relays and serves HTTP; everything it decides is here, with time passed
//! in, so every rule is a deterministic test.
//!
//! # Driving it
//! 1. Every probe of a deployment's `/v1/health` goes in with
//!    [`Moderation::handle_probe`] (`None` = refused, timed out or garbled).
//! 2. While [`Moderation::drain_in_progress`] names a deployment, the caller
//!    asks that relay how many clients it still has and reports it with
//!    [`Moderation::handle_drain_progress`].
//! 3. An administrator's switch or release goes in with
//!    [`Moderation::handle_command`].
//! 4. After each input, [`Moderation::poll_action`] until `None`: drain and
//!    undrain calls to make, in order.
//! 5. [`Moderation::active`] is the `/v1/active` answer;
//!    [`Moderation::status`] the status page's.
//!
//! # Rules
//! - The primary is active by default. The epoch starts at the value the
//!   caller gives (the moderator passes wall-clock milliseconds, so a
//!   restarted moderator never answers with an epoch older than one its
//!   clients have seen: they ignore stale epochs) and increases by one at
//!   every change of the active deployment.
//! - A deployment is *up* while it answers and says it is ready, or not
//!   ready only because it drains (a relay answers `ready: false,
//!   draining: true` while it drains; a drain is this machine's own doing
//!   and an undrain ends it, so it is no reason to count the relay out: a
//!   crash of the active during the drain that follows a failback must
//!   still find the other one fit). It is down after `down_after` failed
//!   probes in a row (one refused connection may be a blip), or at once
//!   when it answers not ready without draining: that is the relay saying
//!   it is shutting down, not a guess.
//! - Active down and the other answered its last probe ready: the other
//!   becomes active (a deployment that is itself failing probes is no place
//!   to send clients). If an administrator held the failed one, the hold
//!   ends: never dropping a chat outranks obeying a hold on a deployment
//!   that cannot serve.
//! - Both down: nothing changes (clients decide for themselves then).
//! - Failback: the redundant is active, nothing is held, and the primary has
//!   answered `failback_after` probes in a row ready and caught up (its
//!   replication lag to the redundant is connected with zero changes, so it
//!   holds everything the redundant took meanwhile). The primary becomes
//!   active and the redundant is told to drain to it, so its clients migrate
//!   without dropping a chat.
//! - Any switch away from a deployment that is still up drains it to the
//!   new active one. The drain ends (undrain) when the drained relay reports
//!   no clients left, or after `drain_max` ms, whichever is first; a
//!   deployment that becomes active again is undrained at once. A drained
//!   relay answers new connections with `migrate`, so leaving it drained
//!   would bounce clients that fail over to it later.
//! - The active deployment never stays draining: if its health says it
//!   drains (a drain from before a moderator restart, or done by hand on the
//!   relay), it is undrained (asked again at most every
//!   [`UNDRAIN_RETRY`] ms). Planned maintenance goes through the moderator's
//!   switch, not through the relay's drain directly.
//! - Manual switch: only to a deployment that is up; with `hold`, automatic
//!   failback stays off until release (failover away from a failed held
//!   deployment still happens, see above). Release applies the automatic
//!   rules at once.
//! - A deployment whose health has no replication lag (no peer configured)
//!   counts as caught up: there is nothing to wait for.

pub mod report;
#[cfg(test)]
mod tests;

pub use report::{DrainState, Failover, ModeratorStatus, ProbeState, Reachability};

use crate::protocol::{ActiveDeployment, DeploymentRole, DeploymentState, Health};
use crate::time::Millis;
use std::collections::VecDeque;

/// How often an undrain of the active deployment is asked again while its
/// health still says it drains.
pub const UNDRAIN_RETRY: u64 = 5_000;

/// The moderator's tunables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModerationConfig {
    /// Failed probes in a row before a deployment counts as down.
    pub down_after: u32,
    /// Ready-and-caught-up probes in a row before the primary takes over
    /// again after an outage.
    pub failback_after: u32,
    /// Longest a drain stays on after a switch, in ms.
    pub drain_max: u64,
    /// How many failovers the history keeps.
    pub history: usize,
}

impl Default for ModerationConfig {
    fn default() -> ModerationConfig {
        ModerationConfig {
            down_after: 2,
            failback_after: 2,
            drain_max: 30_000,
            history: 50,
        }
    }
}

/// A deployment's name and base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Deployment name, as clients and relays know it.
    pub name: String,
    /// Base HTTP URL, e.g. `http://127.0.0.1:7001`.
    pub url: String,
}

/// A call the moderator process has to make to a relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `POST {url}/v1/admin/drain {"to": to}`.
    Drain {
        /// The deployment to drain.
        deployment: String,
        /// Its base URL.
        url: String,
        /// Where its clients go.
        to: String,
    },
    /// `POST {url}/v1/admin/undrain`.
    Undrain {
        /// The deployment to undrain.
        deployment: String,
        /// Its base URL.
        url: String,
    },
}

/// An administrator's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Make `to` active; with `hold`, keep it until [`Command::Release`].
    Switch {
        /// Deployment name.
        to: String,
        /// Keep the choice until released.
        hold: bool,
    },
    /// End a hold; the automatic rules apply again.
    Release,
}

/// Why an administrator's request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModerationError {
    /// No deployment has that name.
    #[error("no deployment is named {0:?}")]
    UnknownDeployment(String),
    /// The deployment does not answer as ready; clients sent there would
    /// lose their connection.
    #[error("deployment {0:?} is not up; switching to it would drop chats")]
    NotUp(String),
}

#[derive(Clone, Debug)]
struct Tracked {
    endpoint: Endpoint,
    role: DeploymentRole,
    health: Option<Health>,
    failures: u32,
    caught_up_streak: u32,
    last_answer: Option<Millis>,
    last_probe: Option<Millis>,
    undrain_asked: Option<Millis>,
}

impl Tracked {
    fn new(endpoint: Endpoint, role: DeploymentRole) -> Tracked {
        Tracked {
            endpoint,
            role,
            health: None,
            failures: 0,
            caught_up_streak: 0,
            last_answer: None,
            last_probe: None,
            undrain_asked: None,
        }
    }

    fn reachability(&self, down_after: u32) -> Reachability {
        if self.last_probe.is_none() {
            Reachability::Unknown
        } else if self.failures >= down_after {
            Reachability::Unreachable
        } else if self.failures > 0 {
            Reachability::Failing
        } else if self.health.as_ref().is_some_and(serves) {
            Reachability::Up
        } else {
            Reachability::NotReady
        }
    }

    /// Not known to be down, and its last answer said it serves.
    fn up(&self, down_after: u32) -> bool {
        self.failures < down_after && self.health.as_ref().is_some_and(serves)
    }

    /// Known to be down: failed `down_after` probes, or said it does not
    /// serve (shutting down). A deployment not probed often enough yet is
    /// neither up nor down.
    fn down(&self, down_after: u32) -> bool {
        self.failures >= down_after || self.health.as_ref().is_some_and(|health| !serves(health))
    }

    /// Answered its last probe as serving: fit to take clients over.
    fn answering(&self) -> bool {
        self.failures == 0 && self.health.as_ref().is_some_and(serves)
    }

    fn why_down(&self, down_after: u32) -> String {
        match self.reachability(down_after) {
            Reachability::NotReady => "answered not ready".into(),
            Reachability::Unknown => "has not answered yet".into(),
            _ => format!("failed {} probes in a row", self.failures),
        }
    }
}

#[derive(Clone, Debug)]
struct PendingDrain {
    deployment: DeploymentRole,
    to: DeploymentRole,
    since: Millis,
    clients: Option<u64>,
}

/// The decision state machine; see the module docs.
#[derive(Clone, Debug)]
pub struct Moderation {
    config: ModerationConfig,
    primary: Tracked,
    redundant: Tracked,
    active: DeploymentRole,
    epoch: u64,
    held: Option<DeploymentRole>,
    drain: Option<PendingDrain>,
    actions: VecDeque<Action>,
    history: VecDeque<Failover>,
}

/// Whether a health answer says the relay can take clients: ready, or not
/// ready only because it drains (see the module docs).
fn serves(health: &Health) -> bool {
    health.ready || health.draining
}

fn caught_up(health: &Health) -> bool {
    health
        .lag
        .as_ref()
        .is_none_or(|lag| lag.connected && lag.changes == 0)
}

impl Moderation {
    /// A moderator with the primary active at `first_epoch`.
    pub fn new(
        config: ModerationConfig,
        primary: Endpoint,
        redundant: Endpoint,
        first_epoch: u64,
    ) -> Moderation {
        Moderation {
            config,
            primary: Tracked::new(primary, DeploymentRole::Primary),
            redundant: Tracked::new(redundant, DeploymentRole::Redundant),
            active: DeploymentRole::Primary,
            epoch: first_epoch,
            held: None,
            drain: None,
            actions: VecDeque::new(),
            history: VecDeque::new(),
        }
    }

    fn get(&self, role: DeploymentRole) -> &Tracked {
        match role {
            DeploymentRole::Primary => &self.primary,
            DeploymentRole::Redundant => &self.redundant,
        }
    }

    fn get_mut(&mut self, role: DeploymentRole) -> &mut Tracked {
        match role {
            DeploymentRole::Primary => &mut self.primary,
            DeploymentRole::Redundant => &mut self.redundant,
        }
    }

    fn up(&self, role: DeploymentRole) -> bool {
        self.get(role).up(self.config.down_after)
    }

    /// The role of the deployment with this name.
    pub fn role_of(&self, name: &str) -> Option<DeploymentRole> {
        [&self.primary, &self.redundant]
            .into_iter()
            .find(|tracked| tracked.endpoint.name == name)
            .map(|tracked| tracked.role)
    }

    /// A deployment's name and URL.
    pub fn endpoint(&self, role: DeploymentRole) -> &Endpoint {
        &self.get(role).endpoint
    }

    /// The active deployment's role.
    pub fn active_role(&self) -> DeploymentRole {
        self.active
    }

    /// The deployment an administrator holds, if any.
    pub fn held(&self) -> Option<DeploymentRole> {
        self.held
    }

    /// A probe of `role`'s health at `now`: its answer, or `None` when it was
    /// refused, timed out or could not be read.
    pub fn handle_probe(&mut self, now: Millis, role: DeploymentRole, answer: Option<Health>) {
        let tracked = self.get_mut(role);
        tracked.last_probe = Some(now);
        match answer {
            Some(health) => {
                tracked.failures = 0;
                tracked.last_answer = Some(now);
                if serves(&health) && caught_up(&health) {
                    tracked.caught_up_streak = tracked.caught_up_streak.saturating_add(1);
                } else {
                    tracked.caught_up_streak = 0;
                }
                tracked.health = Some(health);
            }
            None => {
                tracked.failures = tracked.failures.saturating_add(1);
                tracked.caught_up_streak = 0;
            }
        }
        self.decide(now);
        self.keep_active_undrained(now);
        self.expire_drain(now);
    }

    /// How many clients the drained deployment `role` still has (`None`
    /// when the relay could not be asked).
    pub fn handle_drain_progress(
        &mut self,
        now: Millis,
        role: DeploymentRole,
        clients: Option<u64>,
    ) {
        let Some(drain) = self.drain.as_mut().filter(|d| d.deployment == role) else {
            return;
        };
        if clients.is_some() {
            drain.clients = clients;
        }
        if clients == Some(0) {
            self.end_drain();
        } else {
            self.expire_drain(now);
        }
    }

    /// An administrator's switch or release.
    pub fn handle_command(&mut self, now: Millis, command: Command) -> Result<(), ModerationError> {
        match command {
            Command::Switch { to, hold } => {
                let role = self
                    .role_of(&to)
                    .ok_or_else(|| ModerationError::UnknownDeployment(to.clone()))?;
                if !self.up(role) {
                    return Err(ModerationError::NotUp(to));
                }
                self.held = hold.then_some(role);
                let reason = if hold {
                    "administrator switched and held"
                } else {
                    "administrator switched"
                };
                self.switch(now, role, reason.into(), true);
            }
            Command::Release => self.held = None,
        }
        self.decide(now);
        self.keep_active_undrained(now);
        Ok(())
    }

    /// The next call to make, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The deployment being drained by this moderator, whose client count the
    /// caller should report with [`Moderation::handle_drain_progress`].
    pub fn drain_in_progress(&self) -> Option<DeploymentRole> {
        self.drain.as_ref().map(|drain| drain.deployment)
    }

    /// The `/v1/active` answer.
    pub fn active(&self) -> ActiveDeployment {
        let active = self.get(self.active);
        ActiveDeployment {
            epoch: self.epoch,
            active: active.endpoint.name.clone(),
            url: active.endpoint.url.clone(),
            held: self.held.is_some(),
            deployments: [&self.primary, &self.redundant]
                .into_iter()
                .map(|tracked| DeploymentState {
                    name: tracked.endpoint.name.clone(),
                    role: tracked.role,
                    url: tracked.endpoint.url.clone(),
                    up: tracked.up(self.config.down_after),
                    health: tracked.health.clone(),
                })
                .collect(),
        }
    }

    /// Everything the status page shows.
    pub fn status(&self, now: Millis) -> ModeratorStatus {
        ModeratorStatus {
            active: self.active(),
            probes: [&self.primary, &self.redundant]
                .into_iter()
                .map(|tracked| ProbeState {
                    name: tracked.endpoint.name.clone(),
                    reachability: tracked.reachability(self.config.down_after),
                    consecutive_failures: tracked.failures,
                    caught_up_streak: tracked.caught_up_streak,
                    last_answer: tracked.last_answer,
                    last_probe: tracked.last_probe,
                })
                .collect(),
            drain: self.drain.as_ref().map(|drain| DrainState {
                deployment: self.get(drain.deployment).endpoint.name.clone(),
                to: self.get(drain.to).endpoint.name.clone(),
                since: drain.since,
                clients: drain.clients,
            }),
            history: self.history.iter().cloned().collect(),
            now,
        }
    }

    /// Recent failovers, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Failover> {
        self.history.iter()
    }

    /// The automatic rules.
    fn decide(&mut self, now: Millis) {
        let active = self.active;
        let other = active.other();
        let down_after = self.config.down_after;
        if self.get(active).down(down_after) && self.get(other).answering() {
            let tracked = self.get(active);
            let mut reason = format!(
                "{} {}",
                tracked.endpoint.name,
                tracked.why_down(self.config.down_after)
            );
            if self.held == Some(active) {
                self.held = None;
                reason.push_str("; its hold was released");
            }
            self.switch(now, other, reason, false);
            return;
        }
        if self.held.is_some() {
            return;
        }
        let primary = DeploymentRole::Primary;
        if active == DeploymentRole::Redundant
            && self.up(primary)
            && self.primary.caught_up_streak >= self.config.failback_after
        {
            let reason = format!(
                "{} is back and caught up with {}",
                self.primary.endpoint.name, self.redundant.endpoint.name
            );
            self.switch(now, primary, reason, false);
        }
    }

    fn switch(&mut self, now: Millis, to: DeploymentRole, reason: String, manual: bool) {
        let from = self.active;
        if from == to {
            return;
        }
        self.active = to;
        self.epoch += 1;
        self.history.push_back(Failover {
            at: now,
            epoch: self.epoch,
            from: self.get(from).endpoint.name.clone(),
            to: self.get(to).endpoint.name.clone(),
            reason,
            manual,
        });
        while self.history.len() > self.config.history {
            self.history.pop_front();
        }
        if self.drain.as_ref().is_some_and(|d| d.deployment == to) {
            self.drain = None;
            self.ask_undrain(now, to);
        }
        if self.up(from) {
            self.actions.push_back(Action::Drain {
                deployment: self.get(from).endpoint.name.clone(),
                url: self.get(from).endpoint.url.clone(),
                to: self.get(to).endpoint.name.clone(),
            });
            self.drain = Some(PendingDrain {
                deployment: from,
                to,
                since: now,
                clients: None,
            });
        }
    }

    fn ask_undrain(&mut self, now: Millis, role: DeploymentRole) {
        let tracked = self.get_mut(role);
        tracked.undrain_asked = Some(now);
        let action = Action::Undrain {
            deployment: tracked.endpoint.name.clone(),
            url: tracked.endpoint.url.clone(),
        };
        self.actions.push_back(action);
    }

    fn keep_active_undrained(&mut self, now: Millis) {
        let tracked = self.get(self.active);
        let draining = tracked.health.as_ref().is_some_and(|h| h.draining);
        let asked_recently = tracked
            .undrain_asked
            .is_some_and(|at| now.since(at) < UNDRAIN_RETRY);
        if draining && !asked_recently && tracked.up(self.config.down_after) {
            self.ask_undrain(now, self.active);
        }
    }

    fn expire_drain(&mut self, now: Millis) {
        if self
            .drain
            .as_ref()
            .is_some_and(|d| now.since(d.since) >= self.config.drain_max)
        {
            self.end_drain();
        }
    }

    fn end_drain(&mut self) {
        if let Some(drain) = self.drain.take() {
            let tracked = self.get(drain.deployment);
            self.actions.push_back(Action::Undrain {
                deployment: tracked.endpoint.name.clone(),
                url: tracked.endpoint.url.clone(),
            });
        }
    }
}
