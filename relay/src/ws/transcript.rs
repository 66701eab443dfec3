//! A visitor's `email_transcript`: the request stored in its chat's header
//! (a set by id, `twinline_core::transcript_email`) and answered with
//! `transcript_ack`; the email itself is [`crate::mail`]'s, sent once the
//! chat is closed, by this deployment (or the other, should this one be
//! gone), through the webhook sender's schedule.
//!
//! Refused, with the code docs/PROTOCOL.md names: where this deployment
//! has no `[mail]` (`forbidden`), an address out of shape (`bad_text`), a
//! chat that already holds [`MAX_PER_CHAT`] requests (`rate_limited`). A
//! request whose id is stored already is a replay, answered with the ack.

use super::context::Context;
use super::identity::VisitorAuth;
use crate::catchup::write_chat;
use twinline_core::TranscriptId;
use twinline_core::protocol::{ErrorCode, ServerFrame};
use twinline_core::transcript_email::{MAX_PER_CHAT, TranscriptRequest, merge_requests};

/// Stores the visitor's request for its own chat's transcript.
pub(super) async fn email_transcript(
    client: &Context<'_>,
    auth: &VisitorAuth,
    id: TranscriptId,
    to: String,
) {
    let chat = auth.chat;
    let state = &client.state;
    if state.config.mail.is_none() {
        client
            .reply_error(
                ErrorCode::Forbidden,
                "this deployment sends no email (no [mail] configured)",
                None,
            )
            .await;
        return;
    }
    if let Err(error) = crate::mail::check_address(&to) {
        client
            .reply_error(ErrorCode::BadText, format!("to: {error}"), None)
            .await;
        return;
    }
    let Some(mut record) = client.header_to_change(chat, "email_transcript").await else {
        return;
    };
    let ack = ServerFrame::TranscriptAck { chat, id };
    if record.transcripts.iter().any(|t| t.id == id) {
        client.reply(&ack).await;
        return;
    }
    if record.transcripts.len() >= MAX_PER_CHAT {
        client
            .reply_error(
                ErrorCode::RateLimited,
                format!("a chat's transcript is sent at most {MAX_PER_CHAT} times"),
                None,
            )
            .await;
        return;
    }
    let request = TranscriptRequest {
        id,
        to,
        received_by: state.config.name.clone(),
        at: crate::clock::now(),
    };
    merge_requests(&mut record.transcripts, &[request]);
    match write_chat(state, record).await {
        Ok(merged) if merged.transcripts.iter().any(|t| t.id == id) => {
            tracing::info!(%chat, %id, "transcript by email requested");
            client.reply(&ack).await;
        }
        Ok(_) => {
            client
                .reply_error(
                    ErrorCode::Unavailable,
                    "the request was not stored; send it again",
                    None,
                )
                .await;
        }
        Err(error) => {
            tracing::error!(%error, "storing a transcript request failed");
            client
                .reply_store_error(&error, "the request could not be stored; send it again")
                .await;
        }
    }
}
