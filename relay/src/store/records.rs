//! What the store keeps, as Rust values, and how each merges.
//!
//! Every record is a convergent value: messages are immutable and merge by
//! id, a chat's status, visitor details and rating are last-writer-wins
//! registers, offline notes merge by id, accounts are last-writer-wins by
//! their stamp, API keys too except that a revocation always wins, read
//! receipts by the larger message id.
//! A local write and a change pulled from the peer go through the same
//! [`Record`] path, so replication cannot disagree with what clients did.

use serde::{Deserialize, Serialize};
use twinline_core::model::{RecordError, bounded_stamp, bounded_time};
use twinline_core::{
    ChatId, ChatState, ChatStatus, Hlc, Message, Millis, OfflineNote, VisitorId, VisitorInfo,
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
    /// Where the visitor came from, as a keyed hash of its address's
    /// network (an IPv4 address, an IPv6 /64): the queue takes chats from
    /// each source in turn, so one address opening hundreds of chats does
    /// not hide everyone else. Set with the header, like `site`.
    #[serde(default)]
    pub source: String,
    /// The visitor's rating (a register: the later stamp wins), once
    /// rated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<twinline_core::Rating>,
    /// The visitor's requests for the transcript by email, a set by id in
    /// id order (`twinline_core::transcript_email`; sent by
    /// `crate::mail` once the chat is closed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcripts: Vec<twinline_core::transcript_email::TranscriptRequest>,
}

impl ChatRecord {
    /// The header of a chat known only by its id: no site, no visitor, no
    /// details yet. What a row holds when a message arrives by
    /// replication before its chat's header, and what an operator's accept
    /// starts from when no header is stored; the real header fills it by
    /// the usual merge when it comes.
    pub fn empty(id: ChatId, created: Millis) -> ChatRecord {
        ChatRecord {
            id,
            site: String::new(),
            visitor: VisitorId::default(),
            created,
            status: ChatStatus::default(),
            info: VisitorInfo::default(),
            source: String::new(),
            rating: None,
            transcripts: Vec::new(),
        }
    }
}

/// An operator account: a last-writer-wins register, replicated like every
/// record, so a password change, a new site or a removal made on one
/// deployment holds on both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login name.
    pub username: String,
    /// Name shown to visitors.
    pub name: String,
    /// argon2id PHC string (empty once removed).
    pub hash: String,
    /// Last-writer-wins stamp (password changes replicate).
    pub stamp: Hlc,
    /// What the operator may do beyond its own chats.
    #[serde(default)]
    pub role: OperatorRole,
    /// The sites an agent serves (an admin serves every site).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Sessions carry the version they were issued at; a change of
    /// password, sites, role, a logout or a removal moves it on by one, and
    /// every older session ends (at its next hello, and at once where it is
    /// connected). A new account starts at 0.
    #[serde(default)]
    pub version: u64,
    /// Removed: kept as a tombstone so the removal replicates and wins.
    #[serde(default)]
    pub removed: bool,
}

/// An operator's role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    /// Serves the sites named in its account: their queue, inbox and chats.
    #[default]
    Agent,
    /// Serves every site, and may transfer any chat (a supervisor).
    Admin,
}

impl OperatorRole {
    /// The name on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::Agent => "agent",
            OperatorRole::Admin => "admin",
        }
    }
}

impl Account {
    /// Whether this account serves `site`.
    pub fn serves(&self, site: &str) -> bool {
        self.role == OperatorRole::Admin || self.sites.iter().any(|s| s == site)
    }
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
    /// An API key (its hash, site and scopes).
    ApiKey(super::api_keys::ApiKey),
    /// An erasure: the tombstone of a visitor's data (`erasures.rs`).
    Erasure(super::erasures::Erasure),
    /// A webhook subscription.
    Webhook(super::webhooks::Subscription),
    /// A webhook delivery (one event for one subscription).
    Delivery(super::webhooks::Delivery),
    /// A complete, checked file (`files.rs`).
    File(super::files::StoredFile),
    /// One chunk of a file's bytes.
    FileChunk(super::files::Chunk),
    /// A read receipt: one side of a chat has seen it up to a message
    /// (`receipts.rs`).
    Receipt(twinline_core::Receipt),
}

