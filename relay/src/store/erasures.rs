//! Erasures: a visitor's data deleted on both deployments, by a replicated
//! tombstone that wins over anything that arrives after it.
//!
//! An [`Erasure`] is a record like a message: made once (by `visitor
//! erase`, the API or the retention sweeper), with a client-made id, stored
//! in `erasures` and carried by the change feed and replication, the erased
//! rows never are. Applying it (on the deployment that made it and on the
//! peer alike, in [`super::merge`]) deletes the rows it names and the rows
//! its rule matches there, and leaves *guards*: rows of the `erased` table
//! that make the merge drop, whatever their clocks say, every later copy of
//! what was erased (late replication from the other deployment, a replay
//! from a visitor's browser or an operator's console, an API retry).
//!
//! What one erasure covers, on every store that applies it:
//! - the chats and notes it lists (what the deployment that made it held);
//! - by visitor id: every chat of that visitor on that site whose id was
//!   made up to the erasure's time `at` (chat ids are ULIDs, so a chat the
//!   other deployment held but this one had not heard of yet is covered
//!   when it arrives);
//! - by email: every offline note of that site left with that email up to
//!   `at`, and every chat whose pre-chat email is that one, made up to `at`.
//!
//! One order is not covered until it resolves: a message for a chat this
//! store holds no header of, not listed, arriving after the erasure (the
//! message does not say whose chat it is) is kept, as a placeholder row,
//! until the header arrives, which the merge then drops and the chat with
//! it. A relay stores a chat's header before anything of it (a visitor's
//! hello) and replication carries the feed in order, so the header comes
//! first everywhere a chat came from.
//!
//! A visitor id erased may chat again: a chat whose id is made after the
//! erasure is a new chat and is kept. That is also why the cutoff is the
//! chat id's time and not the header's arrival: a header replicated late
//! arrives after the erasure but was made before it.
//!
//! Files (issue 21) do not exist yet; when they land, their rows join
//! [`ErasedRows`] and the backends' `erase` primitive, the one place
//! erasure deletes anything.

use super::backend::{Cell, ColumnType, Table};
use super::kinds::{ChatClock, Kind, Outcome};
use super::records::{ChatRecord, Record, Refusal};
use super::webhooks::About;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use twinline_core::model::{RecordError, TextError, check_field, check_number};
use twinline_core::{ChatId, Hlc, Millis, OfflineId, OfflineNote, Ulid, VisitorId};

/// Most chats and notes one erasure lists: a visitor with more is erased
/// in several (the CLI and the API say so), the sweeper's batches are far
/// smaller. Bounds the record a peer can send.
pub const MAX_ERASED_ITEMS: usize = 5_000;

/// Why data was erased.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A data request (`visitor erase`, `DELETE .../visitors/{visitor}`).
    #[default]
    Request,
    /// The site's retention period passed.
    Retention,
}

/// One erasure, as stored and replicated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// Made by whoever erases (a ULID); stores merge by it.
    pub id: Ulid,
    /// The site whose data it erases.
    pub site: String,
    /// The visitor erased, if erased by visitor id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<VisitorId>,
    /// The email erased (lowercase), if erased by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The chats erased where it was made.
    #[serde(default)]
    pub chats: Vec<ChatId>,
    /// The offline notes erased where it was made.
    #[serde(default)]
    pub notes: Vec<OfflineId>,
    /// The cutoff of the visitor and email rules: when it was made.
    pub at: Millis,
    /// Its stamp (export shows it; the merge never needs it: erasures are
    /// immutable and always win).
    pub stamp: Hlc,
    /// A data request or retention.
    #[serde(default)]
    pub reason: Reason,
}

/// Erasures: `erasures (id, site, visitor, email, at, body)`.
pub static ERASURES: Table = Table {
    name: "erasures",
    key: "id",
    columns: &[
        ("site", ColumnType::Text),
        ("visitor", ColumnType::Text),
        ("email", ColumnType::Text),
        ("at", ColumnType::Int),
    ],
};

