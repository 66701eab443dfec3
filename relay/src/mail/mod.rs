//! The transcript by email (issue 21): a visitor's request, stored in its
//! chat's header ([`twinline_core::transcript_email`], `ws/transcript.rs`),
//! becomes one email with the whole transcript once the chat is closed,
//! sent over SMTP with lettre, once across a failover as far as a reader
//! can tell (one `Message-ID`).
//!
//! Nothing here decides who sends or when: a request is queued as a
//! [`Delivery`] of the webhook sender (subscription [`SUBSCRIPTION`],
//! event the request's id, owned by the deployment that stored the
//! request), so the one rule of `webhooks/schedule.rs` holds for both:
//! the owner sends when due under a claim's lease, the other deployment
//! takes over after the hand-over delay, `delivered` beats `failed` beats
//! `pending` in the replicated record, retries back off, and a permanent
//! SMTP refusal (5xx) ends it as `failed` at once. [`queued`] is the
//! queueing rule, [`message`] the email (a pure function of the stored
//! records, so both deployments build the same one, `Message-ID` made from
//! the request's id), [`send`] the SMTP attempt.
//!
//! A deployment without `[mail]` refuses the request frame, and never
//! claims a mail delivery (the other deployment, which took the request,
//! sends it).

pub mod message;
pub mod send;

use crate::store::records::{Change, ChatRecord, Record};
use crate::store::webhooks::{About, Delivery, EventType};
use twinline_core::ChatState;

/// The subscription id of every transcript email's delivery (webhook
/// subscriptions are `wh_…`, so the two never meet).
pub const SUBSCRIPTION: &str = "transcript_email";

/// The `[mail]` settings of a relay.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `smtp://host:port` (plain, or STARTTLS when the server offers it
    /// with `?tls=opportunistic`; `?tls=required` insists), or
    /// `smtps://host:port` (TLS from the start); user and password in the
    /// URL (`smtp://user:pass@host`), as lettre reads it.
    pub smtp_url: String,
    /// The sender (`From`): `Site <chat@example.com>` or an address.
    pub from: String,
    /// Where replies go (`Reply-To`), if not to the sender.
    pub reply_to: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("Settings")
            .field("smtp_url", &"…")
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .finish()
    }
}

impl Settings {
    /// Checks what the relay will need at every attempt: a URL lettre
    /// reads, a sender and a reply-to address lettre parses.
    pub fn check(&self) -> Result<(), String> {
        send::transport(&self.smtp_url).map_err(|error| format!("--smtp-url: {error}"))?;
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|error| format!("--mail-from {:?}: {error}", self.from))?;
        if let Some(reply_to) = &self.reply_to {
            reply_to
                .parse::<lettre::message::Mailbox>()
                .map_err(|error| format!("--mail-reply-to {reply_to:?}: {error}"))?;
        }
        Ok(())
    }
}

/// Why a visitor's address is refused.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Over the length limit, or not `local@domain`.
    #[error(transparent)]
    Shape(#[from] twinline_core::transcript_email::AddressError),
    /// Not an address lettre sends to.
    #[error("not an email address: {0}")]
    Parse(#[from] lettre::address::AddressError),
}

/// The address of a request: the core's bounds and shape, then lettre's
/// full parse (an address the transport could not send to is refused when
/// asked, not at the attempt).
pub fn check_address(address: &str) -> Result<lettre::Address, AddressError> {
    twinline_core::transcript_email::check_address(address)?;
    Ok(address.parse::<lettre::Address>()?)
}

/// The deliveries `changes` hold: one per transcript request of each
/// closed chat header in them, owned by the deployment that stored the
/// request. Both deployments queue the same copies (the zero stamp, the
/// request's own owner): they merge into one. A header changed again after
/// its close queues them again, which changes nothing stored.
pub fn queued(changes: &[Change]) -> Vec<(Delivery, String)> {
    changes
        .iter()
        .filter_map(|change| match &change.record {
            Record::Chat(header) if header.status.state == ChatState::Closed => Some(header),
            _ => None,
        })
        .flat_map(deliveries_of)
        .collect()
}

fn deliveries_of(header: &ChatRecord) -> Vec<(Delivery, String)> {
    header
        .transcripts
        .iter()
        .map(|request| {
            let delivery = Delivery {
                about: Some(About::Chat(header.id)),
                ..Delivery::queued(
                    SUBSCRIPTION,
                    &request.id.to_string(),
                    &header.site,
                    EventType::TranscriptEmail,
                    String::new(),
                    request.at,
                    &request.received_by,
                )
            };
            (delivery, request.received_by.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::webhooks::DeliveryState;
    use twinline_core::transcript_email::TranscriptRequest;
    use twinline_core::{ChatId, ChatStatus, Hlc, Millis, TranscriptId, Ulid};

    fn header(state: ChatState) -> ChatRecord {
        ChatRecord {
            site: "demo".into(),
            status: ChatStatus {
                state,
                operator: None,
                stamp: Hlc::zero(1),
            },
            transcripts: vec![TranscriptRequest {
                id: TranscriptId(Ulid(7)),
                to: "ada@example.com".into(),
                received_by: "primary".into(),
                at: Millis(5),
            }],
            ..ChatRecord::empty(ChatId(Ulid(1)), Millis(1))
        }
    }

    fn change(origin: &str, header: ChatRecord) -> Change {
        Change {
            seq: 1,
            origin: origin.into(),
            at: Millis(0),
            record: Record::Chat(header),
        }
    }

    #[test]
    fn a_closed_chat_queues_its_requests_owned_by_who_stored_them() {
        let open = change("primary", header(ChatState::Active));
        assert!(queued(&[open]).is_empty(), "nothing before the close");
        // Closed on the other deployment: the request's deployment owns it.
        let closed = change("redundant", header(ChatState::Closed));
        let out = queued(&[closed]);
        assert_eq!(out.len(), 1);
        let (delivery, origin) = &out[0];
        assert_eq!(origin, "primary");
        assert_eq!(delivery.owner, "primary");
        assert_eq!(delivery.subscription, SUBSCRIPTION);
        assert_eq!(delivery.event, TranscriptId(Ulid(7)).to_string());
        assert_eq!(delivery.state, DeliveryState::Pending);
        assert_eq!(delivery.about, Some(About::Chat(ChatId(Ulid(1)))));
        assert_eq!(delivery.stamp, Hlc::default());
    }

    #[test]
    fn addresses_are_parsed_in_full() {
        assert!(check_address("ada@example.com").is_ok());
        assert!(check_address("ada@exa mple.com").is_err());
        assert!(check_address("<ada@example.com>").is_err());
        assert!(check_address(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
