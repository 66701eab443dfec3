//! The browser side of one widget: carries out what [`AppState`] decides.
//!
//! Everything lives in one `RefCell` behind [`App`], a cheap handle the UI,
//! the timers, the sockets and `window.Twinline` all hold. Every entry
//! point goes through [`App::with`]: it feeds the state, carries out the
//! effects in order (answering the state's questions from storage on the
//! way), refreshes the state with the engine's view and renders it, and
//! only then, with the state released, calls the page's event handlers
//! (which may call back into the API).
//!
//! What stays here is I/O only: the tab election's storage and timers
//! (`tabs`), localStorage, the token fetch, the engine (`driver`), the
//! panel (`ui`) and the page's handlers. The engine is started per token;
//! a wake meant for an engine that was stopped since is dropped by its
//! generation.

use super::state::{AppState, EngineCall, Event, Setup};
use super::state::{Effect, PageEvent};
use crate::clock;
use crate::config::WidgetConfig;
use crate::driver::{Engine, Wake};
use crate::i18n::Lang;
use crate::js;
use crate::storage::Store;
use crate::tabs::Tabs;
use crate::tabs::message::TabMessage;
use crate::token;
use crate::ui::{Ui, UiEvent};
use crate::view::{Link, Unsent, ViewMessage, message_object, read_object, status_value};
use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use js_sys::Function;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use twinline_core::MessageId;
use twinline_core::protocol::VisitorTokenResponse;
use wasm_bindgen::{JsValue, UnwrapThrowExt};
use web_sys::{Element, ShadowRoot};

/// How often tabs check the lease and leaders sweep `unsent` keys, ms.
const TICK_MS: u32 = 1_000;
/// The confirming tick after the first claim, ms.
const CONFIRM_MS: u32 = 250;

/// A handle on the widget of this page.
#[derive(Clone)]
pub struct App(Rc<RefCell<Shell>>);

struct Shell {
    state: AppState,
    config: WidgetConfig,
    store: Store,
    ui: Ui,
    tabs: Tabs,
    engine: Option<Engine>,
    /// Bumped per engine, so a wake meant for a stopped one is dropped.
    generation: u64,
    listeners: Vec<(u32, String, Function)>,
    next_listener: u32,
    /// Page events to hand out once the state is released.
    emit: Vec<PageEvent>,
    me: Weak<RefCell<Shell>>,
    timers: Vec<Interval>,
    confirm: Option<Timeout>,
    /// The state's next moment to look at the screen again
    /// (`AppState::wake_at`), armed.
    screen: clock::Alarm,
    page: Vec<EventListener>,
    /// The visitor token asked for while the tab election confirms its
    /// first claim, for the first fetch the state asks for.
    early: Rc<RefCell<Early>>,
}