/// Guards: `erased (key, body)`, one row per chat, note, visitor or email
/// erased, the body the cutoff (ms). Derived from the erasures, never
/// replicated itself.
pub static ERASED: Table = Table {
    name: "erased",
    key: "key",
    columns: &[],
};

/// An email as erasures compare it.
pub fn normal_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The guard key of a chat.
pub fn chat_guard(chat: ChatId) -> String {
    format!("chat:{chat}")
}

/// The guard key of a note.
pub fn note_guard(note: OfflineId) -> String {
    format!("note:{note}")
}

/// The guard key of a visitor of a site.
pub fn visitor_guard(site: &str, visitor: VisitorId) -> String {
    format!("visitor:{site}\n{visitor}")
}

/// The guard key of an email on a site (none for an empty email).
pub fn email_guard(site: &str, email: &str) -> Option<String> {
    let email = normal_email(email);
    (!email.is_empty()).then(|| format!("email:{site}\n{email}"))
}

impl Erasure {
    /// The guards this erasure leaves beside the rows it lists, with its
    /// cutoff.
    pub fn guards(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.chats.iter().copied().map(chat_guard).collect();
        keys.extend(self.notes.iter().copied().map(note_guard));
        if let Some(visitor) = self.visitor {
            keys.push(visitor_guard(&self.site, visitor));
        }
        if let Some(key) = self
            .email
            .as_deref()
            .and_then(|e| email_guard(&self.site, e))
        {
            keys.push(key);
        }
        keys
    }

    /// Whether its visitor or email rule covers `chat` (of its site, made
    /// up to its time).
    pub fn covers_chat(&self, chat: &ChatRecord) -> bool {
        if chat.site != self.site || chat.id.0.millis() > self.at {
            return false;
        }
        self.visitor == Some(chat.visitor)
            || self.email.as_deref().is_some_and(|email| {
                !email.is_empty() && normal_email(&chat.info.email) == normal_email(email)
            })
    }

    /// Whether its email rule covers `note`.
    pub fn covers_note(&self, note: &OfflineNote) -> bool {
        note.site == self.site
            && note.at <= self.at
            && self.email.as_deref().is_some_and(|email| {
                !email.is_empty() && normal_email(&note.email) == normal_email(email)
            })
    }
}

/// What guards a record meets: the guard keys that decide whether it was
/// erased, each with the time a guard's cutoff must reach (`None`: any
/// guard under that key erases it).
pub fn guards_of(record: &Record) -> Vec<(String, Option<Millis>)> {
    match record {
        Record::Message(message) => vec![(chat_guard(message.chat), None)],
        Record::Chat(chat) => {
            let mut keys = vec![(chat_guard(chat.id), None)];
            if !chat.site.is_empty() {
                let made = Some(chat.id.0.millis());
                keys.push((visitor_guard(&chat.site, chat.visitor), made));
                if let Some(key) = email_guard(&chat.site, &chat.info.email) {
                    keys.push((key, made));
                }
            }
            keys
        }
        Record::Note(note) => {
            let mut keys = vec![(note_guard(note.id), None)];
            if let Some(key) = email_guard(&note.site, &note.email) {
                keys.push((key, Some(note.at)));
            }
            keys
        }
        // A delivery quotes what it is about: it goes with it.
        Record::Delivery(delivery) => match delivery.about {
            Some(About::Chat(chat)) => vec![(chat_guard(chat), None)],
            Some(About::Note(note)) => vec![(note_guard(note), None)],
            None => Vec::new(),
        },
        // A file and its chunks are the chat's, like its messages.
        Record::File(file) => vec![(chat_guard(file.meta.chat), None)],
        Record::FileChunk(chunk) => vec![(chat_guard(chunk.chat), None)],
        // A receipt goes with its chat.
        Record::Receipt(receipt) => vec![(chat_guard(receipt.chat), None)],
        Record::Account(_) | Record::ApiKey(_) | Record::Webhook(_) | Record::Erasure(_) => {
            Vec::new()
        }
    }
}

