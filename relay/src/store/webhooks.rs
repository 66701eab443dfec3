//! Webhook subscriptions and deliveries as replicated records: what the
//! store keeps and how two copies of one merge (the sender's decisions are
//! [`crate::webhooks`]'s).
//!
//! A **subscription** (a site's URL, the events it wants, its signing
//! secret) is a last-writer-wins register by its hybrid-logical-clock stamp
//! whose removal is a tombstone that wins whatever the stamps say, like an
//! API key's revocation: a subscription deleted on one deployment never
//! comes back because the other's clock ran ahead. The secret is stored in
//! clear: the relay needs it to sign every delivery (an HMAC key cannot be
//! kept as a hash). A copy under a taken id with another site is refused.
//!
//! A **delivery** is one event for one subscription (`<subscription>/<event
//! id>`): its exact body, where it stands (`pending`, `delivered`,
//! `failed`), which deployment owns it, the lease and the next attempt. Its
//! merge is a register ordered by (state, stamp): `delivered` beats
//! `failed` beats `pending` whatever the stamps, so a delivery made on one
//! deployment stops the other as soon as it replicates, and between two
//! pending copies the later claim wins. That order is total, so the merge
//! is commutative, associative and idempotent: both deployments settle on
//! the same copy whatever order copies meet in.

use super::backend::{Cell, ColumnType, Table};
use super::kinds::{ChatClock, Kind, Outcome};
use super::records::{Record, Refusal};
use serde::{Deserialize, Serialize};
use twinline_core::model::{RecordError, check_field, check_number};
use twinline_core::{ChatId, Hlc, Millis, OfflineId};

/// What a subscription may ask for. `webhook.test` is never subscribed to:
/// the test button sends it to one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A chat's header first seen (a visitor opened a chat).
    #[serde(rename = "chat.started")]
    ChatStarted,
    /// A message written in a chat (by the visitor, an operator or the API).
    #[serde(rename = "message.created")]
    MessageCreated,
    /// A chat assigned to an operator (an accept or a transfer).
    #[serde(rename = "chat.assigned")]
    ChatAssigned,
    /// A chat closed.
    #[serde(rename = "chat.closed")]
    ChatClosed,
    /// An offline note left while no operator was online.
    #[serde(rename = "note.created")]
    NoteCreated,
    /// A chat rated by its visitor.
    #[serde(rename = "chat.rated")]
    ChatRated,
    /// The test button's event.
    #[serde(rename = "webhook.test")]
    Test,
    /// A transcript sent by email (`crate::mail`): never subscribed to,
    /// the kind of the deliveries of subscription `transcript_email`.
    #[serde(rename = "transcript.email")]
    TranscriptEmail,
}

impl EventType {
    /// The events a subscription may name, in the order the docs list them.
    pub const SUBSCRIBABLE: [EventType; 6] = [
        EventType::ChatStarted,
        EventType::MessageCreated,
        EventType::ChatAssigned,
        EventType::ChatClosed,
        EventType::NoteCreated,
        EventType::ChatRated,
    ];

    /// The event's name on the wire (`type` in the body).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ChatStarted => "chat.started",
            EventType::MessageCreated => "message.created",
            EventType::ChatAssigned => "chat.assigned",
            EventType::ChatClosed => "chat.closed",
            EventType::NoteCreated => "note.created",
            EventType::ChatRated => "chat.rated",
            EventType::Test => "webhook.test",
            EventType::TranscriptEmail => "transcript.email",
        }
    }
}

/// A site's subscription to some of its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `wh_` and 32 hex digits: made from the creating request's
    /// `Idempotency-Key` when it has one, so a retry names the same one.
    pub id: String,
    /// The site whose events it receives.
    pub site: String,
    /// Where deliveries are POSTed (http or https, at most
    /// [`crate::webhooks::target::MAX_URL_BYTES`]).
    pub url: String,
    /// What it receives, sorted, without repeats.
    pub events: Vec<EventType>,
    /// Disabled: nothing new is queued for it, pending deliveries wait.
    pub enabled: bool,
    /// `whsec_` and the base64 of 32 random bytes: the HMAC-SHA256 key
    /// (after `whsec_`, base64-decoded) every delivery is signed with.
    pub secret: String,
    /// When it was made (wall clock of the deployment that made it):
    /// events from before it are not sent to it.
    pub created: Millis,
    /// Last-writer-wins stamp.
    pub stamp: Hlc,
    /// Deleted: a tombstone that wins, on both deployments.
    #[serde(default)]
    pub removed: bool,
}