/// A token request made before this tab knew it would lead: a new page
/// claims the lease and leads only `CONFIRM_MS` later, and asking for the
/// token only then would add that wait to every first chat. Nothing is
/// kept from it unless the state, leading, asks for a token: a tab that
/// ends up following drops it (another tab's token stays the stored one).
#[derive(Default)]
enum Early {
    /// None asked for, or already used.
    #[default]
    Unused,
    /// Under way; `wanted` once the state asked for a token meanwhile.
    Pending { wanted: bool },
    /// Answered before the state asked.
    Done(Result<VisitorTokenResponse, String>),
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
        let ui_events = |me: &Weak<RefCell<Shell>>| -> Rc<dyn Fn(UiEvent)> {
            let me = me.clone();
            Rc::new(move |event| dispatch(&me, Event::Ui(event)))
        };
        let tab_messages = |me: &Weak<RefCell<Shell>>| -> Rc<dyn Fn(TabMessage)> {
            let me = me.clone();
            Rc::new(move |message| dispatch(&me, Event::Tab(message)))
        };
        let app = Rc::new_cyclic(|me: &Weak<RefCell<Shell>>| {
            let ui = Ui::mount(
                &document,
                parent,
                lang.tag(),
                texts,
                &title,
                config.prechat,
                ui_events(me),
            );
            let tabs = Tabs::join(store.clone(), tab_messages(me));
            let state = AppState::new(Setup {
                keys: store.keys.clone(),
                me: tabs.me().to_string(),
                texts,
                prechat: config.prechat,
                prechat_done: store.get(&store.keys.prechat()).is_some(),
                unsent: load_unsent(&store, &store.keys.unsent(tabs.me())),
                random: Box::new(js::random_u128),
                page: Box::new(page_url),
            });
            RefCell::new(Shell {
                state,
                config,
                store,
                ui: ui.expect_throw("mounting the widget"),
                tabs,
                engine: None,
                generation: 0,
                listeners: Vec::new(),
                next_listener: 1,
                emit: Vec::new(),
                me: me.clone(),
                timers: Vec::new(),
                confirm: None,
                screen: clock::Alarm::default(),
                page: Vec::new(),
                early: Rc::default(),
            })
        });
        Ok(App(app))
    }

    /// Starts leading or following, and reports the first status. Call after
    /// the page's handlers are in place (`api::install`).
    pub fn run(&self) {
        let window = web_sys::window().expect("a window");
        self.with(|shell| {
            shell.tick();
            if !shell.state.leads() && token::stored(&shell.store).is_none() {
                shell.ask_early();
            }
            let me = shell.me.clone();
            shell.confirm = Some(Timeout::new(CONFIRM_MS, move || tick(&me)));
            let me = shell.me.clone();
            shell.timers.push(Interval::new(TICK_MS, move || tick(&me)));
            let me = shell.me.clone();
            shell
                .page
                .push(EventListener::new(&window, "pagehide", move |_| {
                    dispatch(&me, Event::Leave)
                }));
            // Back from the back/forward cache (the page left at pagehide)
            // or shown again after its timers were throttled: take the
            // lead back now rather than at the next tick. The engine's own
            // link is checked by its host (`host::Host`).
            let me = shell.me.clone();
            shell
                .page
                .push(EventListener::new(&window, "pageshow", move |_| tick(&me)));
            if let Some(document) = window.document() {
                let me = shell.me.clone();
                let shown = document.clone();
                shell.page.push(EventListener::new(
                    &document,
                    "visibilitychange",
                    move |_| {
                        if !shown.hidden() {
                            tick(&me);
                        }
                    },
                ));
            }
            shell.handle(Event::Ready);
        });
    }

    /// Runs `f` on the shell, carries out what follows, refreshes the
    /// screen, then calls the page's event handlers with the state
    /// released. `None` if the state is busy (a handler called back while
    /// it was being changed).
    fn with<R>(&self, f: impl FnOnce(&mut Shell) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut result = None;
        self.with_dyn(&mut |shell| result = f.take().map(|f| f(shell)));
        result
    }

    /// [`App::with`]'s body, once for every caller (generic, it was copied
    /// into the bundle once per closure that calls it).
    fn with_dyn(&self, f: &mut dyn FnMut(&mut Shell)) {
        let (events, listeners) = {
            let Ok(mut shell) = self.0.try_borrow_mut() else {
                js::warn("call ignored: the widget is busy");
                return;
            };
            f(&mut shell);
            shell.carry_out();
            shell.refresh();
            let events = std::mem::take(&mut shell.emit);
            let listeners = if events.is_empty() {
                Vec::new()
            } else {
                shell.listeners.clone()
            };
            (events, listeners)
        };
        for event in events {
            let (name, payload) = match &event {
                PageEvent::Message(message) => ("message", message_object(message)),
                PageEvent::Status { deployment, link } => {
                    ("status", status_value(deployment.as_deref(), *link))
                }
                PageEvent::Open => ("open", JsValue::UNDEFINED),
                PageEvent::Read(id) => ("read", read_object(id)),
                PageEvent::Close => ("close", JsValue::UNDEFINED),
            };
            for (_, wanted, handler) in &listeners {
                if wanted == name {
                    if let Err(error) = handler.call1(&JsValue::NULL, &payload) {
                        js::warn(&format!("a {name} handler threw: {}", js::describe(&error)));
                    }
                }
            }
        }
    }

    /// Opens the panel.
    pub fn open(&self) {
        self.with(|shell| shell.handle(Event::SetOpen(true)));
    }

    /// Closes the panel.
    pub fn close(&self) {
        self.with(|shell| shell.handle(Event::SetOpen(false)));
    }

    /// Sends a message; its id, or why it was refused.
    pub fn send(&self, text: &str) -> Result<String, String> {
        self.with(|shell| shell.state.send(js::now(), text))
            .unwrap_or_else(|| Err("the widget is busy; try again".into()))
    }

    /// Rates the closed chat (`Twinline.rate`).
    pub fn rate(&self, score: twinline_core::Score, comment: &str) -> Result<(), String> {
        self.with(|shell| shell.state.rate(score, comment))
            .unwrap_or_else(|| Err("the widget is busy; try again".into()))
    }

    /// Asks for the transcript by email (`Twinline.emailTranscript`).
    pub fn email_transcript(&self, to: &str) -> Result<(), String> {
        self.with(|shell| shell.state.email_transcript(to))
            .unwrap_or_else(|| Err("the widget is busy; try again".into()))
    }

    /// Sends a message under the id a queued `Twinline.send` returned to
    /// the page before the chat was here.
    pub fn send_with_id(&self, text: &str, id: MessageId) -> Result<String, String> {
        self.with(|shell| shell.state.send_with_id(text, id))
            .unwrap_or_else(|| Err("the widget is busy; try again".into()))
    }

    /// The messages as shown.
    pub fn transcript(&self) -> Vec<ViewMessage> {
        self.0.borrow().state.shown().view.messages.clone()
    }

    /// (deployment name, link state).
    pub fn status(&self) -> (Option<String>, Link) {
        let shell = self.0.borrow();
        let view = shell.state.shown().view;
        (view.deployment.clone(), view.link)
    }

    /// Name and email for the operator.
    pub fn set_visitor(&self, name: &str, email: &str) {
        self.with(|shell| {
            shell.handle(Event::SetVisitor {
                name: name.into(),
                email: email.into(),
            })
        });
    }

    /// Adds an event handler; returns its id for [`App::off`].
    pub fn on(&self, event: &str, handler: Function) -> u32 {
        let mut shell = self.0.borrow_mut();
        let id = shell.next_listener;
        shell.next_listener += 1;
        shell.listeners.push((id, event.to_string(), handler));
        id
    }

    /// Removes an event handler.
    pub fn off(&self, id: u32) {
        self.0.borrow_mut().listeners.retain(|(i, _, _)| *i != id);
    }

    /// True if this tab holds the connection.
    pub fn leads(&self) -> bool {
        self.0.borrow().state.leads()
    }

    /// The widget's shadow root (tests look inside).
    pub fn shadow_root(&self) -> ShadowRoot {
        self.0.borrow().ui.root().clone()
    }

    /// Removes the widget from the page and gives up the connection (tests;
    /// a page simply unloads).
    pub fn unmount(&self) {
        self.with(|shell| {
            shell.handle(Event::Leave);
            shell.timers.clear();
            shell.confirm = None;
            shell.screen.clear();
            shell.page.clear();
            shell.ui.host().remove();
        });
    }
}

