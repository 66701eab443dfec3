//! Transcript-by-email requests on both backends: a set by id in the
//! chat's header (a replay or the peer's copy changes nothing, two
//! deployments' requests end as their union), held to their limits when a
//! peer sends them, carried by the feed, queued as one mail delivery per
//! request once the chat is closed, and erased with their chat.

use super::{Engine, Fixture, header, run, stamp};
use crate::erasure::{Subject, erase};
use crate::store::erasures::Reason;
use crate::store::reads;
use crate::store::records::{ChatRecord, Record, Refusal};
use crate::store::webhooks::Delivery;
use twinline_core::transcript_email::{MAX_STORED, TranscriptRequest};
use twinline_core::{ChatId, ChatState, ChatStatus, Millis, TranscriptId, Ulid, VisitorId};

both_backends!(transcript_requests_merge_by_id_replicate_queue_once_closed_and_go_with_their_chat,);

fn request(id: u128, to: &str, by: &str) -> TranscriptRequest {
    TranscriptRequest {
        id: TranscriptId(Ulid(id)),
        to: to.into(),
        received_by: by.into(),
        at: Millis(100 + id as u64),
    }
}

fn asking(chat: ChatId, state: ChatState, wall: u64, requests: Vec<TranscriptRequest>) -> Record {
    let status = ChatStatus {
        state,
        operator: None,
        stamp: stamp(wall, 1),
    };
    Record::Chat(ChatRecord {
        transcripts: requests,
        ..header(chat, status)
    })
}

async fn stored(store: &crate::store::Store, chat: ChatId) -> Vec<TranscriptRequest> {
    store
        .read(move |c| reads::chat_in(c, chat))
        .await
        .unwrap()
        .map(|h| h.transcripts)
        .unwrap_or_default()
}

async fn transcript_requests_merge_by_id_replicate_queue_once_closed_and_go_with_their_chat(
    f: Fixture,
) -> Fixture {
    let store = f.store();
    let chat = ChatId::new(Millis(500), 1);
    let a = request(2, "ada@example.com", "primary");
    let b = request(1, "bob@example.com", "redundant");
    let first = store
        .apply(
            asking(chat, ChatState::Active, 10, vec![a.clone()]),
            "primary",
        )
        .await
        .unwrap();
    assert!(first.changed);
    // The peer's header, with its own request and not ours: the union.
    let peer = store
        .apply(
            asking(chat, ChatState::Active, 10, vec![b.clone()]),
            "redundant",
        )
        .await
        .unwrap();
    assert!(peer.changed);
    assert_eq!(
        stored(store, chat).await,
        vec![b.clone(), a.clone()],
        "in id order"
    );
    // A replay, or a header without them (a status change), changes nothing.
    for again in [
        asking(chat, ChatState::Active, 10, vec![a.clone()]),
        asking(chat, ChatState::Active, 5, vec![]),
    ] {
        let applied = store.apply(again, "redundant").await.unwrap();
        assert!(!applied.changed, "{applied:?}");
    }
    // A peer's request out of shape, or too many of them: refused, the
    // stored ones stay.
    let bad = asking(
        chat,
        ChatState::Active,
        11,
        vec![request(3, "no address", "redundant")],
    );
    let refused = store.apply(bad, "redundant").await.unwrap();
    assert!(
        matches!(refused.refused, Some(Refusal::Invalid(_))),
        "{refused:?}"
    );
    let many = (10..11 + MAX_STORED as u128)
        .map(|n| request(n, "x@example.com", "redundant"))
        .collect();
    let refused = store
        .apply(asking(chat, ChatState::Active, 12, many), "redundant")
        .await
        .unwrap();
    assert!(
        matches!(refused.refused, Some(Refusal::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(stored(store, chat).await, vec![b.clone(), a.clone()]);

    // Closed: the feed carries the header with both requests, which the
    // sender queues as one delivery each, owned by who stored the request.
    store
        .apply(asking(chat, ChatState::Closed, 20, vec![]), "primary")
        .await
        .unwrap();
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, ""))
        .await
        .unwrap();
    let queued = crate::mail::queued(&page.changes);
    let owners: Vec<(String, String)> = queued
        .iter()
        .map(|(d, _)| (d.event.clone(), d.owner.clone()))
        .collect();
    assert!(
        owners.contains(&(a.id.to_string(), "primary".into())),
        "{owners:?}"
    );
    assert!(
        owners.contains(&(b.id.to_string(), "redundant".into())),
        "{owners:?}"
    );
    // Queued by both deployments (the same copies, again and again): one
    // delivery per request.
    let records = queued
        .iter()
        .chain(queued.iter())
        .map(|(d, origin)| (Record::Delivery(d.clone()), origin.clone()))
        .collect();
    store.apply_batch(records, None).await.unwrap();
    let pending: Vec<Delivery> = store
        .read(|c| reads::pending_deliveries(c, 100))
        .await
        .unwrap();
    let mut events: Vec<String> = pending
        .iter()
        .filter(|d| d.subscription == crate::mail::SUBSCRIPTION)
        .map(|d| d.event.clone())
        .collect();
    events.sort();
    assert_eq!(events, vec![b.id.to_string(), a.id.to_string()]);

    // Erased with the chat: the header, the requests and their deliveries.
    erase(
        store,
        "primary",
        "demo",
        &Subject::Visitor(VisitorId(Ulid(5))),
        Reason::Request,
    )
    .await
    .unwrap();
    assert!(stored(store, chat).await.is_empty());
    let pending = store
        .read(|c| reads::pending_deliveries(c, 100))
        .await
        .unwrap();
    assert!(
        !pending
            .iter()
            .any(|d| d.subscription == crate::mail::SUBSCRIPTION),
        "{pending:?}"
    );
    f
}
