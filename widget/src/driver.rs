//! Runs the visitor's core session in the browser.
//!
//! The I/O loop (sockets, probes, the moderator, the timer) is `host`'s,
//! shared with the operator console. What is the visitor's own is here:
//!
//! - `Persist` stores the snapshot in localStorage (once per drain), with
//!   the chat it is for.
//! - `Event`s are not handled one by one: after each drain the app rebuilds
//!   the [`View`] from the session's queries; the engine only notes what
//!   those queries do not give (which notes are stored, whether a relay
//!   has welcomed us yet).
//!
//! The session runs on `clock::session` (monotonic); the ids of what the
//! visitor writes are made from the wall clock, by the tab that writes a
//! message (`app`) and here for offline notes.

pub use crate::host::Wake;

use crate::clock;
use crate::config::WidgetConfig;
use crate::host::{self, Drained, Host};
use crate::js;
use crate::storage::Store;
use crate::view::{
    ChatPhase, Link, Status, View, ViewEmail, ViewMessage, ViewNote, ViewRating, seen_under,
};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use twinline_core::model::{Author, ChatState, Role};
use twinline_core::protocol::{
    Fields, FromJson, JsonError, JsonView, UnitVariants, VisitorTokenResponse,
};
use twinline_core::session::{Delivery, Identity, LinkState, Session, SessionEvent, Snapshot};
use twinline_core::{ChatId, MessageId, OfflineId, Score};

/// What is kept in localStorage: the snapshot and the chat it is for.
#[derive(Serialize, Deserialize)]
struct Saved {
    chat: ChatId,
    snapshot: Snapshot,
}

impl FromJson for Saved {
    fn from_json<V: JsonView>(value: &V) -> Result<Saved, JsonError> {
        let f = Fields::of(value)?;
        Ok(Saved {
            chat: f.get("chat")?,
            snapshot: f.get("snapshot")?,
        })
    }
}

