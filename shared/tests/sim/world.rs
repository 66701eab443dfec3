//! The simulated world: a virtual clock, an event queue and a network
//! between real `Session`s and fake relays.
//!
//! The network keeps TCP's promises and breaks only the ones real networks
//! break: frames on one connection arrive in order; a crashed relay's
//! connections close (the kernel resets them); a silent path neither
//! delivers nor closes, and what was sent into it arrives once it heals if
//! the connection still exists.

use super::faults::{Fault, Scheduled};
use super::random::Rng;
use super::relay::Relay;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use twinline_core::protocol::{
    ActiveDeployment, ClientFrame, DeploymentRole, DeploymentState, Health, ReplicationLag,
    ServerFrame,
};
use twinline_core::session::{
    Action, ConnId, Delivery, Endpoint, Identity, Input, LinkState, Session, SessionConfig,
    SessionEvent, Snapshot, Timing,
};
use twinline_core::{Author, ChatId, MessageId, Millis, Role, Ulid};

/// How long a probe or moderator request hangs on a silent path before the
/// I/O layer reports it failed.
const REQUEST_TIMEOUT: u64 = 1_000;
const REPLICATION_EVERY: u64 = 5;
const MODERATOR_EVERY: u64 = 200;
const NAMES: [&str; 2] = ["primary", "redundant"];
const ROLES: [DeploymentRole; 2] = [DeploymentRole::Primary, DeploymentRole::Redundant];

fn index(role: DeploymentRole) -> usize {
    match role {
        DeploymentRole::Primary => 0,
        DeploymentRole::Redundant => 1,
    }
}

#[derive(Debug)]
enum Ev {
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
    /// The user types a message.
    Say {
        client: usize,
    },
    FaultStart(usize),
    FaultEnd(usize),
    Replicate,
    Moderate,
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

pub struct Client {
    pub session: Session,
    pub role: Role,
    pub chat: ChatId,
    pub said: Vec<MessageId>,
    pub snapshot: Option<Snapshot>,
    pub link: (LinkState, Option<DeploymentRole>),
    pub acks: HashMap<MessageId, Millis>,
}

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

pub struct World {
    pub now: Millis,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    rng: Rng,
    pub relays: [Relay; 2],
    pub clients: Vec<Client>,
    /// Open (or opening) connections: (client, conn) → relay.
    conns: BTreeMap<(usize, ConnId), usize>,
    /// Per direction and connection: the last scheduled delivery (FIFO).
    fifo: HashMap<(usize, ConnId, bool), Millis>,
    silent: Vec<[bool; 2]>,
    slow: Vec<[u64; 2]>,
    /// Held by a silent path: delivered when it heals.
    held: Vec<(usize, usize, Ev)>,
    moderator_up: bool,
    moderator_active: usize,
    moderator_epoch: u64,
    moderator_hold: Option<usize>,
    replication_cut: bool,
    faults: Vec<Scheduled>,
    /// Every fault of the schedule, kept after healing for the report.
    schedule: Vec<Scheduled>,
    pub failovers: Vec<Failover>,
    pub typing_until: Millis,
}

pub fn timing() -> Timing {
    Timing::default()
}

fn config(role: Role) -> SessionConfig {
    SessionConfig {
        role,
        site: "demo".into(),
        moderator: Some("http://moderator".into()),
        deployments: (0..2)
            .map(|i| Endpoint {
                name: NAMES[i].into(),
                role: ROLES[i],
                url: format!("http://{}", NAMES[i]),
            })
            .collect(),
        timing: timing(),
    }
}

impl World {
    /// One chat per pair of clients: a visitor and an operator.
    pub fn new(seed: u64, chats: usize, faults: Vec<Scheduled>, typing_until: u64) -> World {
        let mut rng = Rng::new(seed);
        let mut clients = Vec::new();
        for c in 0..chats {
            let chat = ChatId(Ulid::new(
                Millis(1),
                u128::from(rng.next()) << 1 | c as u128,
            ));
            for role in [Role::Visitor, Role::Operator] {
                let index = clients.len();
                let identity = Identity {
                    token: "t".into(),
                    author: Author {
                        role,
                        id: format!("client{index}"),
                        name: String::new(),
                    },
                    chat: Some(chat),
                };
                clients.push(Client {
                    session: Session::new(config(role), identity, Millis(0), rng.next()),
                    role,
                    chat,
                    said: Vec::new(),
                    snapshot: None,
                    link: (LinkState::Connecting, None),
                    acks: HashMap::new(),
                });
            }
        }
        let n = clients.len();
        let mut world = World {
            now: Millis(0),
            seq: 0,
            queue: BinaryHeap::new(),
            rng,
            relays: [
                Relay::new(DeploymentRole::Primary, NAMES[0]),
                Relay::new(DeploymentRole::Redundant, NAMES[1]),
            ],
            clients,
            conns: BTreeMap::new(),
            fifo: HashMap::new(),
            silent: vec![[false; 2]; n],
            slow: vec![[0; 2]; n],
            held: Vec::new(),
            moderator_up: true,
            moderator_active: 0,
            moderator_epoch: 1,
            moderator_hold: None,
            replication_cut: false,
            schedule: faults.clone(),
            faults,
            failovers: Vec::new(),
            typing_until: Millis(typing_until),
        };
        for i in 0..world.faults.len() {
            let (at, duration) = (world.faults[i].at, world.faults[i].duration);
            world.at(Millis(at), Ev::FaultStart(i));
            world.at(Millis(at + duration), Ev::FaultEnd(i));
        }
        for client in 0..n {
            let first = world.rng.range(100, 1_000);
            world.at(Millis(first), Ev::Say { client });
            world.drain(client);
        }
        world.at(Millis(0), Ev::Replicate);
        world.at(Millis(0), Ev::Moderate);
        world
    }

