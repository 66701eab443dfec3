//! The simulated world: the clock, the clients (each a real `Session`,
//! carried out here the way the widget's I/O layer carries it out), the
//! fake relays, the real moderator's decisions and the network between
//! them. What faults do to it is in `outages.rs`.
//!
//! One [`SplitMix64`] seeded from the setup draws everything (latencies,
//! typing, the sessions' own seeds), and every event goes through one
//! agenda on the virtual clock, so a seed replays to the millisecond.

use super::checks::Checks;
use super::faults::Scheduled;
use super::moderator::{Moderator, NAMES, PROBE_EVERY, ROLES, index, url};
use super::network::{Direction, Network};
use super::outages::Failover;
use super::queue::{Ev, Queue};
use super::relay::{Out, Relay};
use super::run::Setup;
use super::trace::{Trace, client_name};
use std::collections::BTreeMap;
use twinline_core::moderation::Action as RelayCall;
use twinline_core::protocol::DeploymentRole;
use twinline_core::random::SplitMix64;
use twinline_core::session::{
    Action, ConnId, Endpoint, Identity, Input, LinkState, Session, SessionConfig, SessionEvent,
    Snapshot, Timing,
};
use twinline_core::{Author, ChatId, MessageId, Millis, Role, Ulid};

/// How long a probe or moderator request hangs on a silent path before the
/// I/O layer reports it failed.
const REQUEST_TIMEOUT: u64 = 1_000;
/// How often the replication streams move on.
const REPLICATION_EVERY: u64 = 5;
pub struct Client {
    pub session: Session,
    pub role: Role,
    pub chat: ChatId,
    /// Every message typed here, with when.
    pub said: Vec<(MessageId, Millis)>,
    pub snapshot: Option<Snapshot>,
    /// The link as the session last reported it.
    pub link: (LinkState, Option<DeploymentRole>),
    /// Every change of the link, with when.
    pub links: Vec<(Millis, LinkState, Option<DeploymentRole>)>,
    /// When each own message was first acked.
    pub acks: BTreeMap<MessageId, Millis>,
}

impl Client {
    /// Each own message's wait for its ack; `None` for one never acked.
    pub fn ack_waits(&self) -> impl Iterator<Item = (Millis, Option<u64>)> + '_ {
        self.said
            .iter()
            .map(|(id, at)| (*at, self.acks.get(id).map(|acked| acked.since(*at))))
    }
}

pub struct World {
    pub now: Millis,
    pub(super) queue: Queue,
    pub(super) rng: SplitMix64,
    pub relays: [Relay; 2],
    pub clients: Vec<Client>,
    pub(super) net: Network,
    pub moderator: Moderator,
    pub(super) replication_cut: bool,
    /// The schedule's faults, each with whether it is on now.
    pub(super) faults: Vec<(Scheduled, bool)>,
    pub failovers: Vec<Failover>,
    typing_until: Millis,
    pub checks: Checks,
    pub trace: Option<Trace>,
}

/// A session's configuration in this world: both deployments and the
/// moderator, default timing.
pub(super) fn session_config(role: Role) -> SessionConfig {
    SessionConfig {
        role,
        site: "demo".into(),
        moderator: Some("http://moderator".into()),
        deployments: (0..2)
            .map(|i| Endpoint {
                name: NAMES[i].into(),
                role: ROLES[i],
                url: url(i),
            })
            .collect(),
        timing: Timing::default(),
    }
}

