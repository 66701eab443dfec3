//! Which deployment to be on: the moderator's word while it answers, else
//! the session's own probes (primary if it answers, else redundant).
//!
//! Evidence is kept per deployment. A probe answer or a welcome marks a
//! deployment up; a failed probe, a refused or lost connection marks it
//! down. The moderator decides only among deployments this client can
//! reach: if the active one is down from where the client stands while the
//! other answers, the client uses the other (a network split between one
//! client and one data center must not stop that client's chat). Both
//! deployments hold the same data through replication, so a client on the
//! "wrong" one loses nothing.
//!
//! Without the moderator the client leaves the redundant deployment for the
//! primary only once the primary says it has caught up (its replication lag
//! is zero), the same rule the moderator applies.
//!
//! Probes and questions to the moderator are paced, each wait drawn from
//! 3/4 to 5/4 of its interval so that clients that all lost their link at
//! the same moment do not keep asking in step: the moderator every
//! `moderator_interval`, the deployments every `probe_interval` while the
//! session probes on its own, and every `outage_probe_interval` while it
//! has no link at all (how soon a deployment that comes back is found).

use super::config::{SessionConfig, Timing};
use crate::protocol::{ActiveDeployment, DeploymentRole, Health};
use crate::random::SplitMix64;
use crate::time::Millis;

/// What this client knows about one deployment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reach {
    /// Nothing yet.
    Unknown,
    /// Answered; `ready` is false while it drains or starts.
    Up { ready: bool, caught_up: bool },
    /// Failed a probe or a connection at this time.
    Down { since: Millis },
}

#[derive(Clone, Debug)]
struct Deployment {
    role: DeploymentRole,
    reach: Reach,
    probe_sent: Option<Millis>,
    /// When a probe last came back with an answer.
    answered: Option<Millis>,
}

#[derive(Clone, Debug)]
struct Moderator {
    url: String,
    /// The last answer's choice, while the last ask succeeded.
    active: Option<DeploymentRole>,
    epoch: u64,
    asked: Option<Millis>,
    next_ask: Millis,
}

