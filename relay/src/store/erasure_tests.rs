//! Erasures on both backends: the rows go (feed entries too), the
//! tombstone is what the feed carries, and every later copy of an erased
//! chat or note is dropped whatever its clocks, across a reopen too.

use super::{Engine, Fixture, header, message, run, stamp};
use crate::erasure::{Subject, erase};
use crate::store::Store;
use crate::store::erasures::{Erasure, Reason};
use crate::store::records::{Record, Refusal};
use crate::store::webhooks::{About, Delivery, EventType};
use twinline_core::{
    ChatId, ChatState, ChatStatus, Millis, OfflineId, OfflineNote, Rating, RatingId, Score, Ulid,
    VisitorId,
};

both_backends!(
    an_erasure_deletes_the_visitors_chats_and_the_feed_carries_only_the_tombstone,
    late_copies_of_an_erased_chat_are_dropped_whatever_their_clocks,
    an_erasure_from_the_peer_erases_what_this_store_holds_and_holds_after_reopening,
    an_erasure_by_email_takes_the_notes_left_with_it,
    retention_erases_closed_chats_and_notes_past_it_and_nothing_else,
    the_webhook_deliveries_about_an_erased_chat_go_with_it_and_never_come_back,
);

const VISITOR: VisitorId = VisitorId(Ulid(5));

/// A chat of [`VISITOR`] whose id was made at `made` ms.
fn chat_made(made: u64, random: u128) -> ChatId {
    ChatId::new(Millis(made), random)
}

fn status(wall: u64) -> ChatStatus {
    ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(wall, 1),
    }
}

fn rated(chat: ChatId, wall: u64) -> Record {
    let mut record = header(chat, status(wall));
    record.rating = Some(Rating {
        id: RatingId(Ulid(77)),
        score: Score::Good,
        comment: "thanks".into(),
        stamp: stamp(wall, 1),
    });
    Record::Chat(record)
}

async fn seed_chat(store: &Store, chat: ChatId, first_message: u128) {
    for record in [
        Record::Chat(header(chat, status(10))),
        Record::Message(message(first_message, chat, "hello")),
        Record::Message(message(first_message + 1, chat, "my address is ...")),
        rated(chat, 20),
    ] {
        let applied = store.apply(record, "primary").await.unwrap();
        assert!(applied.refused.is_none(), "{applied:?}");
    }
}

/// [`VISITOR`] erased through `store` as the primary.
async fn erase_visitor(store: &Store) -> Erasure {
    erase(
        store,
        "primary",
        "demo",
        &Subject::Visitor(VISITOR),
        Reason::Request,
    )
    .await
    .unwrap()
}

/// What the store holds of `chat`: (header, message count).
async fn held(store: &Store, chat: ChatId) -> (bool, usize) {
    store
        .read(move |c| Ok((c.chat(chat)?.is_some(), c.messages(chat)?.len())))
        .await
        .unwrap()
}

/// The feed's (kind, key) pairs.
async fn feed(store: &Store) -> Vec<(String, String)> {
    let page = store
        .read(|c| c.changes_since(0, 10_000, ""))
        .await
        .unwrap();
    page.changes
        .into_iter()
        .map(|change| (change.record.kind().to_string(), change.record.key()))
        .collect()
}

async fn an_erasure_deletes_the_visitors_chats_and_the_feed_carries_only_the_tombstone(
    f: Fixture,
) -> Fixture {
    let store = f.store();
    let (one, two) = (chat_made(500, 1), chat_made(600, 2));
    seed_chat(store, one, 10).await;
    seed_chat(store, two, 20).await;
    let mut other = header(chat_made(550, 3), status(10));
    other.visitor = VisitorId(Ulid(6));
    store
        .apply(Record::Chat(other.clone()), "primary")
        .await
        .unwrap();

    let erasure = erase_visitor(store).await;
    assert_eq!(erasure.chats, vec![one, two]);
    assert_eq!(held(store, one).await, (false, 0));
    assert_eq!(held(store, two).await, (false, 0));
    assert_eq!(
        held(store, other.id).await,
        (true, 0),
        "another visitor's chat stays"
    );
    let feed = feed(store).await;
    assert!(
        feed.iter()
            .all(|(kind, key)| kind != "message"
                && ![one.to_string(), two.to_string()].contains(key)),
        "no feed entry of the erased rows is left: {feed:?}"
    );
    assert_eq!(
        feed.last(),
        Some(&("erasure".to_string(), erasure.id.to_string())),
        "the feed carries the erasure itself"
    );
    let erasures = store.read(|c| c.erasures("demo")).await.unwrap();
    assert_eq!(erasures, vec![erasure]);
    f
}