/// The visitor's core session with its I/O loop.
pub struct Engine {
    host: Host,
    chat: ChatId,
    store: Store,
    notes: Vec<(OfflineId, bool)>,
    welcomed: bool,
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
    ) -> Engine {
        let session_config = host::session_config(config, Role::Visitor);
        let now = clock::session();
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
            host: Host::new(session, wake),
            chat: token.chat,
            store,
            notes: Vec::new(),
            welcomed: false,
        };
        engine.persist();
        engine.pump();
        engine
    }

    /// Feeds what woke the engine and carries out what follows.
    pub fn wake(&mut self, wake: Wake) {
        let drained = self.host.wake(wake);
        self.settle(drained);
    }

    /// Runs the loop after a user action.
    fn pump(&mut self) {
        let drained = self.host.pump();
        self.settle(drained);
    }

    /// Notes the drain's events and stores the snapshot if it changed.
    fn settle(&mut self, drained: Drained) {
        for event in drained.events {
            self.note(event);
        }
        if drained.persist {
            self.persist();
        }
    }

    fn persist(&self) {
        let saved = SavedRef {
            chat: self.chat,
            snapshot: &self.host.session().snapshot(),
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
            // The next page asks for a new chat (docs/PROTOCOL.md, `erased`).
            SessionEvent::Erased { chat } if chat == self.chat => crate::token::forget(&self.store),
            SessionEvent::Error { code, message } => {
                js::warn(&format!("relay refused: {}: {message}", code.wire_name()));
            }
            _ => {}
        }
    }

    /// Closes every socket and cancels the timer (another tab leads now, or
    /// the page goes away). The saved snapshot stays for whoever resumes.
    pub fn stop(&mut self) {
        let drained = self.host.stop();
        self.settle(drained);
    }

    /// Sends a message under the id the tab that wrote it chose (its time
    /// is when it was written: the message's `at`).
    pub fn send(&mut self, id: &str, text: &str) -> Result<(), String> {
        let id: MessageId = id.parse().map_err(|e| format!("{e}"))?;
        self.host
            .session_mut()
            .send_with_id(clock::session(), self.chat, id, text)
            .map_err(|e| e.to_string())?;
        self.pump();
        Ok(())
    }

    /// A keystroke in some tab's composer (the session throttles it and
    /// says when the visitor stopped).
    pub fn typing(&mut self) {
        self.host
            .session_mut()
            .typing(clock::session(), self.chat, true);
        self.pump();
    }

    /// Name and email for the operator.
    pub fn set_visitor(&mut self, name: &str, email: &str, page: &str) {
        self.host
            .session_mut()
            .set_visitor(clock::session(), self.chat, name, email, page);
        self.pump();
    }

    /// Leaves an offline note (its id, and so its time, from the wall
    /// clock).
    pub fn offline(&mut self, name: &str, email: &str, text: &str) -> Result<(), String> {
        let id = OfflineId::new(js::now(), js::random_u128());
        let id = self
            .host
            .session_mut()
            .leave_offline_note_with_id(clock::session(), id, name, email, text)
            .map_err(|e| e.to_string())?;
        self.notes.push((id, false));
        self.pump();
        Ok(())
    }

    /// Rates the chat (the session makes the rating's id).
    pub fn rate(&mut self, score: Score, comment: &str) -> Result<(), String> {
        self.host
            .session_mut()
            .rate(clock::session(), self.chat, score, comment)
            .map_err(|e| e.to_string())?;
        self.pump();
        Ok(())
    }

    /// Asks for the chat's transcript by email at `to` (the session makes
    /// the request's id and keeps it until a relay stores it).
    pub fn email_transcript(&mut self, to: &str) -> Result<(), String> {
        self.host
            .session_mut()
            .email_transcript(clock::session(), self.chat, to)
            .map_err(|e| e.to_string())?;
        self.pump();
        Ok(())
    }

    /// The chat is on screen (the panel open on a visible page, here or in
    /// a follower tab): a read receipt for what it holds, if that is new.
    pub fn seen(&mut self) {
        if self
            .host
            .session_mut()
            .mark_seen(clock::session(), self.chat)
        {
            self.pump();
        }
    }

    /// The chat as every tab shows it.
    pub fn view(&self) -> View {
        let session = self.host.session();
        let status = session.status();
        let messages: Vec<ViewMessage> = session
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
                        status: match (m.author.role, session.delivery(m.id)) {
                            (Role::Visitor, Delivery::Pending) => Status::Sending,
                            (Role::Visitor, Delivery::Acked) => Status::Sent,
                            (Role::Visitor, Delivery::Refused) => Status::Failed,
                            _ => Status::Received,
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let chat_status = session.chat_status(self.chat);
        let phase = match chat_status.map(|s| s.state) {
            Some(ChatState::Active) => ChatPhase::Active,
            Some(ChatState::Closed) => ChatPhase::Closed,
            _ => ChatPhase::Waiting,
        };
        let operator = chat_status
            .and_then(|s| s.operator.clone())
            .map(|username| display_name(&messages, &username));
        let visitor = session.visitor_info(self.chat);
        let typing = session.typing_in(self.chat).map(|who| who.name.clone());
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
            operators_online: self.welcomed.then(|| session.operators_online()),
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
            rating: session.rating(self.chat).map(|r| ViewRating {
                score: r.score,
                comment: r.comment.to_string(),
                stored: r.stored,
            }),
            seen: session.transcript(self.chat).and_then(|transcript| {
                seen_under(
                    transcript.iter(),
                    |m| m.author.role == Role::Visitor,
                    session.seen_by_other(self.chat),
                )
                .map(|id| id.to_string())
            }),
            mail: session.mail_offered(),
            email: session.email_requests(self.chat).last().map(|r| {
                Box::new(ViewEmail {
                    to: r.to.clone(),
                    stored: r.stored,
                })
            }),
        }
    }
}

/// Reads only the chat of a saved session (cheap check before resuming).
#[derive(Deserialize)]
struct SavedChat {
    chat: ChatId,
}

impl FromJson for SavedChat {
    fn from_json<V: JsonView>(value: &V) -> Result<SavedChat, JsonError> {
        Ok(SavedChat {
            chat: Fields::of(value)?.get("chat")?,
        })
    }
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
