//! Runs the core session in the browser: the only code that turns the
//! session's actions into I/O and I/O back into its inputs.
//!
//! The loop is the sans-IO one: feed an input (`Session::handle`) or a
//! timeout (`Session::handle_timeout`), then drain `poll_action` and do what
//! each action says, then arm one `setTimeout` for `poll_timeout`.
//!
//! - `Connect` opens a WebSocket; its open, message, error and close events
//!   come back as inputs. Close and error are reported once.
//! - `Probe` and `AskModerator` are `fetch`es with a deadline; a failure or
//!   timeout is reported as `None`.
//! - `Persist` stores the snapshot in localStorage (once per drain).
//! - `Event`s are not handled one by one: after each drain the app rebuilds
//!   the [`View`] from the session's queries.
//!
//! Inputs that arise while an action is being carried out (a WebSocket that
//! cannot even be created) are queued and fed before the drain ends, so the
//! session never sees an input nested inside `poll_action`.

use crate::config::WidgetConfig;
use crate::js;
use crate::net;
use crate::storage::Store;
use crate::view::{ChatPhase, Link, Status, View, ViewMessage, ViewNote};
use gloo_timers::callback::Timeout;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use twinline_core::model::{Author, ChatState, Role};
use twinline_core::protocol::{
    ActiveDeployment, DeploymentRole, Health, MAX_FRAME_BYTES, ServerFrame, VisitorTokenResponse,
};
use twinline_core::session::{
    Action, ConnId, Delivery, Endpoint, Identity, Input, LinkState, Session, SessionConfig,
    SessionEvent, Snapshot, Timing,
};
use twinline_core::{ChatId, MessageId, Millis, OfflineId};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{MessageEvent, WebSocket};

/// Deadline for health probes, ms.
const PROBE_TIMEOUT_MS: u32 = 3_000;
/// Deadline for the moderator, ms.
const MODERATOR_TIMEOUT_MS: u32 = 3_000;
/// An operator's "typing" with no update for this long is dropped, ms.
const TYPING_STALE_MS: u64 = 8_000;

/// Something that wakes the engine.
pub enum Wake {
    /// An input for the session.
    Input(Input),
    /// The timer armed from `poll_timeout` fired.
    Timer,
}

/// What is kept in localStorage: the snapshot and the chat it is for.
#[derive(Serialize, Deserialize)]
struct Saved {
    chat: ChatId,
    snapshot: Snapshot,
}

struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut()>,
}