async fn late_copies_of_an_erased_chat_are_dropped_whatever_their_clocks(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = chat_made(500, 1);
    seed_chat(store, chat, 10).await;
    // A chat of the visitor this store has only messages of (its header is
    // still on its way from the peer).
    let unheard = chat_made(700, 4);
    store
        .apply(Record::Message(message(40, unheard, "early")), "redundant")
        .await
        .unwrap();
    let erasure = erase_visitor(store).await;
    assert!(erasure.chats.contains(&chat));

    // Late replication, a browser's replay, an API retry: far-future stamps
    // and all, each is refused as erased and nothing is stored.
    for late in [
        Record::Chat(header(chat, status(u64::from(u32::MAX)))),
        Record::Message(message(10, chat, "hello")),
        Record::Message(message(12, chat, "a new one in the erased chat")),
        rated(chat, u64::from(u32::MAX)),
        Record::Chat(header(unheard, status(5))),
    ] {
        let applied = store.apply(late, "redundant").await.unwrap();
        assert_eq!(applied.refused, Some(Refusal::Erased), "{applied:?}");
        assert!(!applied.changed);
    }
    assert_eq!(held(store, chat).await, (false, 0));
    assert_eq!(
        held(store, unheard).await,
        (false, 0),
        "the late header of a chat made before the erasure takes its messages too"
    );
    let applied = store
        .apply(Record::Message(message(41, unheard, "later")), "redundant")
        .await
        .unwrap();
    assert_eq!(applied.refused, Some(Refusal::Erased));

    // The same visitor chats again: a chat made after the erasure is new.
    let again = ChatId::new(Millis(erasure.at.0 + 1), 9);
    let applied = store
        .apply(Record::Chat(header(again, status(30))), "primary")
        .await
        .unwrap();
    assert!(applied.changed && applied.refused.is_none());
    assert_eq!(held(store, again).await, (true, 0));
    f
}

async fn an_erasure_from_the_peer_erases_what_this_store_holds_and_holds_after_reopening(
    mut f: Fixture,
) -> Fixture {
    let chat = chat_made(500, 1);
    seed_chat(f.store(), chat, 10).await;
    // Made at the peer, which held none of this visitor's chats.
    let erasure = Erasure {
        id: Ulid::new(Millis(1_000), 3),
        site: "demo".into(),
        visitor: Some(VISITOR),
        email: None,
        chats: Vec::new(),
        notes: Vec::new(),
        at: Millis(1_000),
        stamp: stamp(1_000, 2),
        reason: Reason::Request,
    };
    let applied = f
        .store()
        .apply_batch(
            vec![(Record::Erasure(erasure.clone()), "redundant".into())],
            Some(("redundant".into(), 7)),
        )
        .await
        .unwrap();
    assert!(applied[0].changed);
    assert_eq!(held(f.store(), chat).await, (false, 0));
    f.reopen().await;
    let again = f
        .store()
        .apply(Record::Erasure(erasure), "redundant")
        .await
        .unwrap();
    assert!(
        !again.changed && again.refused.is_none(),
        "the same erasure again"
    );
    let replay = f
        .store()
        .apply(
            Record::Message(message(11, chat, "my address is ...")),
            "primary",
        )
        .await
        .unwrap();
    assert_eq!(replay.refused, Some(Refusal::Erased));
    assert_eq!(held(f.store(), chat).await, (false, 0));
    f
}

async fn an_erasure_by_email_takes_the_notes_left_with_it(f: Fixture) -> Fixture {
    let store = f.store();
    let note = |id: u128, email: &str| OfflineNote {
        id: OfflineId(Ulid(id)),
        site: "demo".into(),
        name: "A".into(),
        email: email.into(),
        text: "call me".into(),
        at: Millis(900),
    };
    store
        .apply(Record::Note(note(1, "A@Example.org")), "primary")
        .await
        .unwrap();
    store
        .apply(Record::Note(note(2, "b@example.org")), "primary")
        .await
        .unwrap();
    let mut prechat = header(chat_made(500, 1), status(10));
    prechat.visitor = VisitorId(Ulid(8));
    prechat.info.email = "a@example.org".into();
    store
        .apply(Record::Chat(prechat.clone()), "primary")
        .await
        .unwrap();

    let erasure = erase(
        store,
        "primary",
        "demo",
        &Subject::Email("a@EXAMPLE.org".into()),
        Reason::Request,
    )
    .await
    .unwrap();
    assert_eq!(erasure.notes, vec![OfflineId(Ulid(1))]);
    assert_eq!(erasure.chats, vec![prechat.id]);
    let notes = store.read(|c| c.notes(10, None)).await.unwrap();
    assert_eq!(
        notes.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![OfflineId(Ulid(2))]
    );
    assert_eq!(held(store, prechat.id).await, (false, 0));
    let late = store
        .apply(Record::Note(note(1, "A@Example.org")), "redundant")
        .await
        .unwrap();
    assert_eq!(late.refused, Some(Refusal::Erased));
    f
}

