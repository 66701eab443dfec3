//! One widget on one page: UI, tabs, token, engine and API, wired together.
//!
//! State lives in one `RefCell` behind [`App`], a cheap handle the UI, the
//! timers, the sockets and `window.Twinline` all hold. Every entry point goes
//! through [`App::with`], which changes the state, refreshes the view and
//! the panel, and only then, with the state released, calls the page's event
//! handlers (which may call back into the API).
//!
//! The tab that leads (see `tabs`) runs an [`Engine`]; it starts at once from
//! the saved session when there is one (a reload, or taking over from a
//! closed tab), else after getting a token. Other tabs render the leader's
//! view. Messages written anywhere go through this tab's `unsent` key first,
//! so a message is never held only in memory.

use crate::api;
use crate::config::{Prechat, WidgetConfig};
use crate::driver::{Engine, Wake};
use crate::i18n::{Lang, Texts};
use crate::js;
use crate::storage::Store;
use crate::tabs::Tabs;
use crate::tabs::message::TabMessage;
use crate::token;
use crate::ui::{Shown, Ui, UiEvent};
use crate::view::{Link, Unsent, View, ViewMessage};
use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use js_sys::Function;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use twinline_core::MessageId;
use twinline_core::model::check_text;
use twinline_core::protocol::VisitorTokenResponse;
use wasm_bindgen::JsValue;
use web_sys::{Element, ShadowRoot};

/// How often tabs check the lease and leaders sweep `unsent` keys, ms.
const TICK_MS: u32 = 1_000;
/// The confirming tick after the first claim, ms.
const CONFIRM_MS: u32 = 250;
/// At most one "typing" frame per this many ms.
const TYPING_EVERY_MS: u64 = 2_500;
/// "Stopped typing" after this much quiet, ms.
const TYPING_QUIET_MS: u32 = 4_000;

/// A handle on the widget of this page.
#[derive(Clone)]
pub struct App(Rc<RefCell<Inner>>);

struct Inner {
    config: WidgetConfig,
    texts: &'static Texts,
    store: Store,
    ui: Ui,
    tabs: Tabs,
    engine: Option<Engine>,
    generation: u64,
    fetching: bool,
    /// The leader's view (our own engine's, or the last one received).
    view: View,
    /// What is on screen: `view` plus messages not yet in it.
    shown: View,
    /// Messages written in this tab that the view does not hold yet.
    unsent: Vec<Unsent>,
    /// Other tabs' unsent messages, shown while this tab leads without an
    /// engine (no token yet).
    adopted: Vec<Unsent>,
    got_view: bool,
    /// The view last sent to the other tabs (leader).
    broadcasted: Option<View>,
    prechat_done: bool,
    pending_visitor: Option<(String, String)>,
    pending_notes: Vec<(String, String, String)>,
    typing_sent: u64,
    typing_quiet: Option<Timeout>,
    listeners: Vec<(u32, String, Function)>,
    next_listener: u32,
    emit: Vec<(&'static str, JsValue)>,
    me: Weak<RefCell<Inner>>,
    timers: Vec<Interval>,
    confirm: Option<Timeout>,
    page: Vec<EventListener>,
}

impl App {
    /// Mounts the widget into `parent` (the launcher shows at once) and
    /// joins the site's tabs; [`App::run`] starts it.
    pub fn start(config: WidgetConfig, parent: &Element) -> Result<App, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let lang = Lang::for_page(config.lang.as_deref());
        let texts = lang.texts();
        let title = config.title.clone().unwrap_or_else(|| texts.title.into());
        let store = Store::new(&config.site);