    fn at(&mut self, at: Millis, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn latency(&mut self, client: usize, relay: usize) -> u64 {
        self.rng.range(1, 5) + self.slow[client][relay]
    }

    /// Schedules a delivery on a connection, in order after earlier ones.
    fn on_conn(&mut self, client: usize, conn: ConnId, to_relay: bool, relay: usize, ev: Ev) {
        if self.silent[client][relay] {
            self.held.push((client, relay, ev));
            return;
        }
        let latency = self.latency(client, relay);
        let key = (client, conn, to_relay);
        let at = self
            .now
            .plus(latency)
            .max(*self.fifo.get(&key).unwrap_or(&Millis(0)));
        self.fifo.insert(key, at);
        self.at(at, ev);
    }

    /// Runs until `until`.
    pub fn run(&mut self, until: Millis) {
        loop {
            let next_event = self.queue.peek().map(|Reverse(q)| q.at);
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
                let Reverse(q) = self.queue.pop().expect("an event");
                if q.at > until {
                    self.queue.push(Reverse(q));
                    return;
                }
                self.now = self.now.max(q.at);
                self.dispatch(q.ev);
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
                    && !self.conns.contains_key(&(client, *conn))
                {
                    return;
                }
                let now = self.now;
                self.clients[client].session.handle(now, input);
                self.drain(client);
            }
            Ev::Connect {
                relay,
                client,
                conn,
            } => {
                if !self.conns.contains_key(&(client, conn)) {
                    return;
                }
                let input = if self.relays[relay].up {
                    Input::Opened { conn }
                } else {
                    self.conns.remove(&(client, conn));
                    Input::Closed { conn }
                };
                self.on_conn(client, conn, false, relay, Ev::Input { client, input });
            }
            Ev::Frame {
                relay,
                client,
                conn,
                frame,
            } => {
                if !self.relays[relay].up || self.conns.get(&(client, conn)) != Some(&relay) {
                    return;
                }
                let out = self.relays[relay].handle(client, conn, frame);
                self.deliver(relay, out);
            }
            Ev::Say { client } => {
                if self.now < self.typing_until {
                    self.say(client);
                    let next = self.rng.range(300, 1_500);
                    self.at(self.now.plus(next), Ev::Say { client });
                }
            }
            Ev::FaultStart(i) => self.fault(i, true),
            Ev::FaultEnd(i) => self.fault(i, false),
            Ev::Replicate => {
                self.replicate();
                self.at(self.now.plus(REPLICATION_EVERY), Ev::Replicate);
            }
            Ev::Moderate => {
                self.moderate();
                self.at(self.now.plus(MODERATOR_EVERY), Ev::Moderate);
            }
        }
    }