impl World {
    /// One chat per pair of clients: a visitor and an operator.
    pub fn new(setup: Setup) -> World {
        let Setup {
            mut rng,
            chats,
            faults,
            typing_until,
            trace,
            ..
        } = setup;
        let mut clients = Vec::new();
        for c in 0..chats {
            let chat = ChatId(Ulid::new(
                Millis(1),
                u128::from(rng.next_u64()) << 1 | c as u128,
            ));
            for role in [Role::Visitor, Role::Operator] {
                let identity = Identity {
                    token: "t".into(),
                    author: Author {
                        role,
                        id: format!("client{}", clients.len()),
                        name: String::new(),
                    },
                    chat: Some(chat),
                };
                clients.push(Client {
                    session: Session::new(
                        session_config(role),
                        identity,
                        Millis(0),
                        rng.next_u64(),
                    ),
                    role,
                    chat,
                    said: Vec::new(),
                    snapshot: None,
                    link: (LinkState::Connecting, None),
                    links: Vec::new(),
                    acks: BTreeMap::new(),
                });
            }
        }
        let n = clients.len();
        let mut world = World {
            now: Millis(0),
            queue: Queue::default(),
            rng,
            relays: [
                Relay::new(DeploymentRole::Primary, NAMES[0]),
                Relay::new(DeploymentRole::Redundant, NAMES[1]),
            ],
            clients,
            net: Network::new(n),
            moderator: Moderator::new(Millis(0)),
            replication_cut: false,
            faults: faults.into_iter().map(|f| (f, false)).collect(),
            failovers: Vec::new(),
            typing_until: Millis(typing_until),
            checks: Checks::new(n),
            trace,
        };
        for i in 0..world.faults.len() {
            let (at, duration) = (world.faults[i].0.at, world.faults[i].0.duration);
            world.queue.at(Millis(at), Ev::FaultStart(i));
            world.queue.at(Millis(at + duration), Ev::FaultEnd(i));
        }
        for client in 0..n {
            let first = world.rng.between(100, 1_000);
            world.queue.at(Millis(first), Ev::Say { client });
            world.drain(client);
        }
        world.queue.at(Millis(0), Ev::Replicate);
        world.queue.at(Millis(0), Ev::Probe);
        world
    }

    /// The schedule, as set up.
    pub fn schedule(&self) -> impl Iterator<Item = &Scheduled> {
        self.faults.iter().map(|(f, _)| f)
    }

    /// Runs until `until`: events in time order, each client's timers when
    /// they are due (an event first when both are due at once).
    pub fn run(&mut self, until: Millis) {
        loop {
            let next_event = self.queue.next_at();
            let next_timer = self
                .clients
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.session.poll_timeout().map(|t| (t, i)))
                .min();
            let event_first = match (next_event, next_timer) {
                (Some(e), Some((t, _))) => e <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            if event_first {
                let Some((at, ev)) = self.queue.pop_until(until) else {
                    return;
                };
                self.now = self.now.max(at);
                self.dispatch(ev);
            } else {
                let (t, client) = next_timer.expect("a timer");
                if t > until {
                    return;
                }
                self.now = self.now.max(t);
                let now = self.now;
                self.clients[client].session.handle_timeout(now);
                self.drain(client);
            }
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Input { client, input } => {
                if let Input::Opened { conn } | Input::Frame { conn, .. } = &input
                    && self.net.relay_of(client, *conn).is_none()
                {
                    return;
                }
                let now = self.now;
                if let Some(trace) = &mut self.trace {
                    trace.input(now.0, client, &input);
                }
                self.clients[client].session.handle(now, input);
                self.drain(client);
            }
            Ev::Connect {
                relay,
                client,
                conn,
            } => {
                if self.net.relay_of(client, conn).is_none() {
                    return;
                }
                let input = if self.relays[relay].up {
                    Input::Opened { conn }
                } else {
                    self.net.close(client, conn);
                    Input::Closed { conn }
                };
                self.send_to_client(client, conn, relay, input);
            }
            Ev::Frame {
                relay,
                client,
                conn,
                frame,
            } => {
                if !self.relays[relay].up || self.net.relay_of(client, conn) != Some(relay) {
                    return;
                }
                let out = self.relays[relay].handle(client, conn, frame);
                self.deliver(relay, out);
                if self.relays[relay].take_commit_request() {
                    let (low, high) = self.relays[relay].commit_ms;
                    let delay = self.rng.between(low, high);
                    self.queue.at(self.now.plus(delay), Ev::Commit { relay });
                }
            }
            Ev::Commit { relay } => {
                if self.relays[relay].up {
                    let out = self.relays[relay].commit();
                    self.deliver(relay, out);
                }
            }
            Ev::Say { client } => {
                if self.now < self.typing_until {
                    self.say(client);
                    let next = self.rng.between(300, 1_500);
                    self.queue.at(self.now.plus(next), Ev::Say { client });
                }
            }
            Ev::FaultStart(i) => self.fault(i, true),
            Ev::FaultEnd(i) => self.fault(i, false),
            Ev::Replicate => {
                self.replicate();
                self.queue
                    .at(self.now.plus(REPLICATION_EVERY), Ev::Replicate);
            }
            Ev::Probe => {
                let switches = self.moderator.switches.len();
                let calls = self
                    .moderator
                    .probe(self.now, &self.relays, self.replication_cut);
                self.trace_switches(switches);
                self.call_relays(calls);
                self.queue.at(self.now.plus(PROBE_EVERY), Ev::Probe);
            }
            Ev::RelayCall(call) => self.relay_call(call),
        }
    }