impl Socket {
    fn close(self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// The core session with its sockets and timer.
pub struct Engine {
    session: Session,
    chat: ChatId,
    store: Store,
    wake: Rc<dyn Fn(Wake)>,
    sockets: HashMap<u64, Socket>,
    queued: VecDeque<Input>,
    timer: Option<(Millis, Timeout)>,
    typing: Option<(Author, Millis)>,
    notes: Vec<(OfflineId, bool)>,
    welcomed: bool,
    stopped: bool,
}

impl Engine {
    /// The chat of the saved session, if there is one.
    pub fn saved_chat(store: &Store) -> Option<ChatId> {
        let text = store.get(&store.keys.session())?;
        js::from_json::<SavedChat>(&text).ok().map(|s| s.chat)
    }

    /// Forgets the saved session (a new chat).
    pub fn forget(store: &Store) {
        store.remove(&store.keys.session());
    }

    /// Starts the session for `token`'s chat: resumed from the saved
    /// snapshot when it is for that chat, else new.
    pub fn start(
        config: &WidgetConfig,
        store: Store,
        token: VisitorTokenResponse,
        wake: Rc<dyn Fn(Wake)>,
    ) -> Result<Engine, String> {
        let session_config = session_config(config);
        let now = js::now();
        let seed = js::random_u64();
        let saved = store
            .get(&store.keys.session())
            .and_then(|text| match js::from_json::<Saved>(&text) {
                Ok(saved) => Some(saved),
                Err(error) => {
                    js::warn(&format!("ignored an unreadable saved session: {error}"));
                    None
                }
            })
            .filter(|saved| saved.chat == token.chat);
        let session = match saved {
            Some(saved) => Session::restore(session_config, saved.snapshot, now, seed),
            None => {
                let identity = Identity {
                    token: token.token.clone(),
                    author: Author {
                        role: Role::Visitor,
                        id: token.visitor.to_string(),
                        name: String::new(),
                    },
                    chat: Some(token.chat),
                };
                Session::new(session_config, identity, now, seed)
            }
        };
        let mut engine = Engine {
            session,
            chat: token.chat,
            store,
            wake,
            sockets: HashMap::new(),
            queued: VecDeque::new(),
            timer: None,
            typing: None,
            notes: Vec::new(),
            welcomed: false,
            stopped: false,
        };
        engine.persist();
        engine.pump();
        Ok(engine)
    }

    /// Feeds what woke the engine and carries out what follows.
    pub fn wake(&mut self, wake: Wake) {
        if self.stopped {
            return;
        }
        let now = js::now();
        match wake {
            Wake::Timer => {
                self.timer = None;
                self.session.handle_timeout(now);
            }
            Wake::Input(input) => {
                if !self.accepts(&input) {
                    return;
                }
                if let Input::Closed { conn } = &input {
                    if let Some(socket) = self.sockets.remove(&conn.0) {
                        socket.close();
                    }
                }
                self.session.handle(now, input);
            }
        }
        self.pump();
    }

    /// Inputs from sockets the session already dropped are stale.
    fn accepts(&self, input: &Input) -> bool {
        match input {
            Input::Opened { conn } | Input::Closed { conn } | Input::Frame { conn, .. } => {
                self.sockets.contains_key(&conn.0)
            }
            _ => true,
        }
    }

    fn pump(&mut self) {
        let mut persist = false;
        loop {
            while let Some(input) = self.queued.pop_front() {
                self.session.handle(js::now(), input);
            }
            let Some(action) = self.session.poll_action() else {
                if self.queued.is_empty() {
                    break;
                }
                continue;
            };
            match action {
                Action::Connect { conn, url, .. } => self.connect(conn, &url),
                Action::Disconnect { conn } => {
                    if let Some(socket) = self.sockets.remove(&conn.0) {
                        socket.close();
                    }
                }
                Action::Send { conn, frame } => {
                    let sent = match (self.sockets.get(&conn.0), js::to_json(&frame)) {
                        (Some(socket), Ok(text)) => socket.ws.send_with_str(&text).is_ok(),
                        _ => false,
                    };
                    if !sent {
                        if let Some(socket) = self.sockets.remove(&conn.0) {
                            socket.close();
                        }
                        self.queued.push_back(Input::Closed { conn });
                    }
                }
                Action::Probe { deployment, url } => self.probe(deployment, url),
                Action::AskModerator { url } => self.ask_moderator(url),
                Action::Persist => persist = true,
                Action::Event(event) => self.note(event),
            }
        }
        if persist {
            self.persist();
        }
        self.arm_timer();
    }

    fn connect(&mut self, conn: ConnId, url: &str) {
        let ws = match WebSocket::new(url) {
            Ok(ws) => ws,
            Err(_) => {
                self.queued.push_back(Input::Closed { conn });
                return;
            }
        };
        let id = conn.0;
        let wake = self.wake.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            wake(Wake::Input(Input::Opened { conn: ConnId(id) }))
        });
        let wake = self.wake.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if text.len() > MAX_FRAME_BYTES {
                js::warn("ignored an oversized frame");
                return;
            }
            match js::from_json::<ServerFrame>(&text) {
                Ok(frame) => wake(Wake::Input(Input::Frame {
                    conn: ConnId(id),
                    frame,
                })),
                Err(error) => js::warn(&format!("ignored a frame: {error}")),
            }
        });
        let wake = self.wake.clone();
        let on_close = Closure::<dyn FnMut()>::new(move || {
            wake(Wake::Input(Input::Closed { conn: ConnId(id) }))
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // An error is always followed by close; both report Closed, the
        // engine lets only the first through.
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        self.sockets.insert(
            id,
            Socket {
                ws,
                _on_open: on_open,
                _on_message: on_message,
                _on_close: on_close,
            },
        );
    }

    fn probe(&self, deployment: DeploymentRole, url: String) {
        let wake = self.wake.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let health = net::json::<(), Health>(&url, None, PROBE_TIMEOUT_MS)
                .await
                .ok();
            wake(Wake::Input(Input::Probe { deployment, health }));
        });
    }

    fn ask_moderator(&self, url: String) {
        let wake = self.wake.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let answer = net::json::<(), ActiveDeployment>(&url, None, MODERATOR_TIMEOUT_MS)
                .await
                .ok();
            wake(Wake::Input(Input::Moderator { answer }));
        });
    }

    fn arm_timer(&mut self) {
        let Some(at) = self.session.poll_timeout() else {
            self.timer = None;
            return;
        };
        if self.timer.as_ref().is_some_and(|(armed, _)| *armed == at) {
            return;
        }
        let delay = at.since(js::now()).min(i32::MAX as u64) as u32;
        let wake = self.wake.clone();
        self.timer = Some((at, Timeout::new(delay, move || wake(Wake::Timer))));
    }

    fn persist(&self) {
        let saved = SavedRef {
            chat: self.chat,
            snapshot: &self.session.snapshot(),
        };
        match js::to_json(&saved) {
            Ok(text) => {
                if !self.store.set(&self.store.keys.session(), &text) {
                    js::warn("localStorage refused the chat (quota?); it is kept in memory");
                }
            }
            Err(error) => js::warn(&format!("could not save the chat: {error}")),
        }
    }

    /// Keeps what the view needs that the session's queries do not give.
    fn note(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Typing { who, on, .. } => {
                self.typing = on.then(|| (who, js::now()));
            }
            SessionEvent::Message { .. } => self.typing = None,
            SessionEvent::OfflineAcked { id } => {
                for note in &mut self.notes {
                    if note.0 == id {
                        note.1 = true;
                    }
                }
            }
            SessionEvent::Connection(status) if status.state == LinkState::Connected => {
                self.welcomed = true;
            }
            SessionEvent::Error { code, message } => {
                js::warn(&format!("relay refused: {code:?}: {message}"));
            }
            _ => {}
        }
    }

    /// Closes every socket and cancels the timer (another tab leads now, or
    /// the page goes away). The saved snapshot stays for whoever resumes.
    pub fn stop(&mut self) {
        self.stopped = true;
        self.timer = None;
        for (_, socket) in self.sockets.drain() {
            socket.close();
        }
    }

    /// True if the session holds a message with this id.
    pub fn has(&self, id: &str) -> bool {
        let Ok(id) = id.parse::<MessageId>() else {
            return false;
        };
        self.session
            .transcript(self.chat)
            .is_some_and(|t| t.contains(id))
    }

    /// Sends a message under the id the tab that wrote it chose.
    pub fn send(&mut self, id: &str, text: &str, at: u64) -> Result<(), String> {
        let id: MessageId = id.parse().map_err(|e| format!("{e}"))?;
        let _ = at;
        self.session
            .send_with_id(js::now(), self.chat, id, text)
            .map_err(|e| e.to_string())?;
        self.pump();
        Ok(())
    }

    /// The visitor started or stopped typing.
    pub fn typing(&mut self, on: bool) {
        self.session.typing(js::now(), self.chat, on);
        self.pump();
    }

    /// Name and email for the operator.
    pub fn set_visitor(&mut self, name: &str, email: &str, page: &str) {
        self.session
            .set_visitor(js::now(), self.chat, name, email, page);
        self.pump();
    }

    /// Leaves an offline note.
    pub fn offline(&mut self, name: &str, email: &str, text: &str) -> Result<(), String> {
        let id = self
            .session
            .leave_offline_note(js::now(), name, email, text)
            .map_err(|e| e.to_string())?;
        self.notes.push((id, false));
        self.pump();
        Ok(())
    }

    /// The chat as every tab shows it.
    pub fn view(&self) -> View {
        let status = self.session.status();
        let messages: Vec<ViewMessage> = self
            .session
            .transcript(self.chat)
            .map(|transcript| {
                transcript
                    .iter()
                    .map(|m| ViewMessage {
                        id: m.id.to_string(),
                        author: role_name(m.author.role).into(),
                        name: m.author.name.clone(),
                        text: m.text.clone(),
                        at: m.at.0,
                        status: match (m.author.role, self.session.delivery(m.id)) {
                            (Role::Visitor, Delivery::Pending) => Status::Sending,
                            (Role::Visitor, Delivery::Acked) => Status::Sent,
                            (Role::Visitor, Delivery::Refused) => Status::Failed,
                            _ => Status::Received,
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let chat_status = self.session.chat_status(self.chat);
        let phase = match chat_status.map(|s| s.state) {
            Some(ChatState::Active) => ChatPhase::Active,
            Some(ChatState::Closed) => ChatPhase::Closed,
            _ => ChatPhase::Waiting,
        };
        let operator = chat_status
            .and_then(|s| s.operator.clone())
            .map(|username| display_name(&messages, &username));
        let visitor = self.session.visitor_info(self.chat);
        let typing = self
            .typing
            .as_ref()
            .filter(|(_, since)| js::now().since(*since) < TYPING_STALE_MS)
            .map(|(who, _)| who.name.clone());
        View {
            chat: Some(self.chat.to_string()),
            messages,
            link: match status.state {
                LinkState::Connecting => Link::Connecting,
                LinkState::Connected => Link::Connected,
                LinkState::Reconnecting => Link::Reconnecting,
                LinkState::Offline => Link::Offline,
            },
            deployment: status.name.clone(),
            operators_online: self.welcomed.then(|| self.session.operators_online()),
            phase,
            operator,
            typing,
            visitor_name: visitor.map(|v| v.name.clone()).unwrap_or_default(),
            visitor_email: visitor.map(|v| v.email.clone()).unwrap_or_default(),
            notes: self
                .notes
                .iter()
                .map(|(id, stored)| ViewNote {
                    id: id.to_string(),
                    stored: *stored,
                })
                .collect(),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads only the chat of a saved session (cheap check before resuming).
#[derive(Deserialize)]
struct SavedChat {
    chat: ChatId,
}

#[derive(Serialize)]
struct SavedRef<'a> {
    chat: ChatId,
    snapshot: &'a Snapshot,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Visitor => "visitor",
        Role::Operator => "operator",
        Role::System => "system",
    }
}

/// The operator's display name from their messages, else the username.
fn display_name(messages: &[ViewMessage], username: &str) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.author == "operator" && !m.name.is_empty())
        .map(|m| m.name.clone())
        .unwrap_or_else(|| username.to_string())
}

fn session_config(config: &WidgetConfig) -> SessionConfig {
    SessionConfig {
        role: Role::Visitor,
        site: config.site.clone(),
        moderator: config.moderator.clone(),
        deployments: vec![
            Endpoint {
                name: config.primary.0.clone(),
                role: DeploymentRole::Primary,
                url: config.primary.1.clone(),
            },
            Endpoint {
                name: config.redundant.0.clone(),
                role: DeploymentRole::Redundant,
                url: config.redundant.1.clone(),
            },
        ],
        timing: Timing::default(),
    }
}