impl Subscription {
    /// Whether a new event of `kind` is queued for it.
    pub fn wants(&self, kind: EventType) -> bool {
        self.enabled && !self.removed && self.events.contains(&kind)
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet answered with a 2xx; attempts go on.
    Pending,
    /// Retried for the whole retry period without a 2xx (or its
    /// subscription was deleted): no more attempts.
    Failed,
    /// Answered with a 2xx by the receiver.
    Delivered,
}

impl DeliveryState {
    /// The state's name in the delivery log and the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Failed => "failed",
            DeliveryState::Delivered => "delivered",
        }
    }
}

/// Whose data an event carries: the chat or offline note it is about. An
/// erasure of that chat or note deletes the delivery too (its body quotes
/// the visitor), and drops a copy of it replicated late.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum About {
    /// A chat: its start, assignment, close, rating, or one of its messages.
    Chat(ChatId),
    /// An offline note.
    Note(OfflineId),
}

impl About {
    /// The id the store's `subject` column holds (chat and note ids are
    /// ULIDs: they never meet).
    pub fn id(&self) -> String {
        match self {
            About::Chat(chat) => chat.to_string(),
            About::Note(note) => note.to_string(),
        }
    }
}

/// One event on its way to one subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The subscription's id.
    pub subscription: String,
    /// The event's id (`webhook-id`), the same on both deployments.
    pub event: String,
    /// The site.
    pub site: String,
    /// The event's type.
    pub kind: EventType,
    /// The exact JSON body every attempt sends.
    pub payload: String,
    /// The chat or note it is about (none for `webhook.test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<About>,
    /// When the event happened (from its record).
    pub at: Millis,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far, by either deployment.
    pub attempts: u32,
    /// The deployment that delivers it: the one that stored the event's
    /// record from a client, until the other takes it over.
    pub owner: String,
    /// The owner's claim runs until then (its clock): an attempt in flight
    /// or the wait before the next one.
    pub lease_until: Millis,
    /// When the next attempt is due.
    pub next_attempt: Millis,
    /// When the first attempt was made: retries stop a retry period later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt: Option<Millis>,
    /// The last answer's HTTP status, if one came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed (empty when it did not).
    #[serde(default)]
    pub last_error: String,
    /// When the receiver answered with a 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Millis>,
    /// Last-writer-wins stamp (zero for a copy just queued).
    pub stamp: Hlc,
}

impl Delivery {
    /// A delivery just queued: pending, owned by `owner`, due now, with the
    /// zero stamp (any claim is above it), so the copies both deployments
    /// queue of one event are equal.
    pub fn queued(
        subscription: &str,
        event: &str,
        site: &str,
        kind: EventType,
        payload: String,
        at: Millis,
        owner: &str,
    ) -> Delivery {
        Delivery {
            subscription: subscription.to_string(),
            event: event.to_string(),
            site: site.to_string(),
            kind,
            payload,
            about: None,
            at,
            state: DeliveryState::Pending,
            attempts: 0,
            owner: owner.to_string(),
            lease_until: Millis(0),
            next_attempt: Millis(0),
            first_attempt: None,
            last_status: None,
            last_error: String::new(),
            delivered_at: None,
            stamp: Hlc::default(),
        }
    }

    /// Its key: `<subscription>/<event>`.
    pub fn key_of(subscription: &str, event: &str) -> String {
        format!("{subscription}/{event}")
    }

    /// The order the merge keeps the greatest of: state, then stamp, then
    /// (copies no real writer makes: two stamps are never equal) the whole
    /// record's JSON, so the order is total.
    fn outranks(&self, other: &Delivery) -> bool {
        let by_state = (self.state, self.stamp).cmp(&(other.state, other.stamp));
        by_state.then_with(|| {
            let json = |d: &Delivery| serde_json::to_string(d).unwrap_or_default();
            json(self).cmp(&json(other))
        }) == std::cmp::Ordering::Greater
    }
}

/// Subscriptions: `webhooks (id, site, body)`.
pub static WEBHOOKS: Table = Table {
    name: "webhooks",
    key: "id",
    columns: &[("site", ColumnType::Text)],
};

