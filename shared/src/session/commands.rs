//! What a user does (send, type, accept, …) and what a user interface
//! reads back.
//!
//! Every action is recorded before anything is sent: a message goes into
//! the local transcript as pending, a status request into the outbox. If a
//! relay is ready the frame goes out now; otherwise the next welcome sends
//! it. Either way the caller gets its id at once.

use super::chats::LocalChat;
use super::io::{Action, Delivery, SendError, SessionEvent};
use super::machine::Session;
use super::outbox::{Intent, VisitorUpdate};
use crate::files::FileMeta;
use crate::id::{ChatId, MessageId, OfflineId};
use crate::model::{ChatStatus, Message, OfflineNote, VisitorInfo, check_field, check_text};
use crate::protocol::{ClientFrame, QueueEntry};
use crate::time::Millis;
use crate::transcript::Transcript;

impl Session {
    /// Writes a message with a new id.
    pub fn send(&mut self, now: Millis, chat: ChatId, text: &str) -> Result<MessageId, SendError> {
        let id = MessageId::new(now, self.random.next_u128());
        self.send_with_id(now, chat, id, text)
    }

    /// Writes a message under an id chosen elsewhere (another tab of the
    /// same visitor picked it, or a caller whose `now` is not the wall
    /// clock made it from the wall clock). The message's `at` is the id's
    /// time: when it was written, wherever that was. Sending the same id
    /// and text again is a no-op that returns the id.
    pub fn send_with_id(
        &mut self,
        now: Millis,
        chat: ChatId,
        id: MessageId,
        text: &str,
    ) -> Result<MessageId, SendError> {
        if self.shut {
            return Err(SendError::ShutDown);
        }
        check_text(text)?;
        let Some(msg) = self.own_message(chat, id, text, None)? else {
            return Ok(id);
        };
        self.typing.message_sent(chat);
        self.send_own(now, msg);
        Ok(id)
    }

    /// This user's new message `id` in `chat`, numbered after the local
    /// transcript, or `None` when the transcript already holds it as sent
    /// (a repeat, a no-op); a different message under that id is refused.
    /// Shared by text (`file: None`) and file messages (`files.rs`).
    pub(super) fn own_message(
        &self,
        chat: ChatId,
        id: MessageId,
        text: &str,
        file: Option<FileMeta>,
    ) -> Result<Option<Message>, SendError> {
        let local = self.chats.get(chat).ok_or(SendError::UnknownChat)?;
        if let Some(existing) = local.transcript.get(id) {
            return if existing.text == text && (file.is_none() || existing.file == file) {
                Ok(None)
            } else {
                Err(SendError::IdTaken)
            };
        }
        Ok(Some(Message {
            lamport: local.transcript.next_lamport(),
            author: self.identity.author.clone(),
            id,
            chat,
            text: text.to_string(),
            at: id.0.millis(),
            file,
        }))
    }

    /// Keeps `msg` as this user's own and sends it: into the transcript as
    /// pending, out through the outbox (acked and replayed by id).
    pub(super) fn send_own(&mut self, now: Millis, msg: Message) {
        let (chat, id) = (msg.chat, msg.id);
        self.chats.insert_own(msg.clone());
        self.send_now(now, ClientFrame::Send { msg });
        self.mark_dirty();
        self.event(SessionEvent::Message { chat, id });
        self.step(now);
    }

    /// A keystroke in `chat` (`on`), or the user stopped (`!on`: the field
    /// lost focus). Throttled, ended by quiet and never queued: see
    /// `typing.rs`.
    pub fn typing(&mut self, now: Millis, chat: ChatId, on: bool) {
        if self.shut {
            return;
        }
        let ready = self.link.as_ref().is_some_and(|link| link.is_ready());
        if let Some(on) = self.typing.user(now, chat, on, ready, &self.config.timing) {
            self.send_now(now, ClientFrame::Typing { chat, on });
        }
        self.step(now);
    }

    /// Visitor: name, email and page for the operator.
    pub fn set_visitor(&mut self, now: Millis, chat: ChatId, name: &str, email: &str, page: &str) {
        if self.shut {
            return;
        }
        let field = |s: &str| {
            if check_field(s).is_ok() {
                s.to_string()
            } else {
                s.chars().take(crate::model::MAX_FIELD_CHARS).collect()
            }
        };
        let update = VisitorUpdate {
            chat,
            name: field(name),
            email: field(email),
            page: field(page),
        };
        if !update.name.is_empty() {
            self.identity.author.name = update.name.clone();
        }
        self.send_now(
            now,
            ClientFrame::SetVisitor {
                chat,
                name: update.name.clone(),
                email: update.email.clone(),
                page: update.page.clone(),
            },
        );
        self.outbox.visitor = Some(update);
        self.mark_dirty();
        self.step(now);
    }

    /// Visitor: a note for when nobody is online, under a new id. Kept
    /// until acked.
    pub fn leave_offline_note(
        &mut self,
        now: Millis,
        name: &str,
        email: &str,
        text: &str,
    ) -> Result<OfflineId, SendError> {
        let id = OfflineId::new(now, self.random.next_u128());
        self.leave_offline_note_with_id(now, id, name, email, text)
    }