        let app = Rc::new_cyclic(|me: &Weak<RefCell<Inner>>| {
            let ui_events: Rc<dyn Fn(UiEvent)> = {
                let me = me.clone();
                Rc::new(move |event| {
                    if let Some(app) = me.upgrade() {
                        App(app).with(|inner| inner.on_ui(event));
                    }
                })
            };
            let tab_messages: Rc<dyn Fn(TabMessage)> = {
                let me = me.clone();
                Rc::new(move |message| {
                    if let Some(app) = me.upgrade() {
                        App(app).with(|inner| inner.on_tab(message));
                    }
                })
            };
            let ui = Ui::mount(
                &document,
                parent,
                lang.tag(),
                texts,
                &title,
                config.prechat,
                ui_events,
            );
            let tabs = Tabs::join(store.clone(), tab_messages);
            let prechat_done = store.get(&store.keys.prechat()).is_some();
            let unsent = load_unsent(&store, &store.keys.unsent(tabs.me()));
            RefCell::new(Inner {
                texts,
                ui: ui.expect("mounting the widget"),
                tabs,
                engine: None,
                generation: 0,
                fetching: false,
                view: View::default(),
                shown: View::default(),
                unsent,
                adopted: Vec::new(),
                got_view: false,
                broadcasted: None,
                prechat_done,
                pending_visitor: None,
                pending_notes: Vec::new(),
                typing_sent: 0,
                typing_quiet: None,
                listeners: Vec::new(),
                next_listener: 1,
                emit: Vec::new(),
                me: me.clone(),
                timers: Vec::new(),
                confirm: None,
                page: Vec::new(),
                store,
                config,
            })
        });
        Ok(App(app))
    }

    /// Starts leading or following, and reports the first status. Call after
    /// the page's handlers are in place ([`App::install_api`]).
    pub fn run(&self) {
        let window = web_sys::window().expect("a window");
        self.with(|inner| {
            inner.tick();
            let me = inner.me.clone();
            inner.confirm = Some(Timeout::new(CONFIRM_MS, move || tick(&me)));
            let me = inner.me.clone();
            inner.timers.push(Interval::new(TICK_MS, move || tick(&me)));
            let me = inner.me.clone();
            inner
                .page
                .push(EventListener::new(&window, "pagehide", move |_| {
                    if let Some(app) = me.upgrade() {
                        App(app).with(|inner| inner.leave());
                    }
                }));
            inner.emit_status();
        });
    }

    /// Runs `f` on the state, refreshes the screen, then calls the page's
    /// event handlers with the state released. `None` if the state is busy
    /// (a handler called back while it was being changed).
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        let (result, events, listeners) = {
            let Ok(mut inner) = self.0.try_borrow_mut() else {
                js::warn("call ignored: the widget is busy");
                return None;
            };
            let result = f(&mut inner);
            inner.refresh();
            let events = std::mem::take(&mut inner.emit);
            let listeners = if events.is_empty() {
                Vec::new()
            } else {
                inner.listeners.clone()
            };
            (result, events, listeners)
        };
        for (event, payload) in events {
            for (_, name, handler) in &listeners {
                if name == event {
                    if let Err(error) = handler.call1(&JsValue::NULL, &payload) {
                        js::warn(&format!("a {event} handler threw: {error:?}"));
                    }
                }
            }
        }
        Some(result)
    }

    /// Opens the panel.
    pub fn open(&self) {
        self.with(|inner| inner.set_open(true));
    }

    /// Closes the panel.
    pub fn close(&self) {
        self.with(|inner| inner.set_open(false));
    }

    /// Sends a message; its id, or why it was refused.
    pub fn send(&self, text: &str) -> Result<String, String> {
        self.with(|inner| inner.send(text))
            .unwrap_or_else(|| Err("the widget is busy; try again".into()))
    }

    /// The messages as shown.
    pub fn transcript(&self) -> Vec<ViewMessage> {
        self.0.borrow().shown.messages.clone()
    }

    /// (deployment name, link state).
    pub fn status(&self) -> (Option<String>, Link) {
        let inner = self.0.borrow();
        (inner.shown.deployment.clone(), inner.shown.link)
    }

    /// Name and email for the operator.
    pub fn set_visitor(&self, name: &str, email: &str) {
        self.with(|inner| inner.set_visitor(name.trim(), email.trim()));
    }

    /// Adds an event handler; returns its id for [`App::off`].
    pub fn on(&self, event: &str, handler: Function) -> u32 {
        let mut inner = self.0.borrow_mut();
        let id = inner.next_listener;
        inner.next_listener += 1;
        inner.listeners.push((id, event.to_string(), handler));
        id
    }

    /// Removes an event handler.
    pub fn off(&self, id: u32) {
        self.0.borrow_mut().listeners.retain(|(i, _, _)| *i != id);
    }

    /// True if this tab holds the connection.
    pub fn leads(&self) -> bool {
        self.0.borrow().tabs.leads()
    }

    /// The widget's shadow root (tests look inside).
    pub fn shadow_root(&self) -> ShadowRoot {
        self.0.borrow().ui.root().clone()
    }

    /// Removes the widget from the page and gives up the connection (tests;
    /// a page simply unloads).
    pub fn unmount(&self) {
        self.with(|inner| {
            inner.leave();
            inner.timers.clear();
            inner.confirm = None;
            inner.page.clear();
            inner.ui.host().remove();
        });
    }

    /// Installs `window.Twinline` for this widget.
    pub fn install_api(&self) {
        api::install(self);
    }
}

