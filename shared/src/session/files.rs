//! Sending a file: the message that carries a file whose upload is
//! complete (docs/PROTOCOL.md "Files"). The upload itself is HTTP and the
//! client's; once a relay answered the completion with the file's record,
//! the message goes into the transcript as pending and is sent, acked and
//! replayed after a failover like any other, by id.

use super::io::SendError;
use super::machine::Session;
use crate::files::FileMeta;
use crate::id::{ChatId, MessageId};
use crate::model::check_text;
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
        if let Some(msg) = self.own_message(chat, id, text, Some(file))? {
            self.send_own(now, msg);
        }
        Ok(id)
    }
}