    pub(super) fn send_to_client(
        &mut self,
        client: usize,
        conn: ConnId,
        relay: usize,
        input: Input,
    ) {
        let ev = Ev::Input { client, input };
        self.send_on(client, conn, Direction::ToClient, relay, ev);
    }

    pub(super) fn send_to_relay(&mut self, client: usize, conn: ConnId, relay: usize, ev: Ev) {
        self.send_on(client, conn, Direction::ToRelay, relay, ev);
    }

    fn send_on(&mut self, client: usize, conn: ConnId, way: Direction, relay: usize, ev: Ev) {
        let (queue, rng, now) = (&mut self.queue, &mut self.rng, self.now);
        self.net
            .send(queue, rng, now, (client, conn), way, relay, ev);
    }

    pub(super) fn deliver(&mut self, relay: usize, out: Out) {
        for (client, conn, frame) in out {
            if self.net.relay_of(client, conn) == Some(relay) {
                self.send_to_client(client, conn, relay, Input::Frame { conn, frame });
            }
        }
    }

    /// The user of `client` types a message now.
    pub fn say(&mut self, client: usize) -> MessageId {
        let now = self.now;
        let c = &mut self.clients[client];
        let text = format!("{} says {}", client_name(client), c.said.len());
        let id = c.session.send(now, c.chat, &text).expect("a valid message");
        c.said.push((id, now));
        self.drain(client);
        id
    }

    /// Carries out a client's actions, as the browser's I/O layer does.
    pub(super) fn drain(&mut self, client: usize) {
        while let Some(action) = self.clients[client].session.poll_action() {
            let now = self.now;
            if let Some(trace) = &mut self.trace {
                trace.action(now.0, client, &action);
            }
            match action {
                Action::Connect {
                    conn, deployment, ..
                } => {
                    let relay = index(deployment);
                    self.net.open(client, conn, relay);
                    let ev = Ev::Connect {
                        relay,
                        client,
                        conn,
                    };
                    self.send_to_relay(client, conn, relay, ev);
                }
                Action::Disconnect { conn } => {
                    if let Some(relay) = self.net.close(client, conn) {
                        self.relays[relay].drop_peer(client, conn);
                    }
                }
                Action::Send { conn, frame } => {
                    if let Some(relay) = self.net.relay_of(client, conn) {
                        let ev = Ev::Frame {
                            relay,
                            client,
                            conn,
                            frame,
                        };
                        self.send_to_relay(client, conn, relay, ev);
                    }
                }
                Action::Probe { deployment, .. } => {
                    let relay = index(deployment);
                    let (health, delay) = if self.net.is_silent(client, relay) {
                        (None, REQUEST_TIMEOUT)
                    } else if !self.relays[relay].up {
                        (None, self.net.latency(&mut self.rng, client, relay))
                    } else {
                        let health = self.relays[relay]
                            .health(&self.relays[1 - relay], self.replication_cut);
                        let rtt = 2 * self.net.latency(&mut self.rng, client, relay);
                        (Some(health), rtt)
                    };
                    let input = Input::Probe { deployment, health };
                    self.queue.at(now.plus(delay), Ev::Input { client, input });
                }
                Action::AskModerator { .. } => {
                    let answer = self.moderator.answer();
                    if let Some(answer) = &answer {
                        self.checks.on_answer(now, answer);
                    }
                    let delay = self.rng.between(1, 5);
                    let input = Input::Moderator { answer };
                    self.queue.at(now.plus(delay), Ev::Input { client, input });
                }
                Action::Persist => {
                    let snapshot = self.clients[client].session.snapshot();
                    self.clients[client].snapshot = Some(snapshot);
                }
                Action::Event(SessionEvent::Acked { id, .. }) => {
                    self.checks.on_acked(now, client, id, &self.relays);
                    self.clients[client].acks.entry(id).or_insert(now);
                }
                Action::Event(SessionEvent::Message { id, .. }) => {
                    let written_here = self.clients[client].said.iter().any(|(s, _)| *s == id);
                    self.checks
                        .on_shown(now, client, id, written_here, &self.relays);
                }
                Action::Event(SessionEvent::Connection(status)) => {
                    let c = &mut self.clients[client];
                    c.link = (status.state, status.deployment);
                    c.links.push((now, status.state, status.deployment));
                }
                Action::Event(_) => {}
            }
        }
    }

