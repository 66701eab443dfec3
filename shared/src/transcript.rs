//! A chat transcript as a grow-only set of messages.
//!
//! Merging is set union by [`MessageId`], so delivering a message twice, or
//! replaying a whole transcript after a failover, changes nothing. The display
//! order is (lamport, author, id): a total order that depends only on the
//! messages, so every replica holding the same set shows the same order.

use crate::clock::Lamport;
use crate::id::{ChatId, MessageId};
use crate::model::Message;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The messages of one chat, merged by id and kept in display order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Message>", into = "Vec<Message>")]
pub struct Transcript {
    /// Display-ordered set; the key is the whole message (its `Ord` starts
    /// with the display key).
    ordered: BTreeSet<Message>,
    /// Id index into `ordered`.
    by_id: HashMap<MessageId, Message>,
    /// Largest Lamport clock seen.
    max_lamport: Lamport,
}

/// What [`Transcript::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The message was new.
    New,
    /// A message with this id was already there (re-delivery: a no-op).
    Duplicate,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Adds a message unless one with the same id is present.
    ///
    /// Two different messages claiming one id never come from honest clients;
    /// if they do, the smaller one (by its full `Ord`) wins everywhere, so the
    /// replicas still converge.
    pub fn insert(&mut self, message: Message) -> Inserted {
        self.max_lamport = self.max_lamport.max(message.lamport);
        match self.by_id.get(&message.id) {
            Some(existing) if *existing <= message => Inserted::Duplicate,
            Some(existing) => {
                let existing = existing.clone();
                self.ordered.remove(&existing);
                self.ordered.insert(message.clone());
                self.by_id.insert(message.id, message);
                Inserted::Duplicate
            }
            None => {
                self.ordered.insert(message.clone());
                self.by_id.insert(message.id, message);
                Inserted::New
            }
        }
    }

    /// Set union with `other`; returns how many messages were new.
    pub fn merge(&mut self, other: &Transcript) -> usize {
        other
            .iter()
            .filter(|m| self.insert((*m).clone()) == Inserted::New)
            .count()
    }

    /// True if a message with this id is present.
    pub fn contains(&self, id: MessageId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// The message with this id.
    pub fn get(&self, id: MessageId) -> Option<&Message> {
        self.by_id.get(&id)
    }

    /// Messages in display order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> + ExactSizeIterator {
        self.ordered.iter()
    }

    /// Ids in display order.
    pub fn ids(&self) -> Vec<MessageId> {
        self.ordered.iter().map(|m| m.id).collect()
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// True if there are no messages.
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// The Lamport clock a new message should carry.
    pub fn next_lamport(&self) -> Lamport {
        self.max_lamport.next()
    }

    /// Messages whose ids are not in `have`, in display order: what a peer
    /// holding `have` lacks.
    pub fn missing_from<'a>(
        &'a self,
        have: &'a BTreeSet<MessageId>,
    ) -> impl Iterator<Item = &'a Message> + 'a {
        self.ordered.iter().filter(move |m| !have.contains(&m.id))
    }
}

impl From<Vec<Message>> for Transcript {
    fn from(messages: Vec<Message>) -> Transcript {
        let mut transcript = Transcript::new();
        for message in messages {
            transcript.insert(message);
        }
        transcript
    }
}

impl From<Transcript> for Vec<Message> {
    fn from(transcript: Transcript) -> Vec<Message> {
        transcript.ordered.into_iter().collect()
    }
}

impl FromIterator<Message> for Transcript {
    fn from_iter<I: IntoIterator<Item = Message>>(iter: I) -> Transcript {
        let mut transcript = Transcript::new();
        for message in iter {
            transcript.insert(message);
        }
        transcript
    }
}

/// Transcripts of many chats (an operator's view, or a relay's).
pub type Transcripts = BTreeMap<ChatId, Transcript>;
