//! Small DOM helpers. Text goes in with `textContent` only: there is no
//! helper that takes HTML, so chat text can never become markup.

use wasm_bindgen::{JsCast, UnwrapThrowExt};
use web_sys::{Document, Element, HtmlElement};

/// A new element with a class (empty for none).
pub fn el(doc: &Document, tag: &str, class: &str) -> Element {
    // createElement only fails for invalid tag names, and ours are literals.
    // (`expect_throw`, not `expect`: the latter would link the formatting of
    // a `JsValue` for a message no one reads.)
    let element = doc.create_element(tag).expect_throw("valid tag name");
    if !class.is_empty() {
        element.set_class_name(class);
    }
    element
}

/// A new element with a class and text.
pub fn el_text(doc: &Document, tag: &str, class: &str, text: &str) -> Element {
    let element = el(doc, tag, class);
    element.set_text_content(Some(text));
    element
}

/// Appends `child` to `parent`.
pub fn add(parent: &Element, child: &Element) {
    // appendChild fails only for cycles or document nodes, impossible here.
    let _ = parent.append_child(child);
}

/// Sets an attribute.
pub fn attr(element: &Element, name: &str, value: &str) {
    let _ = element.set_attribute(name, value);
}

/// Shows or hides an element with the `hidden` attribute (no layout thrash
/// when nothing changes).
pub fn show(element: &Element, visible: bool) {
    if element.has_attribute("hidden") == visible {
        if visible {
            let _ = element.remove_attribute("hidden");
        } else {
            attr(element, "hidden", "");
        }
    }
}

/// Sets text only when it differs (screen readers re-announce live regions
/// on every write).
pub fn set_text(element: &Element, text: &str) {
    if element.text_content().as_deref() != Some(text) {
        element.set_text_content(Some(text));
    }
}

/// Moves keyboard focus to an element.
pub fn focus(element: &Element) {
    if let Some(html) = element.dyn_ref::<HtmlElement>() {
        let _ = html.focus();
    }
}
