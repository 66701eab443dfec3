//! The things a chat is made of: messages, authors, chat status and visitor
//! details, offline notes. Plain data shared by the wire protocol, the relay's
//! store and the clients.
//!
//! # Bounds
//!
//! Everything here crosses JSON into JavaScript, where integers are exact
//! only up to 2^53 - 1. A relay therefore refuses a record whose numbers a
//! reader could not hold ([`Message::check`], [`OfflineNote::check`],
//! [`check_number`]), from a client or from the peer deployment alike, and
//! stamps the times that order things itself: a message's or note's `at` is
//! the relay's receive time, never the client's claim. A Lamport clock may
//! also not run ahead of its chat by more than [`MAX_LAMPORT_STEP`]
//! ([`Message::check_lamport_after`]), so no message can put a chat's order
//! out of reach of the next writer (see the constant for why that number).

use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, MessageId, OfflineId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Longest chat message or offline note text, in characters.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Longest name, email or page address, in characters.
pub const MAX_FIELD_CHARS: usize = 200;
/// The largest integer every reader holds exactly (JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 - 1). No number a relay stores or sends
/// is larger.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// How far a message's Lamport clock may run past the highest its chat
/// holds on the relay that stores it.
///
/// An honest writer uses one more than the highest it has seen, so it is
/// ahead of a relay only by messages that relay has not received yet (the
/// few written just before a data center failed, which consoles replay in
/// order). A thousand covers that with room to spare, while a hostile
/// client needs 9 * 10^12 messages, one per frame and rate limited, to
/// climb from 0 to [`MAX_SAFE_INTEGER`], where nobody could write after it.
pub const MAX_LAMPORT_STEP: u64 = 1_000;
/// How far ahead of a relay's clock a time from its peer may be before the
/// relay takes its own clock instead (clock skew between data centers).
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

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
    /// When it was written, for display: the first relay's receive time
    /// (relays replace what a client claims; the writer's own copy keeps
    /// its clock until it merges a relay's, and every copy merges to the
    /// earliest).
    pub at: Millis,
    /// The file it sends, once uploaded (`crate::files`); the text may then
    /// be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<crate::files::FileMeta>,
}

impl Message {
    /// The key every replica sorts by.
    pub fn display_key(&self) -> (Lamport, &Author, MessageId) {
        (self.lamport, &self.author, self.id)
    }

    /// What every relay checks before storing a message, whoever sent it:
    /// text within its limits, the author's name and id within theirs, and
    /// numbers every reader holds.
    pub fn check(&self) -> Result<(), RecordError> {
        match &self.file {
            None => check_text(&self.text),
            Some(_) => check_len(&self.text, MAX_TEXT_CHARS),
        }
        .map_err(|error| RecordError::Text("text", error))?;
        if let Some(file) = &self.file {
            file.check().map_err(RecordError::File)?;
            if file.chat != self.chat {
                return Err(RecordError::File(crate::files::FileError::Chat));
            }
        }
        check_field(&self.author.name).map_err(|error| RecordError::Text("author name", error))?;
        check_field(&self.author.id).map_err(|error| RecordError::Text("author id", error))?;
        check_number("lamport", self.lamport.0)?;
        check_number("at", self.at.0)
    }

    /// The Lamport rule: at most [`MAX_LAMPORT_STEP`] past `highest`, the
    /// largest Lamport clock of the chat's messages already stored.
    pub fn check_lamport_after(&self, highest: Lamport) -> Result<(), RecordError> {
        if self.lamport.0 > highest.0.saturating_add(MAX_LAMPORT_STEP) {
            return Err(RecordError::LamportJump {
                lamport: self.lamport.0,
                highest: highest.0,
            });
        }
        Ok(())
    }

