//! Reading a [`ServerFrame`] without serde's buffering of internally tagged
//! enums.
//!
//! The derived `Deserialize` of an enum tagged by a field (`"type"` here)
//! first reads the whole frame into serde's private `Content` tree, because
//! the tag may come after the other fields, and then reads the variant from
//! that tree. In the browser bundle that costs a second deserialiser for
//! every payload type (a good third of the widget's size). This decoder
//! reads the frame twice instead: once as a one-field struct for the tag,
//! then once as the struct of that variant's fields (the `"type"` key is
//! ignored there like any unknown field). Each payload type is then read by
//! one deserialiser only.
//!
//! The wire format is the derive's: same field names, same defaults, unknown
//! fields ignored, an unknown `type` reported as
//! [`FrameError::UnknownType`]. The tests compare the two on every
//! documented example and on generated frames. The one shape the derive
//! reads and this does not is a frame written as a JSON array (serde's
//! internally tagged enums also take `["type", field, ...]`); frames are
//! objects (docs/PROTOCOL.md), nothing sends arrays.
//!
//! [`FrameSource`] abstracts over where the frame is read from, so the
//! browser can read it through its own `JSON.parse` and native code through
//! serde_json ([`ServerFrame::decode`]).
//!
//! # Records no reader can show
//! One more difference from the derive: a record holding an integer beyond
//! [`MAX_SAFE_INTEGER`] (a message's `lamport` or `at`, a note's `at`, a
//! queue entry's `since`) is left out of the list it came in, and the
//! source is told ([`FrameSource::skipped`], which the browser logs). Such a
//! number cannot be a JavaScript number, so a console handed one failed as a
//! whole, on every deployment, for as long as the record was stored.
//! Relays refuse such values, but a reader does not trust the relay (a
//! compromised peer, a store older than the bounds): it shows everything
//! else. This is the one place every client reads relay frames through, so
//! it is the one fix for all of them. A `message` frame whose message is
//! such a record is refused as malformed (it carries nothing else).

use super::{ErrorCode, FrameError, MAX_FRAME_BYTES, ServerFrame};
use crate::id::{ChatId, MessageId, OfflineId, Ulid};
use crate::model::{Author, ChatStatus, Message, OfflineNote, VisitorInfo};
use crate::protocol::{ChatSync, DeploymentRole, QueueEntry};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt::{self, Display};

/// The largest integer every reader holds exactly: JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A record left out of a frame because one of its integers is beyond
/// [`MAX_SAFE_INTEGER`] (which one is left to the record's kind: a few
/// hundred bytes less in the browser bundle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// `message`, `note` or `queue entry`.
    pub kind: &'static str,
    /// The message's, note's or (queue entry) chat's id.
    pub id: Ulid,
}

impl Unreadable {
    /// Why `message` cannot be shown, if it cannot.
    pub fn message(message: &Message) -> Option<Unreadable> {
        Unreadable::unless("message", message.id.0, message.lamport.0.max(message.at.0))
    }

    /// Why `note` cannot be shown, if it cannot.
    pub fn note(note: &OfflineNote) -> Option<Unreadable> {
        Unreadable::unless("note", note.id.0, note.at.0)
    }

    /// Why `entry` cannot be shown, if it cannot.
    pub fn queue_entry(entry: &QueueEntry) -> Option<Unreadable> {
        Unreadable::unless("queue entry", entry.chat.0, entry.since.0)
    }

    /// The record, unless its largest integer is readable.
    fn unless(kind: &'static str, id: Ulid, largest: u64) -> Option<Unreadable> {
        (largest > MAX_SAFE_INTEGER).then_some(Unreadable { kind, id })
    }
}

impl Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} holds an integer beyond 2^53 - 1",
            self.kind, self.id
        )
    }
}

/// One frame's JSON, readable as any struct (fields the struct does not
/// name are ignored).
pub trait FrameSource {
    /// Why the frame did not read as the struct asked for.
    type Error: Display;

    /// Reads the whole frame as `T`.
    fn read<T: DeserializeOwned>(&mut self) -> Result<T, Self::Error>;

    /// Told of each record the decoder leaves out of the frame (see
    /// [`Unreadable`]), for the caller to log; the default forgets it.
    fn skipped(&mut self, record: &Unreadable) {
        let _ = record;
    }
}

/// A frame as JSON text, read with serde_json.
#[derive(Clone, Copy, Debug)]
pub struct JsonText<'a>(pub &'a str);

impl FrameSource for JsonText<'_> {
    type Error = serde_json::Error;

    fn read<T: DeserializeOwned>(&mut self) -> Result<T, Self::Error> {
        serde_json::from_str(self.0)
    }
}

/// The frame's `type` alone.
#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "type")]
    kind: String,
}

