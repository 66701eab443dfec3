//! Reading a [`ServerFrame`] tag first, without serde: its `type`, then
//! that variant's fields, each through [`FromJson`] (see `decode_json`).
//!
//! The derived `Deserialize` of an enum tagged by a field (`"type"` here)
//! first reads the whole frame into serde's private `Content` tree, because
//! the tag may come after the other fields, and then reads the variant from
//! that tree; in the browser bundle that was a second deserialiser for
//! every payload type. Reading a parsed value ([`JsonView`]) needs neither:
//! the tag is one member, the variant's fields are others.
//!
//! The wire format is the derive's: same field names, same defaults,
//! unknown fields ignored, an unknown `type` reported as
//! [`FrameError::UnknownType`]. The tests compare the two on every
//! documented example, altered, and on generated frames. The one shape the
//! derive reads and this does not is a frame written as a JSON array
//! (serde's internally tagged enums also take `["type", field, ...]`);
//! frames are objects (docs/PROTOCOL.md), nothing sends arrays.
//!
//! The browser reads the frame out of `JSON.parse`'s result; native code
//! out of a `serde_json::Value` ([`ServerFrame::decode`]).
//!
//! # Records no reader can show
//! One more difference from the derive: a record holding an integer beyond
//! [`MAX_SAFE_INTEGER`] (a message's `lamport` or `at`, a note's `at`, a
//! queue entry's `since`) is left out of the list it came in, and the
//! caller is told (the browser logs it). Such a
//! number cannot be a JavaScript number, so a console handed one failed as a
//! whole, on every deployment, for as long as the record was stored.
//! Relays refuse such values, but a reader does not trust the relay (a
//! compromised peer, a store older than the bounds): it shows everything
//! else. This is the one place every client reads relay frames through, so
//! it is the one fix for all of them. A `message` frame whose message is
//! such a record is refused as malformed (it carries nothing else).

use super::decode_json::{Fields, JsonError, JsonView, strict_value};
use super::{FrameError, MAX_FRAME_BYTES, QueueEntry, ServerFrame};
use crate::id::Ulid;
pub use crate::model::MAX_SAFE_INTEGER;
use crate::model::{Message, OfflineNote};
use serde::Deserialize;
use std::fmt::{self, Display};

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

/// The variant tagged `tag`, read from the frame's fields; `None` for a tag
/// this side does not know. Each arm builds its variant with every field
/// named, so a field added to a frame does not compile here until it is
/// read.
fn read_variant<V: JsonView>(
    tag: &str,
    f: &Fields<'_, V>,
) -> Result<Option<ServerFrame>, JsonError> {
    Ok(Some(match tag {
        "welcome" => ServerFrame::Welcome {
            v: f.get("v")?,
            deployment: f.get("deployment")?,
            role: f.get("role")?,
            epoch: f.get("epoch")?,
            you: f.get("you")?,
            chats: f.get("chats")?,
            operators_online: f.get("operators_online")?,
            mail: f.or_default("mail")?,
        },
        "chat" => ServerFrame::Chat {
            sync: f.get("sync")?,
        },
        "message" => ServerFrame::Message { msg: f.get("msg")? },
        "ack" => ServerFrame::Ack { id: f.get("id")? },
        "offline_ack" => ServerFrame::OfflineAck { id: f.get("id")? },
        "typing" => ServerFrame::Typing {
            chat: f.get("chat")?,
            who: f.get("who")?,
            on: f.get("on")?,
        },
        "status" => ServerFrame::Status {
            chat: f.get("chat")?,
            status: f.get("status")?,
        },
        "visitor" => ServerFrame::Visitor {
            chat: f.get("chat")?,
            info: f.get("info")?,
        },
        "rating" => ServerFrame::Rating {
            chat: f.get("chat")?,
            rating: f.get("rating")?,
        },
        "transcript_ack" => ServerFrame::TranscriptAck {
            chat: f.get("chat")?,
            id: f.get("id")?,
        },
        "receipt" => ServerFrame::Receipt {
            chat: f.get("chat")?,
            side: f.get("side")?,
            up_to: f.get("up_to")?,
        },
        "queue" => ServerFrame::Queue {
            chats: f.get("chats")?,
        },
        "presence" => ServerFrame::Presence {
            operators_online: f.get("operators_online")?,
            operators: f.or_default("operators")?,
        },
        "inbox" => ServerFrame::Inbox {
            notes: f.get("notes")?,
        },
        "migrate" => ServerFrame::Migrate {
            to: f.get("to")?,
            reason: f.get("reason")?,
        },
        "erased" => ServerFrame::Erased {
            chat: f.get("chat")?,
        },
        "pong" => ServerFrame::Pong {
            nonce: f.get("nonce")?,
        },
        "error" => ServerFrame::Error {
            code: f.get("code")?,
            message: f.get("message")?,
            id: f.or_default("id")?,
        },
        _ => return Ok(None),
    }))
}

/// Reads a server frame out of a parsed JSON `value`: its `type`, then
/// that variant's fields, then leaves out the records no reader can show,
/// telling `skipped` of each (see the module docs). Never panics; the size
/// limit is the caller's (the text is not visible here).
pub fn decode_server_frame<V: JsonView>(
    value: &V,
    mut skipped: impl FnMut(Unreadable),
) -> Result<ServerFrame, FrameError> {
    let malformed = |error: JsonError| FrameError::Malformed(error.to_string());
    let fields = Fields::of(value).map_err(malformed)?;
    let tag: String = fields.get("type").map_err(malformed)?;
    let Some(mut frame) = read_variant(&tag, &fields).map_err(malformed)? else {
        return Err(FrameError::UnknownType(tag));
    };
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
    /// Parses a text frame like [`ServerFrame::parse`], through
    /// [`decode_server_frame`] (what the browser runs), forgetting the
    /// records it leaves out; never panics.
    pub fn decode(text: &str) -> Result<ServerFrame, FrameError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(text.len()));
        }
        let value = strict_value(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
        decode_server_frame(&&value, |_| {})
    }
}

/// A string field that only some variants of an enum have, read into a
/// flat record of all variants' fields (see `Intent` in the session's
/// outbox): its text when it is a string; any other value is skipped, as
/// serde's derive skips fields a variant does not name. Reading a tagged
/// enum through such a record avoids serde's buffering (the serde path the
/// relay and the tests take; the browser reads through [`FromJson`]).
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
