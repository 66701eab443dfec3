//! The visible widget: a launcher button and a chat panel in a shadow root.
//!
//! The shadow root keeps the site's CSS out and ours in. Everything the
//! panel shows comes from a [`View`](crate::view::View) passed to [`Ui::render`]; user actions
//! leave as [`UiEvent`]s through one callback, so the UI never touches the
//! session and renders the same in the tab that holds the connection and in
//! the tabs that mirror it.
//!
//! Accessibility: the launcher is a button with `aria-expanded` and a label
//! that includes the unread count; the panel is a labelled dialog; the log
//! is an `aria-live` region (`role=log`), the typing line and the
//! reconnecting note are polite live regions, and so is the preview of the
//! newest unread message beside the closed panel's launcher; opening focuses the first
//! field, Escape closes, closing returns focus to the launcher. Once the
//! chat is closed the foot offers a rating (`rating.rs`) and, where the
//! relay sends email, the transcript by email (`forms.rs`).

mod dom;
mod forms;
pub mod launcher;
mod messages;
mod rating;
pub mod style;

use crate::config::Prechat;
use crate::i18n::Texts;
use crate::view::ChatPhase;
pub use crate::view::{Shown, UiEvent};
use dom::{add, attr, el, el_text, focus, set_text, show};
use forms::{Composer, EmailForm, OfflineForm, PrechatForm};
use gloo_events::{EventListener, EventListenerOptions};
use launcher::Launcher;
use messages::MessageList;
use rating::RatingForm;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, KeyboardEvent, ShadowRoot};

/// Which part of the panel's foot is showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Foot {
    Composer,
    Prechat,
    Offline,
    Thanks,
    Ended,
}

/// The mounted widget.
pub struct Ui {
    host: Element,
    root: ShadowRoot,
    texts: &'static Texts,
    launcher: Element,
    badge: Element,
    preview: Element,
    panel: Element,
    subtitle: Element,
    banner: Element,
    log: Element,
    list: MessageList,
    typing: Element,
    composer: Composer,
    prechat: PrechatForm,
    offline: OfflineForm,
    thanks: Element,
    ended: Element,
    rating: RatingForm,
    email: EmailForm,
    foot: Foot,
    open: bool,
    _listeners: Vec<EventListener>,
}

