//! The message log: one element per message id, kept in display order.
//!
//! Rendering is keyed by id so a status change (sending → sent) touches one
//! small element, a replayed or merged message lands in its place without
//! rebuilding the list, and the composer keeps focus and the log keeps its
//! scroll position. Text goes in with `textContent`.
//!
//! Messages are grouped by author and minute (`view::continues`): one that
//! continues the group before it has the class `cont`, which hides its
//! author, and its meta line leaves out the time (its status stays). A
//! message merged in between can start or end a group, so whether each one
//! continues is decided again on every render, touching only those that
//! changed.
//!
//! The visitor's newest message the operator has seen (`View::seen`, a
//! read receipt) says "Seen" in its meta line instead of "Sent": text in
//! the message, read with it by a screen reader.

use super::dom::{add, attr, el, el_text, set_text};
use crate::i18n::Texts;
use crate::view::{Status, ViewMessage, continues};
use twinline_core::sorted::SortedMap;
use wasm_bindgen::JsValue;
use web_sys::{Document, Element, Node};

struct Item {
    root: Element,
    meta: Element,
    status: Status,
    /// Continues the group of the message before it.
    cont: bool,
    /// The newest own message the operator has seen.
    seen: bool,
}

/// The rendered log.
pub struct MessageList {
    log: Element,
    items: SortedMap<String, Item>,
    lang: &'static str,
}

impl MessageList {
    /// A list rendering into `log`.
    pub fn new(log: Element, lang: &'static str) -> MessageList {
        MessageList {
            log,
            items: SortedMap::new(),
            lang,
        }
    }

    /// Brings the log in line with `messages`; returns true if any message
    /// was added.
    pub fn render(
        &mut self,
        doc: &Document,
        messages: &[ViewMessage],
        seen: Option<&str>,
        texts: &Texts,
    ) -> bool {
        let mut added = false;
        let log: &Node = &self.log;
        let mut cursor = log.first_child();
        let mut before = None;
        for message in messages {
            let key = (message.author.as_str(), message.name.as_str(), message.at);
            let cont = continues(before, key);
            before = Some(key);
            let is_seen = seen == Some(message.id.as_str());
            let item = match self.items.get_mut(&message.id) {
                Some(item) => {
                    if (item.status, item.cont, item.seen) != (message.status, cont, is_seen) {
                        item.status = message.status;
                        item.cont = cont;
                        item.seen = is_seen;
                        let _ = item.root.class_list().toggle_with_force("cont", cont);
                        set_text(
                            &item.meta,
                            &meta_text(message, cont, is_seen, texts, self.lang),
                        );
                    }
                    item
                }
                None => {
                    added = true;
                    let item = build(doc, message, cont, is_seen, texts, self.lang);
                    self.items.get_or_insert_with(message.id.clone(), || item)
                }
            };
            let node: &Node = &item.root;
            if !cursor.as_ref().is_some_and(|c| c.is_same_node(Some(node))) {
                let _ = log.insert_before(node, cursor.as_ref());
            }
            cursor = node.next_sibling();
        }
        // Anything after the last message is no longer in the view.
        while let Some(stale) = cursor {
            cursor = stale.next_sibling();
            let _ = log.remove_child(&stale);
        }
        if self.items.len() > messages.len() {
            self.items
                .retain(|id, _| messages.iter().any(|m| &m.id == id));
        }
        added
    }
}

fn build(
    doc: &Document,
    message: &ViewMessage,
    cont: bool,
    seen: bool,
    texts: &Texts,
    lang: &str,
) -> Item {
    let kind = match message.author.as_str() {
        "visitor" => "msg own",
        "system" => "msg system",
        _ => "msg",
    };
    let root = el(doc, "div", kind);
    if cont {
        let _ = root.class_list().add_1("cont");
    }
    attr(&root, "data-id", &message.id);
    let who = match message.author.as_str() {
        "visitor" => texts.you,
        "system" => "",
        _ if message.name.is_empty() => texts.support,
        _ => &message.name,
    };
    if !who.is_empty() {
        add(&root, &el_text(doc, "span", "who", who));
    }
    add(&root, &el_text(doc, "p", "text", &message.text));
    let meta = el_text(
        doc,
        "span",
        "meta",
        &meta_text(message, cont, seen, texts, lang),
    );
    add(&root, &meta);
    Item {
        root,
        meta,
        status: message.status,
        cont,
        seen,
    }
}

/// The time (the group's first message only) and the delivery state (own
/// messages: "Seen" for the newest the operator has seen), joined by " · ".
fn meta_text(message: &ViewMessage, cont: bool, seen: bool, texts: &Texts, lang: &str) -> String {
    let status = match message.status {
        _ if seen => texts.seen,
        Status::Sending => texts.sending,
        Status::Sent => texts.sent,
        Status::Failed => texts.not_sent,
        Status::Received => "",
    };
    let time = if cont {
        String::new()
    } else {
        clock_time(message.at, lang)
    };
    match (time.is_empty(), status.is_empty()) {
        (false, false) => format!("{time} · {status}"),
        (true, _) => status.to_string(),
        (false, true) => time,
    }
}

/// "14:05" (or "2:05 PM") in the widget's language.
fn clock_time(at: u64, lang: &str) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(at as f64));
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
    date.to_locale_time_string_with_options(lang, &options)
        .into()
}
