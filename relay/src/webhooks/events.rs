//! Events from replicated records, with one id on both deployments.
//!
//! An event is not a record of its own: each deployment derives it from the
//! records it stores (a chat header's status, a message, a note, a rating),
//! whether a client wrote them here or replication brought them. Its id is
//! a digest of what names it: the event's type, the record's id and, where
//! one record holds several events in turn, the version that made it (a
//! chat's assignment stamp, a rating's id). Both deployments hold the same
//! records, so both compute the same id, and the same body: the body is
//! made only from fields that replicate unchanged (never this deployment's
//! receipt time of a header). Whichever deployment delivers, the receiver
//! sees one `webhook-id` for one event.
//!
//! Pure: no clock, no store.

use crate::store::records::{ChatRecord, Record};
use crate::store::webhooks::About;
use crate::store::webhooks::EventType;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twinline_core::{ChatState, Message, Millis, OfflineNote};

/// The largest body a delivery may carry (a message's text is far below).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// One event, ready to be queued for the subscriptions that want it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `evt_` and 32 hex digits: the `webhook-id`.
    pub id: String,
    /// What happened.
    pub kind: EventType,
    /// The site it happened on.
    pub site: String,
    /// When, from the record (a subscription gets only events from after
    /// it was made).
    pub at: Millis,
    /// The exact body every attempt sends.
    pub payload: String,
    /// The chat or note it is about (an erasure of it takes the delivery).
    pub about: Option<About>,
}

