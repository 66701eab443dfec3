//! The session: owns the parts and decides when to connect, where, and
//! what to send. Frame handling is in `frames.rs`, user actions and queries
//! in `commands.rs`.
//!
//! Connecting follows RFC 8305 ("happy eyeballs") between the two
//! deployments: the one the routing prefers goes first, and if it has not
//! welcomed the session after `race_delay`, the other is tried beside it
//! (unless it is known to be down); the first to welcome wins, the other
//! is closed, and the loser counts as down until a probe says otherwise,
//! so a deployment that swallows packets costs a page a quarter of a
//! second rather than a connect timeout. The moderator's word still
//! decides where the session ends up once it is known: it is followed
//! (make before break) as soon as the deployment it names answers here.
//!
//! A failed attempt is followed at once by an attempt at the other
//! deployment while that one is not known to be down; only when both are
//! does the session back off (exponentially, with jitter). Meanwhile it
//! probes both at `outage_probe_interval`, and a probe that finds one
//! answering cuts the backoff short ([`PROBE_HURRIES`] times per outage,
//! so a deployment whose health answers but whose sockets fail is not
//! hammered at the probes' pace).

use super::chats::Chats;
use super::config::{Identity, SessionConfig};
use super::io::{Action, ConnId, ConnectionStatus, Input, LinkState, SessionEvent};
use super::link::{Beat, Link};
use super::outbox::Outbox;
use super::receipts::Receipts;
use super::routing::{Request, Routing};
use super::snapshot::{SNAPSHOT_VERSION, Snapshot};
use super::typing::Typing;
use crate::model::{OfflineNote, Role};
use crate::protocol::{ClientFrame, DeploymentRole, PROTOCOL_VERSION, QueueEntry};
use crate::random::SplitMix64;
use crate::time::Millis;
use std::collections::VecDeque;

/// How many times per outage a probe that finds a deployment answering
/// may start a connection before the backoff says so.
pub(super) const PROBE_HURRIES: u32 = 2;

/// What the relay said about itself in its welcome.
#[derive(Clone, Debug)]
pub(super) struct Welcomed {
    pub(super) name: String,
    pub(super) role: DeploymentRole,
}

/// A client's session with the chat service. See the module docs.
#[derive(Debug)]
pub struct Session {
    pub(super) config: SessionConfig,
    pub(super) identity: Identity,
    pub(super) random: SplitMix64,
    next_conn: u64,
    pub(super) routing: Routing,
    /// The link in use, or being set up.
    pub(super) link: Option<Link>,
    /// A link being set up to replace `link` without a gap (migration).
    pub(super) next_link: Option<Link>,
    /// No new connection before this time (backoff).
    reconnect_at: Millis,
    /// Consecutive connection attempts that never reached `welcome`.
    attempts: u32,
    /// Connections started early on a probe's good news since the last
    /// welcome (at most [`PROBE_HURRIES`]).
    hurried: u32,
    /// The next ping's nonce (a counter: it only has to name the ping, and
    /// a small number keeps the idle link's frames small).
    next_nonce: u64,
    pub(super) ever_connected: bool,
    pub(super) welcomed: Option<Welcomed>,
    /// A relay's `migrate`: this deployment until the given time.
    pub(super) migrate_to: Option<(DeploymentRole, Millis)>,
    /// A rejoin is under way: the working link to this deployment closed
    /// while the moderator named it, and the session reconnects to the
    /// same URL before any failover (see [`Session::rejoin`]).
    rejoin: Option<DeploymentRole>,
    /// A drained node asked this client to move within its deployment: a
    /// second link to the same URL, opened at this time, replaces the
    /// working one once welcomed (make before break).
    pub(super) relink_at: Option<Millis>,
    /// Resend pending messages at this time (the relay asked to retry).
    pub(super) resend_at: Option<Millis>,
    /// The last token was refused; wait for a new one (`set_token`).
    pub(super) token_refused: bool,
    pub(super) chats: Chats,
    pub(super) outbox: Outbox,
    /// Read receipts: this side's, the other side's, what to replay.
    pub(super) receipts: Receipts,
    /// Typing notices, sent and heard.
    pub(super) typing: Typing,
    pub(super) queue: Vec<QueueEntry>,
    pub(super) operators_online: u32,
    /// The last welcome's `mail`: that relay sends the transcript by email.
    pub(super) mail: bool,
    pub(super) operators: Vec<String>,
    pub(super) inbox: Vec<OfflineNote>,
    actions: VecDeque<Action>,
    dirty: bool,
    last_status: Option<ConnectionStatus>,
    /// `shutdown` was called: nothing more happens.
    pub(super) shut: bool,
}