    /// Whether `other` is this message again (a replay, a re-delivery, the
    /// peer's copy): everything but `at`, which each relay stamps itself.
    /// A message with this id and anything else different is another
    /// message claiming a taken id.
    pub fn same_as(&self, other: &Message) -> bool {
        self.lamport == other.lamport
            && self.author == other.author
            && self.chat == other.chat
            && self.text == other.text
            && self.file == other.file
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
    /// When the visitor's last connection to the chat closed (the relay's
    /// clock), absent while connected: written by the relay, never by the
    /// visitor (`crate::presence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<Millis>,
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
    /// When it was left: the first relay's receive time (a client's claim
    /// is replaced, so no note can date itself to the top of an inbox).
    pub at: Millis,
}

impl OfflineNote {
    /// What every relay checks before storing a note: text, name and email
    /// within their limits, the site id within the field limit, the time a
    /// number every reader holds.
    pub fn check(&self) -> Result<(), RecordError> {
        check_text(&self.text).map_err(|error| RecordError::Text("text", error))?;
        check_field(&self.name).map_err(|error| RecordError::Text("name", error))?;
        check_field(&self.email).map_err(|error| RecordError::Text("email", error))?;
        check_field(&self.site).map_err(|error| RecordError::Text("site", error))?;
        check_number("at", self.at.0)
    }
}

/// Why a record is not stored as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A piece of text is empty or too long.
    #[error("{0}: {1}")]
    Text(&'static str, TextError),
    /// A number no JavaScript reader holds exactly.
    #[error("{field} is {value}, above {MAX_SAFE_INTEGER}, the largest number every client holds")]
    OutOfRange {
        /// Which number.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// An attached file out of its bounds, or of another chat.
    #[error("file: {0}")]
    File(crate::files::FileError),
    /// A Lamport clock too far past its chat's (see [`MAX_LAMPORT_STEP`]).
    #[error("lamport {lamport} is more than {MAX_LAMPORT_STEP} past the chat's highest, {highest}")]
    LamportJump {
        /// The message's.
        lamport: u64,
        /// The chat's highest stored.
        highest: u64,
    },
}

/// Checks that a number is one every reader holds exactly.
pub fn check_number(field: &'static str, value: u64) -> Result<(), RecordError> {
    if value > MAX_SAFE_INTEGER {
        return Err(RecordError::OutOfRange { field, value });
    }
    Ok(())
}

/// A time from elsewhere (the peer deployment), as this relay keeps it:
/// itself, unless it is further ahead of `now` than clocks drift
/// ([`MAX_CLOCK_SKEW_MS`]), in which case `now`.
pub fn bounded_time(at: Millis, now: Millis) -> Millis {
    if at.0 > now.0.saturating_add(MAX_CLOCK_SKEW_MS) {
        now
    } else {
        at
    }
}

/// A last-writer-wins stamp from elsewhere, as this relay keeps it: its wall
/// time bounded like [`bounded_time`] (a stamp from the far future would win
/// every later write and drag this relay's clock with it) and its node id
/// within [`MAX_SAFE_INTEGER`] (so every reader holds it exactly).
pub fn bounded_stamp(stamp: Hlc, now: Millis) -> Hlc {
    Hlc {
        wall: bounded_time(stamp.wall, now),
        counter: stamp.counter,
        node: stamp.node & MAX_SAFE_INTEGER,
    }
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

pub(crate) fn check_len(text: &str, limit: usize) -> Result<(), TextError> {
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

    fn message(lamport: u64, at: u64) -> Message {
        Message {
            lamport: Lamport(lamport),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: "Ada".into(),
            },
            id: MessageId::new(Millis(1), 1),
            chat: ChatId::new(Millis(1), 2),
            text: "hi".into(),
            at: Millis(at),
            file: None,
        }
    }

    #[test]
    fn numbers_past_what_javascript_holds_are_refused() {
        assert!(message(MAX_SAFE_INTEGER, MAX_SAFE_INTEGER).check().is_ok());
        assert_eq!(
            message(u64::MAX, 1).check(),
            Err(RecordError::OutOfRange {
                field: "lamport",
                value: u64::MAX
            })
        );
        assert!(matches!(
            message(1, MAX_SAFE_INTEGER + 2).check(),
            Err(RecordError::OutOfRange { field: "at", .. })
        ));
        let mut named = message(1, 1);
        named.author.name = "n".repeat(MAX_FIELD_CHARS + 1);
        assert!(matches!(
            named.check(),
            Err(RecordError::Text("author name", TextError::TooLong { .. }))
        ));
    }

    #[test]
    fn a_lamport_may_not_run_far_past_its_chat() {
        assert!(message(1, 1).check_lamport_after(Lamport(0)).is_ok());
        assert!(
            message(1_000 + MAX_LAMPORT_STEP, 1)
                .check_lamport_after(Lamport(1_000))
                .is_ok()
        );
        assert_eq!(
            message(1_001 + MAX_LAMPORT_STEP, 1).check_lamport_after(Lamport(1_000)),
            Err(RecordError::LamportJump {
                lamport: 1_001 + MAX_LAMPORT_STEP,
                highest: 1_000
            })
        );
        assert!(
            message(u64::MAX, 1)
                .check_lamport_after(Lamport(u64::MAX - 1))
                .is_ok(),
            "saturates instead of overflowing (the range check refuses it)"
        );
    }

    #[test]
    fn a_copy_with_another_time_is_the_same_message_anything_else_is_not() {
        let original = message(3, 10);
        assert!(original.same_as(&message(3, 99)));
        let mut other = message(3, 10);
        other.text = "other".into();
        assert!(!original.same_as(&other));
        let mut moved = message(3, 10);
        moved.chat = ChatId::new(Millis(1), 3);
        assert!(!original.same_as(&moved));
    }

    #[test]
    fn times_and_stamps_from_the_future_are_bounded() {
        let now = Millis(1_000_000);
        assert_eq!(
            bounded_time(now.plus(MAX_CLOCK_SKEW_MS), now),
            now.plus(MAX_CLOCK_SKEW_MS)
        );
        assert_eq!(bounded_time(Millis(u64::MAX), now), now);
        let stamp = Hlc {
            wall: Millis(u64::MAX),
            counter: 3,
            node: u64::MAX,
        };
        let bounded = bounded_stamp(stamp, now);
        assert_eq!(bounded.wall, now);
        assert_eq!(bounded.counter, 3);
        assert!(bounded.node <= MAX_SAFE_INTEGER);
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