/// A request the routing wants the I/O layer to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Probe(DeploymentRole),
    AskModerator(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Routing {
    timing: Timing,
    deployments: Vec<Deployment>,
    moderator: Option<Moderator>,
    next_probe: Option<Millis>,
    /// Jitter for the waits.
    random: SplitMix64,
}

/// A wait of about `interval`: drawn from 3/4 to 5/4 of it.
fn jittered(random: &mut SplitMix64, interval: u64) -> u64 {
    random.between(interval - interval / 4, interval + interval / 4)
}

impl Routing {
    pub(crate) fn new(config: &SessionConfig, now: Millis, seed: u64) -> Routing {
        Routing {
            random: SplitMix64::new(seed),
            timing: config.timing,
            deployments: config
                .deployments
                .iter()
                .map(|e| Deployment {
                    role: e.role,
                    reach: Reach::Unknown,
                    probe_sent: None,
                    answered: None,
                })
                .collect(),
            moderator: config.moderator_url().map(|url| Moderator {
                url,
                active: None,
                epoch: 0,
                asked: None,
                next_ask: now,
            }),
            next_probe: Some(now),
        }
    }

    fn get(&self, role: DeploymentRole) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.role == role)
    }

    fn get_mut(&mut self, role: DeploymentRole) -> Option<&mut Deployment> {
        self.deployments.iter_mut().find(|d| d.role == role)
    }

    pub(crate) fn reach(&self, role: DeploymentRole) -> Reach {
        self.get(role)
            .map_or(Reach::Down { since: Millis(0) }, |d| d.reach.clone())
    }

    fn usable(&self, role: DeploymentRole) -> bool {
        matches!(self.reach(role), Reach::Up { ready: true, .. })
    }

    /// Not known to be down or refusing chats.
    fn plausible(&self, role: DeploymentRole) -> bool {
        matches!(
            self.reach(role),
            Reach::Unknown | Reach::Up { ready: true, .. }
        )
    }

    pub(crate) fn is_down(&self, role: DeploymentRole) -> bool {
        !self.plausible(role)
    }

    /// Whether `fast` has shown itself the quicker of the two just now: it
    /// answered a probe, ready, while `slow`'s probe, sent no later, is
    /// still out (RFC 8305's "historical RTT data": the race's head start
    /// need not be the default when the rival is known to answer).
    pub(crate) fn outpaced(&self, slow: DeploymentRole, fast: DeploymentRole) -> bool {
        let (Some(slow), Some(answered)) =
            (self.get(slow), self.get(fast).and_then(|d| d.answered))
        else {
            return false;
        };
        self.usable(fast) && slow.probe_sent.is_some_and(|sent| sent <= answered)
    }

    /// The moderator's current choice, while it answers.
    pub(crate) fn moderator_choice(&self) -> Option<DeploymentRole> {
        self.moderator.as_ref().and_then(|m| m.active)
    }

    /// The deployment to be on, given the one the client is on now.
    pub(crate) fn choose(&self, current: Option<DeploymentRole>) -> Option<DeploymentRole> {
        use DeploymentRole::{Primary, Redundant};
        if self.deployments.is_empty() {
            return None;
        }
        if let Some(active) = self.moderator_choice()
            && self.get(active).is_some()
        {
            if self.plausible(active) || !self.plausible(active.other()) {
                return Some(self.least_recently_failed(active));
            }
            return Some(active.other());
        }
        if current == Some(Redundant) && self.usable(Redundant) {
            let primary_ready = matches!(
                self.reach(Primary),
                Reach::Up {
                    ready: true,
                    caught_up: true
                }
            );
            return Some(if primary_ready { Primary } else { Redundant });
        }
        for role in [Primary, Redundant] {
            if self.get(role).is_some() && self.plausible(role) {
                return Some(role);
            }
        }
        Some(self.least_recently_failed(Primary))
    }

    /// When neither is fit: one that answers but drains still serves, so
    /// it beats one that does not answer; between two that do not answer,
    /// alternate by trying whichever failed longer ago.
    fn least_recently_failed(&self, preferred: DeploymentRole) -> DeploymentRole {
        let since = |role| match self.reach(role) {
            Reach::Down { since } => Some(since),
            _ => None,
        };
        let other = preferred.other();
        if self.get(other).is_none() {
            return preferred;
        }
        match (since(preferred), since(other)) {
            (Some(_), None) => other,
            (Some(a), Some(b)) if b < a => other,
            _ => preferred,
        }
    }

    /// A connection to `role` was refused, timed out or died.
    pub(crate) fn mark_down(&mut self, role: DeploymentRole, now: Millis) {
        if let Some(d) = self.get_mut(role) {
            d.reach = Reach::Down { since: now };
        }
        if self.needs_own_probes() && self.next_probe.is_none() {
            self.next_probe = Some(now.plus(self.timing.probe_interval));
        }
    }

    /// Whether the session probes on its own: while the moderator is
    /// silent, and while it names a deployment this client last found down
    /// (only a probe can tell that it is back, e.g. when the moderator fails
    /// back to a restored primary that this client saw die).
    fn needs_own_probes(&self) -> bool {
        self.moderator_choice()
            .is_none_or(|active| self.get(active).is_some() && self.is_down(active))
    }

    /// A relay welcomed the client.
    pub(crate) fn mark_up(&mut self, role: DeploymentRole) {
        if let Some(d) = self.get_mut(role)
            && !matches!(d.reach, Reach::Up { .. })
        {
            d.reach = Reach::Up {
                ready: true,
                caught_up: false,
            };
        }
    }

    /// Records a probe's answer; returns true if it made a deployment that
    /// was not known to serve (unknown, down or refusing) usable.
    pub(crate) fn on_probe(
        &mut self,
        role: DeploymentRole,
        health: Option<&Health>,
        now: Millis,
    ) -> bool {
        let was_usable = self.usable(role);
        let Some(d) = self.get_mut(role) else {
            return false;
        };
        d.probe_sent = None;
        d.answered = health.is_some().then_some(now);
        d.reach = match health {
            Some(h) => Reach::Up {
                ready: h.ready && !h.draining,
                caught_up: h
                    .lag
                    .as_ref()
                    .is_none_or(|lag| lag.connected && lag.changes == 0),
            },
            None => Reach::Down { since: now },
        };
        if !self.needs_own_probes() {
            self.next_probe = None;
        }
        !was_usable && self.usable(role)
    }

    /// This client's network was gone: what failed meanwhile says nothing
    /// about the deployments, so they are unknown again (and probed).
    pub(crate) fn forget_failures(&mut self, now: Millis) {
        for d in &mut self.deployments {
            if matches!(d.reach, Reach::Down { .. }) {
                d.reach = Reach::Unknown;
            }
        }
        self.hurry(now);
    }

    /// Records the moderator's answer; returns true if its choice changed.
    pub(crate) fn on_moderator(
        &mut self,
        answer: Option<&ActiveDeployment>,
        config: &SessionConfig,
        now: Millis,
    ) -> bool {
        let interval = jittered(&mut self.random, self.timing.moderator_interval);
        let Some(m) = self.moderator.as_mut() else {
            return false;
        };
        m.asked = None;
        m.next_ask = now.plus(interval);
        let before = m.active;
        match answer.and_then(|a| Some((role_of(a, config)?, a.epoch))) {
            // An older epoch than one already seen is a stale answer.
            Some((_, epoch)) if epoch < m.epoch => {}
            Some((role, epoch)) => {
                m.active = Some(role);
                m.epoch = epoch;
            }
            None => m.active = None,
        }
        let changed = m.active != before;
        if !self.needs_own_probes() {
            self.next_probe = None;
        } else if self.next_probe.is_none() {
            self.next_probe = Some(now);
        }
        changed
    }

    /// Probe both deployments and ask the moderator as soon as possible.
    pub(crate) fn hurry(&mut self, now: Millis) {
        self.next_probe = Some(now);
        if let Some(m) = self.moderator.as_mut() {
            m.next_ask = m.next_ask.min(now);
        }
    }

    /// Requests due at `now`; also expires requests that never came back.
    /// `outage`: the session has no link up, so probes go at the outage
    /// pace.
    pub(crate) fn due(&mut self, now: Millis, outage: bool) -> Vec<Request> {
        let timeout = self.timing.request_timeout;
        let mut requests = Vec::new();
        for d in &mut self.deployments {
            if d.probe_sent.is_some_and(|sent| now.since(sent) >= timeout) {
                d.probe_sent = None;
                d.reach = Reach::Down { since: now };
            }
        }
        if let Some(m) = self.moderator.as_mut() {
            if m.asked.is_some_and(|sent| now.since(sent) >= timeout) {
                m.asked = None;
                m.active = None;
                m.next_ask = now;
            }
            if m.asked.is_none() && now >= m.next_ask {
                m.asked = Some(now);
                requests.push(Request::AskModerator(m.url.clone()));
            }
        }
        if self.next_probe.is_some_and(|at| now >= at) {
            for d in &mut self.deployments {
                if d.probe_sent.is_none() {
                    d.probe_sent = Some(now);
                    requests.push(Request::Probe(d.role));
                }
            }
            let interval = if outage {
                self.timing.outage_probe_interval
            } else {
                self.timing.probe_interval
            };
            let wait = jittered(&mut self.random, interval);
            self.next_probe = self.needs_own_probes().then(|| now.plus(wait));
        }
        requests
    }

    /// The next time [`Routing::due`] has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        let timeout = self.timing.request_timeout;
        let probes = self
            .deployments
            .iter()
            .filter_map(|d| d.probe_sent.map(|s| s.plus(timeout)));
        let moderator = self.moderator.as_ref().map(|m| match m.asked {
            Some(sent) => sent.plus(timeout),
            None => m.next_ask,
        });
        probes.chain(moderator).chain(self.next_probe).min()
    }
}

