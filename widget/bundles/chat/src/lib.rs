//! The chat bundle, `www/pkg/twinline_chat`: the launcher asks the loader
//! for it when the chat is needed, and the loader calls [`boot`], which
//! starts the visitor's chat (`twinline_widget::boot`: the core session,
//! its sockets, the tabs, the panel, `window.Twinline`). One export over
//! the widget library.

/// Called by the loader once the module is instantiated.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn boot() {
    twinline_widget::boot::boot();
}