async fn retention_erases_closed_chats_and_notes_past_it_and_nothing_else(f: Fixture) -> Fixture {
    use crate::erasure::retention::{dry_run, sweep_site};
    let store = f.store();
    let closed = |wall| ChatStatus {
        state: ChatState::Closed,
        operator: None,
        stamp: stamp(wall, 1),
    };
    // Closed, last active in 1970 (its messages' times): past any period.
    let old = chat_made(500, 1);
    seed_chat(store, old, 10).await;
    store
        .apply(Record::Chat(header(old, closed(30))), "primary")
        .await
        .unwrap();
    // Active, as old: kept.
    let open = chat_made(600, 2);
    seed_chat(store, open, 20).await;
    // Closed, but it arrived just now and has no message: kept.
    let fresh = chat_made(700, 3);
    store
        .apply(Record::Chat(header(fresh, closed(30))), "primary")
        .await
        .unwrap();
    let note = OfflineNote {
        id: OfflineId(Ulid(9)),
        site: "demo".into(),
        name: "A".into(),
        email: "a@example.org".into(),
        text: "call me".into(),
        at: Millis(900),
    };
    store.apply(Record::Note(note), "primary").await.unwrap();

    let now = crate::clock::now();
    let counted = store
        .read(move |c| dry_run(c, "demo", Some(30), now))
        .await
        .unwrap();
    assert_eq!((counted.chats, counted.notes), (1, 1), "{counted:?}");
    let erasures = sweep_site(store, "primary", "demo", 30, now).await.unwrap();
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0].chats, vec![old]);
    assert_eq!(erasures[0].notes, vec![OfflineId(Ulid(9))]);
    assert_eq!(erasures[0].reason, Reason::Retention);
    assert_eq!(held(store, old).await, (false, 0));
    assert_eq!(held(store, open).await, (true, 2));
    assert_eq!(held(store, fresh).await, (true, 0));
    assert!(store.read(|c| c.notes(10, None)).await.unwrap().is_empty());
    let counted = store
        .read(move |c| dry_run(c, "demo", Some(30), now))
        .await
        .unwrap();
    assert_eq!((counted.chats, counted.notes), (0, 0));
    assert!(
        sweep_site(store, "primary", "demo", 30, now)
            .await
            .unwrap()
            .is_empty()
    );
    // The erased chat's late copies are dropped like a requested erasure's.
    let late = store
        .apply(Record::Message(message(10, old, "hello")), "redundant")
        .await
        .unwrap();
    assert_eq!(late.refused, Some(Refusal::Erased));
    f
}

/// A delivery about `about`, pending for subscription `wh_1`.
fn delivery_about(event: &str, about: Option<About>) -> Record {
    Record::Delivery(Delivery {
        about,
        ..Delivery::queued(
            "wh_1",
            event,
            "demo",
            EventType::MessageCreated,
            r#"{"data":{"text":"my address is ..."}}"#.into(),
            Millis(100),
            "primary",
        )
    })
}

/// The events of subscription `wh_1` this store holds.
async fn deliveries(store: &Store) -> Vec<String> {
    let held = store.read(|c| c.deliveries("wh_1", 100)).await.unwrap();
    let mut events: Vec<String> = held.into_iter().map(|d| d.event).collect();
    events.sort();
    events
}

async fn the_webhook_deliveries_about_an_erased_chat_go_with_it_and_never_come_back(
    f: Fixture,
) -> Fixture {
    // A delivery's body quotes the visitor: pending or delivered, it is
    // their data too.
    let store = f.store();
    let chat = chat_made(500, 1);
    seed_chat(store, chat, 10).await;
    for record in [
        delivery_about("evt_chat", Some(About::Chat(chat))),
        delivery_about("evt_other", Some(About::Chat(chat_made(550, 3)))),
        delivery_about("evt_test", None),
    ] {
        store.apply(record, "primary").await.unwrap();
    }
    erase_visitor(store).await;
    assert_eq!(deliveries(store).await, ["evt_other", "evt_test"]);
    let feed = feed(store).await;
    assert!(
        !feed.iter().any(|(_, key)| key.ends_with("/evt_chat")),
        "no feed entry of the erased delivery is left: {feed:?}"
    );
    // Replicated late from the other deployment, it is dropped.
    let late = store
        .apply(
            delivery_about("evt_chat", Some(About::Chat(chat))),
            "redundant",
        )
        .await
        .unwrap();
    assert_eq!(late.refused, Some(Refusal::Erased), "{late:?}");
    assert_eq!(deliveries(store).await, ["evt_other", "evt_test"]);
    f
}

/// SQLite's WAL keeps the old image of every page a commit changed: after
/// an erasure the log is emptied, so the erased text is nowhere in the
/// files even while the relay keeps running and nothing else commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_erasure_no_old_page_image_is_left_in_the_sqlite_wal() {
    let dir = super::temp_dir("erasure-wal");
    let (store, writer) = Store::open(&dir).unwrap();
    let chat = chat_made(1_000, 7);
    seed_chat(&store, chat, 900).await;
    let secret = b"my address is ...";
    let files = [
        crate::store::database_path(&dir),
        dir.join("twinline.sqlite3-wal"),
    ];
    let anywhere = |files: &[std::path::PathBuf]| {
        files.iter().any(|file| {
            std::fs::read(file).is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret))
        })
    };
    assert!(anywhere(&files), "the text is stored before the erasure");
    erase_visitor(&store).await;
    assert_eq!(held(&store, chat).await, (false, 0));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while anywhere(&files) {
        assert!(
            std::time::Instant::now() < deadline,
            "the erased text is still in {files:?} 5 s after the erasure"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(store);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
