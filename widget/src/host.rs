//! The browser I/O loop around the core session, shared by the visitor
//! widget (`driver`) and the operator console (`console`).
//!
//! The loop is the sans-IO one: feed an input (`Session::handle`) or a
//! timeout (`Session::handle_timeout`), then drain `poll_action` and do what
//! each action says, then arm one `setTimeout` for `poll_timeout`.
//!
//! - `Connect` opens a WebSocket; its open, message, error and close events
//!   come back as inputs. Close and error are reported once.
//! - `Probe` and `AskModerator` are `fetch`es with a deadline; a failure or
//!   timeout is reported as `None`.
//! - `Persist` and `Event`s are not this module's business: a drain returns
//!   them ([`Drained`]) and the caller stores the snapshot where it keeps
//!   it and renders what it renders.
//!
//! Inputs that arise while an action is being carried out (a WebSocket that
//! cannot even be created, a send on a socket that is gone) are queued and
//! fed before the drain ends, so the session never sees an input nested
//! inside `poll_action`.
//!
//! The browser's own news is forwarded as inputs, and the session decides
//! what it means: `online` and `offline` as `Input::Network`, the page
//! shown again (`visibilitychange` to visible, `pageshow` from the
//! back/forward cache, `resume` after the page was frozen) as
//! `Input::Resumed`. Timers are `setTimeout`s armed from the session's
//! monotonic clock (`clock::session`), so a wall clock that is set back
//! never holds one up.

use crate::clock;
use crate::config::WidgetConfig;
use crate::js;
use crate::net;
use gloo_events::EventListener;
use std::collections::VecDeque;
use std::rc::Rc;
use twinline_core::model::Role;
use twinline_core::protocol::{ActiveDeployment, DeploymentRole, Health, MAX_FRAME_BYTES};
use twinline_core::session::{
    Action, ConnId, Endpoint, Input, Session, SessionConfig, SessionEvent, Timing,
};
use twinline_core::sorted::SortedMap;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{MessageEvent, WebSocket};

/// Deadline for health probes, ms.
const PROBE_TIMEOUT_MS: u32 = 3_000;
/// Deadline for the moderator, ms.
const MODERATOR_TIMEOUT_MS: u32 = 3_000;

/// Something that wakes the host.
pub enum Wake {
    /// An input for the session.
    Input(Input),
    /// The timer armed from `poll_timeout` fired.
    Timer,
}

/// What one drain of the session produced for the caller.
#[derive(Default)]
pub struct Drained {
    /// The snapshot changed: store it.
    pub persist: bool,
    /// Events, in the order the session raised them.
    pub events: Vec<SessionEvent>,
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

/// A core session with its sockets and its timer.
pub struct Host {
    session: Session,
    wake: Rc<dyn Fn(Wake)>,
    sockets: SortedMap<u64, Socket>,
    queued: VecDeque<Input>,
    timer: clock::Alarm,
    /// The page's and the network's events, for as long as the host runs.
    _listeners: Vec<EventListener>,
    stopped: bool,
}

impl Host {
    /// Wraps a session. `wake` is called (from browser callbacks, never
    /// from inside a host method) with every input and timer; it must hand
    /// them back to [`Host::wake`]. Nothing happens until [`Host::pump`].
    pub fn new(session: Session, wake: Rc<dyn Fn(Wake)>) -> Host {
        Host {
            session,
            _listeners: browser_news(&wake),
            wake,
            sockets: SortedMap::new(),
            queued: VecDeque::new(),
            timer: clock::Alarm::default(),
            stopped: false,
        }
    }

    /// The session, for queries.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, for user actions; call [`Host::pump`] afterwards.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Feeds what woke the host and carries out what follows.
    pub fn wake(&mut self, wake: Wake) -> Drained {
        if self.stopped {
            return Drained::default();
        }
        let now = clock::session();
        match wake {
            Wake::Timer => {
                self.timer.clear();
                self.session.handle_timeout(now);
            }
            Wake::Input(input) => {
                if !self.accepts(&input) {
                    return Drained::default();
                }
                if let Input::Closed { conn } = &input {
                    if let Some(socket) = self.sockets.remove(&conn.0) {
                        socket.close();
                    }
                }
                self.session.handle(now, input);
            }
        }
        self.pump()
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

    /// Drains the session's actions, carries them out and arms the timer.
    pub fn pump(&mut self) -> Drained {
        let mut drained = Drained::default();
        if self.stopped {
            return drained;
        }
        loop {
            while let Some(input) = self.queued.pop_front() {
                self.session.handle(clock::session(), input);
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
                Action::Persist => drained.persist = true,
                Action::Event(event) => drained.events.push(event),
            }
        }
        self.arm_timer();
        drained
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
            let frame = js::read_frame(&text);
            match frame {
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
        // host lets only the first through.
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
        let wake = self.wake.clone();
        self.timer
            .set(self.session.poll_timeout(), move || wake(Wake::Timer));
    }

    /// Shuts the session down and carries out its last actions (closing
    /// every socket), cancels the timer; the host does nothing more. What
    /// that drain raised is returned like any other (a persist the caller
    /// still owes); the saved snapshot stays for whoever resumes.
    pub fn stop(&mut self) -> Drained {
        if self.stopped {
            return Drained::default();
        }
        self.session.shutdown();
        let drained = self.pump();
        self.stopped = true;
        self.timer.clear();
        self._listeners.clear();
        // Sockets the session no longer named (none, unless it lost track).
        for (_, socket) in std::mem::take(&mut self.sockets) {
            socket.close();
        }
        drained
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Listens for what the browser knows about the network and the page, and
/// hands it to `wake` as the session's inputs (see the module docs).
fn browser_news(wake: &Rc<dyn Fn(Wake)>) -> Vec<EventListener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let document = window.document();
    // (target, event, what it means; `None`: the page shown again, if it is)
    let news: [(&web_sys::EventTarget, &'static str, Option<bool>); 5] = [
        (&window, "online", Some(true)),
        (&window, "offline", Some(false)),
        (&window, "pageshow", None),
        (
            document.as_ref().map_or(&window, |d| d),
            "visibilitychange",
            None,
        ),
        (document.as_ref().map_or(&window, |d| d), "resume", None),
    ];
    news.into_iter()
        .map(|(target, event, online)| {
            let wake = wake.clone();
            EventListener::new(target, event, move |_| tell(&wake, online))
        })
        .collect()
}

/// One piece of the browser's news, as the session's input (a hidden page
/// has nothing to say).
#[inline(never)]
fn tell(wake: &Rc<dyn Fn(Wake)>, online: Option<bool>) {
    let input = match online {
        Some(online) => Input::Network { online },
        None => {
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.hidden());
            if hidden {
                return;
            }
            Input::Resumed
        }
    };
    wake(Wake::Input(input));
}

/// The session's configuration for a page's deployments, as `role`.
pub fn session_config(config: &WidgetConfig, role: Role) -> SessionConfig {
    SessionConfig {
        role,
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