/// Whether `record` was erased, given the guards (`cutoff(key)` is the
/// stored guard's cutoff): the rule the merge drops late records by.
pub fn is_erased(record: &Record, cutoff: impl Fn(&str) -> Option<Millis>) -> bool {
    guards_of(record)
        .into_iter()
        .any(|(key, made)| match (cutoff(&key), made) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(cutoff), Some(made)) => made <= cutoff,
        })
}

/// The rows an applied erasure deletes, gathered over a batch.
#[derive(Debug, Default)]
pub struct ErasedRows {
    /// Chats: header, messages (ratings are in the header), read
    /// receipts, files and their chunks, the webhook deliveries about them,
    /// and their feed entries.
    pub chats: BTreeSet<String>,
    /// Offline notes, the webhook deliveries about them, and their feed
    /// entries.
    pub notes: BTreeSet<String>,
}

impl ErasedRows {
    /// Whether nothing is to be deleted.
    pub fn is_empty(&self) -> bool {
        self.chats.is_empty() && self.notes.is_empty()
    }
}

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(Some(value.into()))
}

impl Kind for Erasure {
    const TABLE: &'static Table = &ERASURES;

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn cells(&self) -> Vec<Cell> {
        vec![
            text(self.site.clone()),
            Cell::Text(self.visitor.map(|v| v.to_string())),
            Cell::Text(self.email.clone()),
            Cell::Int(Some(self.at.0.min(i64::MAX as u64) as i64)),
        ]
    }

