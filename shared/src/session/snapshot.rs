//! The session as stored between page loads.
//!
//! Everything that must survive a reload is here: the identity, every chat
//! with its messages, which own messages are still unacknowledged, and the
//! requests not yet settled. Connection state is not: a restored session
//! finds its deployment again exactly as after any disconnect, and replays.

use super::chats::LocalChat;
use super::config::Identity;
use super::outbox::{Intent, VisitorUpdate};
use super::rating::RatingRequest;
use crate::id::{ChatId, MessageId};
use crate::model::OfflineNote;
use serde::{Deserialize, Serialize};

/// Version of the snapshot layout; a different one is not restored.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A serialisable copy of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    pub v: u32,
    /// Who the session speaks for.
    pub identity: Identity,
    /// Every chat held.
    pub chats: Vec<(ChatId, LocalChat)>,
    /// Own messages not yet acknowledged.
    #[serde(default)]
    pub pending: Vec<MessageId>,
    /// Own messages refused for good.
    #[serde(default)]
    pub refused: Vec<MessageId>,
    /// Offline notes not yet acknowledged.
    #[serde(default)]
    pub notes: Vec<OfflineNote>,
    /// Status requests not yet settled.
    #[serde(default)]
    pub intents: Vec<Intent>,
    /// Visitor details not yet shown back by a relay.
    #[serde(default)]
    pub visitor: Option<VisitorUpdate>,
    /// An operator's chosen availability.
    #[serde(default)]
    pub online: Option<bool>,
    /// Ratings not yet shown stored by a relay.
    #[serde(default)]
    pub ratings: Vec<RatingRequest>,
    /// Transcript-by-email requests (acked ones too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<super::transcript_email::EmailRequest>,
}