impl Session {
    /// A new session for `identity`.
    pub fn new(config: SessionConfig, identity: Identity, now: Millis, seed: u64) -> Session {
        let mut chats = Chats::default();
        if let Some(chat) = identity.chat {
            chats.ensure(chat);
        }
        let mut session = Session::build(config, identity, chats, Outbox::default(), now, seed);
        session.dirty = true;
        session.step(now);
        session
    }

    /// A session continued from a snapshot (a page reload). A snapshot of
    /// another layout version keeps only its identity and chats.
    pub fn restore(config: SessionConfig, snapshot: Snapshot, now: Millis, seed: u64) -> Session {
        let mut chats = Chats::default();
        for (chat, local) in snapshot.chats {
            chats.chats.insert(chat, local);
        }
        if let Some(chat) = snapshot.identity.chat {
            chats.ensure(chat);
        }
        let mut outbox = Outbox::default();
        if snapshot.v == SNAPSHOT_VERSION {
            for id in snapshot.pending {
                if let Some(chat) = chats
                    .chats
                    .iter()
                    .find(|(_, local)| local.transcript.contains(id))
                    .map(|(chat, _)| *chat)
                {
                    chats.pending.insert(id, chat);
                }
            }
            chats.refused.extend(snapshot.refused);
            outbox = Outbox {
                notes: snapshot.notes,
                intents: snapshot.intents,
                visitor: snapshot.visitor,
                online: snapshot.online,
                ratings: snapshot.ratings,
                emails: snapshot.emails,
            };
        }
        let mut session = Session::build(config, snapshot.identity, chats, outbox, now, seed);
        session.step(now);
        session
    }

    fn build(
        config: SessionConfig,
        identity: Identity,
        chats: Chats,
        outbox: Outbox,
        now: Millis,
        seed: u64,
    ) -> Session {
        let mut random = SplitMix64::new(seed);
        let side = super::reading::side_of(config.role);
        Session {
            routing: Routing::new(&config, now, random.next_u64()),
            config,
            identity,
            random,
            next_conn: 1,
            link: None,
            next_link: None,
            reconnect_at: now,
            attempts: 0,
            hurried: 0,
            next_nonce: 1,
            ever_connected: false,
            welcomed: None,
            migrate_to: None,
            rejoin: None,
            relink_at: None,
            resend_at: None,
            token_refused: false,
            chats,
            outbox,
            receipts: Receipts::new(side),
            typing: Typing::default(),
            queue: Vec::new(),
            operators_online: 0,
            mail: false,
            operators: Vec::new(),
            inbox: Vec::new(),
            actions: VecDeque::new(),
            dirty: false,
            last_status: None,
            shut: false,
        }
    }