impl Ui {
    /// Builds the widget in a new host element appended to `parent`, or in
    /// the launcher bundle's host if the page shows one (see
    /// [`launcher`]). The launcher is visible when this returns.
    pub fn mount(
        doc: &Document,
        parent: &Element,
        lang: &'static str,
        texts: &'static Texts,
        title: &str,
        prechat_mode: Prechat,
        on: Rc<dyn Fn(UiEvent)>,
    ) -> Result<Ui, wasm_bindgen::JsValue> {
        // The launcher bundle's button if the page shows it, else our own.
        let (shell, in_page) = match Launcher::take_over(doc) {
            Some(shown) => (shown, true),
            None => (Launcher::build(doc, lang, texts)?, false),
        };
        let Launcher {
            host,
            root,
            button: launcher,
            badge,
        } = shell;
        root.append_child(&el_text(doc, "style", "", style::PANEL_CSS))?;
        // The unread preview: a polite live region, in the page from the
        // start so screen readers announce what is written into it.
        let preview = el(doc, "p", "preview");
        attr(&preview, "role", "status");
        attr(&preview, "aria-live", "polite");
        show(&preview, false);
        root.append_child(&preview)?;

        let panel = el(doc, "div", "panel");
        attr(&panel, "role", "dialog");
        attr(&panel, "aria-label", title);
        show(&panel, false);
        let header = el(doc, "header", "");
        let heading = el(doc, "div", "");
        add(&heading, &el_text(doc, "h2", "", title));
        let subtitle = el(doc, "p", "sub");
        add(&heading, &subtitle);
        add(&header, &heading);
        let close = el_text(doc, "button", "x", "×");
        attr(&close, "type", "button");
        attr(&close, "aria-label", texts.close_chat);
        add(&header, &close);
        add(&panel, &header);

        let banner = el_text(doc, "p", "banner", texts.reconnecting);
        attr(&banner, "role", "status");
        show(&banner, false);
        add(&panel, &banner);
        let log = el(doc, "div", "log");
        attr(&log, "role", "log");
        attr(&log, "aria-live", "polite");
        attr(&log, "aria-relevant", "additions");
        attr(&log, "tabindex", "0");
        add(&panel, &log);
        let typing = el(doc, "p", "typing");
        attr(&typing, "aria-live", "polite");
        add(&panel, &typing);

        let composer = Composer::new(doc, texts);
        add(&panel, &composer.form.form);
        let prechat = PrechatForm::new(doc, texts, prechat_mode);
        show(&prechat.form.form, false);
        add(&panel, &prechat.form.form);
        let offline = OfflineForm::new(doc, texts);
        show(&offline.form.form, false);
        add(&panel, &offline.form.form);
        let thanks = el(doc, "div", "end");
        add(&thanks, &el_text(doc, "p", "note", texts.offline_thanks));
        show(&thanks, false);
        add(&panel, &thanks);
        let ended = el(doc, "div", "end");
        add(&ended, &el_text(doc, "p", "note", texts.chat_ended));
        let rating = RatingForm::new(doc, texts, &on);
        add(&ended, &rating.root);
        let email = EmailForm::new(doc, texts);
        add(&ended, &email.form.form);
        add(&ended, &email.state);
        let new_chat = el_text(doc, "button", "btn", texts.new_chat);
        attr(&new_chat, "type", "button");
        add(&ended, &new_chat);
        show(&ended, false);
        add(&panel, &ended);
        root.append_child(&panel)?;
        if !in_page {
            parent.append_child(&host)?;
        }

        let mut listeners = vec![
            click(&launcher, &on, UiEvent::Open),
            click(&preview, &on, UiEvent::Open),
            click(&close, &on, UiEvent::Close),
            click(&new_chat, &on, UiEvent::NewChat),
        ];
        let handler = on.clone();
        listeners.push(EventListener::new(&panel, "keydown", move |event| {
            if let Some(key) = event.dyn_ref::<KeyboardEvent>() {
                if key.key() == "Escape" {
                    handler(UiEvent::Close);
                }
            }
        }));
        listeners.extend(composer_listeners(&composer, texts, &on));
        listeners.push(submit(&prechat.form.form, {
            let on = on.clone();
            let fields = prechat.clone();
            move || match fields.take(texts) {
                Ok((name, email)) => {
                    fields.form.refuse(None);
                    on(UiEvent::Prechat { name, email });
                }
                Err((refusal, field)) => {
                    fields.form.refuse(Some(refusal));
                    focus(&field);
                }
            }
        }));
        listeners.push(submit(&offline.form.form, {
            let on = on.clone();
            let fields = offline.clone();
            move || match fields.take(texts) {
                Ok((name, email, text)) => {
                    fields.form.refuse(None);
                    on(UiEvent::Offline { name, email, text });
                }
                Err((refusal, field)) => {
                    fields.form.refuse(Some(refusal));
                    focus(&field);
                }
            }
        }));
        listeners.push(submit(&email.form.form, {
            let on = on.clone();
            let fields = email.clone();
            move || {
                let taken = fields.take(texts);
                fields.form.refuse(taken.as_ref().err().copied());
                if let Ok(to) = taken {
                    on(UiEvent::EmailTranscript(to));
                }
            }
        }));

        Ok(Ui {
            list: MessageList::new(log.clone(), lang),
            host,
            root,
            texts,
            launcher,
            badge,
            preview,
            panel,
            subtitle,
            banner,
            log,
            typing,
            composer,
            prechat,
            offline,
            thanks,
            ended,
            rating,
            email,
            foot: Foot::Composer,
            open: false,
            _listeners: listeners,
        })
    }

    /// The host element in the page.
    pub fn host(&self) -> &Element {
        &self.host
    }

    /// The shadow root (tests look inside).
    pub fn root(&self) -> &ShadowRoot {
        &self.root
    }

    /// True while the panel is open.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Opens or closes the panel and moves focus accordingly.
    pub fn set_open(&mut self, open: bool) {
        if self.open == open {
            return;
        }
        self.open = open;
        show(&self.panel, open);
        show(&self.launcher, !open);
        attr(
            &self.launcher,
            "aria-expanded",
            if open { "true" } else { "false" },
        );
        if open {
            self.scroll_to_end();
            self.focus_foot();
        } else {
            focus(&self.launcher);
        }
    }

