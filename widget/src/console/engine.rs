//! One operator's session in the console: the core session run by the
//! shared browser loop ([`Host`]), its snapshot in localStorage, and what
//! the page shows that the session's queries do not give (the last error,
//! whether the token was refused). The session runs on `clock::session`;
//! the ids of messages written here come from the wall clock.
//!
//! The snapshot is kept per operator (`twinline:console:session:<username>`)
//! and written on every `Persist`, so a reload, or a crash of the tab,
//! resumes every open chat with its unsent messages, which are replayed to
//! whichever deployment answers.

use super::state::{self, ConsoleState, ErrorView};
use super::upload::Uploads;
use crate::clock;
use crate::config::WidgetConfig;
use crate::host::{self, Drained, Host, Wake};
use crate::js;
use crate::storage::Store;
use std::rc::Rc;
use twinline_core::model::{Author, Role};
use twinline_core::protocol::{DeploymentRole, ErrorCode, LoginResponse, Unreadable};
use twinline_core::session::{Identity, LinkState, Session, SessionEvent, Snapshot};
use twinline_core::{ChatId, MessageId, Transcript};

/// A running operator session.
pub struct Engine {
    host: Host,
    store: Store,
    key: String,
    online: bool,
    needs_login: bool,
    error: Option<ErrorView>,
    /// The chat the page shows, and whether the page is visible.
    screen: (Option<ChatId>, bool),
    /// The files this operator is uploading (`Console.sendFile` drives
    /// them).
    pub uploads: Uploads,
}

/// The storage key of an operator's snapshot.
pub fn snapshot_key(store: &Store, username: &str) -> String {
    format!("{}session:{username}", store.keys.prefix())
}

/// `snapshot` without the messages no reader can show (see
/// `twinline_core::protocol::Unreadable`): the decoder leaves them out of
/// every frame, but a console older than that check may have saved some,
/// and `state()` failed on them.
fn without_unreadable(mut snapshot: Snapshot) -> Snapshot {
    for (_, chat) in &mut snapshot.chats {
        if chat
            .transcript
            .iter()
            .all(|m| Unreadable::message(m).is_none())
        {
            continue;
        }
        let mut kept = Transcript::new();
        for message in chat.transcript.iter() {
            match Unreadable::message(message) {
                Some(record) => js::warn_skipped(&record),
                None => {
                    kept.insert(message.clone());
                }
            }
        }
        chat.transcript = kept;
    }
    snapshot
}

impl Engine {
    /// Starts `login`'s session: resumed from its saved snapshot when there
    /// is one, else new. Connecting starts at once.
    pub fn start(
        config: &WidgetConfig,
        store: Store,
        login: &LoginResponse,
        wake: Rc<dyn Fn(Wake)>,
    ) -> Engine {
        let session_config = host::session_config(config, Role::Operator);
        let now = clock::session();
        let seed = js::random_u64();
        let key = snapshot_key(&store, &login.username);
        let saved = store
            .get(&key)
            .and_then(|text| match js::from_json::<Snapshot>(&text) {
                Ok(snapshot) => Some(snapshot),
                Err(error) => {
                    js::warn(&format!(
                        "ignored an unreadable saved console session: {error}"
                    ));
                    None
                }
            })
            .filter(|snapshot| snapshot.identity.author.id == login.username)
            .map(without_unreadable);
        let online = saved.as_ref().and_then(|s| s.online).unwrap_or(true);
        let mut session = match saved {
            Some(snapshot) => Session::restore(session_config, snapshot, now, seed),
            None => Session::new(
                session_config,
                Identity {
                    token: login.token.clone(),
                    author: Author {
                        role: Role::Operator,
                        id: login.username.clone(),
                        name: login.name.clone(),
                    },
                    chat: None,
                },
                now,
                seed,
            ),
        };
        if session.identity().token != login.token {
            session.set_token(now, login.token.clone());
        }
        let mut engine = Engine {
            host: Host::new(session, wake),
            store,
            key,
            online,
            screen: (None, false),
            needs_login: false,
            error: None,
            uploads: Uploads::default(),
        };
        engine.persist();
        let drained = engine.host.pump();
        engine.settle(drained);
        engine
    }

    /// Feeds what woke the engine; true if the page should render again.
    pub fn wake(&mut self, wake: Wake) -> bool {
        let drained = self.host.wake(wake);
        let changed = self.settle(drained);
        // A message that arrived in the chat on screen is seen.
        self.mark_seen() || changed
    }

    /// What the page shows: `chat` open (or none), on a visible page or
    /// not. True if that gave a read receipt (render again).
    pub fn on_screen(&mut self, chat: Option<ChatId>, visible: bool) -> bool {
        self.screen = (chat, visible);
        self.mark_seen()
    }