fn tick(me: &Weak<RefCell<Inner>>) {
    if let Some(app) = me.upgrade() {
        App(app).with(|inner| inner.tick());
    }
}

fn load_unsent(store: &Store, key: &str) -> Vec<Unsent> {
    store
        .get(key)
        .and_then(|text| js::from_json(&text).ok())
        .unwrap_or_default()
}

impl Inner {
    // ---- tabs -------------------------------------------------------------

    fn tick(&mut self) {
        if self.tabs.tick() {
            if self.tabs.leads() {
                self.lead();
            } else {
                self.follow();
            }
        }
        if self.tabs.leads() {
            self.take_unsent();
        } else {
            if !self.got_view {
                self.post(|from| TabMessage::Hello { from });
            }
            if !self.unsent.is_empty() {
                // Repairs the key if the leader swept it while we wrote.
                self.save_unsent();
                self.post(|from| TabMessage::Unsent { from });
            }
        }
    }

    fn post(&self, message: impl FnOnce(String) -> TabMessage) {
        self.tabs.post(&message(self.tabs.me().to_string()));
    }

    fn on_tab(&mut self, message: TabMessage) {
        let leads = self.tabs.leads();
        match message {
            TabMessage::View { view, .. } if !leads => {
                self.got_view = true;
                self.view = view;
            }
            TabMessage::Hello { .. } if leads => self.broadcast(),
            TabMessage::Unsent { .. } if leads => self.take_unsent(),
            TabMessage::Typing { .. } if leads => self.typing(),
            TabMessage::Visitor {
                name, email, page, ..
            } if leads => self.apply_visitor(name, email, page),
            TabMessage::Offline {
                name, email, text, ..
            } if leads => self.leave_note(name, email, text),
            TabMessage::NewChat { .. } if leads => self.new_chat(),
            TabMessage::Bye { .. } if !leads => self.tick(),
            _ => {}
        }
    }

    fn broadcast(&self) {
        let view = self.view.clone();
        self.post(|from| TabMessage::View { from, view });
    }

    /// Became the leader: resume the saved session, or get a token first.
    fn lead(&mut self) {
        self.got_view = true;
        self.broadcasted = None;
        match token::stored(&self.store) {
            Some(token) if Engine::saved_chat(&self.store) == Some(token.chat) => {
                self.start_engine(token)
            }
            _ => self.fetch_token(),
        }
    }

