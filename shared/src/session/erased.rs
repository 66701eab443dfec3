//! The replay rule's client half: a chat the relay says was erased
//! (`erased {chat}`, docs/PROTOCOL.md) leaves this session's state, and so
//! its storage, with everything still to be sent in it, so no reconnect
//! or failover can replay it. The relay refuses it anyway (its tombstone
//! wins); dropping it here is what keeps the browser from holding a copy
//! the visitor asked to have deleted.
//!
//! The visitor's own chat (the one its token names) is done with: the
//! session stops connecting with that token, as for a refused one, and the
//! widget forgets the token so the next page gets a new chat.

use super::io::SessionEvent;
use super::machine::Session;
use crate::id::ChatId;

impl Session {
    pub(super) fn on_erased(&mut self, chat: ChatId) {
        self.chats.erase(chat);
        let outbox = &mut self.outbox;
        outbox.intents.retain(|intent| intent.chat() != chat);
        outbox.ratings.retain(|rating| rating.chat != chat);
        outbox.emails.retain(|request| request.chat != chat);
        self.receipts.forget(chat);
        if outbox.visitor.as_ref().is_some_and(|v| v.chat == chat) {
            outbox.visitor = None;
        }
        if self.identity.chat == Some(chat) {
            self.token_refused = true;
        }
        self.mark_dirty();
        self.event(SessionEvent::Erased { chat });
    }
}
