//! Twinline's visitor widget, compiled to WebAssembly.
//!
//! One script tag on a customer's page (`www/loader.js`) loads this module
//! from the primary deployment, or from the redundant one if the primary
//! does not deliver, and calls [`boot`]. The widget then shows a launcher,
//! holds the authoritative copy of the chat in the browser, and drives the
//! core's sans-IO session (`twinline_core::session`): it does the I/O the
//! session asks for (WebSockets, health probes, the moderator, timers,
//! localStorage) and renders what the session reports.
//!
//! # Layout
//! - [`config`]: `window.TwinlineConfig`, validated.
//! - [`i18n`]: the words, English and German.
//! - [`view`]: the chat as plain data, what every tab renders.
//! - [`storage`]: localStorage keys and access (memory fallback).
//! - [`tabs`]: one tab holds the connection, the others mirror it.
//! - `ui`: the launcher and panel in a shadow root.
//! - `driver`: runs the core session: sockets, probes, timers, persistence.
//! - `host`: the browser I/O loop `driver` and the console share.
//! - [`console`] (feature `console`, its own bundle): the operator console.
//! - `token`: the visitor token, kept across reloads.
//! - `api`: `window.Twinline`, including the calls queued before loading.
//! - `app`: ties the parts together for one page; `boot`: the entry point.
//! - `net`, `js`: fetch with a deadline; clock, randomness, JSON.
//! - `js_reader`: reads Rust values out of JS values (serde), for `js`.
//!
//! Browser-only modules build only for `wasm32`, so the workspace's native
//! build and tests cover the pure parts.

pub mod config;
pub mod i18n;
pub mod storage;
pub mod tabs;
pub mod view;

// Its pure part (the state model) also builds for the native unit tests.
#[cfg(any(feature = "console", test))]
pub mod console;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod app;
// The console bundle has its own entry point (`console::Console`) and
// leaves the visitor's out, so it does not carry the visitor's UI.
#[cfg(all(target_arch = "wasm32", not(feature = "console")))]
mod boot;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
pub mod js;
#[cfg(target_arch = "wasm32")]
pub mod js_reader;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
pub mod token;
#[cfg(target_arch = "wasm32")]
pub mod ui;

#[cfg(all(target_arch = "wasm32", not(feature = "console")))]
pub use boot::{boot, read_config};