    /// The state to store so a reload continues the same chat.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            v: SNAPSHOT_VERSION,
            identity: self.identity.clone(),
            chats: self
                .chats
                .chats
                .iter()
                .map(|(chat, local)| (*chat, local.clone()))
                .collect(),
            pending: self.chats.pending.keys().copied().collect(),
            refused: self.chats.refused.iter().copied().collect(),
            notes: self.outbox.notes.clone(),
            intents: self.outbox.intents.clone(),
            visitor: self.outbox.visitor.clone(),
            online: self.outbox.online,
            ratings: self.outbox.ratings.clone(),
            emails: self.outbox.emails.clone(),
        }
    }

    /// Feeds one input (ignored once the session is shut down).
    pub fn handle(&mut self, now: Millis, input: Input) {
        if self.shut {
            return;
        }
        match input {
            Input::Opened { conn } => self.on_opened(now, conn),
            Input::Closed { conn } => self.on_closed(now, conn),
            Input::Frame { conn, frame } => self.on_frame(now, conn, frame),
            Input::Probe { deployment, health } => {
                if self.routing.on_probe(deployment, health.as_ref(), now) {
                    self.found_answering(now);
                }
            }
            Input::Moderator { answer } => {
                self.routing
                    .on_moderator(answer.as_ref(), &self.config, now);
            }
            Input::Network { online } => {
                if online {
                    self.routing.forget_failures(now);
                    self.attempts = 0;
                    self.hurried = 0;
                    self.reconnect_at = now;
                }
                self.check_link(now);
            }
            Input::Resumed => {
                self.routing.hurry(now);
                self.reconnect_at = self.reconnect_at.min(now);
                self.check_link(now);
            }
        }
        self.step(now);
    }

    /// A probe found a deployment answering that was not known to: with no
    /// link up, connect now rather than when the backoff says (bounded by
    /// [`PROBE_HURRIES`]; jittered a little so that thousands of clients
    /// whose probes found it in the same round do not arrive in the same
    /// millisecond).
    fn found_answering(&mut self, now: Millis) {
        let up = self.link.as_ref().is_some_and(Link::is_ready);
        if up || self.hurried >= PROBE_HURRIES {
            return;
        }
        self.hurried += 1;
        let soon = now.plus(self.random.between(0, self.config.timing.backoff_min));
        self.reconnect_at = self.reconnect_at.min(soon);
    }

    /// Asks the relay at once whether the link still works (the network or
    /// the page came back): a ping now, not at the next heartbeat.
    fn check_link(&mut self, now: Millis) {
        let nonce = self.next_nonce;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if let Beat::Ping(nonce) = link.check(now, nonce) {
            self.next_nonce += 1;
            let conn = link.conn;
            self.push(Action::Send {
                conn,
                frame: ClientFrame::Ping { nonce },
            });
        }
    }

    /// Call at (or after) [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Millis) {
        self.step(now);
    }

    /// The next thing to do, if any. Drain it until `None` after every
    /// input, timeout and command: the actions are the session's only way
    /// to act on the world.
    #[must_use = "an action the session asked for is lost unless it is carried out"]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] should be called next (`None`: not
    /// until another input; always `None` once shut down).
    #[must_use = "the session needs a timer armed for this time"]
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.shut {
            return None;
        }
        let timing = &self.config.timing;
        let links = [&self.link, &self.next_link]
            .into_iter()
            .flatten()
            .map(|l| l.deadline(timing));
        let reconnect = (self.link.is_none() && !self.token_refused).then_some(self.reconnect_at);
        let relink = self
            .relink_at
            .filter(|_| self.next_link.is_none() && self.link.as_ref().is_some_and(Link::is_ready))
            .map(|at| at.max(self.reconnect_at));
        links
            .chain(reconnect)
            .chain(relink)
            .chain(self.race_at())
            .chain(self.routing.next_deadline())
            .chain(self.resend_at)
            .chain(self.migrate_to.map(|(_, until)| until))
            .chain(self.typing.deadline(timing))
            .min()
    }

    pub(super) fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    pub(super) fn event(&mut self, event: SessionEvent) {
        self.actions.push_back(Action::Event(event));
    }

    pub(super) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Sends on the ready link, if there is one; false otherwise.
    pub(super) fn send_now(&mut self, now: Millis, frame: ClientFrame) -> bool {
        match self.link.as_mut() {
            Some(link) if link.is_ready() => {
                // The relay acks these: its silence about them is news.
                if matches!(
                    frame,
                    ClientFrame::Send { .. } | ClientFrame::Offline { .. }
                ) {
                    link.asked(now);
                }
                let conn = link.conn;
                self.push(Action::Send { conn, frame });
                true
            }
            _ => false,
        }
    }

    /// Everything that follows from the state at `now`: timers, requests,
    /// connection decisions, then one persist and one status event.
    pub(super) fn step(&mut self, now: Millis) {
        if self.shut {
            return;
        }
        self.beat(now);
        self.typing_timers(now);
        let outage = !self.link.as_ref().is_some_and(Link::is_ready);
        for request in self.routing.due(now, outage) {
            let action = match request {
                Request::Probe(role) => match self.config.endpoint(role) {
                    Some(endpoint) => Action::Probe {
                        deployment: role,
                        url: endpoint.health_url(),
                    },
                    None => continue,
                },
                Request::AskModerator(url) => Action::AskModerator { url },
            };
            self.push(action);
        }
        if self.migrate_to.is_some_and(|(_, until)| now >= until) {
            self.migrate_to = None;
        }
        if self.resend_at.is_some_and(|at| now >= at)
            && self.link.as_ref().is_some_and(Link::is_ready)
        {
            self.resend_at = None;
            for msg in self.chats.pending_messages() {
                self.send_now(now, ClientFrame::Send { msg });
            }
        }
        self.route(now);
        if std::mem::take(&mut self.dirty) {
            self.push(Action::Persist);
        }
        let status = self.status();
        if self.last_status.as_ref() != Some(&status) {
            self.last_status = Some(status.clone());
            self.event(SessionEvent::Connection(status));
        }
    }

    /// Heartbeats and connection deadlines of both links.
    fn beat(&mut self, now: Millis) {
        let timing = self.config.timing;
        for which in [Which::Current, Which::Next] {
            let nonce = self.next_nonce;
            let Some(link) = self.slot(which).as_mut() else {
                continue;
            };
            match link.beat(now, &timing, nonce) {
                Beat::Nothing => {}
                Beat::Ping(nonce) => {
                    let conn = link.conn;
                    self.next_nonce += 1;
                    self.push(Action::Send {
                        conn,
                        frame: ClientFrame::Ping { nonce },
                    });
                }
                Beat::Dead => {
                    let conn = link.conn;
                    self.push(Action::Disconnect { conn });
                    self.lose(now, which);
                }
            }
        }
    }

    /// Typing notices that went quiet (`off` to the relay) or stale (the
    /// user interface is told).
    fn typing_timers(&mut self, now: Millis) {
        let due = self.typing.due(now, &self.config.timing);
        for chat in due.quiet {
            self.send_now(now, ClientFrame::Typing { chat, on: false });
        }
        for (chat, who) in due.stale {
            self.event(SessionEvent::Typing {
                chat,
                who,
                on: false,
            });
        }
    }

    fn slot(&mut self, which: Which) -> &mut Option<Link> {
        match which {
            Which::Current => &mut self.link,
            Which::Next => &mut self.next_link,
        }
    }

    /// The deployment to be on now.
    fn target(&self) -> Option<DeploymentRole> {
        if let Some((role, _)) = self.migrate_to
            && !self.routing.is_down(role)
        {
            return Some(role);
        }
        let current = self.link.as_ref().map(|l| l.role);
        self.routing.choose(current)
    }

    /// Connects, switches or stays, by the target.
    fn route(&mut self, now: Millis) {
        if self.token_refused {
            return;
        }
        let Some(target) = self.target() else {
            return;
        };
        match &self.link {
            None => {
                if now >= self.reconnect_at {
                    self.link = Some(self.connect(now, target));
                }
            }
            Some(link) if link.role == target => {
                if !link.is_ready() {
                    self.race(now);
                } else if let Some(at) = self.relink_at {
                    // A drained node's `migrate` to its own deployment:
                    // a second link to the same URL (the balancer sends
                    // it to another node), then the old one closes.
                    if self.next_link.as_ref().is_some_and(|n| n.role != target) {
                        let conn = self.next_link.take().map(|n| n.conn);
                        if let Some(conn) = conn {
                            self.push(Action::Disconnect { conn });
                        }
                    }
                    if self.next_link.is_none() && now >= at.max(self.reconnect_at) {
                        self.next_link = Some(self.connect(now, target));
                    }
                } else if let Some(next) = self.next_link.take() {
                    self.push(Action::Disconnect { conn: next.conn });
                }
            }
            Some(link) if !link.is_ready() => {
                // Nothing to lose on a link not yet welcomed: go straight to
                // the target, keeping a rival already on its way there.
                let conn = link.conn;
                self.push(Action::Disconnect { conn });
                self.link = match self.next_link.take() {
                    Some(rival) if rival.role == target => Some(rival),
                    other => {
                        if let Some(other) = other {
                            self.push(Action::Disconnect { conn: other.conn });
                        }
                        Some(self.connect(now, target))
                    }
                };
            }
            Some(_) => {
                // Make before break: the old link keeps working until the
                // new one is welcomed.
                if self.next_link.as_ref().is_some_and(|n| n.role != target) {
                    let conn = self.next_link.take().map(|n| n.conn);
                    if let Some(conn) = conn {
                        self.push(Action::Disconnect { conn });
                    }
                }
                if self.next_link.is_none() && now >= self.reconnect_at {
                    self.next_link = Some(self.connect(now, target));
                }
            }
        }
    }

    /// When the link being set up gets a rival, if it is to get one: after
    /// `race_delay`, to the other deployment, unless that one is known to
    /// be down (RFC 8305's connection attempt delay); after only
    /// `race_delay_min` once the rival has answered a probe that the
    /// preferred one, asked no later, has not.
    fn race_at(&self) -> Option<Millis> {
        let link = self.link.as_ref().filter(|l| !l.is_ready())?;
        let rival = link.role.other();
        let worth_it = self.next_link.is_none()
            && !self.token_refused
            && self.config.endpoint(rival).is_some()
            && !self.routing.is_down(rival);
        let timing = &self.config.timing;
        let delay = if self.rejoin == Some(link.role) {
            timing.rejoin_grace
        } else if self.routing.outpaced(link.role, rival) {
            timing.race_delay_min
        } else {
            timing.race_delay
        };
        worth_it.then(|| link.started.plus(delay))
    }

    /// Starts the rival when its time has come; the first of the two to be
    /// welcomed is kept (`promote`).
    fn race(&mut self, now: Millis) {
        if let Some(at) = self.race_at()
            && now >= at
            && let Some(role) = self.link.as_ref().map(|l| l.role.other())
        {
            self.next_link = Some(self.connect(now, role));
        }
    }

    fn connect(&mut self, now: Millis, role: DeploymentRole) -> Link {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let url = self
            .config
            .endpoint(role)
            .map(|e| e.ws_url())
            .unwrap_or_default();
        self.push(Action::Connect {
            conn,
            deployment: role,
            url,
        });
        Link::new(conn, role, now)
    }

    fn on_opened(&mut self, now: Millis, conn: ConnId) {
        let Some(link) = [&mut self.link, &mut self.next_link]
            .into_iter()
            .flatten()
            .find(|l| l.conn == conn)
        else {
            return;
        };
        link.opened(now);
        let hello = ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: self.config.role,
            site: self.config.site.clone(),
            token: self.identity.token.clone(),
            resume: self.chats.resume(),
        };
        self.push(Action::Send { conn, frame: hello });
    }

    fn on_closed(&mut self, now: Millis, conn: ConnId) {
        if self.link.as_ref().is_some_and(|l| l.conn == conn) {
            let rejoin = self.link.as_ref().is_some_and(|l| {
                l.is_ready()
                    && self.next_link.as_ref().is_none_or(|n| n.role == l.role)
                    && !self.token_refused
                    && self.routing.moderator_choice() == Some(l.role)
            });
            if rejoin {
                self.rejoin(now);
            } else {
                self.lose(now, Which::Current);
            }
        } else if self.next_link.as_ref().is_some_and(|l| l.conn == conn) {
            self.lose(now, Which::Next);
        }
    }

    /// The working link to the deployment the moderator names was closed:
    /// its relay went away, not (as far as anyone knows) the deployment,
    /// whose load balancer sends a new connection to a node that lives.
    /// So the first move is a reconnect to the same URL (jittered a little,
    /// so a node's thousand clients do not arrive in the same millisecond),
    /// with nothing marked down and nobody probed: only if it fails does
    /// the usual failover follow, at once, and the other deployment is
    /// raced beside it only after `rejoin_grace`. A link that went silent
    /// is not rejoined: that is what a network or a data center lost
    /// looks like, and the failover goes first.
    fn rejoin(&mut self, now: Millis) {
        let Some(link) = self.link.take() else {
            return;
        };
        // A replacement already on its way there (a drain's move) carries
        // on as the rejoin.
        self.link = self.next_link.take();
        self.rejoin = Some(link.role);
        self.relink_at = None;
        self.attempts = 0;
        self.reconnect_at = now.plus(self.random.between(0, self.config.timing.backoff_min));
        self.typing.forget_told();
        self.receipts.on_link_lost();
    }

    /// A link died or never came up.
    pub(super) fn lose(&mut self, now: Millis, which: Which) {
        let Some(link) = self.slot(which).take() else {
            return;
        };
        let relink_failed = which == Which::Next
            && self.relink_at.is_some()
            && self
                .link
                .as_ref()
                .is_some_and(|l| l.is_ready() && l.role == link.role);
        if relink_failed {
            // A drain's move that reached a node on its way out (still in
            // the balancer's rotation, or stopping): the working link
            // carries on, nothing is down, and the move is tried again.
            let timing = self.config.timing;
            let wait = self
                .random
                .between(timing.backoff_min, timing.migrate_spread);
            self.relink_at = Some(now.plus(wait));
            return;
        }
        let rejoin_failed =
            which == Which::Current && self.rejoin.take() == Some(link.role) && !link.is_ready();
        if !self.token_refused {
            self.routing.mark_down(link.role, now);
        }
        self.routing.hurry(now);
        let other = link.role.other();
        let other_untried = self.config.endpoint(other).is_some() && !self.routing.is_down(other);
        let delay = if link.is_ready() {
            // A working link broke: try again at once (jittered a little so
            // thousands of clients do not arrive in the same millisecond).
            self.attempts = 0;
            self.random.between(0, self.config.timing.backoff_min)
        } else {
            self.attempts = self.attempts.saturating_add(1);
            if rejoin_failed && other_untried {
                // The rejoin's jitter already spread the clients out.
                0
            } else if self.attempts == 1 && other_untried {
                // Not a retry: the other deployment has not failed. (Only
                // the first time: after that, both have, whatever a probe
                // says about one of them since.)
                self.random.between(0, self.config.timing.backoff_min)
            } else {
                self.backoff()
            }
        };
        self.reconnect_at = now.plus(delay);
        if which == Which::Current {
            self.typing.forget_told();
            self.receipts.on_link_lost();
            if let Some(next) = self.next_link.take() {
                // The replacement carries on; if it is welcomed, nothing
                // was interrupted at all.
                self.link = Some(next);
            }
        }
    }

    /// Exponential backoff with full jitter, from the seeded generator.
    fn backoff(&mut self) -> u64 {
        let timing = self.config.timing;
        let ceiling = if self.token_refused {
            timing.backoff_max
        } else {
            let exp = self.attempts.min(16);
            timing
                .backoff_min
                .saturating_mul(1 << exp)
                .min(timing.backoff_max)
        };
        if self.attempts == 0 {
            return self.random.between(0, timing.backoff_min);
        }
        ceiling / 2 + self.random.between(0, ceiling / 2)
    }

    /// Called when a welcome arrives on `which`.
    pub(super) fn promote(&mut self, now: Millis, which: Which) {
        if which == Which::Next
            && let Some(next) = self.next_link.take()
        {
            if let Some(old) = self.link.replace(next) {
                self.push(Action::Disconnect { conn: old.conn });
                if !old.is_ready() {
                    // It lost a race: slower than the other by a head
                    // start at least. Down until a probe says otherwise.
                    self.routing.mark_down(old.role, now);
                }
            }
        }
        if let Some(link) = self.link.as_mut() {
            link.welcomed(now);
            let role = link.role;
            self.routing.mark_up(role);
        }
        self.attempts = 0;
        self.hurried = 0;
        self.rejoin = None;
        self.relink_at = None;
        self.ever_connected = true;
    }

    /// Which link a connection id names.
    pub(super) fn which(&self, conn: ConnId) -> Option<Which> {
        if self.link.as_ref().is_some_and(|l| l.conn == conn) {
            Some(Which::Current)
        } else if self.next_link.as_ref().is_some_and(|l| l.conn == conn) {
            Some(Which::Next)
        } else {
            None
        }
    }

    /// The relay answered a message on the current link.
    pub(super) fn message_answered(&mut self) {
        if let Some(link) = self.link.as_mut() {
            link.answered();
        }
    }

    pub(super) fn heard(&mut self, now: Millis, which: Which) {
        if let Some(link) = self.slot(which).as_mut() {
            link.heard(now);
        }
    }

    /// The link as a user would describe it.
    pub fn status(&self) -> ConnectionStatus {
        let ready = self.link.as_ref().is_some_and(Link::is_ready);
        let deployment = self
            .welcomed
            .as_ref()
            .map(|w| w.role)
            .or(self.link.as_ref().map(|l| l.role));
        let name = self.welcomed.as_ref().map(|w| w.name.clone());
        let both_down = self
            .config
            .deployments
            .iter()
            .all(|e| self.routing.is_down(e.role));
        let state = if ready {
            LinkState::Connected
        } else if self.token_refused || (both_down && self.attempts >= 2) {
            LinkState::Offline
        } else if self.ever_connected {
            LinkState::Reconnecting
        } else {
            LinkState::Connecting
        };
        ConnectionStatus {
            state,
            deployment,
            name,
        }
    }

    /// The role this session speaks as.
    pub fn role(&self) -> Role {
        self.config.role
    }
}

/// The two link slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Which {
    Current,
    Next,
}
