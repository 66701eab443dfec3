//! The launcher bundle, `www/pkg/twinline_launcher`: the loader fetches it
//! on every page view and calls [`boot`], which shows the chat button and
//! fetches the chat bundle when the chat is needed (see
//! `twinline_widget::launcher`). One export over the widget library, so
//! the bundle holds what the launcher reaches and nothing else.
//!
//! Loaders pasted into pages before the launcher had this name fetch
//! `pkg/twinline_widget`; `twinline_widget.js` next to this file is served
//! under that name and hands them this bundle (scripts/build-widget.sh).

/// Called by the loader once the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn boot() {
    twinline_widget::launcher::boot();
}
