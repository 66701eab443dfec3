//! The merge rule of each kind of record, written once for every backend.
//!
//! A [`Kind`] says how its records are keyed, which columns its table keeps
//! beside the JSON body, and how an incoming copy merges into the stored
//! one. The rules are pure (no I/O, no clock), so they are tested here
//! without a database, and [`super::merge`] runs them for local writes and
//! replicated changes alike, on SQLite and PostgreSQL alike:
//!
//! - messages and offline notes are immutable and merge by id: the same
//!   record again is a duplicate that keeps the earlier receipt time, other
//!   content under a taken id is refused;
//! - a chat header's status, visitor details and rating are
//!   last-writer-wins registers (by hybrid logical clock), and a header
//!   fills in a
//!   placeholder row made by messages that arrived before it;
//! - accounts are last-writer-wins by their stamp;
//! - API keys too, except that a revocation wins (`api_keys.rs`).
//!
//! Adding a replicated kind (files, ratings, receipts, ...) means a `Kind`
//! here, a variant of [`Record`], and its table in each backend's schema.

use super::backend::{Cell, ColumnType, Table};
use super::records::{Account, ChatRecord, Record, Refusal};
use serde::Serialize;
use serde::de::DeserializeOwned;
use twinline_core::model::{LastWriterWins, RecordError};
use twinline_core::rating::merge_rating;
use twinline_core::transcript_email::{MAX_STORED, merge_requests};
use twinline_core::{ChatState, Lamport, Message, OfflineNote};

/// What merging an incoming record into the stored copy decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The record is new or won: store it, and the feed gets it.
    Changed(T),
    /// Store it, without a feed entry: the same record again, with a detail
    /// that converges by itself (an earlier receipt time).
    Rewritten(T),
    /// Nothing to store; the value is what stays.
    Unchanged(T),
    /// Refused; the value is the record as it came.
    Refused(T, Refusal),
}

/// Context the admission checks read: what the batch knows about chats.
pub trait ChatClock {
    /// The highest Lamport clock of a chat's stored messages (those of the
    /// batch so far included).
    fn highest(&self, chat: twinline_core::ChatId) -> Lamport;
}

/// A kind of replicated record.
pub trait Kind: Clone + Serialize + DeserializeOwned {
    /// Where it is stored.
    const TABLE: &'static Table;

    /// Its key (unique within the kind).
    fn key(&self) -> String;

    /// The table's columns for this value, in [`Table::columns`] order.
    fn cells(&self) -> Vec<Cell>;

    /// What no store may hold, whatever is stored (numbers out of range, a
    /// Lamport clock too far ahead). Checked before [`Kind::merge`].
    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        Ok(())
    }

    /// Merges `incoming` into the stored copy, if any.
    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self>;

    /// As a [`Record`].
    fn into_record(self) -> Record;
}

/// Messages: `messages (id, chat, lamport, words, body)`; `words` is what
/// history search indexes ([`super::search::words`]).
pub static MESSAGES: Table = Table {
    name: "messages",
    key: "id",
    columns: &[
        ("chat", ColumnType::Text),
        ("lamport", ColumnType::Int),
        ("words", ColumnType::Text),
    ],
};

/// Offline notes: `notes (id, site, at, body)`.
pub static NOTES: Table = Table {
    name: "notes",
    key: "id",
    columns: &[("site", ColumnType::Text), ("at", ColumnType::Int)],
};

/// Chat headers: `chats (id, site, visitor, created, state, operator,
/// source, body)`, plus the activity columns [`super::backend::Touch`]
/// writes.
pub static CHATS: Table = Table {
    name: "chats",
    key: "id",
    columns: &[
        ("site", ColumnType::Text),
        ("visitor", ColumnType::Text),
        ("created", ColumnType::Int),
        ("state", ColumnType::Text),
        ("operator", ColumnType::Text),
        ("source", ColumnType::Text),
    ],
};

/// Operator accounts: `accounts (username, body)`.
pub static ACCOUNTS: Table = Table {
    name: "accounts",
    key: "username",
    columns: &[],
};

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(Some(value.into()))
}

fn int(value: u64) -> Cell {
    // Every number a store holds is at most 2^53 - 1 (checked on entry).
    Cell::Int(Some(value.min(i64::MAX as u64) as i64))
}

/// A last-writer-wins register whose tombstone (`dead`: a revoked key, a
/// deleted webhook) wins over any live copy whatever the stamps, so a
/// removal made where the clock was behind still holds on both
/// deployments. Between two live or two dead copies the later stamp wins.
pub fn register_with_tombstone<T: Clone>(
    stored: &T,
    incoming: T,
    dead: impl Fn(&T) -> bool,
    stamp: impl Fn(&T) -> twinline_core::Hlc,
) -> Outcome<T> {
    match (dead(stored), dead(&incoming)) {
        (true, false) => Outcome::Unchanged(stored.clone()),
        (false, true) => Outcome::Changed(incoming),
        _ if stamp(&incoming) <= stamp(stored) => Outcome::Unchanged(stored.clone()),
        _ => Outcome::Changed(incoming),
    }
}

