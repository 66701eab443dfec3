//! A chat transcript as a grow-only set of messages.
//!
//! Merging is set union by [`MessageId`], so delivering a message twice, or
//! replaying a whole transcript after a failover, changes nothing. The display
//! order is (lamport, author, id): a total order that depends only on the
//! messages, so every replica holding the same set shows the same order.
//!
//! The messages are kept in one `Vec` sorted by that order. A `BTreeSet` with
//! a `HashMap` index by id did the same in several KB more of the browser
//! bundle (each is its own instantiation of B-tree and hash table code);
//! looking an id up is now a scan from the newest end, which at a chat's
//! size (hundreds to a few thousand messages) is a few microseconds, and a
//! new message usually lands at the end.

use crate::clock::Lamport;
use crate::id::{ChatId, MessageId};
use crate::model::Message;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The messages of one chat, merged by id and kept in display order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Message>", into = "Vec<Message>")]
pub struct Transcript {
    /// Sorted by the whole message (its `Ord` starts with the display key),
    /// one message per id.
    ordered: Vec<Message>,
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
        let inserted = match self.position(message.id) {
            Some(at) if self.ordered[at] <= message => return Inserted::Duplicate,
            Some(at) => {
                self.ordered.remove(at);
                Inserted::Duplicate
            }
            None => Inserted::New,
        };
        let at = self.ordered.partition_point(|held| *held < message);
        self.ordered.insert(at, message);
        inserted
    }

    /// Where the message with this id is; searched from the newest end,
    /// where re-deliveries and acks usually point.
    fn position(&self, id: MessageId) -> Option<usize> {
        self.ordered.iter().rposition(|m| m.id == id)
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
        self.position(id).is_some()
    }

    /// The message with this id.
    pub fn get(&self, id: MessageId) -> Option<&Message> {
        self.position(id).map(|at| &self.ordered[at])
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
        transcript.ordered
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Author, Role};
    use crate::{Millis, Ulid};

    fn message(lamport: u64, id: u128, text: &str) -> Message {
        Message {
            lamport: Lamport(lamport),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            id: MessageId(Ulid(id)),
            chat: ChatId(Ulid(1)),
            text: text.into(),
            at: Millis(0),
            file: None,
        }
    }

    #[test]
    fn keeps_display_order_whatever_the_arrival_order() {
        let mut transcript = Transcript::new();
        for (lamport, id) in [(3, 30), (1, 10), (2, 25), (2, 20), (5, 50)] {
            assert_eq!(transcript.insert(message(lamport, id, "x")), Inserted::New);
        }
        let order: Vec<u128> = transcript.iter().map(|m| m.id.0.0).collect();
        assert_eq!(order, [10, 20, 25, 30, 50]);
        assert_eq!(transcript.ids().len(), 5);
        assert_eq!(transcript.next_lamport(), Lamport(6));
    }

    #[test]
    fn a_second_delivery_changes_nothing() {
        let mut transcript = Transcript::new();
        transcript.insert(message(1, 10, "a"));
        transcript.insert(message(2, 20, "b"));
        let before = transcript.clone();
        assert_eq!(transcript.insert(message(1, 10, "a")), Inserted::Duplicate);
        assert_eq!(transcript, before);
        assert!(transcript.contains(MessageId(Ulid(20))));
        assert_eq!(transcript.get(MessageId(Ulid(10))).unwrap().text, "a");
        assert!(!transcript.contains(MessageId(Ulid(30))));
    }

    #[test]
    fn of_two_messages_claiming_one_id_the_smaller_wins_either_way_round() {
        let small = message(1, 10, "a");
        let large = message(4, 10, "b");
        let other = message(2, 20, "c");
        let mut one = Transcript::new();
        one.insert(other.clone());
        one.insert(large.clone());
        assert_eq!(one.insert(small.clone()), Inserted::Duplicate);
        let mut two = Transcript::new();
        two.insert(small.clone());
        assert_eq!(two.insert(large), Inserted::Duplicate);
        two.insert(other);
        assert_eq!(one, two);
        assert_eq!(one.len(), 2);
        assert_eq!(one.get(small.id), Some(&small));
        assert_eq!(one.ids(), [MessageId(Ulid(10)), MessageId(Ulid(20))]);
        // The larger claim's Lamport clock was still seen.
        assert_eq!(one.next_lamport(), Lamport(5));
    }
}
