//! Twinline's target-independent core.
//!
//! Everything that decides lives here as plain Rust: the wire protocol, the
//! convergent transcript, and the client session state machine that both the
//! visitor widget (WebAssembly) and native clients drive. Nothing here does
//! I/O, reads a clock or draws randomness: time and random numbers are passed
//! in, so every behaviour is reproducible in a test. The crate builds for
//! `wasm32-unknown-unknown` and native targets without `cfg`.
//!
//! # Layout
//! - [`time`]: [`Millis`], the only notion of time.
//! - [`id`]: client-made ULID-shaped ids ([`MessageId`], [`ChatId`], ...).
//! - [`clock`]: Lamport clocks for message order, hybrid logical clocks for
//!   last-writer-wins registers.
//! - [`model`]: messages, authors, chat status, visitor details, offline notes.
//! - [`files`]: attachments: their limits, the types allowed by their
//!   first bytes, and which chunks an upload still has to send.
//! - [`transcript`]: a chat as a set of messages merged by id.
//! - [`transcript_email`]: a visitor's request for the transcript by email.
//! - [`receipt`]: read receipts ("side S has seen chat C up to X"), merged
//!   by the larger id.
//! - [`presence`]: whether a chat's visitor is there (online, or left
//!   at T), and when a left visitor's waiting chat leaves the queue.
//! - [`protocol`]: the frames on the wire and the HTTP bodies.
//! - [`moderation`]: the moderator's failover decisions.
//! - [`random`]: [`random::SplitMix64`], the seeded generator the session
//!   (and the simulation and soak) draw from; the seed comes from outside.
//! - [`session`]: the client session state machine.
//! - [`sorted`]: small ordered maps and sets as sorted vectors (the
//!   session's, smaller in the browser bundle than B-trees).

#![deny(missing_docs)]

pub mod clock;
pub mod files;
pub mod id;
pub mod model;
pub mod moderation;
pub mod presence;
pub mod protocol;
pub mod random;
pub mod rating;
pub mod receipt;
pub mod session;
pub mod sorted;
pub mod time;
pub mod transcript;
pub mod transcript_email;

pub use clock::{Hlc, Lamport};
pub use id::{ChatId, FileId, MessageId, OfflineId, RatingId, TranscriptId, Ulid, VisitorId};
pub use model::{Author, ChatState, ChatStatus, Message, OfflineNote, Role, VisitorInfo};
pub use rating::{Rating, Score};
pub use receipt::{Receipt, Seen, Side};
pub use time::Millis;
pub use transcript::Transcript;
