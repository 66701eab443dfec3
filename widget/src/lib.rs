//! Twinline's browser side: the visitor widget and the operator console.
//!
//! The widget and console land in their own issues; for now the crate exports
//! the core's protocol version so the release bundle pipeline
//! (`scripts/build-widget.sh`) has something real to build and check.

use wasm_bindgen::prelude::wasm_bindgen;

/// The wire protocol version this bundle speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    twinline_core::protocol::PROTOCOL_VERSION
}