    fn deliver(&mut self, relay: usize, out: Vec<(usize, ConnId, ServerFrame)>) {
        for (client, conn, frame) in out {
            if self.conns.get(&(client, conn)) == Some(&relay) {
                let input = Input::Frame { conn, frame };
                self.on_conn(client, conn, false, relay, Ev::Input { client, input });
            }
        }
    }

    pub fn say(&mut self, client: usize) -> MessageId {
        let now = self.now;
        let c = &mut self.clients[client];
        let text = format!("{} says {}", client, c.said.len());
        let id = c.session.send(now, c.chat, &text).expect("a valid message");
        c.said.push(id);
        self.drain(client);
        id
    }

    /// Carries out a client's actions.
    pub fn drain(&mut self, client: usize) {
        let trace = std::env::var("TWINLINE_SIM_TRACE")
            .ok()
            .and_then(|c| c.parse::<usize>().ok());
        while let Some(action) = self.clients[client].session.poll_action() {
            if trace == Some(client)
                && !matches!(
                    action,
                    Action::Persist
                        | Action::Send {
                            frame: ClientFrame::Ping { .. },
                            ..
                        }
                )
            {
                println!("{:>6} c{client} {action:?}", self.now.0);
            }
            match action {
                Action::Connect {
                    conn, deployment, ..
                } => {
                    let relay = index(deployment);
                    self.conns.insert((client, conn), relay);
                    self.on_conn(
                        client,
                        conn,
                        true,
                        relay,
                        Ev::Connect {
                            relay,
                            client,
                            conn,
                        },
                    );
                }
                Action::Disconnect { conn } => {
                    if let Some(relay) = self.conns.remove(&(client, conn)) {
                        self.relays[relay].drop_peer(client, conn);
                    }
                }
                Action::Send { conn, frame } => {
                    if let Some(&relay) = self.conns.get(&(client, conn)) {
                        self.on_conn(
                            client,
                            conn,
                            true,
                            relay,
                            Ev::Frame {
                                relay,
                                client,
                                conn,
                                frame,
                            },
                        );
                    }
                }
                Action::Probe { deployment, .. } => {
                    let relay = index(deployment);
                    let (health, delay) = if self.silent[client][relay] {
                        (None, REQUEST_TIMEOUT)
                    } else if !self.relays[relay].up {
                        (None, self.latency(client, relay))
                    } else {
                        (Some(self.health(relay)), 2 * self.latency(client, relay))
                    };
                    let input = Input::Probe { deployment, health };
                    self.at(self.now.plus(delay), Ev::Input { client, input });
                }
                Action::AskModerator { .. } => {
                    let answer = self.moderator_up.then(|| self.answer());
                    let delay = self.rng.range(1, 5);
                    let input = Input::Moderator { answer };
                    self.at(self.now.plus(delay), Ev::Input { client, input });
                }
                Action::Persist => {
                    let snapshot = self.clients[client].session.snapshot();
                    self.clients[client].snapshot = Some(snapshot);
                }
                Action::Event(SessionEvent::Acked { id, .. }) => {
                    let now = self.now;
                    self.clients[client].acks.entry(id).or_insert(now);
                }
                Action::Event(SessionEvent::Connection(status)) => {
                    self.clients[client].link = (status.state, status.deployment);
                }
                Action::Event(_) => {}
            }
        }
    }

    fn health(&self, relay: usize) -> Health {
        let other = &self.relays[1 - relay];
        Health {
            deployment: NAMES[relay].into(),
            role: ROLES[relay],
            epoch: 1,
            ready: self.relays[relay].draining_to.is_none(),
            draining: self.relays[relay].draining_to.is_some(),
            lag: Some(ReplicationLag {
                changes: self.relays[relay].lag_behind(other),
                seconds: 0.0,
                connected: other.up && !self.replication_cut,
            }),
            version: String::new(),
        }
    }

    fn answer(&self) -> ActiveDeployment {
        let active = self.moderator_active;
        ActiveDeployment {
            epoch: self.moderator_epoch,
            active: NAMES[active].into(),
            url: format!("http://{}", NAMES[active]),
            held: self.moderator_hold.is_some(),
            deployments: (0..2)
                .map(|i| DeploymentState {
                    name: NAMES[i].into(),
                    role: ROLES[i],
                    url: format!("http://{}", NAMES[i]),
                    up: self.relays[i].up,
                    health: None,
                })
                .collect(),
        }
    }

