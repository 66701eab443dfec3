//! The launcher bundle: what every page view runs, and when the chat comes.
//!
//! Most visitors of a site never open its chat, so a page does not make them
//! download it. The loader fetches this bundle (`pkg/twinline_widget`: the
//! launcher button, the site's configuration, a few kilobytes) and it shows
//! the launcher. The chat bundle (`pkg/twinline_chat`: the core session,
//! sockets, tabs, the panel; [`crate::boot`]) is fetched through the loader's
//! `Twinline.load`, from the deployment that served this bundle first, else
//! the other, when the chat is needed:
//!
//! - at once when this browser already has a chat with the site (a visitor
//!   token or a session in storage: the next page, a reload, another tab), so
//!   a conversation never waits for a click and unread messages still reach
//!   the badge;
//! - when another tab of the site starts one (a `storage` event), so the tabs
//!   show one chat;
//! - when the visitor points at, touches or focuses the launcher (it is
//!   fetched while the hand moves) or clicks it (the panel opens as soon as
//!   the chat is there; the button says it is busy meanwhile);
//! - when the page calls `Twinline.open()` or `Twinline.send(text)`: after
//!   this bundle booted, through the methods it installs; before, through
//!   the loader's stubs, whose queue it reads when it boots (a page that
//!   calls `open` at its load event usually does so before this bundle has
//!   arrived, and the call must still bring the chat).
//!
//! Until then calls stay in the loader's queue (`Twinline.q`) as before, and
//! the chat bundle replays them when it starts. A `send` returns its
//! message id at once (the loader's stub makes it, this bundle keeps the
//! stub; the chat writes the message under it). The chat takes this
//! launcher's elements over (`ui::launcher`), so the page sees one button
//! throughout and a click under way when the chat arrives still opens the
//! panel.

use crate::config::read_config;
use crate::i18n::Lang;
use crate::storage::Keys;
use crate::ui::launcher::Launcher;
use gloo_events::EventListener;
use js_sys::{Array, Function, Object, Reflect};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Element, StorageEvent};

/// The chat bundle's name under `pkg/`, as the loader fetches it.
pub const CHAT_BUNDLE: &str = "twinline_chat";

/// The launcher bundle's start (its entry crate, widget/bundles/launcher,
/// exports it as `boot`, which the loader calls on every bundle it loads):
/// shows the launcher once `<body>` exists.
pub fn boot() {
    crate::boot::when_body(|body| {
        if let Err(error) = show(body) {
            web_sys::console::error_1(&error);
        }
    });
}

/// Shows the launcher in `parent` and arms every way the chat gets loaded
/// (see the module docs); the listeners last as long as the page. Fails
/// with a message for the site owner when the configuration is refused.
pub fn show(parent: &Element) -> Result<Launcher, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let doc = window.document().ok_or("no document")?;
    let config = read_config().map_err(|error| JsValue::from(error.to_string()))?;
    let lang = Lang::for_page(config.lang.as_deref());
    let api: Object = Reflect::get(&window, &"Twinline".into())?
        .dyn_into()
        .map_err(|_| "Twinline: window.Twinline is missing; include the loader")?;
    let launcher = Launcher::build(&doc, lang.tag(), lang.texts())?;
    launcher.mark_launcher_only();
    parent.append_child(&launcher.host)?;
    let chat = Rc::new(ChatLoader::new(api, launcher.button.clone()));

    let on = |target: &web_sys::EventTarget, event: &'static str, busy: bool| {
        let chat = chat.clone();
        EventListener::new(target, event, move |_| {
            // Once the chat has taken the button over, its own listener
            // answers.
            if chat.arrived() {
                return;
            }
            if busy {
                chat.queue("open", &Array::new());
            }
            chat.load(busy);
        })
        .forget();
    };
    on(&launcher.button, "click", true);
    for early in ["pointerenter", "touchstart", "focus"] {
        on(&launcher.button, early, false);
    }
    chat.queue_and_load_on_call("open");
    chat.queue_and_load_on_call("send");
    // Calls made before this bundle booted wait in the loader's queue.
    match chat.queued_needs() {
        Needs::Open => chat.load(true),
        Needs::Chat => chat.load(false),
        Needs::Nothing => {}
    }

    let keys = Keys::new(&config.site);
    if has_chat(&window, &keys) {
        chat.load(false);
    }
    let prefix = keys.prefix().to_string();
    let on_storage = chat.clone();
    EventListener::new(&window, "storage", move |event| {
        let Some(event) = event.dyn_ref::<StorageEvent>() else {
            return;
        };
        let ours = event.key().is_some_and(|key| key.starts_with(&prefix));
        if ours && event.new_value().is_some() {
            on_storage.load(false);
        }
    })
    .forget();
    Ok(launcher)
}