    /// Brings the panel in line with the view.
    pub fn render(&mut self, shown: &Shown<'_>) {
        let view = shown.view;
        let texts = self.texts;
        let doc = self
            .root
            .owner_document()
            .expect("shadow root in a document");
        if self
            .list
            .render(&doc, &view.messages, view.seen.as_deref(), texts)
        {
            self.scroll_to_end();
        }

        let subtitle = match (view.phase, &view.operator) {
            (ChatPhase::Active, Some(name)) => name.as_str(),
            (ChatPhase::Waiting, _) if !view.messages.is_empty() => texts.waiting,
            _ => "",
        };
        set_text(&self.subtitle, subtitle);
        show(&self.banner, shown.banner);

        let typing = match view.typing.as_deref() {
            None => String::new(),
            Some("") => texts.someone_typing.to_string(),
            Some(name) => format!("{name}{}", texts.typing_suffix),
        };
        set_text(&self.typing, &typing);

        let unread = if self.open { 0 } else { shown.unread };
        show(&self.badge, unread > 0);
        set_text(&self.badge, &unread.to_string());
        let label = if unread > 0 {
            format!("{}, {unread}{}", texts.open_chat, texts.unread_suffix)
        } else {
            texts.open_chat.to_string()
        };
        attr(&self.launcher, "aria-label", &label);
        let preview = if self.open { None } else { shown.preview };
        set_text(&self.preview, preview.unwrap_or(""));
        show(&self.preview, preview.is_some());

        self.rating.render(view.rating.as_ref(), texts);
        self.email.render(view.mail, view.email.as_deref(), texts);
        let foot = if view.phase == ChatPhase::Closed {
            Foot::Ended
        } else if view.note_stored() {
            Foot::Thanks
        } else if view.offline_mode() {
            Foot::Offline
        } else if shown.prechat {
            Foot::Prechat
        } else {
            Foot::Composer
        };
        if foot != self.foot {
            self.foot = foot;
            show(&self.composer.form.form, foot == Foot::Composer);
            show(&self.prechat.form.form, foot == Foot::Prechat);
            show(&self.offline.form.form, foot == Foot::Offline);
            show(&self.thanks, foot == Foot::Thanks);
            show(&self.ended, foot == Foot::Ended);
            if foot == Foot::Offline {
                self.offline
                    .prefill(&view.visitor_name, &view.visitor_email);
            }
            if self.open {
                self.focus_foot();
            }
        }
    }

    /// Shows a refusal under the composer (e.g. from `Twinline.send`).
    pub fn refuse(&self, message: Option<&str>) {
        self.composer.form.refuse(message);
    }

    fn focus_foot(&self) {
        match self.foot {
            Foot::Composer => focus(&self.composer.text),
            Foot::Prechat => focus(self.prechat.first()),
            Foot::Offline => focus(self.offline.first()),
            Foot::Thanks | Foot::Ended => focus(&self.panel),
        }
    }

    fn scroll_to_end(&self) {
        self.log.set_scroll_top(self.log.scroll_height());
    }
}

fn click(target: &Element, on: &Rc<dyn Fn(UiEvent)>, event: UiEvent) -> EventListener {
    let on = on.clone();
    EventListener::new(target, "click", move |_| on(event.clone()))
}

fn submit(form: &Element, handler: impl Fn() + 'static) -> EventListener {
    EventListener::new_with_options(
        form,
        "submit",
        EventListenerOptions::enable_prevent_default(),
        move |event| {
            event.prevent_default();
            handler();
        },
    )
}

fn composer_listeners(
    composer: &Composer,
    texts: &'static Texts,
    on: &Rc<dyn Fn(UiEvent)>,
) -> Vec<EventListener> {
    let send = {
        let on = on.clone();
        let composer = composer.clone();
        move || match composer.take(texts) {
            Ok(text) => {
                composer.form.refuse(None);
                on(UiEvent::Send(text));
            }
            Err(refusal) => composer.form.refuse(Some(refusal)),
        }
    };
    let send = Rc::new(send);
    let on_enter = send.clone();
    let typing = on.clone();
    vec![
        submit(&composer.form.form, move || send()),
        EventListener::new_with_options(
            &composer.text,
            "keydown",
            EventListenerOptions::enable_prevent_default(),
            move |event| {
                if let Some(key) = event.dyn_ref::<KeyboardEvent>() {
                    if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                        event.prevent_default();
                        on_enter();
                    }
                }
            },
        ),
        EventListener::new(&composer.text, "input", move |_| typing(UiEvent::Typing)),
    ]
}
