//! Which clock a time comes from.
//!
//! - [`session`]: every `now` the core session is fed. It compares them only
//!   with each other (heartbeats, reconnect backoff, probes, typing), so the
//!   clock must not jump: `performance.timeOrigin + performance.now()` is
//!   monotonic (a wall clock set back by the user or by NTP can neither
//!   stall a heartbeat nor fire every timer at once), and reads like the
//!   wall clock of the page's load, so a time it gives can still be shown
//!   or compared with one.
//! - `js::now()` (`Date.now()`), the wall clock: everything stored or
//!   compared across tabs and machines: message and note ids (and so their
//!   `at`, see `Session::send_with_id`), the tab lease in localStorage,
//!   token expiry, and the relays' times the console shows waits against.

use gloo_timers::callback::Timeout;
use twinline_core::Millis;

/// The session's clock: monotonic, starting at the page's wall-clock load
/// time. Falls back to the wall clock where `performance` is missing.
pub fn session() -> Millis {
    let performance = web_sys::window().and_then(|w| w.performance());
    match performance {
        Some(p) => Millis((p.time_origin() + p.now()) as u64),
        None => crate::js::now(),
    }
}

/// One timer for a moment on the [`session`] clock, re-armed only when the
/// moment moves (a session's `poll_timeout`, the panel's next redraw).
#[derive(Default)]
pub struct Alarm(Option<(Millis, Timeout)>);

impl Alarm {
    /// Fires `then` at `at` (replacing the timer if it was set for another
    /// moment); `None` cancels it.
    pub fn set(&mut self, at: Option<Millis>, then: impl FnOnce() + 'static) {
        let Some(at) = at else {
            self.0 = None;
            return;
        };
        if self.0.as_ref().is_some_and(|(armed, _)| *armed == at) {
            return;
        }
        let delay = at.since(session()).min(i32::MAX as u64) as u32;
        self.0 = Some((at, Timeout::new(delay, then)));
    }

    /// Cancels the timer.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}