    /// A site, at least one of visitor, email or listed rows, at most
    /// [`MAX_ERASED_ITEMS`] rows, numbers in range.
    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        check_field(&self.site).map_err(|error| RecordError::Text("site", error))?;
        if self.site.is_empty() {
            return Err(RecordError::Text("site", TextError::Empty));
        }
        if let Some(email) = &self.email {
            check_field(email).map_err(|error| RecordError::Text("email", error))?;
        }
        let items = self.chats.len() + self.notes.len();
        if items > MAX_ERASED_ITEMS {
            return Err(RecordError::Text(
                "erased rows",
                TextError::TooLong {
                    chars: items,
                    limit: MAX_ERASED_ITEMS,
                },
            ));
        }
        check_number("at", self.at.0)
    }

    /// Immutable, by id: the same erasure again changes nothing, another
    /// under a taken id is refused.
    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        match stored {
            None => Outcome::Changed(incoming),
            Some(stored) if *stored == incoming => Outcome::Unchanged(incoming),
            Some(_) => Outcome::Refused(incoming, Refusal::IdTaken("erasure")),
        }
    }

    fn into_record(self) -> Record {
        Record::Erasure(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use twinline_core::{Author, Lamport, Message, MessageId, Role};

    fn chat(id_time: u64, visitor: u128, email: &str) -> ChatRecord {
        let mut chat = ChatRecord::empty(ChatId::new(Millis(id_time), 7), Millis(id_time));
        chat.site = "demo".into();
        chat.visitor = VisitorId(Ulid(visitor));
        chat.info.email = email.into();
        chat
    }

    fn erasure(visitor: Option<u128>, email: Option<&str>, at: u64) -> Erasure {
        Erasure {
            id: Ulid(1),
            site: "demo".into(),
            visitor: visitor.map(|v| VisitorId(Ulid(v))),
            email: email.map(normal_email),
            chats: vec![ChatId(Ulid(42))],
            notes: Vec::new(),
            at: Millis(at),
            stamp: Hlc::default(),
            reason: Reason::Request,
        }
    }

    fn guarded(erasure: &Erasure) -> BTreeMap<String, Millis> {
        erasure
            .guards()
            .into_iter()
            .map(|key| (key, erasure.at))
            .collect()
    }

    #[test]
    fn a_visitor_erasure_covers_their_chats_made_before_it_and_not_after() {
        let erased = erasure(Some(5), None, 1_000);
        let guards = guarded(&erased);
        let cutoff = |key: &str| guards.get(key).copied();
        assert!(erased.covers_chat(&chat(999, 5, "")));
        assert!(is_erased(&Record::Chat(chat(1_000, 5, "")), cutoff));
        // The same visitor chats again: a new chat is kept.
        assert!(!erased.covers_chat(&chat(1_001, 5, "")));
        assert!(!is_erased(&Record::Chat(chat(1_001, 5, "")), cutoff));
        // Another visitor, another site.
        assert!(!is_erased(&Record::Chat(chat(10, 6, "")), cutoff));
        let mut elsewhere = chat(10, 5, "");
        elsewhere.site = "other".into();
        assert!(!erased.covers_chat(&elsewhere));
        assert!(!is_erased(&Record::Chat(elsewhere), cutoff));
    }

    #[test]
    fn a_listed_chat_is_erased_whatever_its_time_and_so_are_its_messages() {
        let erased = erasure(None, Some("A@Example.org"), 1_000);
        let guards = guarded(&erased);
        let cutoff = |key: &str| guards.get(key).copied();
        let message = Message {
            lamport: Lamport(1),
            author: Author {
                role: Role::Operator,
                id: "ada".into(),
                name: String::new(),
            },
            id: MessageId(Ulid(3)),
            chat: ChatId(Ulid(42)),
            text: "late".into(),
            at: Millis(u64::from(u32::MAX)),
            file: None,
        };
        assert!(is_erased(&Record::Message(message.clone()), cutoff));
        let mut header = ChatRecord::empty(ChatId(Ulid(42)), Millis(0));
        header.site = "demo".into();
        assert!(is_erased(&Record::Chat(header), cutoff));
        let other = Message {
            chat: ChatId(Ulid(43)),
            ..message
        };
        assert!(!is_erased(&Record::Message(other), cutoff));
    }

    #[test]
    fn an_email_erasure_covers_notes_and_prechat_chats_case_blind() {
        let erased = erasure(None, Some(" A@Example.org"), 1_000);
        let guards = guarded(&erased);
        let cutoff = |key: &str| guards.get(key).copied();
        let note = OfflineNote {
            id: OfflineId(Ulid(9)),
            site: "demo".into(),
            name: "A".into(),
            email: "a@example.ORG".into(),
            text: "call me".into(),
            at: Millis(900),
        };
        assert!(erased.covers_note(&note));
        assert!(is_erased(&Record::Note(note.clone()), cutoff));
        let later = OfflineNote {
            at: Millis(1_001),
            ..note
        };
        assert!(!erased.covers_note(&later));
        assert!(!is_erased(&Record::Note(later), cutoff));
        assert!(erased.covers_chat(&chat(500, 8, "a@example.org")));
        assert!(!erased.covers_chat(&chat(500, 8, "")));
    }

    #[test]
    fn erasures_are_immutable_by_id_and_bounded() {
        let erased = erasure(Some(5), None, 1_000);
        assert_eq!(
            Erasure::merge(Some(&erased), erased.clone()),
            Outcome::Unchanged(erased.clone())
        );
        let other = Erasure {
            at: Millis(2),
            ..erased.clone()
        };
        assert!(matches!(
            Erasure::merge(Some(&erased), other),
            Outcome::Refused(_, Refusal::IdTaken("erasure"))
        ));
        struct NoChats;
        impl ChatClock for NoChats {
            fn highest(&self, _chat: ChatId) -> Lamport {
                Lamport(0)
            }
        }
        let huge = Erasure {
            chats: (0..=MAX_ERASED_ITEMS as u128)
                .map(|i| ChatId(Ulid(i)))
                .collect(),
            ..erased.clone()
        };
        assert!(huge.admit(&NoChats).is_err());
        assert!(erased.admit(&NoChats).is_ok());
        let nowhere = Erasure {
            site: String::new(),
            ..erased
        };
        assert!(nowhere.admit(&NoChats).is_err());
    }
}