/// An immutable record merged by id: `same` says whether `incoming` is the
/// stored record again (differing at most in when it was received).
fn by_id<T: Clone>(
    stored: Option<&T>,
    incoming: T,
    same: impl Fn(&T, &T) -> bool,
    at: impl Fn(&T) -> twinline_core::Millis,
    what: &'static str,
) -> Outcome<T> {
    match stored {
        None => Outcome::Changed(incoming),
        Some(stored) if !same(stored, &incoming) => {
            Outcome::Refused(incoming, Refusal::IdTaken(what))
        }
        // Each relay stamps its own receive time; every copy settles on the
        // first receipt, the rule every transcript merges by. No feed entry:
        // the copy that carried the earlier time came from the peer, which
        // has it, and the feed already holds the record once.
        Some(stored) if at(&incoming) < at(stored) => Outcome::Rewritten(incoming),
        Some(stored) => Outcome::Unchanged(stored.clone()),
    }
}

impl Kind for Message {
    const TABLE: &'static Table = &MESSAGES;

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn cells(&self) -> Vec<Cell> {
        vec![
            text(self.chat.to_string()),
            int(self.lamport.0),
            text(super::search::words(&self.text)),
        ]
    }

    /// In range, and within [`MAX_LAMPORT_STEP`] of its chat's highest
    /// (whoever sent it; see `twinline_core::model`).
    ///
    /// [`MAX_LAMPORT_STEP`]: twinline_core::model::MAX_LAMPORT_STEP
    fn admit(&self, chats: &dyn ChatClock) -> Result<(), RecordError> {
        self.check()
            .and_then(|()| self.check_lamport_after(chats.highest(self.chat)))
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        by_id(stored, incoming, Message::same_as, |m| m.at, "message")
    }

    fn into_record(self) -> Record {
        Record::Message(self)
    }
}

impl Kind for OfflineNote {
    const TABLE: &'static Table = &NOTES;

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn cells(&self) -> Vec<Cell> {
        vec![text(self.site.clone()), int(self.at.0)]
    }

    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        self.check()
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        let same = |a: &OfflineNote, b: &OfflineNote| {
            a.site == b.site && a.name == b.name && a.email == b.email && a.text == b.text
        };
        by_id(stored, incoming, same, |n| n.at, "note")
    }

    fn into_record(self) -> Record {
        Record::Note(self)
    }
}

/// The `chats.state` column.
pub fn state_text(state: ChatState) -> &'static str {
    match state {
        ChatState::Waiting => "waiting",
        ChatState::Active => "active",
        ChatState::Closed => "closed",
    }
}

impl Kind for ChatRecord {
    const TABLE: &'static Table = &CHATS;

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn cells(&self) -> Vec<Cell> {
        vec![
            text(self.site.clone()),
            // A placeholder has no visitor yet.
            text(if self.site.is_empty() {
                String::new()
            } else {
                self.visitor.to_string()
            }),
            int(self.created.0),
            text(state_text(self.status.state)),
            Cell::Text(self.status.operator.clone()),
            text(self.source.clone()),
        ]
    }

    /// A rating and transcript requests within their bounds (a client's
    /// are checked before they are stored; this holds the peer's to the
    /// same).
    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        if let Some(left) = self.info.left {
            twinline_core::model::check_number("visitor.left", left.0)?;
        }
        self.rating
            .as_ref()
            .map_or(Ok(()), twinline_core::Rating::check)?;
        if self.transcripts.len() > MAX_STORED {
            return Err(RecordError::OutOfRange {
                field: "transcript requests",
                value: self.transcripts.len() as u64,
            });
        }
        self.transcripts
            .iter()
            .try_for_each(twinline_core::transcript_email::TranscriptRequest::check)
    }

    /// A header fills in a placeholder (a row its messages made before it
    /// arrived); status, visitor details and rating merge as registers.
    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        let Some(stored) = stored else {
            return Outcome::Changed(incoming);
        };
        let mut merged = stored.clone();
        let mut changed = false;
        if merged.site.is_empty() && !incoming.site.is_empty() {
            merged.site = incoming.site.clone();
            merged.visitor = incoming.visitor;
            merged.created = incoming.created;
            merged.source = incoming.source.clone();
            changed = true;
        }
        changed |= merged.status.merge_from(&incoming.status);
        changed |= merged.info.merge_from(&incoming.info);
        changed |= merge_rating(&mut merged.rating, incoming.rating.as_ref());
        changed |= merge_requests(&mut merged.transcripts, &incoming.transcripts);
        if changed {
            Outcome::Changed(merged)
        } else {
            Outcome::Unchanged(merged)
        }
    }

    fn into_record(self) -> Record {
        Record::Chat(self)
    }
}

