//! What the store keeps, as Rust values, and how each merges.
//!
//! Every record is a convergent value: messages are immutable and merge by
//! id, a chat's status and visitor details are last-writer-wins registers,
//! offline notes merge by id, accounts are last-writer-wins by their stamp.
//! A local write and a change pulled from the peer go through the same
//! [`Record`] path, so replication cannot disagree with what clients did.

use serde::{Deserialize, Serialize};
use twinline_core::{
    ChatId, ChatStatus, Hlc, Message, Millis, OfflineNote, VisitorId, VisitorInfo,
};

/// A chat's header: who it belongs to and its mergeable metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRecord {
    /// The chat.
    pub id: ChatId,
    /// The site it was opened on.
    pub site: String,
    /// The visitor who owns it.
    pub visitor: VisitorId,
    /// When it was first seen.
    pub created: Millis,
    /// State and assigned operator (last writer wins).
    pub status: ChatStatus,
    /// Name, email, page (last writer wins).
    pub info: VisitorInfo,
}

/// An operator account. The hash is argon2's PHC string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login name.
    pub username: String,
    /// Name shown to visitors.
    pub name: String,
    /// argon2id PHC string.
    pub hash: String,
    /// Last-writer-wins stamp (password changes replicate).
    pub stamp: Hlc,
}

/// One replicated value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Record {
    /// A chat message.
    Message(Message),
    /// A chat header.
    Chat(ChatRecord),
    /// An offline message.
    Note(OfflineNote),
    /// An operator account.
    Account(Account),
}

impl Record {
    /// The `changes.kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Message(_) => "message",
            Record::Chat(_) => "chat",
            Record::Note(_) => "note",
            Record::Account(_) => "account",
        }
    }

    /// The `changes.key` column.
    pub fn key(&self) -> String {
        match self {
            Record::Message(m) => m.id.to_string(),
            Record::Chat(c) => c.id.to_string(),
            Record::Note(n) => n.id.to_string(),
            Record::Account(a) => a.username.clone(),
        }
    }
}

/// A change in a deployment's feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the feed of the deployment that served it.
    pub seq: u64,
    /// The deployment where it first happened.
    pub origin: String,
    /// When it was written to the serving deployment, ms since the epoch.
    pub at: Millis,
    /// The value.
    #[serde(flatten)]
    pub record: Record,
}

/// The result of applying one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Whether the store changed (false: a duplicate or an older write).
    pub changed: bool,
    /// The value as stored after the merge (for a chat: the merged header).
    pub record: Record,
}

/// A page of a deployment's feed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesPage {
    /// Changes after the asked position, minus those the asker originated.
    pub changes: Vec<Change>,
    /// Resume after this position next time (the last one scanned).
    pub next: u64,
    /// The feed's newest position.
    pub head: u64,
}
