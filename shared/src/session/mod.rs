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
//! # Driving it
//! The caller owns the sockets, the fetches, the timer and the storage; the
//! session owns every decision. The loop, in the manner of str0m's:
//!
//! 1. Make the session: [`Session::new`] on a first visit, or
//!    [`Session::restore`] from a stored [`Snapshot`] (a reload), with the
//!    time and a random seed.
//! 2. Feed what happens outside with [`Session::handle`] (a socket opened,
//!    closed or brought a frame; a probe or the moderator answered), and
//!    what the user does with the commands ([`Session::send`],
//!    [`Session::typing`], [`Session::accept`], ...).
//! 3. After each of those, [`Session::poll_action`] until `None`, and carry
//!    out every [`Action`] (`#[must_use]`: an action dropped is a socket
//!    never opened or a frame never sent). Inputs that arise while carrying
//!    one out (a socket that cannot even be created) are queued and fed
//!    after the drain, never from inside it.
//! 4. Arm one timer for [`Session::poll_timeout`]; when it fires, call
//!    [`Session::handle_timeout`] and drain again. It moves after every
//!    drain, so re-arm it then.
//! 5. To stop (another tab leads, log-out, the page goes away):
//!    [`Session::shutdown`], then drain once more: it queues a `Disconnect`
//!    per socket and leaves the session inert.
//!
//! ```
//! use std::collections::VecDeque;
//! use twinline_core::model::{Author, Role};
//! use twinline_core::protocol::{ClientFrame, DeploymentRole, ServerFrame};
//! use twinline_core::session::{
//!     Action, Delivery, Endpoint, Identity, Input, Session, SessionConfig, Timing,
//! };
//! use twinline_core::{ChatId, Millis, Ulid};
//!
//! let chat = ChatId(Ulid::new(Millis(1_000), 7));
//! let me = Author { role: Role::Visitor, id: "v1".into(), name: String::new() };
//! let config = SessionConfig {
//!     role: Role::Visitor,
//!     site: "demo".into(),
//!     moderator: None,
//!     deployments: vec![Endpoint {
//!         name: "primary".into(),
//!         role: DeploymentRole::Primary,
//!         url: "http://127.0.0.1:7001".into(),
//!     }],
//!     timing: Timing::default(),
//! };
//! let identity = Identity { token: "t".into(), author: me.clone(), chat: Some(chat) };
//! let mut now = Millis(1_000);
//! let mut session = Session::new(config, identity, now, 42);
//! let id = session.send(now, chat, "Hello").unwrap(); // kept, sent once welcomed
//!
//! // A relay that welcomes every hello and acks every message, standing in
//! // for the caller's WebSockets; the probes it never answers.
//! let mut inputs = VecDeque::new();
//! loop {
//!     while let Some(action) = session.poll_action() {
//!         match action {
//!             Action::Connect { conn, .. } => inputs.push_back(Input::Opened { conn }),
//!             Action::Send { conn, frame: ClientFrame::Hello { .. } } => {
//!                 let frame = ServerFrame::Welcome {
//!                     v: 1,
//!                     deployment: "primary".into(),
//!                     role: DeploymentRole::Primary,
//!                     epoch: 1,
//!                     you: me.clone(),
//!                     chats: vec![],
//!                     operators_online: 1,
//!                     mail: false,
//!                 };
//!                 inputs.push_back(Input::Frame { conn, frame });
//!             }
//!             Action::Send { conn, frame: ClientFrame::Send { msg } } => {
//!                 let frame = ServerFrame::Ack { id: msg.id };
//!                 inputs.push_back(Input::Frame { conn, frame });
//!             }
//!             Action::Persist => { /* store session.snapshot() */ }
//!             _ => {}
//!         }
//!     }
//!     if session.delivery(id) == Delivery::Acked {
//!         break;
//!     }
//!     match inputs.pop_front() {
//!         Some(input) => session.handle(now, input),
//!         None => {
//!             // Nothing came in: sleep until the session's timer.
//!             now = session.poll_timeout().expect("a live session always has a timer");
//!             session.handle_timeout(now);
//!         }
//!     }
//! }
//!
//! session.shutdown();
//! let last: Vec<Action> = std::iter::from_fn(|| session.poll_action()).collect();
//! assert!(matches!(last[..], [Action::Disconnect { .. }]));
//! assert_eq!(session.poll_timeout(), None);
//! ```
//!
//! # Time
//! Every `now` is the caller's clock in milliseconds, and the session
//! compares it only with earlier `now`s (heartbeats, backoff, probes,
//! typing), so it must never go back: the browser passes a monotonic clock
//! (`performance.timeOrigin + performance.now()`: it starts at the wall
//! clock of the page's load, so it reads like one, and then only moves
//! forward). What the session stores or sends as a time is wall-clock:
//! a message's `at` and an offline note's are the times in their ids, and
//! a caller whose `now` may drift from the wall clock makes those ids
//! itself ([`Session::send_with_id`],
//! [`Session::leave_offline_note_with_id`]); [`Session::send`] and
//! [`Session::leave_offline_note`] make them from `now`, for callers whose
//! `now` is the wall clock (native clients, tests).
//!
//! # Files
//! - [`config`]: endpoints, identity and every delay ([`Timing`]).
//! - [`io`]: inputs, actions, events.
//! - `routing`: which deployment to be on (moderator, else probes).
//! - `link`: one socket's phases and its heartbeat.
//! - `chats`: local transcripts and registers, pending acks, what to replay.
//! - `outbox`: notes, visitor details, accept/close/transfer until settled.
//! - `rating`: the visitor's rating, kept until stored, replayed where lacking.
//! - `receipts`: read receipts ("seen up to"), merged by the larger id,
//!   replayed where a relay lacks them (the decisions); `reading` ties them
//!   to `read` and `receipt` frames.
//! - `transcript_email`: the visitor's requests for the transcript by
//!   email, kept until acked, replayed where a relay lacks them.
//! - `typing`: "is typing" both ways: throttle, quiet and stale.
//! - `machine`: the session itself, tying those together.
//! - [`snapshot`]: what survives a page reload.

pub mod config;
pub mod io;
pub mod snapshot;

#[cfg(test)]
mod availability_tests;
mod chats;
mod commands;
mod erased;
#[cfg(test)]
mod erased_tests;
mod files;
mod frames;
mod link;
mod machine;
mod outbox;
mod rating;
#[cfg(test)]
mod rating_tests;
mod reading;
#[cfg(test)]
mod reading_tests;
mod receipts;
#[cfg(test)]
mod rejoin_tests;
mod routing;
#[cfg(test)]
mod tests;
mod transcript_email;
#[cfg(test)]
mod transcript_email_tests;
mod typing;
#[cfg(test)]
mod typing_tests;

pub use chats::LocalChat;
pub use config::{Endpoint, Identity, SessionConfig, Timing};
pub use io::{
    Action, ConnId, ConnectionStatus, Delivery, Input, LinkState, SendError, SessionEvent,
};
pub use machine::Session;
pub use outbox::{Intent, VisitorUpdate};
pub use rating::{ChatRating, RatingRequest};
pub use receipts::{Receipt, Receipts, Side, merge_up_to};
pub use snapshot::{SNAPSHOT_VERSION, Snapshot};
pub use transcript_email::EmailRequest;
