//! The visitor's requests for the transcript by email, from the click to
//! a relay that stores them, across failovers.
//!
//! A request ([`EmailRequest`]) is sent now if a relay is ready and after
//! every welcome until a relay acks it (`transcript_ack`). It is kept once
//! acked too (a chat has at most a few): a relay whose welcome does not
//! list its id in the chat's sync (the deployment that acked it failed
//! before replicating it) is sent it again, so a request made while the
//! primary was dying still reaches the deployment that sends the email.
//! Sending one twice is harmless: a relay answers a stored id with the
//! ack and stores nothing.

use super::io::SendError;
use super::machine::Session;
use crate::id::{ChatId, TranscriptId};
use crate::model::Role;
use crate::protocol::{ChatSync, ClientFrame};
use crate::time::Millis;
use crate::transcript_email::{MAX_PER_CHAT, check_address};
use serde::{Deserialize, Serialize};

/// A request for a chat's transcript made here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRequest {
    /// The chat.
    pub chat: ChatId,
    /// Its id.
    pub id: TranscriptId,
    /// Where the transcript goes.
    pub to: String,
    /// A relay acked it.
    #[serde(default)]
    pub stored: bool,
}

impl EmailRequest {
    pub(crate) fn frame(&self) -> ClientFrame {
        ClientFrame::EmailTranscript {
            chat: self.chat,
            id: self.id,
            to: self.to.clone(),
        }
    }
}

impl Session {
    /// Visitor: asks for `chat`'s transcript at `to` (sent once the chat
    /// is closed). Kept until a relay acks it, and sent again to a relay
    /// that lacks it; its id.
    pub fn email_transcript(
        &mut self,
        now: Millis,
        chat: ChatId,
        to: &str,
    ) -> Result<TranscriptId, SendError> {
        if self.shut {
            return Err(SendError::ShutDown);
        }
        check_address(to).map_err(|_| SendError::Address)?;
        if self.chats.get(chat).is_none() {
            return Err(SendError::UnknownChat);
        }
        let made = self.outbox.emails.iter().filter(|r| r.chat == chat).count();
        if made >= MAX_PER_CHAT {
            return Err(SendError::TooMany);
        }
        let request = EmailRequest {
            chat,
            id: TranscriptId::new(now, self.random.next_u128()),
            to: to.to_string(),
            stored: false,
        };
        let id = request.id;
        self.send_now(now, request.frame());
        self.outbox.emails.push(request);
        self.mark_dirty();
        self.step(now);
        Ok(id)
    }

    /// Whether the relay that welcomed this session last sends the
    /// transcript by email (its welcome's `mail`): a visitor's user
    /// interface offers it only then. Kept while the link is down (the
    /// offer stays until another relay's welcome says otherwise); false
    /// before any welcome.
    pub fn mail_offered(&self) -> bool {
        self.mail
    }

    /// The requests made here for `chat`, oldest first.
    pub fn email_requests(&self, chat: ChatId) -> impl Iterator<Item = &EmailRequest> {
        self.outbox.emails.iter().filter(move |r| r.chat == chat)
    }

    /// A relay stored request `id` (no event yet: no user interface shows
    /// it; [`Session::email_requests`] says `stored`).
    pub(super) fn transcript_acked(&mut self, id: TranscriptId) {
        let unstored = self
            .outbox
            .emails
            .iter_mut()
            .find(|r| r.id == id && !r.stored);
        if let Some(request) = unstored {
            request.stored = true;
            self.mark_dirty();
        }
    }

    /// After a welcome: the requests a relay acked that this relay lacks,
    /// to send again (those not acked yet go with the outbox).
    pub(super) fn emails_lacking(&self, syncs: &[ChatSync]) -> Vec<ClientFrame> {
        if self.config.role != Role::Visitor {
            return Vec::new();
        }
        syncs
            .iter()
            .flat_map(|sync| {
                self.outbox
                    .emails
                    .iter()
                    .filter(move |r| {
                        r.chat == sync.chat && r.stored && !sync.transcripts.contains(&r.id)
                    })
                    .map(EmailRequest::frame)
            })
            .collect()
    }
}