/// Deliveries: `webhook_deliveries (key, subscription, state,
/// next_attempt, at, body)`: the sender asks for pending ones by
/// `next_attempt`, the delivery log for a subscription's newest by `at`.
pub static DELIVERIES: Table = Table {
    name: "webhook_deliveries",
    key: "key",
    columns: &[
        ("subscription", ColumnType::Text),
        ("state", ColumnType::Text),
        ("next_attempt", ColumnType::Int),
        ("at", ColumnType::Int),
        ("subject", ColumnType::Text),
    ],
};

fn int(value: Millis) -> Cell {
    // Every number a store holds is at most 2^53 - 1 (checked on entry).
    Cell::Int(Some(value.0.min(i64::MAX as u64) as i64))
}

fn texts(fields: &[(&'static str, &str)]) -> Result<(), RecordError> {
    for (field, text) in fields {
        check_field(text).map_err(|error| RecordError::Text(field, error))?;
    }
    Ok(())
}

/// A text longer than its limit (in bytes here: URLs and bodies).
fn too_long(field: &'static str, chars: usize, limit: usize) -> RecordError {
    RecordError::Text(
        field,
        twinline_core::model::TextError::TooLong { chars, limit },
    )
}

impl Kind for Subscription {
    const TABLE: &'static Table = &WEBHOOKS;

    fn key(&self) -> String {
        self.id.clone()
    }

    fn cells(&self) -> Vec<Cell> {
        vec![Cell::Text(Some(self.site.clone()))]
    }

    /// Bounded text and numbers no reader loses (the URL's own rules are
    /// the API's: a peer's copy is checked again before each attempt).
    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        texts(&[
            ("id", &self.id),
            ("site", &self.site),
            ("secret", &self.secret),
        ])?;
        if self.url.len() > crate::webhooks::target::MAX_URL_BYTES {
            return Err(too_long(
                "url",
                self.url.len(),
                crate::webhooks::target::MAX_URL_BYTES,
            ));
        }
        check_number("created", self.created.0)
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        let Some(stored) = stored else {
            return Outcome::Changed(incoming);
        };
        if stored.site != incoming.site {
            return Outcome::Refused(incoming, Refusal::IdTaken("webhook"));
        }
        super::kinds::register_with_tombstone(stored, incoming, |s| s.removed, |s| s.stamp)
    }

    fn into_record(self) -> Record {
        Record::Webhook(self)
    }
}

impl Kind for Delivery {
    const TABLE: &'static Table = &DELIVERIES;

    fn key(&self) -> String {
        Delivery::key_of(&self.subscription, &self.event)
    }

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(Some(self.subscription.clone())),
            Cell::Text(Some(self.state.as_str().to_string())),
            int(self.next_attempt),
            int(self.at),
            Cell::Text(Some(self.about.map(|about| about.id()).unwrap_or_default())),
        ]
    }

    fn admit(&self, _chats: &dyn ChatClock) -> Result<(), RecordError> {
        texts(&[
            ("subscription", &self.subscription),
            ("event", &self.event),
            ("site", &self.site),
            ("owner", &self.owner),
            ("last_error", &self.last_error),
        ])?;
        if self.payload.len() > crate::webhooks::events::MAX_PAYLOAD_BYTES {
            return Err(too_long(
                "payload",
                self.payload.len(),
                crate::webhooks::events::MAX_PAYLOAD_BYTES,
            ));
        }
        for (field, value) in [
            ("at", self.at.0),
            ("lease_until", self.lease_until.0),
            ("next_attempt", self.next_attempt.0),
            ("first_attempt", self.first_attempt.map_or(0, |t| t.0)),
            ("delivered_at", self.delivered_at.map_or(0, |t| t.0)),
        ] {
            check_number(field, value)?;
        }
        Ok(())
    }

    fn merge(stored: Option<&Self>, incoming: Self) -> Outcome<Self> {
        match stored {
            None => Outcome::Changed(incoming),
            Some(stored) if incoming.outranks(stored) => Outcome::Changed(incoming),
            Some(stored) => Outcome::Unchanged(stored.clone()),
        }
    }

    fn into_record(self) -> Record {
        Record::Delivery(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stamp(wall: u64) -> Hlc {
        Hlc {
            wall: Millis(wall),
            counter: 0,
            node: 1,
        }
    }

    fn subscription(wall: u64, removed: bool) -> Subscription {
        Subscription {
            id: "wh_01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            site: "demo".into(),
            url: "http://127.0.0.1:9/hook".into(),
            events: vec![EventType::MessageCreated],
            enabled: true,
            secret: "whsec_c2VjcmV0".into(),
            created: Millis(1),
            stamp: stamp(wall),
            removed,
        }
    }

    fn delivery(state: DeliveryState, wall: u64, attempts: u32) -> Delivery {
        Delivery {
            state,
            attempts,
            stamp: stamp(wall),
            ..Delivery::queued(
                "wh_1",
                "evt_1",
                "demo",
                EventType::MessageCreated,
                "{}".into(),
                Millis(1),
                "primary",
            )
        }
    }

    #[test]
    fn a_deletion_wins_over_a_later_copy_both_ways() {
        let removed = subscription(10, true);
        let later = Subscription {
            enabled: false,
            ..subscription(99, false)
        };
        assert_eq!(
            Subscription::merge(Some(&removed), later.clone()),
            Outcome::Unchanged(removed.clone())
        );
        assert_eq!(
            Subscription::merge(Some(&later), removed.clone()),
            Outcome::Changed(removed)
        );
    }

    #[test]
    fn a_subscription_is_a_register_and_another_site_under_its_id_is_refused() {
        let older = subscription(10, false);
        let newer = Subscription {
            url: "http://127.0.0.1:9/other".into(),
            ..subscription(11, false)
        };
        assert_eq!(
            Subscription::merge(Some(&older), newer.clone()),
            Outcome::Changed(newer.clone())
        );
        assert_eq!(
            Subscription::merge(Some(&newer), older),
            Outcome::Unchanged(newer.clone())
        );
        let other = Subscription {
            site: "other".into(),
            ..subscription(12, false)
        };
        assert_eq!(
            Subscription::merge(Some(&newer), other.clone()),
            Outcome::Refused(other, Refusal::IdTaken("webhook"))
        );
    }

    #[test]
    fn delivered_stops_a_later_pending_claim_from_the_other_deployment() {
        let delivered = delivery(DeliveryState::Delivered, 10, 1);
        let claim = Delivery {
            owner: "redundant".into(),
            ..delivery(DeliveryState::Pending, 50, 2)
        };
        assert_eq!(
            Delivery::merge(Some(&delivered), claim.clone()),
            Outcome::Unchanged(delivered.clone())
        );
        assert_eq!(
            Delivery::merge(Some(&claim), delivered.clone()),
            Outcome::Changed(delivered)
        );
    }

    fn any_delivery() -> impl Strategy<Value = Delivery> {
        (
            prop_oneof![
                Just(DeliveryState::Pending),
                Just(DeliveryState::Failed),
                Just(DeliveryState::Delivered)
            ],
            0u64..5,
            0u32..4,
            prop_oneof![Just("{}".to_string()), Just("{\"a\":1}".to_string())],
        )
            .prop_map(|(state, wall, attempts, payload)| Delivery {
                payload,
                ..delivery(state, wall, attempts)
            })
    }

    fn merged(stored: Option<Delivery>, incoming: Delivery) -> Delivery {
        match Delivery::merge(stored.as_ref(), incoming) {
            Outcome::Changed(d) | Outcome::Unchanged(d) | Outcome::Rewritten(d) => d,
            Outcome::Refused(..) => unreachable!("deliveries are never refused"),
        }
    }

    proptest! {
        /// Whatever order the copies of one delivery meet in, every store
        /// ends with the same one.
        #[test]
        fn deliveries_converge_in_any_order(copies in proptest::collection::vec(any_delivery(), 1..6)) {
            let forward = copies.iter().cloned().fold(None, |s, c| Some(merged(s, c)));
            let backward = copies.iter().rev().cloned().fold(None, |s, c| Some(merged(s, c)));
            prop_assert_eq!(&forward, &backward);
            // And once delivered, always delivered.
            if copies.iter().any(|c| c.state == DeliveryState::Delivered) {
                prop_assert_eq!(forward.unwrap().state, DeliveryState::Delivered);
            }
        }
    }
}