/// Feeds `event` to the widget behind `me`, if it is still there.
fn dispatch(me: &Weak<RefCell<Shell>>, event: Event) {
    if let Some(app) = me.upgrade() {
        App(app).with(|shell| shell.handle(event));
    }
}

fn tick(me: &Weak<RefCell<Shell>>) {
    if let Some(app) = me.upgrade() {
        App(app).with(Shell::tick);
    }
}

/// Hands a token fetch's result to the state, keeping a new token first
/// (as `token::obtain` does).
fn answer(me: &Weak<RefCell<Shell>>, store: &Store, result: Result<VisitorTokenResponse, String>) {
    if let Ok(token) = &result {
        token::keep(store, token);
    }
    dispatch(me, Event::Token(result));
}

fn load_unsent(store: &Store, key: &str) -> Vec<Unsent> {
    store
        .get(key)
        .and_then(|text| js::from_json(&text).ok())
        .unwrap_or_default()
}

impl Shell {
    /// Feeds the state; `now` is the wall clock (it stamps message ids).
    fn handle(&mut self, event: Event) {
        self.state.handle(js::now(), event);
    }

    /// Renews or checks the lease, and tells the state where this tab stands.
    fn tick(&mut self) {
        self.tabs.tick();
        let leads = self.tabs.leads();
        self.handle(Event::Tick { leads });
        if !leads {
            // Another tab leads (or the claim is not confirmed yet, and the
            // request is made after this first tick): not ours to use.
            *self.early.borrow_mut() = Early::Unused;
        }
    }

    /// Carries out every effect the state queued, in order (answers to its
    /// questions queue more).
    fn carry_out(&mut self) {
        while let Some(effect) = self.state.poll_effect() {
            self.apply(effect);
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Post(message) => self.tabs.post(&message),
            Effect::SaveUnsent(unsent) => self.save_unsent(&unsent),
            Effect::Store { key, value } => {
                self.store.set(&key, &value);
            }
            Effect::Remove(key) => self.store.remove(&key),
            Effect::ReadSaved => {
                let token = token::stored(&self.store);
                let chat = Engine::saved_chat(&self.store);
                self.handle(Event::Saved { token, chat });
            }
            Effect::CollectUnsent => {
                let keys = self
                    .store
                    .keys_with_prefix(&self.store.keys.unsent_prefix());
                let unsent = keys
                    .into_iter()
                    .map(|key| {
                        let entries = load_unsent(&self.store, &key);
                        (key, entries)
                    })
                    .collect();
                self.handle(Event::Unsent(unsent));
            }
            Effect::FetchToken { after_ms } => self.fetch_token(after_ms),
            Effect::StartEngine(token) => self.start_engine(token),
            Effect::StopEngine => {
                if let Some(mut engine) = self.engine.take() {
                    engine.stop();
                }
            }
            Effect::Engine(call) => self.call_engine(call),
            Effect::ForgetChat => {
                Engine::forget(&self.store);
                token::forget(&self.store);
                *self.early.borrow_mut() = Early::Unused;
            }
            Effect::TickNow => self.tick(),
            Effect::Resign => self.tabs.resign(),
            Effect::Open(open) => self.ui.set_open(open),
            Effect::Refuse(refusal) => self.ui.refuse(refusal),
            Effect::Emit(event) => self.emit.push(event),
            Effect::Warn(warning) => js::warn(&warning),
        }
    }

