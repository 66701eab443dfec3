//! The launcher button and the shadow root it lives in, shared by both
//! bundles that show it.
//!
//! A page loads the widget in two steps (see `crate::launcher`): a small
//! launcher bundle builds this button, then the chat bundle's [`Ui`] takes
//! the same elements over and adds its panel beside the button. Taking over
//! instead of replacing matters: a click whose press landed on the button
//! before the chat arrived still ends on the same element, so it opens the
//! panel instead of vanishing, and focus stays where it was. A page without
//! the launcher bundle (the tests, the console) gets the button built here.
//!
//! [`Ui`]: super::Ui

use super::dom::{add, attr, el, el_text, show};
use super::style::LAUNCHER_CSS;
use crate::i18n::Texts;
use wasm_bindgen::{JsCast, JsValue, UnwrapThrowExt};
use web_sys::{Document, Element, ShadowRoot, ShadowRootInit, ShadowRootMode};

/// The id of the widget's host element in the page.
pub const HOST_ID: &str = "twinline-widget";

/// Marks a host the launcher bundle built and the chat has not taken yet.
const LAUNCHER_ONLY: &str = "data-twinline-launcher";

/// A launcher button in its host.
pub struct Launcher {
    /// The element that goes in the page.
    pub host: Element,
    /// Its shadow root.
    pub root: ShadowRoot,
    /// The round button.
    pub button: Element,
    /// The unread count on the button (hidden while zero).
    pub badge: Element,
}

impl Launcher {
    /// Builds the host (`lang` is its `lang` attribute), a shadow root with
    /// the launcher's stylesheet, and the button; not yet in the page.
    pub fn build(doc: &Document, lang: &str, texts: &Texts) -> Result<Launcher, JsValue> {
        let host = el(doc, "div", "");
        attr(&host, "id", HOST_ID);
        attr(&host, "lang", lang);
        let root = host.attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))?;
        root.append_child(&el_text(doc, "style", "", LAUNCHER_CSS))?;
        let button = el(doc, "button", "launcher");
        attr(&button, "type", "button");
        attr(&button, "aria-expanded", "false");
        attr(&button, "aria-label", texts.open_chat);
        add(&button, &chat_icon(doc));
        let badge = el(doc, "span", "badge");
        attr(&badge, "aria-hidden", "true");
        show(&badge, false);
        add(&button, &badge);
        root.append_child(&button)?;
        Ok(Launcher {
            host,
            root,
            button,
            badge,
        })
    }

    /// Marks this host as the launcher bundle's, for the chat to take over.
    pub fn mark_launcher_only(&self) {
        attr(&self.host, LAUNCHER_ONLY, "");
    }

    /// The launcher the launcher bundle shows in `doc`, if any, handed over
    /// to the caller (it is no longer marked, and no longer busy).
    pub fn take_over(doc: &Document) -> Option<Launcher> {
        let host = doc
            .get_element_by_id(HOST_ID)
            .filter(|host| host.has_attribute(LAUNCHER_ONLY))?;
        let root = host.shadow_root()?;
        let find = |selector: &str| root.query_selector(selector).ok().flatten();
        let button = find(".launcher")?;
        let badge = find(".badge")?;
        let _ = host.remove_attribute(LAUNCHER_ONLY);
        let _ = button.remove_attribute("aria-busy");
        Some(Launcher {
            host: host.unchecked_into(),
            root,
            button,
            badge,
        })
    }
}

/// The launcher's speech-bubble icon.
fn chat_icon(doc: &Document) -> Element {
    const SVG: &str = "http://www.w3.org/2000/svg";
    let svg = doc
        .create_element_ns(Some(SVG), "svg")
        .expect_throw("svg element");
    attr(&svg, "viewBox", "0 0 24 24");
    attr(&svg, "aria-hidden", "true");
    let path = doc
        .create_element_ns(Some(SVG), "path")
        .expect_throw("svg path");
    attr(
        &path,
        "d",
        "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z",
    );
    add(&svg, &path);
    svg
}
