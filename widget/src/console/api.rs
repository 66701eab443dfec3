//! The `Console` class the console page (www/console/console.js) drives.
//!
//! ```js
//! import init, { Console } from './pkg/twinline_console.js';
//! await init();
//! const c = new Console({ site: 'console', primary, redundant, moderator });
//! c.onChange(() => render(c.state()));
//! if (c.state().needsLogin) await c.login(username, password);
//! c.setAvailability(true);
//! c.accept(chatId);
//! const id = c.send(chatId, 'Hello!');
//! const file = await c.sendFile(chatId, 'shot.png', bytes, sha256Hex);
//! const bytes = await c.download(fileId); // Uint8Array
//! ```
//!
//! Every method changes the session and returns at once; `onChange`
//! listeners run once per burst of changes, in a microtask, never inside a
//! call. `state()` is a plain object (see `state::ConsoleState`).

use super::engine::Engine;
use super::history::{self, HistoryForm};
use super::login;
use super::state::ConsoleState;
use super::upload::Step;
use crate::config::{RawConfig, WidgetConfig};
use crate::host::Wake;
use crate::js;
use crate::storage::Store;
use js_sys::{Function, Promise};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use twinline_core::files::{self, FileMeta, UploadStatus};
use twinline_core::protocol::{DeploymentRole, LoginResponse};
use twinline_core::{ChatId, FileId, MessageId};
use wasm_bindgen::prelude::*;

/// The operator console's session, for the page.
#[wasm_bindgen]
pub struct Console {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    config: WidgetConfig,
    store: Store,
    engine: Option<Engine>,
    /// Bumped per engine, so a wake meant for a stopped one is dropped.
    generation: u64,
    listeners: Vec<(u32, Function)>,
    next_listener: u32,
    notify_scheduled: bool,
    me: Weak<RefCell<Inner>>,
}

#[derive(Serialize)]
struct Me<'a> {
    username: &'a str,
    name: &'a str,
}

fn error(message: impl AsRef<str>) -> JsValue {
    js_sys::Error::new(message.as_ref()).into()
}

fn chat_id(chat: &str) -> Result<ChatId, JsValue> {
    chat.parse()
        .map_err(|e| error(format!("{chat:?} is not a chat id: {e}")))
}