    /// [`Session::leave_offline_note`] under an id the caller made (from the
    /// wall clock, when its `now` is not); the note's `at` is the id's time.
    pub fn leave_offline_note_with_id(
        &mut self,
        now: Millis,
        id: OfflineId,
        name: &str,
        email: &str,
        text: &str,
    ) -> Result<OfflineId, SendError> {
        if self.shut {
            return Err(SendError::ShutDown);
        }
        check_text(text)?;
        check_field(name)?;
        check_field(email)?;
        let note = OfflineNote {
            id,
            site: self.config.site.clone(),
            name: name.to_string(),
            email: email.to_string(),
            text: text.to_string(),
            at: id.0.millis(),
        };
        self.send_now(now, ClientFrame::Offline { note: note.clone() });
        self.outbox.notes.push(note);
        self.mark_dirty();
        self.step(now);
        Ok(id)
    }

    /// Operator: online (takes chats) or away. Re-sent after every welcome.
    pub fn set_availability(&mut self, now: Millis, online: bool) {
        if self.shut {
            return;
        }
        self.outbox.online = Some(online);
        self.send_now(now, ClientFrame::SetAvailability { online });
        self.mark_dirty();
        self.step(now);
    }

    /// Operator: take a waiting chat.
    pub fn accept(&mut self, now: Millis, chat: ChatId) {
        self.intend(now, Intent::Accept { chat });
    }

    /// End a chat.
    pub fn close_chat(&mut self, now: Millis, chat: ChatId) {
        self.intend(now, Intent::Close { chat });
    }

    /// Operator: hand a chat to another operator.
    pub fn transfer(&mut self, now: Millis, chat: ChatId, to: &str) {
        self.intend(
            now,
            Intent::Transfer {
                chat,
                to: to.to_string(),
            },
        );
    }

    fn intend(&mut self, now: Millis, intent: Intent) {
        if self.shut {
            return;
        }
        self.send_now(now, intent.frame());
        self.outbox.push_intent(intent);
        self.mark_dirty();
        self.step(now);
    }

    /// A new token (renewed visitor token, fresh operator login). A session
    /// whose token was refused waits for this.
    pub fn set_token(&mut self, now: Millis, token: String) {
        if self.shut {
            return;
        }
        self.identity.token = token;
        self.token_refused = false;
        self.mark_dirty();
        self.step(now);
    }

    /// Drops a chat from this client (an operator done with a closed chat).
    /// Refused, returning false, while it holds unacknowledged messages.
    pub fn forget(&mut self, now: Millis, chat: ChatId) -> bool {
        if self.shut || Some(chat) == self.identity.chat || !self.chats.forget(chat) {
            return false;
        }
        self.outbox.intents.retain(|i| i.chat() != chat);
        self.mark_dirty();
        self.step(now);
        true
    }

    /// Closes every socket and leaves the session inert: a `Disconnect`
    /// per open socket is queued (drain them with `poll_action` as after any
    /// call), and after those nothing more comes out. Inputs and timeouts
    /// are ignored, `poll_timeout` is `None`, commands do nothing (`send`
    /// and notes are refused with [`SendError::ShutDown`]). The snapshot
    /// stays as it was, for whoever resumes. Used when another tab takes
    /// over the chat, at log-out, or when the page goes away.
    pub fn shutdown(&mut self) {
        if self.shut {
            return;
        }
        self.shut = true;
        for link in [self.link.take(), self.next_link.take()]
            .into_iter()
            .flatten()
        {
            self.push(Action::Disconnect { conn: link.conn });
        }
    }

    /// True once [`Session::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shut
    }

    /// Who else is typing in `chat`, if anyone (see `typing.rs`: until
    /// their `off`, their message, or `Timing::typing_stale`).
    pub fn typing_in(&self, chat: ChatId) -> Option<&crate::model::Author> {
        self.typing.typing_in(chat)
    }

    /// Every chat held.
    pub fn chats(&self) -> impl Iterator<Item = ChatId> + '_ {
        self.chats.chats.keys().copied()
    }

    /// One chat as held here.
    pub fn chat(&self, chat: ChatId) -> Option<&LocalChat> {
        self.chats.get(chat)
    }

    /// A chat's messages in display order.
    pub fn transcript(&self, chat: ChatId) -> Option<&Transcript> {
        self.chats.get(chat).map(|c| &c.transcript)
    }

    /// Where a message stands.
    pub fn delivery(&self, id: MessageId) -> Delivery {
        if self.chats.pending.contains_key(&id) {
            Delivery::Pending
        } else if self.chats.refused.contains(&id) {
            Delivery::Refused
        } else {
            Delivery::Acked
        }
    }

    /// Number of own messages not yet acknowledged.
    pub fn pending_count(&self) -> usize {
        self.chats.pending.len()
    }

    /// A chat's status register.
    pub fn chat_status(&self, chat: ChatId) -> Option<&ChatStatus> {
        self.chats.get(chat).map(|c| &c.status)
    }

    /// A chat's visitor details.
    pub fn visitor_info(&self, chat: ChatId) -> Option<&VisitorInfo> {
        self.chats.get(chat).map(|c| &c.visitor)
    }

    /// Operators: waiting and active chats.
    pub fn queue(&self) -> &[QueueEntry] {
        &self.queue
    }

    /// How many operators are online.
    pub fn operators_online(&self) -> u32 {
        self.operators_online
    }

    /// Usernames of online operators (operators only).
    pub fn operators(&self) -> &[String] {
        &self.operators
    }

    /// Operators: offline notes.
    pub fn inbox(&self) -> &[OfflineNote] {
        &self.inbox
    }

    /// Offline notes written here and not yet stored.
    pub fn pending_notes(&self) -> &[OfflineNote] {
        &self.outbox.notes
    }

    /// Who this session speaks as.
    pub fn identity(&self) -> &super::config::Identity {
        &self.identity
    }
}
