//! Read receipts on both backends: one per chat and side, merged by the
//! larger message id whatever the order, in the feed for the peer, kept
//! across a reopen, and gone with their chat when it is erased (a late
//! copy dropped).

use super::{Engine, Fixture, header, message, run, stamp};
use crate::erasure::{Subject, erase};
use crate::store::Store;
use crate::store::erasures::Reason;
use crate::store::reads;
use crate::store::records::{Record, Refusal};
use twinline_core::{
    ChatId, ChatState, ChatStatus, MessageId, Millis, Receipt, Seen, Side, Ulid, VisitorId,
};

both_backends!(
    read_receipts_merge_by_the_larger_id_per_side_feed_the_peer_and_survive_a_reopen,
    read_receipts_go_with_their_erased_chat_and_a_late_copy_is_dropped,
);

fn receipt(chat: ChatId, side: Side, up_to: u128) -> Record {
    Record::Receipt(Receipt {
        chat,
        side,
        up_to: MessageId(Ulid(up_to)),
    })
}

async fn seen(store: &Store, chat: ChatId) -> Seen {
    store.read(move |c| reads::seen(c, chat)).await.unwrap()
}

/// The receipt changes of `store`'s feed a peer named `to` is sent.
async fn fed(store: &Store, to: &str) -> Vec<Receipt> {
    let to = to.to_string();
    let page = store
        .read(move |c| c.changes_since(0, 10_000, &to))
        .await
        .unwrap();
    page.changes
        .into_iter()
        .filter_map(|change| match change.record {
            Record::Receipt(receipt) => Some(receipt),
            _ => None,
        })
        .collect()
}

async fn read_receipts_merge_by_the_larger_id_per_side_feed_the_peer_and_survive_a_reopen(
    mut f: Fixture,
) -> Fixture {
    let chat = ChatId(Ulid(1));
    let other = ChatId(Ulid(2));
    let store = f.store();
    let mut changed = Vec::new();
    for (record, origin) in [
        (receipt(chat, Side::Visitor, 5), "primary"),
        (receipt(chat, Side::Visitor, 5), "primary"),
        (receipt(chat, Side::Visitor, 3), "redundant"),
        (receipt(chat, Side::Operator, 4), "primary"),
        (receipt(chat, Side::Visitor, 9), "redundant"),
        (receipt(other, Side::Visitor, 1), "primary"),
    ] {
        let applied = store.apply(record, origin).await.unwrap();
        assert_eq!(applied.refused, None, "{applied:?}");
        changed.push(applied.changed);
    }
    assert_eq!(
        changed,
        [true, false, false, true, true, true],
        "the same or an older id changes nothing"
    );
    let expected = Seen {
        visitor: Some(MessageId(Ulid(9))),
        operator: Some(MessageId(Ulid(4))),
    };
    assert_eq!(seen(store, chat).await, expected);
    assert_eq!(seen(store, other).await.visitor, Some(MessageId(Ulid(1))));
    // The peer gets what was made here, never its own back.
    let to_redundant: Vec<(Side, MessageId)> = fed(store, "redundant")
        .await
        .into_iter()
        .filter(|r| r.chat == chat)
        .map(|r| (r.side, r.up_to))
        .collect();
    assert_eq!(
        to_redundant,
        [
            (Side::Visitor, MessageId(Ulid(5))),
            (Side::Operator, MessageId(Ulid(4)))
        ]
    );
    assert_eq!(fed(store, "nobody").await.len(), 4);
    // An older receipt replayed after a reopen still changes nothing.
    f.reopen().await;
    let store = f.store();
    let applied = store
        .apply(receipt(chat, Side::Visitor, 7), "primary")
        .await
        .unwrap();
    assert!(!applied.changed);
    assert_eq!(
        applied.record,
        receipt(chat, Side::Visitor, 9),
        "what is stored is the answer"
    );
    assert_eq!(seen(store, chat).await, expected);
    f
}

async fn read_receipts_go_with_their_erased_chat_and_a_late_copy_is_dropped(f: Fixture) -> Fixture {
    let store = f.store();
    let visitor = VisitorId(Ulid(5));
    let erased = ChatId::new(Millis(500), 1);
    let kept = ChatId::new(Millis(600), 2);
    let active = ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(10, 1),
    };
    let mut other_visitor = header(kept, active.clone());
    other_visitor.visitor = VisitorId(Ulid(6));
    for record in [
        Record::Chat(header(erased, active)),
        Record::Message(message(10, erased, "hello")),
        receipt(erased, Side::Visitor, 10),
        receipt(erased, Side::Operator, 10),
        Record::Chat(other_visitor),
        receipt(kept, Side::Operator, 20),
    ] {
        let applied = store.apply(record, "primary").await.unwrap();
        assert_eq!(applied.refused, None, "{applied:?}");
    }
    erase(
        store,
        "primary",
        "demo",
        &Subject::Visitor(visitor),
        Reason::Request,
    )
    .await
    .unwrap();
    assert_eq!(seen(store, erased).await, Seen::default());
    assert_eq!(
        seen(store, kept).await.operator,
        Some(MessageId(Ulid(20))),
        "another visitor's chat keeps its receipts"
    );
    let fed = fed(store, "").await;
    assert!(
        fed.iter().all(|r| r.chat != erased),
        "no feed entry of the erased chat's receipts is left: {fed:?}"
    );
    // Replicated late, or replayed by a browser after a failover.
    let late = store
        .apply(receipt(erased, Side::Visitor, 11), "redundant")
        .await
        .unwrap();
    assert_eq!(late.refused, Some(Refusal::Erased), "{late:?}");
    assert_eq!(seen(store, erased).await, Seen::default());
    f
}