    pub(super) fn call_relays(&mut self, calls: Vec<RelayCall>) {
        for call in calls {
            let delay = self.rng.between(1, 5);
            self.queue.at(self.now.plus(delay), Ev::RelayCall(call));
        }
    }

    /// A drain or undrain reaching its relay (lost if the relay is down:
    /// a restarted relay is undrained anyway).
    fn relay_call(&mut self, call: RelayCall) {
        let (name, drain_to) = match &call {
            RelayCall::Drain { deployment, to, .. } => (deployment, Some(to.clone())),
            RelayCall::Undrain { deployment, .. } => (deployment, None),
        };
        let Some(relay) = NAMES.iter().position(|n| n == name) else {
            return;
        };
        if !self.relays[relay].up {
            return;
        }
        if let Some(trace) = &mut self.trace {
            trace.world(self.now.0, &format!("moderator → {name}: {call:?}"));
        }
        match drain_to {
            Some(to) => {
                let out = self.relays[relay].drain(&to);
                self.deliver(relay, out);
            }
            None => self.relays[relay].draining_to = None,
        }
    }

    pub(super) fn trace_switches(&mut self, before: usize) {
        if let Some(trace) = &mut self.trace {
            for switch in &self.moderator.switches[before..] {
                let f = &switch.failover;
                let what = format!(
                    "moderator: {} → {} (epoch {}): {}",
                    f.from, f.to, f.epoch, f.reason
                );
                trace.world(self.now.0, &what);
            }
        }
    }

    fn replicate(&mut self) {
        if self.replication_cut || !self.relays[0].up || !self.relays[1].up {
            return;
        }
        // Each relay follows the other's feed from a checkpoint, like the
        // real replication stream.
        for from in 0..2 {
            let to = 1 - from;
            let start = self.relays[to].applied;
            let source = &self.relays[from];
            let missing: Vec<_> = source.feed[start..]
                .iter()
                .map(|id| source.store[id].clone())
                .collect();
            self.relays[to].applied = source.feed.len();
            for msg in missing {
                let out = self.relays[to].store_and_fan_out(msg, None);
                self.deliver(to, out);
            }
        }
    }

    /// Every rule broken: the safety rules as they ran, then the settled
    /// ones (call after [`World::heal`] and a while of running on).
    pub fn violations(&self) -> Vec<String> {
        let active = self.moderator.active().unwrap_or(0);
        let mut out = self.checks.violations().to_vec();
        out.extend(self.checks.settled(&self.relays, &self.clients, active));
        out
    }
}