#[wasm_bindgen]
impl Console {
    /// Reads the deployments (`{site?, primary?, redundant?, moderator?,
    /// primaryName?, redundantName?}`, at least one of the two) and, if a
    /// login for these deployments is stored from before, starts the
    /// session at once.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<Console, JsValue> {
        // Read as the widget reads `window.TwinlineConfig` (one reader).
        let mut raw = RawConfig::from_object(&config).map_err(|e| error(e.to_string()))?;
        if raw.site.trim().is_empty() {
            raw.site = "console".into();
        }
        // One deployment alone: the redundant one of a pair without its peer
        // is also the "primary" the session starts on.
        if raw.primary.trim().is_empty() {
            raw.primary = raw.redundant.clone();
            raw.primary_name = raw.redundant_name.clone();
        }
        if raw.redundant.trim().is_empty() {
            raw.redundant = raw.primary.clone();
        }
        let config = raw.validate().map_err(|e| error(e.to_string()))?;
        let store = Store::new("console");
        let stored = login::stored(&store, &config);
        let inner = Rc::new_cyclic(|me| {
            RefCell::new(Inner {
                config,
                store,
                engine: None,
                generation: 0,
                listeners: Vec::new(),
                next_listener: 0,
                notify_scheduled: false,
                me: me.clone(),
            })
        });
        if let Some(login) = stored {
            inner.borrow_mut().start_engine(&login);
        }
        Ok(Console { inner })
    }

    /// Logs in (active deployment first, then the other) and starts or
    /// resumes the operator's session. Resolves to `{username, name}`;
    /// rejects with an Error whose message can be shown as it is.
    pub fn login(&self, username: String, password: String) -> Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (config, store, on) = {
                let inner = inner.borrow();
                let on = inner.engine.as_ref().and_then(Engine::deployment);
                (inner.config.clone(), inner.store.clone(), on)
            };
            let first = login::first_to_ask(&config, on).await;
            let login = login::login(&config, &store, first, &username, &password)
                .await
                .map_err(error)?;
            let mut guard = inner.borrow_mut();
            match guard.engine.as_mut() {
                Some(engine) if engine.username() == login.username => {
                    engine.set_token(login.token.clone());
                }
                _ => guard.start_engine(&login),
            }
            guard.changed();
            js::to_js(&Me {
                username: &login.username,
                name: &login.name,
            })
            .map_err(error)
        })
    }

    /// Logs out: at once closes the connection and forgets the stored
    /// login (the operator's chats stay stored for the next login), then
    /// ends the session on the relays (`POST /v1/operator/logout`, which
    /// both deployments honour), so the token is refused everywhere, not
    /// only forgotten here. Resolves once a relay has ended it (or there
    /// was no session); rejects with an Error whose message can be shown as
    /// it is when no deployment answered.
    pub fn logout(&self) -> Promise {
        let ended = {
            let mut inner = self.inner.borrow_mut();
            let ended = inner.engine.take().map(|mut engine| {
                engine.stop();
                (engine.deployment(), engine.token())
            });
            login::forget(&inner.store);
            inner.changed();
            ended.map(|(on, token)| (inner.config.clone(), on, token))
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let Some((config, on, token)) = ended else {
                return Ok(JsValue::UNDEFINED);
            };
            if token.is_empty() {
                return Ok(JsValue::UNDEFINED);
            }
            let first = login::first_to_ask(&config, on).await;
            login::logout(&config, first, &token)
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(error)
        })
    }

    /// Online (takes new chats) or away.
    #[wasm_bindgen(js_name = setAvailability)]
    pub fn set_availability(&self, online: bool) -> Result<(), JsValue> {
        self.with(|engine| engine.set_availability(online))
    }

    /// Takes a waiting chat.
    pub fn accept(&self, chat: &str) -> Result<(), JsValue> {
        let chat = chat_id(chat)?;
        self.with(|engine| engine.accept(chat))
    }

    /// Writes a message; returns its id at once (it is kept, and shown as
    /// sending, until a relay stores it).
    pub fn send(&self, chat: &str, text: &str) -> Result<String, JsValue> {
        let chat = chat_id(chat)?;
        self.with(|engine| engine.send(chat, text))?
            .map(|id| id.to_string())
            .map_err(error)
    }

    /// The operator started (`true`) or stopped typing in a chat.
    pub fn typing(&self, chat: &str, on: bool) -> Result<(), JsValue> {
        let chat = chat_id(chat)?;
        self.with(|engine| engine.typing(chat, on))
    }

    /// Hands a chat to another online operator (by username).
    pub fn transfer(&self, chat: &str, to: &str) -> Result<(), JsValue> {
        let chat = chat_id(chat)?;
        let to = to.trim();
        if to.is_empty() {
            return Err(error("transfer to whom?"));
        }
        self.with(|engine| engine.transfer(chat, to))
    }

    /// Ends a chat.
    pub fn close(&self, chat: &str) -> Result<(), JsValue> {
        let chat = chat_id(chat)?;
        self.with(|engine| engine.close(chat))
    }

    /// Removes a chat from the console; false while it has unsent messages.
    pub fn forget(&self, chat: &str) -> Result<bool, JsValue> {
        let chat = chat_id(chat)?;
        self.with(|engine| engine.forget(chat))
    }

    /// What the page shows: the chat open (`null` for none) and whether
    /// the page is visible. Call it after every render: the console gives
    /// a read receipt for the chat on a visible page (the decision is
    /// `state::to_mark_seen`), and renders again only when it did.
    #[wasm_bindgen(js_name = onScreen)]
    pub fn on_screen(&self, chat: Option<String>, visible: bool) -> Result<(), JsValue> {
        let chat = chat.as_deref().map(chat_id).transpose()?;
        let mut inner = self.inner.borrow_mut();
        let Some(engine) = inner.engine.as_mut() else {
            return Ok(());
        };
        if engine.on_screen(chat, visible) {
            inner.changed();
        }
        Ok(())
    }

    /// Sends a file in a chat: `bytes` (a `Uint8Array`) go up in chunks to
    /// the deployment the session is on (after a failover, the other one,
    /// sending only what it lacks: `upload.rs` decides), then a message
    /// carries it. Resolves to the file's id once the message is in the
    /// session (shown as sending until a relay stores it); rejects with an
    /// Error to show as it is (the relay's refusal, e.g. a type it does not
    /// accept). Progress and refusals are in `state().uploads`.
    #[wasm_bindgen(js_name = sendFile)]
    pub fn send_file(
        &self,
        chat: &str,
        name: String,
        bytes: js_sys::Uint8Array,
        sha256: String,
    ) -> Promise {
        let queued = chat_id(chat).and_then(|chat| {
            let now = js::now();
            let file = FileId::new(now, js::random_u128());
            let message = MessageId::new(now, js::random_u128());
            let size = u64::from(bytes.length());
            self.with(|engine| {
                engine
                    .uploads
                    .add(chat, file, message, &name, size, &sha256)
            })?
            .map_err(error)?;
            Ok((chat, file, message))
        });
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (chat, file, message) = queued?;
            drive_upload(&inner, chat, file, message, &bytes).await?;
            Ok(file.to_string().into())
        })
    }

    /// Forgets a refused upload (the page's dismiss button).
    #[wasm_bindgen(js_name = dismissUpload)]
    pub fn dismiss_upload(&self, file: &str) -> Result<(), JsValue> {
        let file: FileId = file.parse().map_err(|_| error("not a file id"))?;
        self.with(|engine| engine.uploads.dismiss(file))
    }

    /// The bytes of a file of a chat this operator serves (`GET
    /// /v1/files/{id}` with the session's token, from the deployment the
    /// session is on, else the other): a `Uint8Array` for an object URL.
    pub fn download(&self, file: String) -> Promise {
        let session = {
            let inner = self.inner.borrow();
            inner
                .engine
                .as_ref()
                .map(|engine| (inner.config.clone(), engine.deployment(), engine.token()))
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let file: FileId = file.parse().map_err(|_| error("not a file id"))?;
            let Some((config, on, token)) = session else {
                return Err(error("not logged in"));
            };
            let first = login::first_to_ask(&config, on).await;
            login::get_bytes(&config, first, &format!("/v1/files/{file}"), &token)
                .await
                .map(JsValue::from)
                .map_err(error)
        })
    }

    /// Searches the chat history of the operator's sites (`form`: `{q,
    /// site, visitor, operator, state, date, from, to, cursor}`, all text;
    /// see `history::HistoryForm`), on the deployment the session is on,
    /// then the other. Resolves to `{items, next_cursor}`
    /// (docs/PROTOCOL.md, "History"); rejects with an Error to show as it
    /// is.
    #[wasm_bindgen(js_name = historySearch)]
    pub fn history_search(&self, form: JsValue) -> Promise {
        let asked = js_sys::JSON::stringify(&form)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or_else(|| "the form is not an object".to_string())
            .and_then(|text| {
                serde_json::from_str::<HistoryForm>(&text).map_err(|e| format!("the form: {e}"))
            })
            .and_then(|form| form.query_string())
            .map(|query| format!("/v1/operator/history?{query}"));
        self.history_get(asked)
    }

    /// One chat of the history, whole: resolves to `{chat, messages}`
    /// (docs/PROTOCOL.md, "History").
    #[wasm_bindgen(js_name = historyChat)]
    pub fn history_chat(&self, chat: String) -> Promise {
        self.history_get(history::chat_path(&chat))
    }

    /// Everything the page shows, as a plain object.
    pub fn state(&self) -> Result<JsValue, JsValue> {
        let inner = self.inner.borrow();
        let state = match &inner.engine {
            Some(engine) => engine.state(),
            None => ConsoleState {
                needs_login: true,
                ..ConsoleState::default()
            },
        };
        js::to_js(&state).map_err(error)
    }

    /// Calls `listener()` after changes (once per burst); returns an id for
    /// `offChange`.
    #[wasm_bindgen(js_name = onChange)]
    pub fn on_change(&self, listener: Function) -> u32 {
        let mut inner = self.inner.borrow_mut();
        inner.next_listener += 1;
        let id = inner.next_listener;
        inner.listeners.push((id, listener));
        id
    }

    /// Removes a listener.
    #[wasm_bindgen(js_name = offChange)]
    pub fn off_change(&self, id: u32) {
        self.inner.borrow_mut().listeners.retain(|(i, _)| *i != id);
    }

    /// Closes the connection for good (the page goes away, or a test ends).
    pub fn stop(&self) {
        let mut inner = self.inner.borrow_mut();
        if let Some(mut engine) = inner.engine.take() {
            engine.stop();
        }
    }
}

