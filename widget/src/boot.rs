//! The chat bundle's start (its entry crate, widget/bundles/chat, exports
//! [`boot`]; the loader calls it when the launcher asks for the chat, see
//! `crate::launcher`): read the configuration, show the widget, install
//! `window.Twinline`, start.

use crate::api;
use crate::app::App;
use crate::config::read_config;
use gloo_events::EventListener;
use std::cell::RefCell;
use web_sys::HtmlElement;

thread_local! {
    /// The page's widget; kept alive for the page's lifetime.
    static WIDGET: RefCell<Option<App>> = const { RefCell::new(None) };
}

/// Starts the widget from `window.TwinlineConfig` (once per page; later
/// calls do nothing). Waits for `<body>` if the page has none yet.
pub fn boot() {
    when_body(start);
}

/// Runs `then` with `<body>`, now or once the document has one.
pub fn when_body(then: fn(&HtmlElement)) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    match document.body() {
        Some(body) => then(&body),
        None => EventListener::once(&document, "DOMContentLoaded", move |_| {
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                then(&body);
            }
        })
        .forget(),
    }
}

fn start(body: &HtmlElement) {
    if WIDGET.with(|w| w.borrow().is_some()) {
        return;
    }
    let config = match read_config() {
        Ok(config) => config,
        Err(error) => {
            web_sys::console::error_1(&error.to_string().into());
            return;
        }
    };
    match App::start(config, body) {
        Ok(app) => {
            api::install(&app);
            app.run();
            WIDGET.with(|w| *w.borrow_mut() = Some(app));
        }
        Err(error) => web_sys::console::error_2(&"Twinline: could not start:".into(), &error),
    }
}