impl Kind for Account {
    const TABLE: &'static Table = &ACCOUNTS;

    fn key(&self) -> String {
        self.username.clone()
    }

    fn cells(&self) -> Vec<Cell> {
        Vec::new()
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        match stored {
            Some(stored) if incoming.stamp <= stored.stamp => Outcome::Unchanged(stored.clone()),
            _ => Outcome::Changed(incoming),
        }
    }

    fn into_record(self) -> Record {
        Record::Account(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::OperatorRole;
    use twinline_core::{
        Author, ChatId, ChatStatus, Hlc, MessageId, Millis, Role, Ulid, VisitorId, VisitorInfo,
    };

    struct Highest(u64);
    impl ChatClock for Highest {
        fn highest(&self, _chat: ChatId) -> Lamport {
            Lamport(self.0)
        }
    }

    fn message(text: &str, at: u64) -> Message {
        Message {
            lamport: Lamport(1),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            id: MessageId(Ulid(10)),
            chat: ChatId(Ulid(1)),
            text: text.into(),
            at: Millis(at),
            file: None,
        }
    }

    fn stamp(wall: u64) -> Hlc {
        Hlc {
            wall: Millis(wall),
            counter: 0,
            node: 1,
        }
    }

    #[test]
    fn a_message_again_keeps_the_earlier_time_and_other_text_is_refused() {
        let stored = message("hi", 5_000);
        assert_eq!(
            Message::merge(None, stored.clone()),
            Outcome::Changed(stored.clone())
        );
        assert_eq!(
            Message::merge(Some(&stored), message("hi", 4_000)),
            Outcome::Rewritten(message("hi", 4_000))
        );
        assert_eq!(
            Message::merge(Some(&stored), message("hi", 6_000)),
            Outcome::Unchanged(stored.clone())
        );
        assert_eq!(
            Message::merge(Some(&stored), message("other", 5_000)),
            Outcome::Refused(message("other", 5_000), Refusal::IdTaken("message"))
        );
    }

    #[test]
    fn a_message_far_past_its_chat_is_not_admitted() {
        let mut far = message("x", 1);
        far.lamport = Lamport(2_000);
        assert!(matches!(
            far.admit(&Highest(10)),
            Err(RecordError::LamportJump { .. })
        ));
        assert!(far.admit(&Highest(1_500)).is_ok());
    }

    #[test]
    fn a_header_fills_a_placeholder_and_older_statuses_lose() {
        let id = ChatId(Ulid(1));
        let placeholder = ChatRecord {
            id,
            site: String::new(),
            visitor: VisitorId::default(),
            created: Millis(100),
            status: ChatStatus::default(),
            info: VisitorInfo::default(),
            source: String::new(),
            rating: None,
            transcripts: Vec::new(),
        };
        let header = ChatRecord {
            site: "demo".into(),
            visitor: VisitorId(Ulid(5)),
            created: Millis(50),
            status: ChatStatus {
                state: ChatState::Active,
                operator: Some("ada".into()),
                stamp: stamp(20),
            },
            ..placeholder.clone()
        };
        let Outcome::Changed(filled) = ChatRecord::merge(Some(&placeholder), header.clone()) else {
            panic!("a header fills its placeholder")
        };
        assert_eq!(filled, header);
        let older = ChatRecord {
            status: ChatStatus {
                state: ChatState::Closed,
                operator: None,
                stamp: stamp(10),
            },
            ..header.clone()
        };
        assert_eq!(
            ChatRecord::merge(Some(&filled), older),
            Outcome::Unchanged(filled.clone())
        );
    }

    #[test]
    fn an_account_change_wins_only_with_a_later_stamp() {
        let account = Account {
            username: "ada".into(),
            name: "Ada".into(),
            hash: "h".into(),
            stamp: stamp(10),
            role: OperatorRole::Agent,
            sites: vec!["demo".into()],
            version: 0,
            removed: false,
        };
        let later = Account {
            stamp: stamp(11),
            removed: true,
            ..account.clone()
        };
        assert_eq!(
            Account::merge(Some(&later), account.clone()),
            Outcome::Unchanged(later.clone())
        );
        assert_eq!(
            Account::merge(Some(&account), later.clone()),
            Outcome::Changed(later.clone())
        );
        assert_eq!(
            Account::merge(Some(&later), later.clone()),
            Outcome::Unchanged(later)
        );
    }
}