impl Console {
    /// GETs `path` (or rejects with its error) with the session's token.
    fn history_get(&self, path: Result<String, String>) -> Promise {
        let session = {
            let inner = self.inner.borrow();
            inner
                .engine
                .as_ref()
                .map(|engine| (inner.config.clone(), engine.deployment(), engine.token()))
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let path = path.map_err(error)?;
            let Some((config, on, token)) = session else {
                return Err(error("not logged in"));
            };
            let first = login::first_to_ask(&config, on).await;
            let text = login::get(&config, first, &path, &token)
                .await
                .map_err(error)?;
            js_sys::JSON::parse(&text).map_err(|_| error("the relay's answer is not JSON"))
        })
    }

    fn with<R>(&self, action: impl FnOnce(&mut Engine) -> R) -> Result<R, JsValue> {
        let mut inner = self.inner.borrow_mut();
        let engine = inner
            .engine
            .as_mut()
            .ok_or_else(|| error("not logged in"))?;
        let result = action(engine);
        inner.changed();
        Ok(result)
    }
}

/// How long an upload waits before trying a step again when no deployment
/// answered, and how many times it tries before giving up.
const UPLOAD_RETRY_MS: i32 = 1_000;
const UPLOAD_TRIES: u32 = 120;

async fn pause(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Carries out the steps `Uploads::next` decides for one file, each to the
/// deployment the session is on at that moment, until the message carrying
/// it is in the session or a relay refused it.
async fn drive_upload(
    inner: &Rc<RefCell<Inner>>,
    chat: ChatId,
    file: FileId,
    message: MessageId,
    bytes: &js_sys::Uint8Array,
) -> Result<(), JsValue> {
    let size = u64::from(bytes.length());
    let mut failures = 0;
    loop {
        let (step, on, config, token) = {
            let inner = inner.borrow();
            let engine = inner.engine.as_ref().ok_or_else(|| error("logged out"))?;
            let on = engine.deployment();
            (
                engine.uploads.next(file, on),
                on,
                inner.config.clone(),
                engine.token(),
            )
        };
        let role = on.unwrap_or(DeploymentRole::Primary);
        let base = format!("/v1/files/{file}");
        let answer = match &step {
            Step::Stop => {
                let inner = inner.borrow();
                let refused = inner
                    .engine
                    .as_ref()
                    .and_then(|engine| engine.uploads.get(file))
                    .map(|upload| upload.name.clone());
                return match refused {
                    // Still listed: refused (its message is in the state).
                    Some(name) => Err(error(format!("{name} was not sent"))),
                    None => Ok(()),
                };
            }
            Step::Send(meta) => {
                let mut guard = inner.borrow_mut();
                let engine = guard.engine.as_mut().ok_or_else(|| error("logged out"))?;
                let sent = engine.send_file(chat, message, meta.clone());
                match sent {
                    Ok(_) => engine.uploads.sent(file),
                    Err(reason) => engine.uploads.refused(file, reason),
                }
                guard.changed();
                continue;
            }
            Step::Ask => {
                login::ask(
                    &config,
                    role,
                    "GET",
                    &format!("{base}/upload?chat={chat}"),
                    None,
                    &token,
                )
                .await
            }
            Step::Chunk(index) => {
                let start = (index * files::CHUNK_BYTES) as u32;
                let end = start + files::chunk_len(size, *index).unwrap_or(0) as u32;
                let body = JsValue::from(bytes.subarray(start, end));
                let path = format!("{base}/chunks/{index}?chat={chat}&size={size}");
                login::ask(
                    &config,
                    role,
                    "POST",
                    &path,
                    Some((body, "application/octet-stream")),
                    &token,
                )
                .await
            }
            Step::Complete => {
                let declared = {
                    let inner = inner.borrow();
                    inner
                        .engine
                        .as_ref()
                        .and_then(|engine| engine.uploads.get(file))
                        .map(|u| files::CompleteRequest {
                            name: u.name.clone(),
                            size: u.size,
                            sha256: u.sha256.clone(),
                        })
                };
                let body = declared
                    .and_then(|d| js::to_json(&d).ok())
                    .ok_or_else(|| error("the upload is gone"))?;
                let path = format!("{base}/complete?chat={chat}");
                login::ask(
                    &config,
                    role,
                    "POST",
                    &path,
                    Some((body.into(), "application/json")),
                    &token,
                )
                .await
            }
        };
        let wait = {
            let mut guard = inner.borrow_mut();
            let Some(engine) = guard.engine.as_mut() else {
                return Err(error("logged out"));
            };
            match answer {
                login::Answer::Ok(text) => {
                    failures = 0;
                    if step == Step::Complete {
                        match serde_json::from_str::<FileMeta>(&text) {
                            Ok(meta) => engine.uploads.completed(file, meta),
                            Err(e) => engine
                                .uploads
                                .refused(file, format!("the relay's answer: {e}")),
                        }
                    } else {
                        match serde_json::from_str::<UploadStatus>(&text) {
                            Ok(status) => engine.uploads.held(file, on, status),
                            Err(e) => engine
                                .uploads
                                .refused(file, format!("the relay's answer: {e}")),
                        }
                    }
                    guard.changed();
                    false
                }
                login::Answer::Refused(message) => {
                    engine.uploads.refused(file, message);
                    guard.changed();
                    false
                }
                login::Answer::Unreachable(why) => {
                    failures += 1;
                    if failures >= UPLOAD_TRIES {
                        engine
                            .uploads
                            .refused(file, format!("no deployment answers ({why})"));
                        guard.changed();
                        false
                    } else {
                        true
                    }
                }
            }
        };
        if wait {
            pause(UPLOAD_RETRY_MS).await;
        }
    }
}

impl Inner {
    fn start_engine(&mut self, login: &LoginResponse) {
        if let Some(mut old) = self.engine.take() {
            old.stop();
        }
        self.generation += 1;
        let generation = self.generation;
        let me = self.me.clone();
        let wake: Rc<dyn Fn(Wake)> = Rc::new(move |wake| {
            let Some(inner) = me.upgrade() else {
                return;
            };
            let mut inner = inner.borrow_mut();
            if inner.generation != generation {
                return;
            }
            let changed = inner
                .engine
                .as_mut()
                .is_some_and(|engine| engine.wake(wake));
            if changed {
                inner.changed();
            }
        });
        self.engine = Some(Engine::start(&self.config, self.store.clone(), login, wake));
        self.changed();
    }

    /// Schedules one call of every listener, after the current call.
    fn changed(&mut self) {
        if self.notify_scheduled {
            return;
        }
        self.notify_scheduled = true;
        let me = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let Some(inner) = me.upgrade() else {
                return;
            };
            let listeners: Vec<Function> = {
                let mut inner = inner.borrow_mut();
                inner.notify_scheduled = false;
                inner.listeners.iter().map(|(_, f)| f.clone()).collect()
            };
            for listener in listeners {
                if let Err(error) = listener.call0(&JsValue::NULL) {
                    web_sys::console::error_2(&"Twinline console: a listener threw".into(), &error);
                }
            }
        });
    }
}