/// The moderator names the active deployment; find which of ours it is.
fn role_of(answer: &ActiveDeployment, config: &SessionConfig) -> Option<DeploymentRole> {
    config
        .role_named(&answer.active)
        .or_else(|| config.role_at(&answer.url))
        .or_else(|| {
            answer
                .deployments
                .iter()
                .find(|d| d.name == answer.active)
                .map(|d| d.role)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::protocol::{DeploymentState, ReplicationLag};
    use crate::session::config::Endpoint;
    use DeploymentRole::{Primary, Redundant};

    fn config(moderator: bool) -> SessionConfig {
        SessionConfig {
            role: Role::Visitor,
            site: "demo".into(),
            moderator: moderator.then(|| "http://m".into()),
            deployments: vec![
                Endpoint {
                    name: "p".into(),
                    role: Primary,
                    url: "http://p".into(),
                },
                Endpoint {
                    name: "r".into(),
                    role: Redundant,
                    url: "http://r".into(),
                },
            ],
            timing: Timing::default(),
        }
    }

    fn health(ready: bool, lag: u64) -> Health {
        Health {
            deployment: String::new(),
            role: Primary,
            epoch: 1,
            ready,
            draining: false,
            lag: Some(ReplicationLag {
                changes: lag,
                seconds: 0.0,
                connected: true,
            }),
            version: String::new(),
        }
    }

    fn answer(active: &str, epoch: u64) -> ActiveDeployment {
        ActiveDeployment {
            epoch,
            active: active.into(),
            url: String::new(),
            held: false,
            deployments: vec![DeploymentState {
                name: active.into(),
                role: Redundant,
                url: String::new(),
                up: true,
                health: None,
            }],
        }
    }

    #[test]
    fn without_moderator_primary_if_it_answers_else_redundant() {
        let c = config(false);
        let mut r = Routing::new(&c, Millis(0), 1);
        assert_eq!(
            r.choose(None),
            Some(Primary),
            "unknown primary is tried first"
        );
        r.on_probe(Primary, None, Millis(1));
        assert_eq!(r.choose(None), Some(Redundant));
        r.on_probe(Primary, Some(&health(true, 0)), Millis(2));
        assert_eq!(r.choose(None), Some(Primary));
    }

    #[test]
    fn back_to_primary_only_once_it_caught_up() {
        let c = config(false);
        let mut r = Routing::new(&c, Millis(0), 1);
        r.on_probe(Redundant, Some(&health(true, 0)), Millis(1));
        r.on_probe(Primary, Some(&health(true, 5)), Millis(1));
        assert_eq!(r.choose(Some(Redundant)), Some(Redundant));
        r.on_probe(Primary, Some(&health(true, 0)), Millis(2));
        assert_eq!(r.choose(Some(Redundant)), Some(Primary));
    }

    #[test]
    fn moderator_is_followed_unless_its_choice_is_unreachable_here() {
        let c = config(true);
        let mut r = Routing::new(&c, Millis(0), 1);
        assert!(r.on_moderator(Some(&answer("r", 2)), &c, Millis(1)));
        assert_eq!(r.choose(Some(Primary)), Some(Redundant));
        r.mark_down(Redundant, Millis(2));
        assert_eq!(r.choose(None), Some(Primary));
        r.mark_down(Primary, Millis(3));
        assert_eq!(r.choose(None), Some(Redundant), "both down: older failure");
        let mut draining = health(true, 0);
        draining.draining = true;
        r.on_probe(Redundant, Some(&draining), Millis(4));
        assert_eq!(
            r.choose(None),
            Some(Redundant),
            "draining beats unreachable"
        );
    }

    #[test]
    fn a_moderator_choice_seen_down_here_is_probed_until_it_answers() {
        let c = config(true);
        let mut r = Routing::new(&c, Millis(0), 1);
        r.due(Millis(0), false);
        r.on_moderator(Some(&answer("r", 2)), &c, Millis(1));
        r.on_probe(Primary, None, Millis(1));
        r.on_probe(Redundant, Some(&health(true, 0)), Millis(1));
        let later = Millis(1 + c.timing.probe_interval);
        assert!(
            !r.due(later, false).contains(&Request::Probe(Primary)),
            "the moderator's choice answers: no probing of our own"
        );
        // The primary is back and caught up; the moderator fails back to it.
        r.on_moderator(Some(&answer("p", 3)), &c, later);
        assert_eq!(
            r.choose(Some(Redundant)),
            Some(Redundant),
            "still down here"
        );
        let probes = r.due(later, false);
        assert!(probes.contains(&Request::Probe(Primary)), "{probes:?}");
        r.on_probe(Primary, Some(&health(true, 0)), later);
        assert_eq!(r.choose(Some(Redundant)), Some(Primary));
        let quiet = Millis(later.0 + 10 * c.timing.probe_interval);
        assert!(
            !r.due(quiet, false)
                .iter()
                .any(|q| matches!(q, Request::Probe(_))),
            "probing stops once the choice answers"
        );
    }

    #[test]
    fn stale_epochs_and_silence() {
        let c = config(true);
        let mut r = Routing::new(&c, Millis(0), 1);
        r.on_moderator(Some(&answer("r", 5)), &c, Millis(1));
        r.on_moderator(Some(&answer("p", 4)), &c, Millis(2));
        assert_eq!(r.moderator_choice(), Some(Redundant));
        r.on_moderator(None, &c, Millis(3));
        assert_eq!(r.moderator_choice(), None);
        assert_eq!(r.choose(None), Some(Primary));
    }

    #[test]
    fn requests_are_paced_and_expire() {
        let c = config(true);
        let mut r = Routing::new(&c, Millis(0), 1);
        let first = r.due(Millis(0), false);
        assert_eq!(first.len(), 3, "moderator and both probes: {first:?}");
        assert!(
            r.due(Millis(10), false).is_empty(),
            "nothing twice while in flight"
        );
        let expiry = Millis(c.timing.request_timeout);
        r.due(expiry, false);
        assert!(matches!(r.reach(Primary), Reach::Down { .. }));
    }
}
