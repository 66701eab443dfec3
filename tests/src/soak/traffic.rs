//! The soak's clients and what they say.
//!
//! Every chat has a visitor client of its own; operators are fewer accounts
//! each holding several chats at once, as a real console does. Clients are
//! split into groups that reach the deployments through their own links.
//! Each side of each chat writes at a steady rate and every message is
//! recorded with the time it was written, so the checks can tell what was
//! lost and how long each message waited for its ack.

use super::faults::GROUPS;
use super::world::World;
use crate::native::NativeClient;
pub use crate::native::now;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use twinline_core::session::LinkState;
use twinline_core::{ChatId, ChatState, Message, MessageId, Millis};

/// Password of every soak operator.
const PASSWORD: &str = "soak operator password";
/// Setup steps may take this long.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// Which side of a chat wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The visitor.
    Visitor,
    /// The operator.
    Operator,
}

/// One message written by the soak.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Index of the chat.
    pub chat: usize,
    /// Who wrote it.
    pub side: Side,
    /// Its id.
    pub id: MessageId,
    /// Its sequence number on that side of the chat (0 = the greeting).
    pub seq: u64,
    /// When it was written.
    pub at: Millis,
    /// Written during the fault phase (counts for availability).
    pub measured: bool,
}

/// A chat and the clients on its two sides.
pub struct SoakChat {
    /// The chat.
    pub id: ChatId,
    /// Its visitor.
    pub visitor: Arc<NativeClient>,
    /// The operator holding it.
    pub operator: Arc<NativeClient>,
    /// Index of that operator.
    pub operator_index: usize,
}

/// Every client of a soak.
pub struct Clients {
    /// The chats, by index.
    pub chats: Vec<SoakChat>,
    /// Operator clients.
    pub operators: Vec<Arc<NativeClient>>,
    /// The greetings written during setup.
    pub greetings: Vec<Sent>,
}

/// The text of a message: side, chat, sequence. Unique in a soak, so a
/// message that came back under a second id is seen as a duplicate.
pub fn text_of(side: Side, chat: usize, seq: u64) -> String {
    let tag = match side {
        Side::Visitor => 'v',
        Side::Operator => 'o',
    };
    format!("{tag}{chat}:{seq}")
}

/// Side, chat and sequence back from a text made by [`text_of`].
pub fn parse_text(text: &str) -> Option<(Side, usize, u64)> {
    let side = match text.chars().next()? {
        'v' => Side::Visitor,
        'o' => Side::Operator,
        _ => return None,
    };
    let (chat, seq) = text[1..].split_once(':')?;
    Some((side, chat.parse().ok()?, seq.parse().ok()?))
}

/// Starts `chats` visitors and enough operators to hold `per_operator`
/// chats each; every visitor greets, every operator accepts its chats.
pub async fn start(world: &Arc<World>, chats: usize, per_operator: usize, seed: u64) -> Clients {
    let operator_count = chats.div_ceil(per_operator);
    {
        let world = world.clone();
        tokio::task::spawn_blocking(move || {
            for j in 0..operator_count {
                world.add_operator(&format!("op{j}"), PASSWORD);
            }
        })
        .await
        .expect("adding operators");
    }
    let mut pending = Vec::new();
    for i in 0..chats {
        let target = world.target(i % GROUPS);
        pending.push(tokio::spawn(async move {
            let visitor = NativeClient::visitor(&target, seed.wrapping_add(i as u64)).await;
            let chat = visitor.own_chat();
            let id = visitor.say(chat, &text_of(Side::Visitor, i, 0));
            (Arc::new(visitor), chat, id, now())
        }));
    }
    let mut visitors = Vec::new();
    let mut greetings = Vec::new();
    for (i, task) in pending.into_iter().enumerate() {
        let (visitor, chat, id, at) = task.await.expect("a visitor starts");
        greetings.push(Sent {
            chat: i,
            side: Side::Visitor,
            id,
            seq: 0,
            at,
            measured: false,
        });
        visitors.push((visitor, chat));
    }
    for (visitor, _) in &visitors {
        visitor
            .wait(SETUP_LIMIT, "the greeting's ack", |s| {
                s.pending_count() == 0
            })
            .await;
    }
    let mut operators = Vec::new();
    for j in 0..operator_count {
        let target = world.target(j % GROUPS);
        let operator = NativeClient::operator(
            &target,
            &format!("op{j}"),
            PASSWORD,
            seed.wrapping_add(1_000_000 + j as u64),
        )
        .await;
        operator.with(|s, now| s.set_availability(now, true));
        operator.wait_connected(None, SETUP_LIMIT).await;
        let held: Vec<ChatId> = visitors
            .iter()
            .skip(j * per_operator)
            .take(per_operator)
            .map(|(_, chat)| *chat)
            .collect();
        for chat in &held {
            operator.with(|s, now| s.accept(now, *chat));
        }
        operators.push((Arc::new(operator), held));
    }
    for (operator, held) in &operators {
        operator
            .wait(SETUP_LIMIT, "every accepted chat", |s| {
                held.iter().all(|chat| {
                    s.chat_status(*chat)
                        .is_some_and(|st| st.state == ChatState::Active)
                        && s.transcript(*chat).is_some_and(|t| !t.is_empty())
                })
            })
            .await;
    }
    let chats = visitors
        .into_iter()
        .enumerate()
        .map(|(i, (visitor, id))| SoakChat {
            id,
            visitor,
            operator: operators[i / per_operator].0.clone(),
            operator_index: i / per_operator,
        })
        .collect();
    Clients {
        chats,
        operators: operators.into_iter().map(|(o, _)| o).collect(),
        greetings,
    }
}

