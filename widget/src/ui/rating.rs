//! The rating offered once the chat is closed: good or bad, with an
//! optional comment.
//!
//! Two buttons (pressed state in `aria-pressed`) send the rating with
//! whatever the comment field holds; pressing one again, or the other,
//! rates again (the later rating wins everywhere). A polite live line says
//! when the rating is on its way and when a deployment stored it, so a
//! screen reader hears the same as the eye sees. The comment is checked
//! here against the limit every relay enforces, so a refusal is shown
//! beside the field and nothing typed is lost.

use super::dom::{add, attr, el, el_text, set_text, show};
use crate::i18n::Texts;
use crate::view::{UiEvent, ViewRating};
use gloo_events::EventListener;
use std::rc::Rc;
use twinline_core::Score;
use twinline_core::rating::{MAX_COMMENT_CHARS, check_comment};
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlTextAreaElement};

/// The rating part of the closed chat's foot.
pub struct RatingForm {
    /// Its element, for placing it.
    pub root: Element,
    good: Element,
    bad: Element,
    state: Element,
    _listeners: Vec<EventListener>,
}

impl RatingForm {
    /// Builds the form; a click on a score sends [`UiEvent::Rate`].
    pub fn new(doc: &Document, texts: &'static Texts, on: &Rc<dyn Fn(UiEvent)>) -> RatingForm {
        let root = el(doc, "div", "rate");
        attr(&root, "role", "group");
        attr(&root, "aria-label", texts.rate_prompt);
        add(&root, &el_text(doc, "p", "note", texts.rate_prompt));
        let label = el_text(
            doc,
            "label",
            "",
            &format!("{} ({})", texts.rate_comment, texts.optional),
        );
        let comment = el(doc, "textarea", "");
        attr(&comment, "rows", "2");
        attr(&comment, "maxlength", &MAX_COMMENT_CHARS.to_string());
        add(&label, &comment);
        let comment: HtmlTextAreaElement = comment.unchecked_into();
        let error = el(doc, "p", "err");
        attr(&error, "role", "alert");
        show(&error, false);
        let row = el(doc, "div", "row");
        let button = |text: &str, score: Score| {
            let button = el_text(doc, "button", "btn", text);
            attr(&button, "type", "button");
            attr(&button, "aria-pressed", "false");
            attr(&button, "data-score", score.as_str());
            add(&row, &button);
            button
        };
        let good = button(texts.rate_good, Score::Good);
        let bad = button(texts.rate_bad, Score::Bad);
        add(&root, &row);
        add(&root, &label);
        add(&root, &error);
        let state = el(doc, "p", "note");
        attr(&state, "aria-live", "polite");
        add(&root, &state);
        let listener = |target: &Element, score: Score| {
            let (on, comment, error) = (on.clone(), comment.clone(), error.clone());
            EventListener::new(target, "click", move |_| {
                let text = comment.value();
                match check_comment(&text) {
                    Ok(()) => {
                        show(&error, false);
                        on(UiEvent::Rate {
                            score,
                            comment: text.trim().to_string(),
                        });
                    }
                    Err(_) => {
                        set_text(&error, texts.error_too_long);
                        show(&error, true);
                    }
                }
            })
        };
        let listeners = vec![listener(&good, Score::Good), listener(&bad, Score::Bad)];
        RatingForm {
            root,
            good,
            bad,
            state,
            _listeners: listeners,
        }
    }

    /// Shows the rating given, if any: which button is pressed, and
    /// whether it is stored.
    pub fn render(&self, rating: Option<&ViewRating>, texts: &Texts) {
        let score = rating.map(|r| r.score);
        for (button, mine) in [(&self.good, Score::Good), (&self.bad, Score::Bad)] {
            let pressed = if score == Some(mine) { "true" } else { "false" };
            attr(button, "aria-pressed", pressed);
        }
        let state = match rating {
            None => "",
            Some(r) if r.stored => texts.rate_thanks,
            Some(_) => texts.rate_sending,
        };
        set_text(&self.state, state);
    }
}
