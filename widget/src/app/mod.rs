//! One widget on one page: the decisions in [`state`] (pure, tested
//! natively in `state_tests.rs`), and the shell that carries them out in
//! the browser (`shell`: the UI, the tabs, localStorage, the token fetch,
//! the engine, the page's event handlers), behind the [`App`] handle that
//! the UI, the timers, the sockets and `window.Twinline` hold.
//!
//! The same shape as the console's (`console::state` beside its engine) and
//! the core session's: the state never touches the browser; it queues
//! effects, and the shell does them in order.

pub mod state;

#[cfg(target_arch = "wasm32")]
mod shell;

#[cfg(target_arch = "wasm32")]
pub use shell::App;
