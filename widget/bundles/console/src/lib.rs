//! The operator console's bundle, `www/console/pkg/twinline_console`: the
//! `Console` class that www/console/console.js drives
//! (`twinline_widget::console`). The class is the widget library's own
//! export, there under its `console` feature, which only this bundle turns
//! on: the visitor's bundles never carry it.

#[cfg(target_arch = "wasm32")]
pub use twinline_widget::console::Console;
