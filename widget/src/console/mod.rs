//! The operator console's side of the crate, built only with the `console`
//! feature into its own bundle (www/console/pkg), so visitors never
//! download it.
//!
//! The console holds its own authoritative copy of every chat the operator
//! has open and drives the same core session as the visitor widget, through
//! the same browser loop (`host`): when the active deployment fails it finds
//! the other one, and replays whatever that relay lacks, which is how "the
//! ongoing chat content is pushed from the operator's side to the server".
//!
//! # Layout
//! - [`state`]: what the page renders, built from the session (pure).
//! - [`presence`]: "Visitor online" / "Visitor left 3 min ago" (pure).
//! - [`history`]: the History view's search form and what it asks (pure).
//! - [`upload`]: the operator's uploads: what to send next, to the
//!   deployment the session is on (pure).
//! - `login`: `POST /v1/operator/login`, active deployment first; the
//!   answer kept in localStorage so reloads and failovers need no password.
//! - `engine`: one operator's session: host loop, snapshot per operator,
//!   typing and errors.
//! - `api`: the `Console` class for www/console/console.js.

pub mod history;
pub mod presence;
pub mod state;
pub mod upload;

#[cfg(all(feature = "console", target_arch = "wasm32"))]
mod api;
#[cfg(all(feature = "console", target_arch = "wasm32"))]
mod engine;
#[cfg(all(feature = "console", target_arch = "wasm32"))]
mod login;

#[cfg(all(feature = "console", target_arch = "wasm32"))]
pub use api::Console;