    fn save_unsent(&self, unsent: &[Unsent]) {
        let key = self.store.keys.unsent(self.tabs.me());
        if unsent.is_empty() {
            self.store.remove(&key);
        } else if let Ok(text) = js::to_json(unsent) {
            if !self.store.set(&key, &text) {
                js::warn("localStorage refused an unsent message (quota?)");
            }
        }
    }

    /// One attempt, after `after_ms`; the state decides about the next.
    fn fetch_token(&self, after_ms: u32) {
        let me = self.me.clone();
        let store = self.store.clone();
        // The first fetch takes the early request's answer, or waits for it.
        let early = std::mem::take(&mut *self.early.borrow_mut());
        match early {
            Early::Pending { .. } => {
                *self.early.borrow_mut() = Early::Pending { wanted: true };
                return;
            }
            Early::Done(result) => {
                wasm_bindgen_futures::spawn_local(async move { answer(&me, &store, result) });
                return;
            }
            Early::Unused => {}
        }
        let config = self.config.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if after_ms > 0 {
                sleep(after_ms).await;
            }
            let result = token::obtain(&config, &store).await;
            dispatch(&me, Event::Token(result));
        });
    }

    /// Asks for a token now, before the election says whether this tab
    /// leads ([`Early`]).
    fn ask_early(&self) {
        *self.early.borrow_mut() = Early::Pending { wanted: false };
        let (me, early) = (self.me.clone(), self.early.clone());
        let (config, store) = (self.config.clone(), self.store.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let result = token::request(&config, &store).await;
            let wanted = {
                let mut slot = early.borrow_mut();
                match *slot {
                    Early::Pending { wanted: true } => {
                        *slot = Early::Unused;
                        Some(result)
                    }
                    Early::Pending { wanted: false } => {
                        *slot = Early::Done(result);
                        None
                    }
                    // Forgotten meanwhile (a new chat): not this one's.
                    _ => None,
                }
            };
            if let Some(result) = wanted {
                answer(&me, &store, result);
            }
        });
    }

    fn start_engine(&mut self, token: VisitorTokenResponse) {
        // Started with a stored token, or with the early one: none left.
        *self.early.borrow_mut() = Early::Unused;
        self.generation += 1;
        let generation = self.generation;
        let me = self.me.clone();
        let wake: Rc<dyn Fn(Wake)> = Rc::new(move |wake| {
            if let Some(app) = me.upgrade() {
                App(app).with(|shell| match shell.engine.as_mut() {
                    Some(engine) if shell.generation == generation => engine.wake(wake),
                    _ => {}
                });
            }
        });
        self.engine = Some(Engine::start(&self.config, self.store.clone(), token, wake));
    }

    fn call_engine(&mut self, call: EngineCall) {
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        match call {
            EngineCall::Send { id, text } => {
                if let Err(error) = engine.send(&id, &text) {
                    js::warn(&format!("dropped unsendable message {id}: {error}"));
                }
            }
            EngineCall::Typing => engine.typing(),
            EngineCall::Visitor { name, email, page } => engine.set_visitor(&name, &email, &page),
            EngineCall::Note(note) => {
                if let Err(error) = engine.offline(&note.name, &note.email, &note.text) {
                    js::warn(&format!("offline message refused: {error}"));
                }
            }
            EngineCall::Rate { score, comment } => {
                if let Err(error) = engine.rate(score, &comment) {
                    js::warn(&format!("rating refused: {error}"));
                }
            }
            EngineCall::Seen => engine.seen(),
            EngineCall::EmailTranscript(to) => {
                if let Err(error) = engine.email_transcript(&to) {
                    js::warn(&format!("transcript request refused: {error}"));
                }
            }
        }
    }

    /// The state's end-of-burst step with what it reads, then the panel.
    fn refresh(&mut self) {
        let engine = self.engine.as_ref().map(Engine::view);
        let read = self
            .store
            .get(&self.store.keys.read())
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let visible = web_sys::window()
            .and_then(|w| w.document())
            .is_none_or(|d| !d.hidden());
        self.state.set_visible(visible);
        self.state.refresh(clock::session(), engine, read);
        self.carry_out();
        self.ui.render(&self.state.shown());
        self.arm_screen();
    }

    /// A timer for the state's next look at the screen (the banner after
    /// the grace), if it wants one.
    fn arm_screen(&mut self) {
        let me = self.me.clone();
        self.screen.set(self.state.wake_at(), move || {
            if let Some(app) = me.upgrade() {
                App(app).with(|_| {});
            }
        });
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