impl Clients {
    /// Every client once: visitors, then operators.
    pub fn all(&self) -> impl Iterator<Item = &NativeClient> {
        self.chats
            .iter()
            .map(|c| c.visitor.as_ref())
            .chain(self.operators.iter().map(|o| o.as_ref()))
    }

    /// The group of each client, in the order of [`Clients::all`].
    pub fn groups(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.chats.len())
            .chain(0..self.operators.len())
            .map(|i| i % GROUPS)
    }

    /// Both sides of every chat write every `period` until `stop`; returns
    /// everything written.
    pub async fn talk(&self, period: Duration, stop: Arc<AtomicBool>) -> Vec<Sent> {
        let count = self.chats.len().max(1) as u64;
        let mut tasks = Vec::new();
        for (i, chat) in self.chats.iter().enumerate() {
            let (visitor, operator, id) = (chat.visitor.clone(), chat.operator.clone(), chat.id);
            let stop = stop.clone();
            // Spread the chats over the period; the operator answers half a
            // period after its visitor.
            let offset = period.mul_f64(i as f64 / count as f64);
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for seq in 1.. {
                    tick.tick().await;
                    if stop.load(Relaxed) {
                        break;
                    }
                    for (side, client) in [(Side::Visitor, &visitor), (Side::Operator, &operator)] {
                        let at = now();
                        let message = client.say(id, &text_of(side, i, seq));
                        sent.push(Sent {
                            chat: i,
                            side,
                            id: message,
                            seq,
                            at,
                            measured: true,
                        });
                        if side == Side::Visitor {
                            tokio::time::sleep(period / 2).await;
                        }
                    }
                }
                sent
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("a talking chat"));
        }
        all
    }

    /// Waits (at most `limit`) until every client is connected with
    /// nothing pending and both sides of every chat hold `expected[i]`
    /// messages. Returns whether that happened.
    pub async fn settle(&self, expected: &[usize], limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let calm = self
                .all()
                .all(|c| c.pending() == 0 && c.link().0 == LinkState::Connected);
            let complete = calm
                && self.chats.iter().enumerate().all(|(i, chat)| {
                    chat.visitor.transcript(chat.id).len() == expected[i]
                        && chat.operator.transcript(chat.id).len() == expected[i]
                });
            if complete {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                self.report_unsettled(expected);
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Says on stderr what kept clients from settling: how many are not
    /// connected (and in which link state), how many still hold unacked
    /// messages, and how many chats are short on either side.
    fn report_unsettled(&self, expected: &[usize]) {
        let mut states: std::collections::BTreeMap<String, usize> = Default::default();
        let mut pending = (0, 0);
        for client in self.all() {
            let (state, deployment) = client.link();
            if state != LinkState::Connected {
                *states
                    .entry(format!("{state:?} {deployment:?}"))
                    .or_default() += 1;
            }
            let unacked = client.pending();
            if unacked > 0 {
                pending.0 += 1;
                pending.1 += unacked;
            }
        }
        let (mut short_visitor, mut short_operator) = (0, 0);
        for (i, chat) in self.chats.iter().enumerate() {
            short_visitor += usize::from(chat.visitor.transcript(chat.id).len() != expected[i]);
            short_operator += usize::from(chat.operator.transcript(chat.id).len() != expected[i]);
        }
        eprintln!(
            "soak: not settled: not connected {states:?}; {} clients with {} unacked; chats short on the visitor side {short_visitor}, on the operator side {short_operator}",
            pending.0, pending.1
        );
        // The story of a few clients that did not settle: their last link
        // changes and what the relays told them.
        let stuck = self
            .all()
            .filter(|c| c.link().0 != LinkState::Connected || c.pending() > 0);
        for client in stuck.take(3) {
            let seen = client.seen();
            let since = |at: Millis| now().0.saturating_sub(at.0);
            let links: Vec<String> = seen.links[seen.links.len().saturating_sub(6)..]
                .iter()
                .map(|(at, state, to)| format!("{state:?} {to:?} {} ms ago", since(*at)))
                .collect();
            let errors = &seen.errors[seen.errors.len().saturating_sub(3)..];
            eprintln!(
                "soak: unsettled client: {} unacked; links {links:?}; errors {errors:?}",
                client.pending()
            );
        }
    }
}

/// A client's copy of a chat, in display order.
pub fn messages(client: &NativeClient, chat: ChatId) -> Vec<Message> {
    client.with(|s, _| {
        s.transcript(chat)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    })
}
