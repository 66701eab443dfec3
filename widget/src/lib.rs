//! Twinline's visitor widget and operator console, compiled to WebAssembly.
//!
//! One script tag on a customer's page (`www/loader.js`) loads the launcher
//! bundle from the primary deployment, or from the redundant one if the
//! primary does not deliver; it shows the launcher and loads the chat
//! bundle when the chat is needed ([`launcher`]). The chat bundle
//! ([`boot`]) holds the authoritative copy of the chat in the browser, and
//! drives the core's sans-IO session (`twinline_core::session`): it does the I/O the
//! session asks for (WebSockets, health probes, the moderator, timers,
//! localStorage) and renders what the session reports.
//!
//! This is a library; the bundles are the thin crates in `widget/bundles/`
//! (`twinline-launcher`, `twinline-chat`, `twinline-console`), each one
//! wasm-bindgen export over it, so each bundle holds only what its entry
//! point reaches. The one feature, `console` (on by default, off in the
//! visitor's bundles), only adds the console's `Console` class.
//!
//! # Layout
//! - [`config`]: `window.TwinlineConfig`, validated.
//! - [`i18n`]: the words, English and German.
//! - [`view`]: the chat as plain data, what every tab renders, and its JS
//!   shapes.
//! - [`storage`]: localStorage keys and access (memory fallback).
//! - [`tabs`]: one tab holds the connection, the others mirror it.
//! - [`app`]: one page's widget: its decisions (`app::state`, pure) and the
//!   shell that carries them out.
//! - `ui`: the launcher and panel in a shadow root.
//! - `driver`: runs the core session: sockets, probes, timers, persistence.
//! - `host`: the browser I/O loop `driver` and the console share.
//! - [`console`] (feature `console`): the operator console.
//! - `token`: the visitor token, kept across reloads, fetched from both
//!   deployments raced ([`race`]: the decisions; `net::race` runs them).
//! - `api`: `window.Twinline`, including the calls queued before loading.
//! - [`boot`]: the chat's start; [`launcher`]: the launcher's.
//! - `net`, `js`, `clock`: fetch with a deadline; randomness, JSON; the
//!   session's monotonic clock and the wall clock.
//! - `js_json`: JS values read as JSON by the core's `FromJson` (no serde);
//!   [`js_read`]: `FromJson` for the widget's own types.
//!
//! Browser-only modules build only for `wasm32`, so the workspace's native
//! build and tests cover the pure parts.

pub mod app;
pub mod config;
pub mod i18n;
pub mod race;
pub mod storage;
pub mod tabs;
pub mod view;

// Its pure part (the state model) also builds for the native unit tests.
#[cfg(any(feature = "console", test))]
pub mod console;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod boot;
#[cfg(target_arch = "wasm32")]
pub mod clock;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
pub mod js;
#[cfg(target_arch = "wasm32")]
pub mod js_json;
pub mod js_read;
#[cfg(target_arch = "wasm32")]
pub mod launcher;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
pub mod token;
#[cfg(target_arch = "wasm32")]
pub mod ui;

#[cfg(target_arch = "wasm32")]
pub use config::read_config;

/// The bundles' allocator: talc instead of Rust's default for wasm32
/// (dlmalloc), measured smaller in the chat bundle as served (see
/// ARCHITECTURE.md, "Size budget"). The page's wasm is single-threaded
/// (built without `atomics`), which is what `WasmDynamicTalc` is for; it
/// grows the module's memory as it needs, as dlmalloc did.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