    /// A read receipt for the chat on screen, if it says something new.
    fn mark_seen(&mut self) -> bool {
        let (chat, visible) = self.screen;
        let Some(chat) = state::to_mark_seen(self.host.session(), chat, visible) else {
            return false;
        };
        self.act(|s| s.mark_seen(clock::session(), chat))
    }

    /// Notes the drain's events and stores the snapshot if it changed.
    fn settle(&mut self, drained: Drained) -> bool {
        let changed = drained.persist || !drained.events.is_empty();
        for event in drained.events {
            self.note(event);
        }
        if drained.persist {
            self.persist();
        }
        changed
    }

    fn note(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Connection(status) if status.state == LinkState::Connected => {
                self.needs_login = false;
            }
            SessionEvent::Error { code, message } => {
                if code == ErrorCode::BadToken {
                    self.needs_login = true;
                }
                js::warn(&format!("relay refused: {code:?}: {message}"));
                self.error = Some(ErrorView {
                    code: format!("{code:?}"),
                    message,
                    at: js::now().0,
                });
            }
            _ => {}
        }
    }

    fn persist(&self) {
        match js::to_json(&self.host.session().snapshot()) {
            Ok(text) => {
                if !self.store.set(&self.key, &text) {
                    js::warn("localStorage refused the console's chats (quota?); kept in memory");
                }
            }
            Err(error) => js::warn(&format!("could not save the console's chats: {error}")),
        }
    }

    /// Runs a user action on the session, then the loop.
    fn act<R>(&mut self, action: impl FnOnce(&mut Session) -> R) -> R {
        let result = action(self.host.session_mut());
        let drained = self.host.pump();
        self.settle(drained);
        result
    }

    /// The operator's username.
    pub fn username(&self) -> &str {
        &self.host.session().identity().author.id
    }

    /// The session token it says hello with.
    pub fn token(&self) -> String {
        self.host.session().identity().token.clone()
    }

    /// The deployment the session is on (or was last on).
    pub fn deployment(&self) -> Option<DeploymentRole> {
        self.host.session().status().deployment
    }

    /// A fresh token after the relay refused the old one.
    pub fn set_token(&mut self, token: String) {
        self.needs_login = false;
        self.act(|s| s.set_token(clock::session(), token));
    }

    /// Online (takes chats) or away.
    pub fn set_availability(&mut self, online: bool) {
        self.online = online;
        self.act(|s| s.set_availability(clock::session(), online));
    }

    /// Takes a waiting chat.
    pub fn accept(&mut self, chat: ChatId) {
        self.act(|s| s.accept(clock::session(), chat));
    }

    /// Writes a message under a wall-clock id; returns the id.
    pub fn send(&mut self, chat: ChatId, text: &str) -> Result<MessageId, String> {
        let id = MessageId::new(js::now(), js::random_u128());
        self.act(|s| s.send_with_id(clock::session(), chat, id, text))
            .map_err(|e| e.to_string())
    }

    /// Sends the message carrying a completed upload.
    pub fn send_file(
        &mut self,
        chat: ChatId,
        id: MessageId,
        file: twinline_core::files::FileMeta,
    ) -> Result<MessageId, String> {
        self.act(|s| s.send_file_with_id(clock::session(), chat, id, "", file))
            .map_err(|e| e.to_string())
    }

    /// A keystroke (`on`) or the operator stopped (the session throttles,
    /// and says `off` after a quiet spell by itself).
    pub fn typing(&mut self, chat: ChatId, on: bool) {
        self.act(|s| s.typing(clock::session(), chat, on));
    }

    /// Hands a chat to another operator.
    pub fn transfer(&mut self, chat: ChatId, to: &str) {
        self.act(|s| s.transfer(clock::session(), chat, to));
    }

    /// Ends a chat.
    pub fn close(&mut self, chat: ChatId) {
        self.act(|s| s.close_chat(clock::session(), chat));
    }

    /// Drops a chat from the console; false while it has unsent messages.
    pub fn forget(&mut self, chat: ChatId) -> bool {
        self.act(|s| s.forget(clock::session(), chat))
    }

    /// Closes the sockets (log out); the snapshot stays.
    pub fn stop(&mut self) {
        self.host.stop();
    }

    /// What the page shows.
    pub fn state(&self) -> ConsoleState {
        let mut state = state::build(self.host.session(), js::now());
        state.online = self.online;
        state.needs_login = self.needs_login;
        state.error = self.error.clone();
        state.uploads = self.uploads.views();
        state
    }
}
