//! The things a chat is made of: messages, authors, chat status and visitor
//! details, offline notes. Plain data shared by the wire protocol, the relay's
//! store and the clients.

use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, MessageId, OfflineId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Longest chat message or offline note text, in characters.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Longest name, email or page address, in characters.
pub const MAX_FIELD_CHARS: usize = 200;

/// Who wrote something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A person on the customer's website.
    Visitor,
    /// An agent answering chats from the console.
    Operator,
    /// The service itself (e.g. "Alice joined the chat").
    System,
}

/// The author of a message: role, stable id and display name at writing time.
///
/// Field order matters: the derived `Ord` is the "author" part of the display
/// order, and must be the same on every replica.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Author {
    /// Visitor, operator or system.
    pub role: Role,
    /// The visitor id or operator username.
    pub id: String,
    /// Name shown next to the message.
    #[serde(default)]
    pub name: String,
}

/// One immutable chat message.
///
/// Field order matters: the derived `Ord` starts with the display order
/// (lamport, author, id); text and time only break ties between two
/// different messages claiming one id, which honest clients never produce.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Lamport clock: one more than the largest the author had seen.
    pub lamport: Lamport,
    /// Who wrote it.
    pub author: Author,
    /// Client-made unique id; stores and clients merge by it.
    pub id: MessageId,
    /// The chat it belongs to.
    pub chat: ChatId,
    /// The text, always rendered as text, never as HTML.
    pub text: String,
    /// The author's wall clock when it was written (display only).
    pub at: Millis,
}

impl Message {
    /// The key every replica sorts by.
    pub fn display_key(&self) -> (Lamport, &Author, MessageId) {
        (self.lamport, &self.author, self.id)
    }
}

/// Where a chat stands.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChatState {
    /// The visitor waits in the queue for an operator.
    #[default]
    Waiting,
    /// An operator has accepted it.
    Active,
    /// Ended by an operator or the visitor.
    Closed,
}

/// The status of a chat: a last-writer-wins register.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatStatus {
    /// Waiting, active or closed.
    pub state: ChatState,
    /// Username of the operator handling it, if any.
    pub operator: Option<String>,
    /// Last-writer-wins stamp.
    pub stamp: Hlc,
}

/// What the visitor told us about themselves: a last-writer-wins register,
/// separate from [`ChatStatus`] so a visitor renaming themselves never races
/// with an operator accepting the chat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorInfo {
    /// Name from the pre-chat form, may be empty.
    #[serde(default)]
    pub name: String,
    /// Email from the pre-chat form, may be empty.
    #[serde(default)]
    pub email: String,
    /// The page the visitor is on.
    #[serde(default)]
    pub page: String,
    /// Last-writer-wins stamp.
    #[serde(default)]
    pub stamp: Hlc,
}

/// Something with a last-writer-wins stamp.
pub trait LastWriterWins {
    /// The stamp that decides which write wins.
    fn stamp(&self) -> Hlc;

    /// Keeps whichever of `self` and `other` has the larger stamp; true if
    /// `other` won. Commutative, associative and idempotent.
    fn merge_from(&mut self, other: &Self) -> bool
    where
        Self: Clone,
    {
        if other.stamp() > self.stamp() {
            *self = other.clone();
            true
        } else {
            false
        }
    }
}

impl LastWriterWins for ChatStatus {
    fn stamp(&self) -> Hlc {
        self.stamp
    }
}

impl LastWriterWins for VisitorInfo {
    fn stamp(&self) -> Hlc {
        self.stamp
    }
}

/// A message a visitor left while no operator was online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineNote {
    /// Client-made unique id; stores merge by it.
    pub id: OfflineId,
    /// Site the note was left on.
    pub site: String,
    /// Visitor's name.
    pub name: String,
    /// Visitor's email, so an operator can answer.
    pub email: String,
    /// What they want.
    pub text: String,
    /// Visitor's wall clock when written.
    pub at: Millis,
}

/// Why a piece of user text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but whitespace.
    #[error("the text is empty")]
    Empty,
    /// Longer than the limit.
    #[error("the text has {chars} characters, the limit is {limit}")]
    TooLong {
        /// Characters given.
        chars: usize,
        /// Characters allowed.
        limit: usize,
    },
}

/// Checks chat text against the limits every replica enforces.
pub fn check_text(text: &str) -> Result<(), TextError> {
    check_len(text, MAX_TEXT_CHARS)?;
    if text.trim().is_empty() {
        return Err(TextError::Empty);
    }
    Ok(())
}

/// Checks a short field (name, email, page) against its limit.
pub fn check_field(text: &str) -> Result<(), TextError> {
    check_len(text, MAX_FIELD_CHARS)
}

fn check_len(text: &str, limit: usize) -> Result<(), TextError> {
    // Cheap early exit: a char is at most 4 bytes.
    if text.len() <= limit {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars > limit {
        return Err(TextError::TooLong { chars, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits() {
        assert_eq!(check_text("  "), Err(TextError::Empty));
        assert!(check_text("hi").is_ok());
        assert!(check_text(&"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert_eq!(
            check_text(&"x".repeat(MAX_TEXT_CHARS + 1)),
            Err(TextError::TooLong {
                chars: MAX_TEXT_CHARS + 1,
                limit: MAX_TEXT_CHARS
            })
        );
    }

    #[test]
    fn later_stamp_wins_either_way_round() {
        let old = ChatStatus {
            state: ChatState::Waiting,
            operator: None,
            stamp: Hlc::zero(1).tick(Millis(1)),
        };
        let new = ChatStatus {
            state: ChatState::Active,
            operator: Some("alice".into()),
            stamp: Hlc::zero(2).tick(Millis(2)),
        };
        let mut a = old.clone();
        assert!(a.merge_from(&new));
        let mut b = new.clone();
        assert!(!b.merge_from(&old));
        assert_eq!(a, b);
    }
}