/// Declares one body struct per variant (the variant's fields, with the
/// same serde attributes) and the match from `type` to variant. The struct
/// literal building each variant names every field, so a field missing here
/// does not compile; a missing attribute is what the tests are for.
macro_rules! server_bodies {
    ($($tag:literal => $variant:ident $body:ident {
        $($(#[$attr:meta])* $field:ident: $ty:ty,)*
    })*) => {
        $(
            #[derive(Deserialize)]
            struct $body {
                $($(#[$attr])* $field: $ty,)*
            }
        )*

        /// The variant for `tag` read from `source`; `None` for a tag this
        /// side does not know.
        fn read_variant<S: FrameSource>(
            tag: &str,
            source: &mut S,
        ) -> Option<Result<ServerFrame, S::Error>> {
            match tag {
                $($tag => Some(source.read::<$body>().map(|body| ServerFrame::$variant {
                    $($field: body.$field,)*
                })),)*
                _ => None,
            }
        }
    };
}

server_bodies! {
    "welcome" => Welcome WelcomeBody {
        v: u32,
        deployment: String,
        role: DeploymentRole,
        epoch: u64,
        you: Author,
        chats: Vec<ChatSync>,
        operators_online: u32,
    }
    "chat" => Chat ChatBody {
        sync: ChatSync,
    }
    "message" => Message MessageBody {
        msg: Message,
    }
    "ack" => Ack AckBody {
        id: MessageId,
    }
    "offline_ack" => OfflineAck OfflineAckBody {
        id: OfflineId,
    }
    "typing" => Typing TypingBody {
        chat: ChatId,
        who: Author,
        on: bool,
    }
    "status" => Status StatusBody {
        chat: ChatId,
        status: ChatStatus,
    }
    "visitor" => Visitor VisitorBody {
        chat: ChatId,
        info: VisitorInfo,
    }
    "queue" => Queue QueueBody {
        chats: Vec<QueueEntry>,
    }
    "presence" => Presence PresenceBody {
        operators_online: u32,
        #[serde(default)]
        operators: Vec<String>,
    }
    "inbox" => Inbox InboxBody {
        notes: Vec<OfflineNote>,
    }
    "migrate" => Migrate MigrateBody {
        to: String,
        reason: String,
    }
    "pong" => Pong PongBody {
        nonce: u64,
    }
    "error" => Error ErrorBody {
        code: ErrorCode,
        message: String,
        #[serde(default)]
        id: Option<MessageId>,
    }
}

/// Reads a server frame from `source`: its `type`, then that variant's
/// fields, then leaves out the records no reader can show (see the module
/// docs). Never panics; the size limit is the caller's (the text is not
/// visible here).
pub fn decode_server_frame<S: FrameSource>(mut source: S) -> Result<ServerFrame, FrameError> {
    let malformed = |error: S::Error| FrameError::Malformed(error.to_string());
    let tag: Tag = source.read().map_err(malformed)?;
    let mut frame = match read_variant(&tag.kind, &mut source) {
        Some(frame) => frame.map_err(malformed)?,
        None => return Err(FrameError::UnknownType(tag.kind)),
    };
    let mut skipped = |record: Unreadable| source.skipped(&record);
    match &mut frame {
        ServerFrame::Welcome { chats, .. } => {
            for sync in chats {
                keep_readable(&mut sync.missing, Unreadable::message, &mut skipped);
            }
        }
        ServerFrame::Chat { sync } => {
            keep_readable(&mut sync.missing, Unreadable::message, &mut skipped);
        }
        ServerFrame::Message { msg } => {
            if let Some(record) = Unreadable::message(msg) {
                return Err(FrameError::Malformed(record.to_string()));
            }
        }
        ServerFrame::Queue { chats } => {
            keep_readable(chats, Unreadable::queue_entry, &mut skipped);
        }
        ServerFrame::Inbox { notes } => keep_readable(notes, Unreadable::note, &mut skipped),
        _ => {}
    }
    Ok(frame)
}

/// Removes the records `check` finds unreadable, reporting each.
fn keep_readable<T>(
    records: &mut Vec<T>,
    check: fn(&T) -> Option<Unreadable>,
    skipped: &mut impl FnMut(Unreadable),
) {
    records.retain(|record| match check(record) {
        Some(unreadable) => {
            skipped(unreadable);
            false
        }
        None => true,
    });
}

impl ServerFrame {
    /// Parses a text frame like [`ServerFrame::parse`], without serde's
    /// tagged-enum buffering (see [`decode_server_frame`]); never panics.
    pub fn decode(text: &str) -> Result<ServerFrame, FrameError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(text.len()));
        }
        decode_server_frame(JsonText(text))
    }
}

/// A string field that only some variants of an enum have, read into a
/// flat record of all variants' fields (see `Intent` in the session's
/// outbox): its text when it is a string; any other value is skipped, as
/// serde's derive skips fields a variant does not name. Reading a tagged
/// enum through such a record avoids serde's buffering as
/// [`decode_server_frame`] does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariantText(pub Option<String>);

impl<'de> Deserialize<'de> for VariantText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<VariantText, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = VariantText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, text: &str) -> Result<VariantText, E> {
                Ok(VariantText(Some(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<VariantText, E> {
                Ok(VariantText(Some(text)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<VariantText, E> {
                Ok(VariantText(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<VariantText, E> {
                Ok(VariantText(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<VariantText, E> {
                Ok(VariantText(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<VariantText, E> {
                Ok(VariantText(None))
            }
            fn visit_unit<E>(self) -> Result<VariantText, E> {
                Ok(VariantText(None))
            }
            fn visit_none<E>(self) -> Result<VariantText, E> {
                Ok(VariantText(None))
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<VariantText, D::Error> {
                serde::de::IgnoredAny::deserialize(d).map(|_| VariantText(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                a: A,
            ) -> Result<VariantText, A::Error> {
                serde::de::IgnoredAny
                    .visit_seq(a)
                    .map(|_| VariantText(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                a: A,
            ) -> Result<VariantText, A::Error> {
                serde::de::IgnoredAny
                    .visit_map(a)
                    .map(|_| VariantText(None))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}
