//! The client session state machine, shared by the visitor widget, the
//! operator console and native test clients.
//!
//! Sans-IO in the manner of quinn-proto and str0m: the session never opens
//! a socket, reads a clock or draws randomness. The I/O layer feeds it
//! [`Input`]s and the time, drains [`Action`]s with
//! [`Session::poll_action`], and calls [`Session::handle_timeout`] at
//! [`Session::poll_timeout`]. Given the same seed and inputs it does the
//! same thing, which is what makes failover testable to the millisecond.
//!
//! The session holds the authoritative local copy of the chat. A message
//! is written here first (pending), sent when a relay is ready, and kept
//! until a relay acks it; after every welcome the session replays what is
//! still pending and whatever the relay says it lacks. Because every store
//! merges by message id, replaying too much is harmless and losing is
//! impossible short of losing this copy and both data centers.
//!
//! # Files
//! - [`config`]: endpoints, identity and every delay ([`Timing`]).
//! - [`io`]: inputs, actions, events.
//! - `routing`: which deployment to be on (moderator, else probes).
//! - `link`: one socket's phases and its heartbeat.
//! - `chats`: local transcripts and registers, pending acks, what to replay.
//! - `outbox`: notes, visitor details, accept/close/transfer until settled.
//! - `machine`: the session itself, tying those together.
//! - [`snapshot`]: what survives a page reload.

pub mod config;
pub mod io;
pub mod snapshot;

mod chats;
mod commands;
mod frames;
mod link;
mod machine;
mod outbox;
mod routing;
#[cfg(test)]
mod tests;

pub use chats::LocalChat;
pub use config::{Endpoint, Identity, SessionConfig, Timing};
pub use io::{
    Action, ConnId, ConnectionStatus, Delivery, Input, LinkState, SendError, SessionEvent,
};
pub use machine::Session;
pub use outbox::{Intent, VisitorUpdate};
pub use snapshot::{SNAPSHOT_VERSION, Snapshot};