    /// The moderator's rules (see relay/src/moderator): fail over when the
    /// active one is down and the other up; fail back to the primary only
    /// when it has caught up; an administrator's hold wins while its
    /// deployment is up. A switch away from a live deployment drains it.
    fn moderate(&mut self) {
        if !self.moderator_up {
            return;
        }
        // Like the real moderator: a drained deployment is undrained once
        // its clients have left.
        for relay in 0..2 {
            if relay != self.moderator_active && self.relays[relay].peers.is_empty() {
                self.relays[relay].draining_to = None;
            }
        }
        let up = |w: &World, i: usize| w.relays[i].up;
        let current = self.moderator_active;
        let mut next = current;
        if let Some(hold) = self.moderator_hold
            && up(self, hold)
        {
            next = hold;
        } else if !up(self, current) && up(self, 1 - current) {
            next = 1 - current;
        } else if current == 1
            && up(self, 0)
            && !self.replication_cut
            && self.relays[0].lag_behind(&self.relays[1]) == 0
        {
            next = 0;
        }
        if next != current {
            self.moderator_active = next;
            self.moderator_epoch += 1;
            self.relays[next].draining_to = None;
            if up(self, current) {
                self.drain_relay(current, next);
            }
        }
    }

    fn drain_relay(&mut self, relay: usize, to: usize) {
        self.relays[relay].draining_to = Some(NAMES[to]);
        let peers = self.relays[relay].peers.clone();
        let out = peers
            .into_iter()
            .map(|p| {
                (
                    p.client,
                    p.conn,
                    ServerFrame::Migrate {
                        to: NAMES[to].into(),
                        reason: "maintenance".into(),
                    },
                )
            })
            .collect();
        self.deliver(relay, out);
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

    fn crash(&mut self, relay: usize) {
        self.relays[relay].up = false;
        self.relays[relay].peers.clear();
        self.relays[relay].draining_to = None;
        let dropped: Vec<(usize, ConnId)> = self
            .conns
            .iter()
            .filter(|(_, r)| **r == relay)
            .map(|(k, _)| *k)
            .collect();
        for (client, conn) in dropped {
            self.conns.remove(&(client, conn));
            if !self.silent[client][relay] {
                let delay = self.latency(client, relay);
                self.at(
                    self.now.plus(delay),
                    Ev::Input {
                        client,
                        input: Input::Closed { conn },
                    },
                );
            }
        }
    }

    /// Each client on `relay` types a message now; its ack time is the
    /// failover time.
    fn measure(&mut self, kind: &'static str, fault: usize, relay: usize, only: Option<usize>) {
        for client in 0..self.clients.len() {
            if only.is_some_and(|c| c != client) {
                continue;
            }
            let on_it = self.clients[client].link == (LinkState::Connected, Some(ROLES[relay]));
            if on_it && self.relays[1 - relay].up && !self.silent[client][1 - relay] {
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

    fn fault(&mut self, i: usize, start: bool) {
        let fault = self.faults[i].fault.clone();
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
                let was = self.silent[client][relay];
                self.silent[client][relay] = true;
                if !was && self.relays[relay].up {
                    self.measure("silent", i, relay, Some(client));
                }
            }
            (Fault::Silence { client, relay }, false) => {
                self.silent[client][relay] = false;
                let held = std::mem::take(&mut self.held);
                for (c, r, ev) in held {
                    if c == client && r == relay {
                        self.redeliver(c, r, ev);
                    } else {
                        self.held.push((c, r, ev));
                    }
                }
            }
            (
                Fault::Slow {
                    client,
                    relay,
                    extra,
                },
                start,
            ) => {
                self.slow[client][relay] = if start { extra } else { 0 };
            }
            (Fault::ModeratorDown, start) => self.moderator_up = !start,
            (Fault::CutReplication, start) => self.replication_cut = start,
            (Fault::PlannedSwitch { to }, true) => {
                if self.moderator_up && self.relays[to].up {
                    self.moderator_hold = Some(to);
                    self.moderate();
                }
            }
            (Fault::PlannedSwitch { .. }, false) => {
                self.moderator_hold = None;
                self.moderate();
            }
            (Fault::Reload { client }, true) => self.reload(client),
            (Fault::Reload { .. }, false) => {}
        }
    }

    fn redeliver(&mut self, client: usize, relay: usize, ev: Ev) {
        let conn = match &ev {
            Ev::Input {
                input: Input::Opened { conn } | Input::Closed { conn } | Input::Frame { conn, .. },
                ..
            } => *conn,
            Ev::Frame { conn, .. } | Ev::Connect { conn, .. } => *conn,
            _ => return,
        };
        if self.conns.get(&(client, conn)) == Some(&relay) {
            let to_relay = matches!(ev, Ev::Frame { .. } | Ev::Connect { .. });
            self.on_conn(client, conn, to_relay, relay, ev);
        }
    }

    /// The page reloads: its sockets vanish and the session restarts from
    /// the last snapshot it persisted.
    fn reload(&mut self, client: usize) {
        let Some(snapshot) = self.clients[client].snapshot.clone() else {
            return;
        };
        let gone: Vec<(usize, ConnId)> = self
            .conns
            .keys()
            .filter(|(c, _)| *c == client)
            .copied()
            .collect();
        for key in gone {
            if let Some(relay) = self.conns.remove(&key) {
                self.relays[relay].drop_peer(key.0, key.1);
            }
        }
        let role = self.clients[client].role;
        let seed = self.rng.next();
        let now = self.now;
        self.clients[client].session = Session::restore(config(role), snapshot, now, seed);
        self.drain(client);
    }

    /// Ends every fault: relays up, paths clear, moderator back.
    pub fn heal(&mut self) {
        for relay in 0..2 {
            self.relays[relay].up = true;
        }
        for client in 0..self.clients.len() {
            self.silent[client] = [false; 2];
            self.slow[client] = [0; 2];
        }
        let held = std::mem::take(&mut self.held);
        for (c, r, ev) in held {
            self.redeliver(c, r, ev);
        }
        self.moderator_up = true;
        self.moderator_hold = None;
        self.replication_cut = false;
        self.faults.clear();
    }

    /// Checks every invariant; returns what broke.
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        let [a, b] = &self.relays;
        if a.store.keys().ne(b.store.keys()) {
            out.push(format!(
                "relays diverged: {} vs {} messages",
                a.store.len(),
                b.store.len()
            ));
        }
        for (i, client) in self.clients.iter().enumerate() {
            if client.session.pending_count() != 0 {
                out.push(format!(
                    "client {i} still has {} pending",
                    client.session.pending_count()
                ));
            }
            if client.link.0 != LinkState::Connected {
                out.push(format!("client {i} ended {:?}", client.link));
            } else if client.link.1.map(index) != Some(self.moderator_active) {
                // Healed: the moderator answers and names a deployment every
                // client reaches, so every client must have followed it.
                out.push(format!(
                    "client {i} ended on {:?}, the moderator names {}",
                    client.link.1, NAMES[self.moderator_active]
                ));
            }
            for id in &client.said {
                if !a.store.contains_key(id) {
                    out.push(format!("client {i}'s message {id} lost"));
                }
                if client.session.delivery(*id) != Delivery::Acked {
                    out.push(format!("client {i}'s message {id} not acked"));
                }
            }
            let shown = client
                .session
                .transcript(client.chat)
                .map(|t| t.ids())
                .unwrap_or_default();
            let mut stored: Vec<_> = a.store.values().filter(|m| m.chat == client.chat).collect();
            stored.sort_by(|x, y| x.display_key().cmp(&y.display_key()));
            let stored: Vec<MessageId> = stored.iter().map(|m| m.id).collect();
            if shown != stored {
                out.push(format!(
                    "client {i} shows {} messages, the relays {} (or another order)",
                    shown.len(),
                    stored.len()
                ));
            }
            let unique: std::collections::BTreeSet<_> = shown.iter().collect();
            if unique.len() != shown.len() {
                out.push(format!("client {i} shows duplicates"));
            }
        }
        out
    }

    /// Failover times: (kind, ms from the fault to the ack, isolated),
    /// where isolated means no other fault was active meanwhile.
    pub fn failover_times(&self) -> Vec<(&'static str, u64, bool)> {
        self.failovers
            .iter()
            .filter_map(|f| {
                let acked = *self.clients[f.client].acks.get(&f.message)?;
                let isolated = self
                    .schedule
                    .iter()
                    .enumerate()
                    .all(|(i, s)| i == f.fault || s.at + s.duration < f.at.0 || s.at > acked.0);
                Some((f.kind, acked.since(f.at), isolated))
            })
            .collect()
    }
}
