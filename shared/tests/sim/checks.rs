//! The rules every run must keep, checked as it runs.
//!
//! Safety rules are checked at the step that could break them, as
//! TigerBeetle's simulator checks after every step rather than once at the
//! end: a broken rule is reported with the virtual time and the client
//! that broke it, where the trace shows what led there. They hold at every
//! moment, faults or not:
//! - an `ack` means durable: a message a client saw acked is in a relay's
//!   committed store when the ack arrives and after every crash;
//! - no page shows a message twice (the page is rebuilt from the session's
//!   events, as the widget and the console render them);
//! - no page shows a message that neither it wrote nor a relay stored;
//! - a reload loses nothing the page showed and unsends nothing acked;
//! - the moderator's epochs never go back, across its restarts (clients
//!   would ignore its answers as stale).
//!
//! Settled rules need the faults over: once everything has healed and the
//! world ran on, [`Checks::settled`] asks that nothing is lost, pending,
//! diverged or out of order, and that every client is connected where the
//! moderator says.

use super::moderator::{NAMES, index};
use super::relay::Relay;
use super::trace::client_name;
use super::world::Client;
use std::collections::{BTreeMap, BTreeSet};
use twinline_core::protocol::ActiveDeployment;
use twinline_core::session::{Delivery, LinkState, Session};
use twinline_core::{MessageId, Millis};

/// More than this many broken rules in one run are not worth listing.
const MAX_REPORTED: usize = 20;

pub struct Checks {
    /// Every ack any client saw: id → (client, when).
    acked: BTreeMap<MessageId, (usize, Millis)>,
    /// What each client's page shows, built from its events alone.
    shown: Vec<BTreeSet<MessageId>>,
    /// The highest epoch the moderator has answered with.
    epoch: u64,
    violations: Vec<String>,
}

fn stored(relays: &[Relay; 2], id: &MessageId) -> bool {
    relays.iter().any(|relay| relay.store.contains_key(id))
}

/// Every message a session holds, in any chat.
fn held_by(session: &Session) -> BTreeSet<MessageId> {
    session
        .chats()
        .filter_map(|chat| session.transcript(chat))
        .flat_map(|t| t.ids())
        .collect()
}

impl Checks {
    pub fn new(clients: usize) -> Checks {
        Checks {
            acked: BTreeMap::new(),
            shown: vec![BTreeSet::new(); clients],
            epoch: 0,
            violations: Vec::new(),
        }
    }

    fn broken(&mut self, now: Millis, client: Option<usize>, what: String) {
        if self.violations.len() < MAX_REPORTED {
            let who = client.map_or_else(|| "world".into(), client_name);
            self.violations
                .push(format!("at {} ms, {who}: {what}", now.0));
        }
    }

    /// The session said `id` is acked.
    pub fn on_acked(&mut self, now: Millis, client: usize, id: MessageId, relays: &[Relay; 2]) {
        if !stored(relays, &id) {
            self.broken(
                now,
                Some(client),
                format!("{id} acked but in no relay's committed store"),
            );
        }
        self.acked.entry(id).or_insert((client, now));
    }

    /// The session said `id` was added: the page shows it now.
    pub fn on_shown(
        &mut self,
        now: Millis,
        client: usize,
        id: MessageId,
        written_here: bool,
        relays: &[Relay; 2],
    ) {
        if !self.shown[client].insert(id) {
            self.broken(now, Some(client), format!("shows {id} twice"));
        }
        if !written_here && !stored(relays, &id) {
            self.broken(
                now,
                Some(client),
                format!("shows {id}, which it did not write and no relay stored"),
            );
        }
    }

    /// After a relay crashed: everything acked is still stored somewhere.
    pub fn after_crash(&mut self, now: Millis, relays: &[Relay; 2]) {
        let lost: Vec<(MessageId, usize)> = self
            .acked
            .iter()
            .filter(|(id, _)| !stored(relays, id))
            .map(|(id, (client, _))| (*id, *client))
            .collect();
        for (id, client) in lost {
            self.broken(
                now,
                Some(client),
                format!("{id} was acked, and a crash lost it"),
            );
        }
    }

    /// A page reloaded into `session`.
    pub fn after_reload(&mut self, now: Millis, client: usize, session: &Session) {
        let now_shown = held_by(session);
        let lost: Vec<MessageId> = self.shown[client].difference(&now_shown).copied().collect();
        for id in lost {
            self.broken(now, Some(client), format!("the reload lost {id}"));
        }
        let unsent: Vec<MessageId> = self
            .acked
            .iter()
            .filter(|(id, (by, _))| *by == client && session.delivery(**id) != Delivery::Acked)
            .map(|(id, _)| *id)
            .collect();
        for id in unsent {
            self.broken(
                now,
                Some(client),
                format!("{id} was acked, and is not after the reload"),
            );
        }
        self.shown[client] = now_shown;
    }

    /// The moderator answered a client.
    pub fn on_answer(&mut self, now: Millis, answer: &ActiveDeployment) {
        if answer.epoch < self.epoch {
            let what = format!(
                "the moderator answered epoch {} after {}",
                answer.epoch, self.epoch
            );
            self.broken(now, None, what);
        }
        self.epoch = self.epoch.max(answer.epoch);
    }

    /// The safety rules broken so far.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// The settled rules, once everything has healed and the world ran on;
    /// `active` is the deployment the moderator names.
    pub fn settled(&self, relays: &[Relay; 2], clients: &[Client], active: usize) -> Vec<String> {
        let mut out = Vec::new();
        let [a, b] = relays;
        if a.store.keys().ne(b.store.keys()) {
            out.push(format!(
                "relays diverged: {} vs {} messages",
                a.store.len(),
                b.store.len()
            ));
        }
        for (i, client) in clients.iter().enumerate() {
            let name = client_name(i);
            let session = &client.session;
            if session.pending_count() != 0 {
                out.push(format!(
                    "{name} still has {} pending",
                    session.pending_count()
                ));
            }
            if client.link.0 != LinkState::Connected {
                out.push(format!("{name} ended {:?}", client.link));
            } else if client.link.1.map(index) != Some(active) {
                // Healed: the moderator answers and names a deployment every
                // client reaches, so every client must have followed it.
                out.push(format!(
                    "{name} ended on {:?}, the moderator names {}",
                    client.link.1, NAMES[active]
                ));
            }
            for (id, _) in &client.said {
                if !a.store.contains_key(id) {
                    out.push(format!("{name}'s message {id} lost"));
                }
                if session.delivery(*id) != Delivery::Acked {
                    out.push(format!("{name}'s message {id} not acked"));
                }
            }
            let shown = session
                .transcript(client.chat)
                .map(|t| t.ids())
                .unwrap_or_default();
            let mut in_store: Vec<_> = a.store.values().filter(|m| m.chat == client.chat).collect();
            in_store.sort_by(|x, y| x.display_key().cmp(&y.display_key()));
            let in_store: Vec<MessageId> = in_store.iter().map(|m| m.id).collect();
            if shown != in_store {
                out.push(format!(
                    "{name} shows {} messages, the relays {} (or another order)",
                    shown.len(),
                    in_store.len()
                ));
            }
            let unique: BTreeSet<_> = shown.iter().collect();
            if unique.len() != shown.len() {
                out.push(format!("{name} shows duplicates"));
            }
            let held = held_by(session);
            if held != self.shown[i] {
                out.push(format!(
                    "{name}'s page shows {} messages, its session holds {}",
                    self.shown[i].len(),
                    held.len()
                ));
            }
        }
        out
    }
}
