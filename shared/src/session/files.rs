//! Sending a file: the message that carries a file whose upload is
//! complete (docs/PROTOCOL.md "Files"). The upload itself is HTTP and the
//! client's; once a relay answered the completion with the file's record,
//! the message goes into the transcript as pending and is sent, acked and
//! replayed after a failover like any other, by id.

use super::io::{SendError, SessionEvent};
use super::machine::Session;
use crate::files::FileMeta;
use crate::id::{ChatId, MessageId};
use crate::model::{Message, check_text};
use crate::protocol::ClientFrame;
use crate::time::Millis;

impl Session {
    /// Writes a message carrying `file` (its record as a relay completed
    /// it) under an id chosen by the caller; `text` may be empty. Sending
    /// the same id and file again is a no-op that returns the id.
    pub fn send_file_with_id(
        &mut self,
        now: Millis,
        chat: ChatId,
        id: MessageId,
        text: &str,
        file: FileMeta,
    ) -> Result<MessageId, SendError> {
        if self.shut {
            return Err(SendError::ShutDown);
        }
        if !text.is_empty() {
            check_text(text)?;
        }
        if file.chat != chat || file.check().is_err() {
            return Err(SendError::File);
        }
        let local = self.chats.get(chat).ok_or(SendError::UnknownChat)?;
        if let Some(existing) = local.transcript.get(id) {
            return if existing.text == text && existing.file.as_ref() == Some(&file) {
                Ok(id)
            } else {
                Err(SendError::IdTaken)
            };
        }
        let msg = Message {
            lamport: local.transcript.next_lamport(),
            author: self.identity.author.clone(),
            id,
            chat,
            text: text.to_string(),
            at: id.0.millis(),
            file: Some(file),
        };
        self.chats.insert_own(msg.clone());
        self.send_now(now, ClientFrame::Send { msg });
        self.mark_dirty();
        self.event(SessionEvent::Message { chat, id });
        self.step(now);
        Ok(id)
    }
}
