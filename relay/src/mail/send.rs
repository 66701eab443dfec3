//! One SMTP attempt: the email of a claimed transcript delivery, read from
//! the store, built by [`super::message`] and handed to the server with
//! lettre. The outcome is the webhook schedule's [`Attempt`]: delivered
//! (the server took it: 2xx), failed for now (no connection, a timeout, a
//! 4xx: retried with backoff), or refused for good (a 5xx: recorded as
//! `failed`, never retried).

use crate::state::Shared;
use crate::store::reads;
use crate::store::webhooks::{About, Delivery};
use crate::webhooks::schedule::{ATTEMPT_TIMEOUT_MS, Attempt};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;
use twinline_core::ChatState;

/// The transport for `url` (`smtp://`, `smtps://`), with the attempt's
/// timeout.
pub fn transport(
    url: &str,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
        .timeout(Some(Duration::from_millis(ATTEMPT_TIMEOUT_MS)))
        .build())
}

/// Sends the email of `delivery` (claimed by this deployment).
pub async fn attempt(state: &Shared, delivery: &Delivery) -> Attempt {
    let Some(settings) = &state.config.mail else {
        return Attempt::Failed(None, "no [mail] configured on this deployment".into());
    };
    let Some(About::Chat(chat)) = delivery.about else {
        return Attempt::Refused(None, "a transcript delivery without its chat".into());
    };
    let read = state
        .store
        .read(move |c| Ok((reads::chat_in(c, chat)?, reads::messages(c, chat)?)))
        .await;
    let (header, messages) = match read {
        Ok((Some(header), messages)) => (header, messages),
        Ok((None, _)) => return Attempt::Refused(None, "the chat is not stored".into()),
        Err(error) => return Attempt::Failed(None, format!("reading the chat: {error}")),
    };
    let Some(request) = header
        .transcripts
        .iter()
        .find(|r| r.id.to_string() == delivery.event)
    else {
        return Attempt::Refused(None, "the request is not in the chat's header".into());
    };
    if header.status.state != ChatState::Closed {
        return Attempt::Failed(None, "the chat is not closed here yet".into());
    }
    let email = super::message::build(&header, &messages, request, &settings.from);
    let built = build(&email, settings);
    let message = match built {
        Ok(message) => message,
        Err(error) => return Attempt::Refused(None, error),
    };
    let transport = match transport(&settings.smtp_url) {
        Ok(transport) => transport,
        Err(error) => return Attempt::Failed(None, format!("the SMTP URL: {error}")),
    };
    match transport.send(message).await {
        Ok(response) => Attempt::Delivered(u16::from(response.code())),
        Err(error) => {
            let status = error.status().map(u16::from);
            let text = format!("SMTP: {error}");
            if error.is_permanent() {
                Attempt::Refused(status, text)
            } else {
                Attempt::Failed(status, text)
            }
        }
    }
}

/// The lettre message of `email` under `settings`' sender.
fn build(
    email: &super::message::Email,
    settings: &super::Settings,
) -> Result<lettre::Message, String> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|error| format!("the sender: {error}"))?;
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|error| format!("the address: {error}"))?;
    let mut builder = lettre::Message::builder()
        .message_id(Some(email.message_id.clone()))
        .date(std::time::UNIX_EPOCH + Duration::from_millis(email.date.0))
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    if let Some(reply_to) = &settings.reply_to {
        let reply_to: Mailbox = reply_to
            .parse()
            .map_err(|error| format!("the reply-to: {error}"))?;
        builder = builder.reply_to(reply_to);
    }
    builder
        .body(email.text.clone())
        .map_err(|error| format!("building the email: {error}"))
}