/// The id of the event of `kind` named by `parts` (record id, version).
pub fn event_id(kind: EventType, parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    digest.update(kind.as_str().as_bytes());
    for part in parts {
        digest.update([0u8]);
        digest.update(part.as_bytes());
    }
    let hash = digest.finalize();
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

fn event(
    kind: EventType,
    parts: &[&str],
    site: &str,
    at: Millis,
    about: Option<About>,
    data: Value,
) -> Event {
    let id = event_id(kind, parts);
    // Field order is fixed (serde_json keeps insertion order off): the
    // same event is the same bytes on both deployments.
    let payload = json!({
        "id": id,
        "type": kind.as_str(),
        "site": site,
        "at": at.0,
        "data": data,
    })
    .to_string();
    Event {
        id,
        kind,
        site: site.to_string(),
        at,
        payload,
        about,
    }
}

/// The events a stored record holds. A message's site is its chat's,
/// which the caller looks up (`None` while its header has not arrived: no
/// event, see the module docs of [`super`]).
pub fn events_of(record: &Record, message_site: Option<&str>) -> Vec<Event> {
    match record {
        Record::Message(message) => message_site
            .filter(|site| !site.is_empty())
            .map(|site| vec![message_event(message, site)])
            .unwrap_or_default(),
        Record::Chat(chat) => chat_events(chat),
        Record::Note(note) => vec![note_event(note)],
        Record::Account(_)
        | Record::ApiKey(_)
        | Record::Webhook(_)
        | Record::Delivery(_)
        | Record::File(_)
        | Record::FileChunk(_)
        | Record::Receipt(_)
        | Record::Erasure(_) => Vec::new(),
    }
}

fn message_event(message: &Message, site: &str) -> Event {
    let id = message.id.to_string();
    event(
        EventType::MessageCreated,
        &[&id],
        site,
        message.at,
        Some(About::Chat(message.chat)),
        json!({
            "chat": message.chat.to_string(),
            "message": {
                "id": id,
                "author": {
                    "role": message.author.role,
                    "id": message.author.id,
                    "name": message.author.name,
                },
                "text": message.text,
                "at": message.at.0,
            },
        }),
    )
}

fn note_event(note: &OfflineNote) -> Event {
    let id = note.id.to_string();
    event(
        EventType::NoteCreated,
        &[&id],
        &note.site,
        note.at,
        Some(About::Note(note.id)),
        json!({
            "note": {
                "id": id,
                "name": note.name,
                "email": note.email,
                "text": note.text,
                "at": note.at.0,
            },
        }),
    )
}

/// What a header says happened: started (once per chat), assigned (once
/// per assignment), closed (once per chat), rated (once per rating).
fn chat_events(chat: &ChatRecord) -> Vec<Event> {
    if chat.site.is_empty() {
        // A placeholder: the header has not arrived.
        return Vec::new();
    }
    let id = chat.id.to_string();
    let site = chat.site.as_str();
    let about = Some(About::Chat(chat.id));
    let mut events = vec![event(
        EventType::ChatStarted,
        &[&id],
        site,
        // The chat id is the visitor's, made when the chat began: the same
        // on both deployments, unlike either's receipt time.
        chat.id.0.millis(),
        about,
        json!({"chat": id, "visitor": chat.visitor.to_string()}),
    )];
    let status = &chat.status;
    let stamp = format!(
        "{}.{}.{}",
        status.stamp.wall.0, status.stamp.counter, status.stamp.node
    );
    match (status.state, &status.operator) {
        (ChatState::Active, Some(operator)) => events.push(event(
            EventType::ChatAssigned,
            &[&id, &stamp],
            site,
            status.stamp.wall,
            about,
            json!({"chat": id, "operator": operator}),
        )),
        (ChatState::Closed, _) => events.push(event(
            EventType::ChatClosed,
            &[&id],
            site,
            status.stamp.wall,
            about,
            json!({"chat": id}),
        )),
        _ => {}
    }
    if let Some(rating) = &chat.rating {
        let rating_id = rating.id.to_string();
        events.push(event(
            EventType::ChatRated,
            &[&id, &rating_id],
            site,
            rating.stamp.wall,
            about,
            json!({
                "chat": id,
                "rating": {"id": rating_id, "score": rating.score, "comment": rating.comment},
            }),
        ));
    }
    events
}

/// The test button's event: one of its own each press (`nonce` is the
/// press's random part), sent to one subscription only.
pub fn test_event(site: &str, subscription: &str, nonce: &str, at: Millis) -> Event {
    event(
        EventType::Test,
        &[subscription, nonce],
        site,
        at,
        None,
        json!({"subscription": subscription}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{
        Author, ChatId, ChatStatus, Hlc, Lamport, MessageId, OfflineId, Rating, RatingId, Role,
        Score, Ulid, VisitorId,
    };

    fn stamp(wall: u64, node: u64) -> Hlc {
        Hlc {
            wall: Millis(wall),
            counter: 0,
            node,
        }
    }

    fn chat(state: ChatState, operator: Option<&str>, status_wall: u64) -> ChatRecord {
        ChatRecord {
            site: "demo".into(),
            visitor: VisitorId(Ulid(7)),
            status: ChatStatus {
                state,
                operator: operator.map(str::to_string),
                stamp: stamp(status_wall, 1),
            },
            ..ChatRecord::empty(ChatId(Ulid((1_700_000_000_000u128) << 80)), Millis(5))
        }
    }

    fn kinds(events: &[Event]) -> Vec<EventType> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_header_holds_started_and_its_current_status_and_rating() {
        assert_eq!(
            kinds(&events_of(
                &Record::Chat(chat(ChatState::Waiting, None, 1)),
                None
            )),
            vec![EventType::ChatStarted]
        );
        assert_eq!(
            kinds(&events_of(
                &Record::Chat(chat(ChatState::Active, Some("alice"), 2)),
                None
            )),
            vec![EventType::ChatStarted, EventType::ChatAssigned]
        );
        let mut rated = chat(ChatState::Closed, Some("alice"), 3);
        rated.rating = Some(Rating {
            id: RatingId(Ulid(9)),
            score: Score::Good,
            comment: "thanks".into(),
            stamp: stamp(4, 1),
        });
        assert_eq!(
            kinds(&events_of(&Record::Chat(rated), None)),
            vec![
                EventType::ChatStarted,
                EventType::ChatClosed,
                EventType::ChatRated
            ]
        );
        // A placeholder row's header (no site yet) holds nothing.
        let placeholder = ChatRecord::empty(ChatId(Ulid(1)), Millis(1));
        assert!(events_of(&Record::Chat(placeholder), None).is_empty());
    }

    #[test]
    fn the_same_record_gives_the_same_id_and_bytes_whatever_this_deployment_added() {
        let here = chat(ChatState::Active, Some("alice"), 2);
        // The other deployment received the header at another time.
        let there = ChatRecord {
            created: Millis(999_999),
            ..here.clone()
        };
        assert_eq!(
            events_of(&Record::Chat(here.clone()), None),
            events_of(&Record::Chat(there), None)
        );
        // A transfer is a new assignment: a new event, a new id.
        let transferred = chat(ChatState::Active, Some("bob"), 3);
        let a = &events_of(&Record::Chat(here), None)[1];
        let b = &events_of(&Record::Chat(transferred), None)[1];
        assert_ne!(a.id, b.id);
        assert!(a.id.starts_with("evt_") && a.id.len() == 36, "{}", a.id);
    }

    #[test]
    fn a_message_needs_its_chats_site_and_a_note_carries_its_own() {
        let message = Message {
            lamport: Lamport(1),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: "Ann".into(),
            },
            id: MessageId(Ulid(3)),
            chat: ChatId(Ulid(1)),
            text: "hello \"there\"".into(),
            at: Millis(10),
            file: None,
        };
        let record = Record::Message(message);
        assert!(events_of(&record, None).is_empty());
        assert!(events_of(&record, Some("")).is_empty());
        let events = events_of(&record, Some("demo"));
        assert_eq!(kinds(&events), vec![EventType::MessageCreated]);
        let body: Value = serde_json::from_str(&events[0].payload).unwrap();
        assert_eq!(body["type"], "message.created");
        assert_eq!(body["id"], events[0].id.as_str());
        assert_eq!(body["data"]["message"]["text"], "hello \"there\"");
        assert_eq!(body["data"]["message"]["author"]["role"], "visitor");
        let note = OfflineNote {
            id: OfflineId(Ulid(4)),
            site: "demo".into(),
            name: "Ann".into(),
            email: "ann@example.com".into(),
            text: "call me".into(),
            at: Millis(11),
        };
        let events = events_of(&Record::Note(note), None);
        assert_eq!(kinds(&events), vec![EventType::NoteCreated]);
        assert_eq!(events[0].site, "demo");
        // Ids of different events of one record differ.
        assert_ne!(
            event_id(EventType::ChatStarted, &["x"]),
            event_id(EventType::ChatClosed, &["x"])
        );
        assert_ne!(
            event_id(EventType::ChatAssigned, &["ab", "c"]),
            event_id(EventType::ChatAssigned, &["a", "bc"])
        );
    }
}