impl Record {
    /// The `changes.kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Message(_) => "message",
            Record::Chat(_) => "chat",
            Record::Note(_) => "note",
            Record::Account(_) => "account",
            Record::ApiKey(_) => "api_key",
            Record::Erasure(_) => "erasure",
            Record::Webhook(_) => "webhook",
            Record::Delivery(_) => "webhook_delivery",
            Record::File(_) => "file",
            Record::FileChunk(_) => "file_chunk",
            Record::Receipt(_) => "receipt",
        }
    }

    /// The `changes.key` column.
    pub fn key(&self) -> String {
        match self {
            Record::Message(m) => m.id.to_string(),
            Record::Chat(c) => c.id.to_string(),
            Record::Note(n) => n.id.to_string(),
            Record::Account(a) => a.username.clone(),
            Record::ApiKey(k) => k.id.clone(),
            Record::Erasure(e) => e.id.to_string(),
            Record::Webhook(w) => w.id.clone(),
            Record::Delivery(d) => super::kinds::Kind::key(d),
            Record::File(f) => super::kinds::Kind::key(f),
            Record::FileChunk(c) => super::kinds::Kind::key(c),
            Record::Receipt(r) => super::kinds::Kind::key(r),
        }
    }

    /// The JSON of the value (without the kind tag): the `body` column of
    /// its table and of the feed.
    pub fn body_json(&self) -> String {
        let value = match self {
            Record::Message(m) => serde_json::to_string(m),
            Record::Chat(c) => serde_json::to_string(c),
            Record::Note(n) => serde_json::to_string(n),
            Record::Account(a) => serde_json::to_string(a),
            Record::ApiKey(k) => serde_json::to_string(k),
            Record::Erasure(e) => serde_json::to_string(e),
            Record::Webhook(w) => serde_json::to_string(w),
            Record::Delivery(d) => serde_json::to_string(d),
            Record::File(f) => serde_json::to_string(f),
            Record::FileChunk(c) => serde_json::to_string(c),
            Record::Receipt(r) => serde_json::to_string(r),
        };
        value.unwrap_or_default()
    }

    /// A feed row's value back from its `kind` and `body` columns; `None`
    /// for a kind this version does not know (a newer relay wrote it).
    pub fn from_feed(kind: &str, body: &str) -> Result<Option<Record>, serde_json::Error> {
        Ok(Some(match kind {
            "message" => Record::Message(serde_json::from_str(body)?),
            "chat" => Record::Chat(serde_json::from_str(body)?),
            "note" => Record::Note(serde_json::from_str(body)?),
            "account" => Record::Account(serde_json::from_str(body)?),
            "api_key" => Record::ApiKey(serde_json::from_str(body)?),
            "erasure" => Record::Erasure(serde_json::from_str(body)?),
            "webhook" => Record::Webhook(serde_json::from_str(body)?),
            "webhook_delivery" => Record::Delivery(serde_json::from_str(body)?),
            "file" => Record::File(serde_json::from_str(body)?),
            "file_chunk" => Record::FileChunk(serde_json::from_str(body)?),
            "receipt" => Record::Receipt(serde_json::from_str(body)?),
            _ => return Ok(None),
        }))
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
    /// Whether the store changed (false: a duplicate, an older write or a
    /// refusal).
    pub changed: bool,
    /// The value as stored after the merge (for a chat: the merged header;
    /// for a refusal: the record as it came).
    pub record: Record,
    /// Why the record was not stored, if it was not: a client gets an error
    /// instead of an ack, a change from the peer is skipped and logged.
    pub refused: Option<Refusal>,
    /// For a message this commit stored: its chat's state as the same
    /// transaction saw it (the header is loaded, and on PostgreSQL locked,
    /// with the message), so the send path knows whether the chat waits in
    /// the queue without reading the header again. A chat whose header has
    /// not arrived waits, as a read of its placeholder row would say. `None`
    /// for every other record and outcome.
    pub chat_state: Option<ChatState>,
}

/// Why the store refused a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Another message or note already has this id (another chat or
    /// other content): storing this one would lose one of the two, and
    /// acking it would claim a message is durable that is not.
    #[error("the id is taken by another {0} (another chat or other content)")]
    IdTaken(&'static str),
    /// A number out of range or a Lamport clock too far ahead.
    #[error(transparent)]
    Invalid(#[from] RecordError),
    /// The chat or note was erased (`erasures.rs`): the tombstone wins
    /// over every later copy, so sending it again cannot change that.
    #[error("the chat or note was erased")]
    Erased,
}

impl Record {
    /// The record as this relay keeps one from its peer: times and stamps
    /// from further ahead than clocks drift are replaced by `now` (a
    /// compromised or broken peer cannot date records into the future, nor
    /// win every later write with a far-future stamp). Ranges and the
    /// Lamport rule are checked by the store for every record alike.
    pub fn bounded(self, now: Millis) -> Record {
        match self {
            Record::Message(mut msg) => {
                msg.at = bounded_time(msg.at, now);
                Record::Message(msg)
            }
            Record::Note(mut note) => {
                note.at = bounded_time(note.at, now);
                Record::Note(note)
            }
            Record::Chat(mut chat) => {
                chat.created = bounded_time(chat.created, now);
                chat.status.stamp = bounded_stamp(chat.status.stamp, now);
                chat.info.stamp = bounded_stamp(chat.info.stamp, now);
                if let Some(rating) = &mut chat.rating {
                    rating.stamp = bounded_stamp(rating.stamp, now);
                }
                Record::Chat(chat)
            }
            Record::Account(mut account) => {
                account.stamp = bounded_stamp(account.stamp, now);
                Record::Account(account)
            }
            Record::ApiKey(mut key) => {
                key.created = bounded_time(key.created, now);
                key.stamp = bounded_stamp(key.stamp, now);
                Record::ApiKey(key)
            }
            Record::Erasure(mut erasure) => {
                erasure.at = bounded_time(erasure.at, now);
                erasure.stamp = bounded_stamp(erasure.stamp, now);
                Record::Erasure(erasure)
            }
            Record::Webhook(mut hook) => {
                hook.created = bounded_time(hook.created, now);
                hook.stamp = bounded_stamp(hook.stamp, now);
                Record::Webhook(hook)
            }
            // Its times are the owner's lease and schedule: a peer's far
            // future lease only delays a take-over, never a delivery's end.
            Record::Delivery(mut delivery) => {
                delivery.stamp = bounded_stamp(delivery.stamp, now);
                Record::Delivery(delivery)
            }
            Record::File(mut file) => {
                file.at = bounded_time(file.at, now);
                Record::File(file)
            }
            // Nothing in it is a time.
            Record::FileChunk(chunk) => Record::FileChunk(chunk),
            // No time to bound: a message id is a name, and the peer held
            // its clients' to the clock when it took them.
            Record::Receipt(receipt) => Record::Receipt(receipt),
        }
    }
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