    fn follow(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            engine.stop();
        }
        self.got_view = false;
        self.post(|from| TabMessage::Hello { from });
    }

    fn leave(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            engine.stop();
        }
        self.tabs.resign();
    }

    // ---- engine -----------------------------------------------------------

    fn fetch_token(&mut self) {
        if self.fetching {
            return;
        }
        self.fetching = true;
        let me = self.me.clone();
        let config = self.config.clone();
        let store = self.store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let mut wait_ms = 1_000;
            loop {
                let result = token::obtain(&config, &store).await;
                let Some(app) = me.upgrade() else { return };
                let go_on = App(app)
                    .with(|inner| {
                        if !inner.tabs.leads() || inner.engine.is_some() {
                            inner.fetching = false;
                            return false;
                        }
                        match &result {
                            Ok(token) => {
                                inner.fetching = false;
                                inner.start_engine(token.clone());
                                false
                            }
                            Err(error) => {
                                js::warn(&format!("no token from either deployment: {error}"));
                                inner.view.link = Link::Offline;
                                true
                            }
                        }
                    })
                    .unwrap_or(false);
                if !go_on {
                    return;
                }
                sleep(wait_ms).await;
                wait_ms = (wait_ms * 2).min(30_000);
            }
        });
    }

    fn start_engine(&mut self, token: VisitorTokenResponse) {
        self.generation += 1;
        let generation = self.generation;
        let me = self.me.clone();
        let wake: Rc<dyn Fn(Wake)> = Rc::new(move |wake| {
            if let Some(app) = me.upgrade() {
                App(app).with(|inner| match inner.engine.as_mut() {
                    Some(engine) if inner.generation == generation => engine.wake(wake),
                    _ => {}
                });
            }
        });
        match Engine::start(&self.config, self.store.clone(), token, wake) {
            Ok(engine) => self.engine = Some(engine),
            Err(error) => {
                js::warn(&format!("could not start the chat: {error}"));
                return;
            }
        }
        if let Some((name, email)) = self.pending_visitor.take() {
            let page = page_url();
            self.apply_visitor(name, email, page);
        }
        for (name, email, text) in std::mem::take(&mut self.pending_notes) {
            self.leave_note(name, email, text);
        }
        self.take_unsent();
    }

    /// Leader: moves every tab's unsent messages into the session.
    fn take_unsent(&mut self) {
        let prefix = self.store.keys.unsent_prefix();
        let own = self.store.keys.unsent(self.tabs.me());
        let mut adopted = Vec::new();
        for key in self.store.keys_with_prefix(&prefix) {
            let entries = if key == own {
                self.unsent.clone()
            } else {
                load_unsent(&self.store, &key)
            };
            let Some(engine) = self.engine.as_mut() else {
                if key != own {
                    adopted.extend(entries);
                }
                continue;
            };
            for entry in &entries {
                if !engine.has(&entry.id) {
                    if let Err(error) = engine.send(&entry.id, &entry.text, entry.at) {
                        js::warn(&format!("dropped unsendable message {}: {error}", entry.id));
                    }
                }
            }
            // The session holds (and has persisted) them all now.
            if key != own {
                self.store.remove(&key);
            }
        }
        if self.engine.is_none() {
            adopted.retain(|u| !self.unsent.iter().any(|o| o.id == u.id));
            self.adopted = adopted;
        } else {
            self.adopted.clear();
        }
    }

    fn save_unsent(&self) {
        let key = self.store.keys.unsent(self.tabs.me());
        if self.unsent.is_empty() {
            self.store.remove(&key);
        } else if let Ok(text) = js::to_json(&self.unsent) {
            if !self.store.set(&key, &text) {
                js::warn("localStorage refused an unsent message (quota?)");
            }
        }
    }

    // ---- what the visitor does ---------------------------------------------

    fn on_ui(&mut self, event: UiEvent) {
        match event {
            UiEvent::Open => self.set_open(true),
            UiEvent::Close => self.set_open(false),
            UiEvent::Send(text) => {
                if let Err(error) = self.send(&text) {
                    js::warn(&error);
                }
            }
            UiEvent::Typing => self.typing(),
            UiEvent::Prechat { name, email } => {
                self.prechat_done = true;
                self.store.set(&self.store.keys.prechat(), "1");
                if !name.is_empty() || !email.is_empty() {
                    self.set_visitor(&name, &email);
                }
            }
            UiEvent::Offline { name, email, text } => {
                if self.tabs.leads() {
                    self.leave_note(name, email, text);
                } else {
                    self.post(|from| TabMessage::Offline {
                        from,
                        name,
                        email,
                        text,
                    });
                }
            }
            UiEvent::NewChat => {
                if self.tabs.leads() {
                    self.new_chat();
                } else {
                    self.post(|from| TabMessage::NewChat { from });
                }
            }
        }
    }

    fn set_open(&mut self, open: bool) {
        if self.ui.is_open() != open {
            self.ui.set_open(open);
            self.emit
                .push((if open { "open" } else { "close" }, JsValue::UNDEFINED));
        }
    }

    fn send(&mut self, text: &str) -> Result<String, String> {
        if let Err(error) = check_text(text) {
            let refusal = match error {
                twinline_core::model::TextError::Empty => self.texts.error_empty,
                _ => self.texts.error_too_long,
            };
            self.ui.refuse(Some(refusal));
            return Err(error.to_string());
        }
        self.ui.refuse(None);
        let now = js::now();
        let id = MessageId::new(now, js::random_u128()).to_string();
        self.unsent.push(Unsent {
            id: id.clone(),
            text: text.to_string(),
            at: now.0,
        });
        self.save_unsent();
        if self.tabs.leads() {
            self.take_unsent();
            self.stop_typing();
        } else {
            self.post(|from| TabMessage::Unsent { from });
        }
        Ok(id)
    }

    fn typing(&mut self) {
        let now = js::now().0;
        if now.saturating_sub(self.typing_sent) < TYPING_EVERY_MS {
            return;
        }
        self.typing_sent = now;
        if !self.tabs.leads() {
            self.post(|from| TabMessage::Typing { from });
            return;
        }
        if let Some(engine) = self.engine.as_mut() {
            engine.typing(true);
        }
        let me = self.me.clone();
        self.typing_quiet = Some(Timeout::new(TYPING_QUIET_MS, move || {
            if let Some(app) = me.upgrade() {
                App(app).with(|inner| inner.stop_typing());
            }
        }));
    }

    fn stop_typing(&mut self) {
        if self.typing_quiet.take().is_some() {
            if let Some(engine) = self.engine.as_mut() {
                engine.typing(false);
            }
        }
        self.typing_sent = 0;
    }

    fn set_visitor(&mut self, name: &str, email: &str) {
        let (name, email, page) = (name.to_string(), email.to_string(), page_url());
        if self.tabs.leads() {
            self.apply_visitor(name, email, page);
        } else {
            // Kept here too: until the tab election settles there may be no
            // leader to hear the post, and this tab may become the leader.
            self.pending_visitor = Some((name.clone(), email.clone()));
            self.post(|from| TabMessage::Visitor {
                from,
                name,
                email,
                page,
            });
        }
    }

    fn apply_visitor(&mut self, name: String, email: String, page: String) {
        match self.engine.as_mut() {
            Some(engine) => engine.set_visitor(&name, &email, &page),
            None => self.pending_visitor = Some((name, email)),
        }
    }

    fn leave_note(&mut self, name: String, email: String, text: String) {
        match self.engine.as_mut() {
            Some(engine) => {
                if let Err(error) = engine.offline(&name, &email, &text) {
                    js::warn(&format!("offline message refused: {error}"));
                }
            }
            None => self.pending_notes.push((name, email, text)),
        }
    }

    /// Leader: the old chat is closed; forget it and start a new one.
    fn new_chat(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            engine.stop();
        }
        Engine::forget(&self.store);
        token::forget(&self.store);
        self.store.remove(&self.store.keys.prechat());
        self.prechat_done = false;
        self.view = View::default();
        self.fetch_token();
    }

    // ---- screen ------------------------------------------------------------

    fn refresh(&mut self) {
        if let Some(engine) = &self.engine {
            self.view = engine.view();
        }
        if self.tabs.leads() && self.broadcasted.as_ref() != Some(&self.view) {
            self.broadcast();
            self.broadcasted = Some(self.view.clone());
        }
        let before = self.unsent.len();
        let view = &self.view;
        self.unsent.retain(|u| !view.has(&u.id));
        self.adopted.retain(|u| !view.has(&u.id));
        if self.unsent.len() != before {
            self.save_unsent();
        }
        let shown = self
            .view
            .with_unsent(self.unsent.iter().chain(self.adopted.iter()));

        for message in shown.new_since(&self.shown) {
            self.emit.push(("message", api::message_object(message)));
        }
        let status_changed =
            (shown.link, &shown.deployment) != (self.shown.link, &self.shown.deployment);

        let incoming = shown.incoming();
        let read_key = self.store.keys.read();
        let mut read: usize = self
            .store
            .get(&read_key)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        if self.ui.is_open() && read != incoming {
            read = incoming;
            self.store.set(&read_key, &read.to_string());
        }
        let prechat = self.config.prechat != Prechat::Off
            && !self.prechat_done
            && shown.messages.is_empty()
            && shown.visitor_name.is_empty()
            && shown.visitor_email.is_empty();
        self.ui.render(&Shown {
            view: &shown,
            unread: incoming.saturating_sub(read),
            prechat,
        });
        self.shown = shown;
        if status_changed {
            self.emit_status();
        }
    }

    fn emit_status(&mut self) {
        let status = api::status_value(self.shown.deployment.as_deref(), self.shown.link);
        self.emit.push(("status", status));
    }
}

fn page_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
        .chars()
        .take(twinline_core::model::MAX_FIELD_CHARS)
        .collect()
}

async fn sleep(ms: u32) {
    let (tx, rx) = futures_channel();
    let _timer = Timeout::new(ms, tx);
    let _ = rx.await;
}

/// A one-shot wake-up as a future, without pulling in futures-channel.
fn futures_channel() -> (impl FnOnce(), wasm_bindgen_futures::JsFuture) {
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |res, _| resolve = Some(res));
    let resolve = resolve.expect("Promise calls its executor at once");
    (
        move || {
            let _ = resolve.call0(&JsValue::NULL);
        },
        wasm_bindgen_futures::JsFuture::from(promise),
    )
}