/// True when this browser holds a chat with the site: a visitor token or a
/// session snapshot in localStorage (both written only once a visitor has
/// used the chat). Read directly rather than through `storage::Store`,
/// whose set-up writes a probe key: this runs on every page view, and its
/// memory fallback could never hold a chat from an earlier page anyway.
fn has_chat(window: &web_sys::Window, keys: &Keys) -> bool {
    let Ok(Some(storage)) = window.local_storage() else {
        return false;
    };
    [keys.token(), keys.session()]
        .iter()
        .any(|key| matches!(storage.get_item(key), Ok(Some(_))))
}

/// What the calls already queued ask of the chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Needs {
    /// Nothing yet (handlers, visitor details, a close).
    Nothing,
    /// The chat, quietly (a `send`).
    Chat,
    /// The chat and its panel (an `open`): the launcher says it is busy.
    Open,
}

/// Asks the loader for the chat bundle and keeps the launcher honest meanwhile.
struct ChatLoader {
    /// The loader's `window.Twinline` (queue, stubs, `load`).
    api: Object,
    button: Element,
    /// Called by the loader when no deployment delivered the chat: the
    /// launcher stops saying it is busy, and the next click asks again.
    failed: JsValue,
}

impl ChatLoader {
    fn new(api: Object, button: Element) -> ChatLoader {
        let idle = button.clone();
        let failed = Closure::<dyn Fn()>::new(move || {
            let _ = idle.remove_attribute("aria-busy");
        })
        .into_js_value();
        ChatLoader {
            api,
            button,
            failed,
        }
    }

    /// Fetches the chat bundle (the loader does nothing while it is on its
    /// way or once it is there); `busy` shows it on the launcher.
    fn load(&self, busy: bool) {
        let load = Reflect::get(&self.api, &"load".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        let Some(load) = load else {
            web_sys::console::error_1(
                &"Twinline: this loader cannot fetch the chat (no Twinline.load); paste the current loader".into(),
            );
            return;
        };
        if busy {
            let _ = self.button.set_attribute("aria-busy", "true");
        }
        let _ = load.call2(&self.api, &CHAT_BUNDLE.into(), &self.failed);
    }

    /// True once the chat bundle has installed its `window.Twinline`.
    fn arrived(&self) -> bool {
        web_sys::window()
            .and_then(|window| Reflect::get(&window, &"Twinline".into()).ok())
            .and_then(|api| Reflect::get(&api, &"loaded".into()).ok())
            .is_some_and(|loaded| loaded.as_bool() == Some(true))
    }

    /// Adds `[method, args]` to the loader's queue, which the chat bundle
    /// replays when it starts.
    fn queue(&self, method: &str, args: &Array) {
        // `dyn_into`, not `Array::from`: that is JS `Array.from`, a copy.
        let queue = Reflect::get(&self.api, &"q".into()).map(|q| q.dyn_into::<Array>());
        if let Ok(Ok(queue)) = queue {
            queue.push(&Array::of2(&method.into(), args));
        }
    }

    /// What the queue already holds asks of the chat.
    fn queued_needs(&self) -> Needs {
        let queue = Reflect::get(&self.api, &"q".into()).map(|q| q.dyn_into::<Array>());
        let Ok(Ok(queue)) = queue else {
            return Needs::Nothing;
        };
        let mut needs = Needs::Nothing;
        for call in queue.iter() {
            let name = Reflect::get(&call, &0.into())
                .ok()
                .and_then(|n| n.as_string());
            needs = match (name.as_deref(), needs) {
                (Some("open"), _) => Needs::Open,
                (Some("send"), Needs::Nothing) => Needs::Chat,
                (_, needs) => needs,
            };
        }
        needs
    }

    /// Makes `Twinline[method](...)` fetch the chat too: the loader's stub
    /// still queues the call (and, for `send`, makes the message's id and
    /// returns it), then the chat is asked for.
    fn queue_and_load_on_call(self: &Rc<Self>, method: &'static str) {
        let chat = self.clone();
        let stub = Reflect::get(&self.api, &method.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        let call = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |argument: JsValue| {
            let answer = match &stub {
                Some(stub) => stub
                    .call1(&chat.api, &argument)
                    .unwrap_or(JsValue::UNDEFINED),
                None => {
                    let args = if argument.is_undefined() {
                        Array::new()
                    } else {
                        Array::of1(&argument)
                    };
                    chat.queue(method, &args);
                    JsValue::UNDEFINED
                }
            };
            chat.load(false);
            answer
        });
        let _ = Reflect::set(&self.api, &method.into(), &call.into_js_value());
    }
}
