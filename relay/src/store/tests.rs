//! The store's test suite, run against both backends: every test in
//! [`both_backends!`] runs once on a real SQLite file and once on a real
//! PostgreSQL database (a server this test binary starts, a fresh database
//! per test). A behaviour added to one backend fails here on the other
//! until it is ported. Tests of one engine's own machinery (SQLite's WAL
//! copier and its migrations from older files, PostgreSQL's commit-order
//! feed with several writers) follow.

use super::backend::ChatSummary;
use super::records::{ChatRecord, Record, Refusal};
use super::{Location, Store, StoreHealth, WriterThread, reads};
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use twinline_core::{
    Author, ChatId, ChatState, ChatStatus, Hlc, Lamport, Message, MessageId, Millis, OfflineId,
    OfflineNote, Rating, RatingId, Role, Score, Ulid, VisitorId, VisitorInfo,
};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "twinline-store-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A new, empty PostgreSQL database on this test binary's server.
pub(crate) fn pg_url(name: &str) -> String {
    let cluster = super::postgres::cluster::shared()
        .unwrap_or_else(|error| panic!("the PostgreSQL tests need a server: {error}"));
    cluster.database(name).unwrap()
}

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug)]
enum Engine {
    Sqlite,
    Postgres,
}

/// A store under test, reopenable at the same place.
struct Fixture {
    location: Location,
    opened: Option<(Store, WriterThread)>,
}

impl Fixture {
    async fn new(engine: Engine, name: &str) -> Fixture {
        let location = match engine {
            Engine::Sqlite => Location::Sqlite(temp_dir(name)),
            Engine::Postgres => {
                let name = name.to_string();
                let url = tokio::task::spawn_blocking(move || pg_url(&name))
                    .await
                    .unwrap();
                Location::Postgres {
                    url,
                    node: "node-1".into(),
                }
            }
        };
        let mut fixture = Fixture {
            location,
            opened: None,
        };
        fixture.open().await;
        fixture
    }

    async fn open(&mut self) {
        let location = self.location.clone();
        self.opened = Some(
            tokio::task::spawn_blocking(move || Store::open_at(&location))
                .await
                .unwrap()
                .unwrap(),
        );
    }

    fn store(&self) -> &Store {
        &self.opened.as_ref().expect("open").0
    }

    /// Another store handle on the same data (PostgreSQL: another node).
    async fn another_node(&self, node: &str) -> (Store, WriterThread) {
        let location = match &self.location {
            Location::Postgres { url, .. } => Location::Postgres {
                url: url.clone(),
                node: node.into(),
            },
            Location::Sqlite(_) => panic!("one SQLite file has one writer"),
        };
        tokio::task::spawn_blocking(move || Store::open_at(&location))
            .await
            .unwrap()
            .unwrap()
    }

    async fn close(&mut self) {
        if let Some((store, writer)) = self.opened.take() {
            drop(store);
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .unwrap();
        }
    }

    async fn reopen(&mut self) {
        self.close().await;
        self.open().await;
    }

    async fn finish(mut self) {
        self.close().await;
        if let Location::Sqlite(dir) = &self.location {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn run<F, Fut>(engine: Engine, name: &str, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fixture = Fixture::new(engine, name).await;
    test(fixture).await.finish().await;
}

/// Runs each listed `async fn(Fixture) -> Fixture` on both backends.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Engine::Sqlite, stringify!($name), super::$name).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Engine::Postgres, stringify!($name), super::$name).await;
                }
            )*
        }
    };
}

both_backends!(
    a_message_is_stored_once_however_often_it_arrives,
    a_chat_status_keeps_the_latest_stamp_whatever_the_arrival_order,
    the_feed_leaves_out_the_askers_own_changes_and_survives_reopening,
    a_checkpoint_moves_with_the_batch_it_covers,
    reads_go_on_while_readers_are_busy,
    a_page_of_messages_leaves_the_chat_rows_as_one_message_at_a_time_would,
    a_taken_id_with_another_chat_or_text_is_refused_and_the_stored_one_stays,
    copies_of_one_message_with_different_times_settle_on_the_earliest,
    lamports_out_of_range_or_far_past_the_chat_are_refused,
    notes_merge_by_id_and_the_inbox_lists_them_per_site,
    the_queue_takes_sources_in_turn_and_filters_sites,
    accounts_are_last_writer_wins_and_listed_by_name,
    an_operators_open_chats_are_those_it_holds,
    a_value_the_engine_refuses_fails_only_its_own_job,
    the_probe_commit_clears_failing_and_keeps_the_boot_epoch,
    a_chat_was_created_when_its_header_first_arrived_here,
    a_stored_message_says_its_chats_state_at_its_commit,
    the_head_watch_follows_every_commit_that_appends,
    a_rating_is_a_register_of_the_header_merged_by_stamp_and_fed_to_the_peer,
    an_api_key_revocation_wins_replicates_and_keys_read_by_id,
    webhooks_and_their_deliveries_merge_read_and_replicate,
    a_read_only_open_reads_and_bumps_no_epoch,
    a_sites_chats_page_by_id_greatest_first_with_a_state_filter,
);

fn rated(chat: ChatId, id: u128, score: Score, wall: u64) -> ChatRecord {
    ChatRecord {
        rating: Some(Rating {
            id: RatingId(Ulid(id)),
            score,
            comment: format!("rating {id}"),
            stamp: stamp(wall, 1),
        }),
        ..header(chat, ChatStatus::default())
    }
}

async fn a_rating_is_a_register_of_the_header_merged_by_stamp_and_fed_to_the_peer(
    f: Fixture,
) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(41));
    let read = |store: &Store| {
        let store = store.clone();
        async move {
            store
                .read(move |c| reads::chat_in(c, chat))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let first = store
        .apply(Record::Chat(rated(chat, 1, Score::Bad, 10)), "primary")
        .await
        .unwrap();
    assert!(first.changed);
    let later = store
        .apply(Record::Chat(rated(chat, 2, Score::Good, 20)), "redundant")
        .await
        .unwrap();
    assert!(later.changed, "the visitor's later rating wins");
    for again in [
        rated(chat, 1, Score::Bad, 10),
        rated(chat, 2, Score::Good, 20),
    ] {
        let applied = store.apply(Record::Chat(again), "redundant").await.unwrap();
        assert!(
            !applied.changed,
            "an older or the same rating changes nothing"
        );
    }
    // A status change (a header without the rating) keeps it.
    let closed = ChatStatus {
        state: ChatState::Closed,
        operator: None,
        stamp: stamp(30, 1),
    };
    store
        .apply(Record::Chat(header(chat, closed.clone())), "primary")
        .await
        .unwrap();
    let stored = read(store).await;
    assert_eq!(stored.status, closed);
    let rating = stored.rating.expect("still rated");
    assert_eq!(
        (rating.id, rating.score, rating.comment.as_str()),
        (RatingId(Ulid(2)), Score::Good, "rating 2")
    );
    // The feed carries the header with its rating to the peer.
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "redundant"))
        .await
        .unwrap();
    let fed = page.changes.iter().rev().find_map(|c| match &c.record {
        Record::Chat(header) if header.id == chat => header.rating.clone(),
        _ => None,
    });
    assert_eq!(fed.map(|r| r.id), Some(RatingId(Ulid(2))));
    // A peer's rating past the comment limit is refused, the stored one stays.
    let mut long = rated(chat, 3, Score::Bad, 40);
    if let Some(r) = &mut long.rating {
        r.comment = "x".repeat(twinline_core::rating::MAX_COMMENT_CHARS + 1);
    }
    let refused = store.apply(Record::Chat(long), "redundant").await.unwrap();
    assert!(matches!(refused.refused, Some(Refusal::Invalid(_))));
    assert_eq!(
        read(store).await.rating.map(|r| r.id),
        Some(RatingId(Ulid(2)))
    );
    f
}

async fn the_probe_commit_clears_failing_and_keeps_the_boot_epoch(mut f: Fixture) -> Fixture {
    let epoch = f.store().epoch();
    f.store().stats().failing.store(true, Relaxed);
    assert!(f.store().failing());
    assert_eq!(f.store().stats().health(), StoreHealth::Failing);
    f.store().probe_commit().await.unwrap();
    assert!(!f.store().failing(), "a commit that wrote clears failing");
    assert_eq!(f.store().stats().health(), StoreHealth::Ok);
    f.reopen().await;
    assert_eq!(
        f.store().epoch(),
        epoch + 1,
        "the epoch stored stays the boot's"
    );
    f
}

async fn a_chat_was_created_when_its_header_first_arrived_here(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(31));
    // Made by a peer whose clock runs ten minutes ahead.
    let ahead = crate::clock::now().plus(600_000);
    let before = crate::clock::now();
    store
        .apply(
            Record::Chat(ChatRecord {
                created: ahead,
                ..header(chat, ChatStatus::default())
            }),
            "redundant",
        )
        .await
        .unwrap();
    let after = crate::clock::now();
    let stored = store
        .read(move |c| reads::chat_in(c, chat))
        .await
        .unwrap()
        .unwrap();
    assert!(
        (before..=after).contains(&stored.created),
        "created on arrival, by this clock: {:?}",
        stored.created
    );
    // A later copy (another status) keeps the first arrival.
    store
        .apply(
            Record::Chat(ChatRecord {
                created: Millis(1),
                ..header(
                    chat,
                    ChatStatus {
                        stamp: stamp(5, 1),
                        ..ChatStatus::default()
                    },
                )
            }),
            "primary",
        )
        .await
        .unwrap();
    let again = store
        .read(move |c| reads::chat_in(c, chat))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.created, stored.created);
    f
}

async fn a_stored_message_says_its_chats_state_at_its_commit(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(41));
    let state_of = |applied: &super::records::Applied| applied.chat_state;
    // No header yet: the placeholder row waits, as a read would say.
    let first = store
        .apply(Record::Message(message(1, chat, "hello")), "primary")
        .await
        .unwrap();
    assert_eq!(state_of(&first), Some(ChatState::Waiting));
    let active = ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(10, 1),
    };
    store
        .apply(Record::Chat(header(chat, active)), "primary")
        .await
        .unwrap();
    let second = store
        .apply(
            Record::Message(message(2, chat, "after the accept")),
            "primary",
        )
        .await
        .unwrap();
    assert_eq!(state_of(&second), Some(ChatState::Active));
    // A duplicate stores nothing and says nothing.
    let again = store
        .apply(
            Record::Message(message(2, chat, "after the accept")),
            "primary",
        )
        .await
        .unwrap();
    assert_eq!(state_of(&again), None);
    // A header earlier in the same batch is what the message meets.
    let closed = ChatStatus {
        state: ChatState::Closed,
        operator: Some("ada".into()),
        stamp: stamp(20, 1),
    };
    let batch = store
        .apply_batch(
            vec![
                (Record::Chat(header(chat, closed.clone())), "primary".into()),
                (
                    Record::Message(message(3, chat, "closing")),
                    "primary".into(),
                ),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(state_of(&batch[0]), None, "only messages say it");
    assert_eq!(state_of(&batch[1]), Some(ChatState::Closed));
    // On PostgreSQL another node may change the header: this node's next
    // message meets what that node committed, never a copy kept here.
    if let Location::Postgres { .. } = &f.location {
        let (other, writer) = f.another_node("node-2").await;
        let reopened = ChatStatus {
            state: ChatState::Waiting,
            operator: None,
            stamp: stamp(30, 2),
        };
        other
            .apply(Record::Chat(header(chat, reopened)), "primary")
            .await
            .unwrap();
        let fourth = store
            .apply(Record::Message(message(4, chat, "back")), "primary")
            .await
            .unwrap();
        assert_eq!(state_of(&fourth), Some(ChatState::Waiting));
        drop(other);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .unwrap();
    }
    f
}

async fn the_head_watch_follows_every_commit_that_appends(mut f: Fixture) -> Fixture {
    let chat = ChatId(Ulid(42));
    let feed_head = |store: &Store| {
        let store = store.clone();
        async move { store.read(reads::head).await.unwrap() }
    };
    for id in 1..=5 {
        let store = f.store();
        store
            .apply(Record::Message(message(id, chat, "one")), "primary")
            .await
            .unwrap();
        assert_eq!(*store.head().borrow(), feed_head(store).await, "after {id}");
    }
    let store = f.store();
    let before = *store.head().borrow();
    // A batch of several moves it to its last change.
    store
        .apply_batch(
            (10..13)
                .map(|id| (Record::Message(message(id, chat, "many")), "primary".into()))
                .collect(),
            None,
        )
        .await
        .unwrap();
    let after = *store.head().borrow();
    assert_eq!(after, feed_head(store).await);
    assert!(after >= before + 3, "{before} -> {after}");
    // A duplicate appends nothing; a refused batch neither.
    store
        .apply(Record::Message(message(10, chat, "many")), "primary")
        .await
        .unwrap();
    store
        .apply(Record::Message(message(10, chat, "other text")), "primary")
        .await
        .unwrap();
    assert_eq!(*store.head().borrow(), after);
    assert_eq!(feed_head(store).await, after);
    f.reopen().await;
    assert_eq!(*f.store().head().borrow(), after, "known again at open");
    f.store()
        .apply(
            Record::Message(message(20, chat, "after reopening")),
            "primary",
        )
        .await
        .unwrap();
    let store = f.store();
    assert_eq!(*store.head().borrow(), feed_head(store).await);
    assert!(*store.head().borrow() > after);
    f
}

fn message(id: u128, chat: ChatId, text: &str) -> Message {
    Message {
        lamport: Lamport(id as u64),
        author: Author {
            role: Role::Visitor,
            id: "v".into(),
            name: String::new(),
        },
        id: MessageId(Ulid(id)),
        chat,
        text: text.into(),
        at: Millis(1_000 + id as u64),
        file: None,
    }
}

fn header(chat: ChatId, status: ChatStatus) -> ChatRecord {
    ChatRecord {
        id: chat,
        site: "demo".into(),
        visitor: VisitorId(Ulid(5)),
        created: Millis(1),
        status,
        info: VisitorInfo::default(),
        source: String::new(),
        rating: None,
        transcripts: Vec::new(),
    }
}

fn stamp(wall: u64, node: u64) -> Hlc {
    Hlc {
        wall: Millis(wall),
        counter: 0,
        node,
    }
}

fn note(id: u128, site: &str, text: &str, at: u64) -> OfflineNote {
    OfflineNote {
        id: OfflineId(Ulid(id)),
        site: site.into(),
        name: "N".into(),
        email: String::new(),
        text: text.into(),
        at: Millis(at),
    }
}

async fn a_message_is_stored_once_however_often_it_arrives(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(1));
    let first = store
        .apply(Record::Message(message(10, chat, "hi")), "primary")
        .await
        .unwrap();
    let again = store
        .apply(Record::Message(message(10, chat, "hi")), "redundant")
        .await
        .unwrap();
    assert!(first.changed);
    assert!(!again.changed);
    let messages = store.read(move |c| reads::messages(c, chat)).await.unwrap();
    assert_eq!(messages.len(), 1);
    // Only the first arrival is in the feed.
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "nobody"))
        .await
        .unwrap();
    assert_eq!(
        page.changes
            .iter()
            .filter(|c| c.record.kind() == "message")
            .count(),
        1
    );
    f
}

async fn a_chat_status_keeps_the_latest_stamp_whatever_the_arrival_order(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(2));
    let older = ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(10, 1),
    };
    let newer = ChatStatus {
        state: ChatState::Closed,
        operator: Some("ada".into()),
        stamp: stamp(20, 2),
    };
    store
        .apply(Record::Chat(header(chat, newer.clone())), "a")
        .await
        .unwrap();
    let late = store
        .apply(Record::Chat(header(chat, older)), "b")
        .await
        .unwrap();
    assert!(!late.changed, "an older write must not win");
    let stored = store
        .read(move |c| reads::chat_in(c, chat))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, newer);
    f
}

async fn the_feed_leaves_out_the_askers_own_changes_and_survives_reopening(
    mut f: Fixture,
) -> Fixture {
    let chat = ChatId(Ulid(3));
    f.store()
        .apply(Record::Message(message(1, chat, "local")), "primary")
        .await
        .unwrap();
    f.store()
        .apply(Record::Message(message(2, chat, "from peer")), "redundant")
        .await
        .unwrap();
    f.reopen().await;
    let store = f.store();
    assert_eq!(store.epoch(), 2, "reopening bumps the epoch");
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "redundant"))
        .await
        .unwrap();
    let texts: Vec<String> = page
        .changes
        .iter()
        .filter_map(|c| match &c.record {
            Record::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["local".to_string()]);
    assert_eq!(page.next, page.head, "the scan covers the whole feed");
    assert_eq!(
        *store.head().borrow(),
        page.head,
        "the head is known at open"
    );
    f
}

async fn a_checkpoint_moves_with_the_batch_it_covers(f: Fixture) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(4));
    store
        .apply_batch(
            vec![(Record::Message(message(7, chat, "x")), "redundant".into())],
            Some(("redundant".into(), 42)),
        )
        .await
        .unwrap();
    let checkpoint = store
        .read(|c| reads::checkpoint(c, "redundant"))
        .await
        .unwrap();
    assert_eq!(checkpoint, 42);
    // Never moves backwards.
    store
        .apply_batch(vec![], Some(("redundant".into(), 3)))
        .await
        .unwrap();
    let checkpoint = store
        .read(|c| reads::checkpoint(c, "redundant"))
        .await
        .unwrap();
    assert_eq!(checkpoint, 42);
    f
}

async fn reads_go_on_while_readers_are_busy(f: Fixture) -> Fixture {
    // Every reader but one is busy (a long welcome read, say): a read still
    // gets the free one instead of queueing behind them.
    let store = f.store().clone();
    let busy = super::sqlite::READERS.min(super::postgres::READERS) - 1;
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Arc::new(std::sync::Mutex::new(held));
    let (started, busy_now) = std::sync::mpsc::channel();
    for _ in 0..busy {
        let (store, held, started) = (store.clone(), held.clone(), started.clone());
        std::thread::spawn(move || {
            store
                .read_blocking(|_| {
                    let _ = started.send(());
                    let _ = held.lock().unwrap().recv();
                    Ok(())
                })
                .unwrap();
        });
    }
    for _ in 0..busy {
        busy_now.recv().unwrap();
    }
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        store.read(|c| reads::head(c)),
    )
    .await
    .expect("a read waited behind busy readers");
    assert_eq!(answer.unwrap(), 0);
    drop(hold);
    f
}

async fn a_page_of_messages_leaves_the_chat_rows_as_one_message_at_a_time_would(
    f: Fixture,
) -> Fixture {
    // The writer gathers what a batch's messages do to their chats (latest
    // activity, queue preview) and writes it once per chat. Whatever the
    // order, the rows must end as they would with one write per message:
    // the last visitor message as the preview (an operator's reply does not
    // replace it), the newest time as the latest activity even when it came
    // first, and a chat whose header has not arrived yet created from its
    // first message, then filled in by the header.
    let talk = ChatId(Ulid(20));
    let orphan = ChatId(Ulid(21));
    let mut reply = message(33, talk, "an operator reply");
    reply.author.role = Role::Operator;
    let mut early = message(31, talk, "newest, applied first");
    early.at = Millis(9_000);
    let long = "x".repeat(300);
    let records = vec![
        Record::Message(early),
        Record::Message(message(30, orphan, "before its header")),
        Record::Chat(header(talk, ChatStatus::default())),
        Record::Message(message(32, talk, &long)),
        Record::Message(reply),
        Record::Message(message(34, orphan, "second")),
        Record::Message(message(34, orphan, "second")),
    ];
    let one_by_one = Fixture::new(Engine::Sqlite, "touch-one").await;
    for record in records.clone() {
        one_by_one.store().apply(record, "redundant").await.unwrap();
    }
    let before = crate::clock::now();
    let applied = f
        .store()
        .apply_batch(
            records
                .into_iter()
                .map(|record| (record, "redundant".to_string()))
                .collect(),
            Some(("redundant".into(), 7)),
        )
        .await
        .unwrap();
    let after = crate::clock::now();
    assert_eq!(
        applied.iter().filter(|a| a.changed).count(),
        6,
        "the repeated message is stored once"
    );
    let summaries = |store: &Store| {
        let store = store.clone();
        async move { store.read(|c| c.summaries()).await.unwrap() }
    };
    // A header's `created` is when it arrived at each store; all else is
    // the same whether the records came one by one or in one batch.
    let arrival_aside = |mut rows: Vec<ChatSummary>| {
        for row in rows.iter_mut().filter(|row| !row.site.is_empty()) {
            row.created = Millis(0);
        }
        rows
    };
    let rows = summaries(f.store()).await;
    assert_eq!(
        arrival_aside(rows.clone()),
        arrival_aside(summaries(one_by_one.store()).await)
    );
    one_by_one.finish().await;
    let ChatSummary {
        site,
        created,
        state,
        last_at,
        preview,
        ..
    } = &rows[0];
    assert_eq!((site.as_str(), state.as_str()), ("demo", "waiting"));
    assert!((before..=after).contains(created), "created on arrival");
    assert_eq!(*last_at, Some(Millis(9_000)));
    assert_eq!(preview, &"x".repeat(120));
    let ChatSummary {
        site,
        created,
        last_at,
        preview,
        ..
    } = &rows[1];
    assert_eq!(site, "", "no header for this chat yet");
    assert_eq!((*created, *last_at), (Millis(1_030), Some(Millis(1_034))));
    assert_eq!(preview, "second");
    // The header that comes later fills the placeholder in.
    f.store()
        .apply(
            Record::Chat(header(orphan, ChatStatus::default())),
            "redundant",
        )
        .await
        .unwrap();
    let filled = f
        .store()
        .read(move |c| reads::chat_in(c, orphan))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(filled.site, "demo");
    let queue = f.store().read(|c| reads::queue(c, 10, None)).await.unwrap();
    assert_eq!(queue.len(), 2, "both chats wait: their visitors wrote");
    f
}

async fn a_taken_id_with_another_chat_or_text_is_refused_and_the_stored_one_stays(
    f: Fixture,
) -> Fixture {
    let store = f.store();
    let chat = ChatId(Ulid(1));
    let other_chat = ChatId(Ulid(2));
    store
        .apply(Record::Message(message(10, chat, "original")), "primary")
        .await
        .unwrap();
    let moved = Message {
        chat: other_chat,
        ..message(10, chat, "original")
    };
    for impostor in [moved, message(10, chat, "rewritten")] {
        let applied = store
            .apply(Record::Message(impostor), "primary")
            .await
            .unwrap();
        assert!(!applied.changed);
        assert_eq!(applied.refused, Some(Refusal::IdTaken("message")));
    }
    let stored = store.read(move |c| reads::messages(c, chat)).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, "original");
    let elsewhere = store
        .read(move |c| reads::messages(c, other_chat))
        .await
        .unwrap();
    assert!(elsewhere.is_empty());
    f
}

async fn copies_of_one_message_with_different_times_settle_on_the_earliest(f: Fixture) -> Fixture {
    // Each relay stamps its own receive time; a replay to the other
    // deployment after a failover and the original meet by replication.
    let store = f.store();
    let chat = ChatId(Ulid(1));
    let later = Message {
        at: Millis(5_000),
        ..message(10, chat, "hi")
    };
    let earlier = Message {
        at: Millis(4_000),
        ..message(10, chat, "hi")
    };
    store
        .apply(Record::Message(later.clone()), "redundant")
        .await
        .unwrap();
    let applied = store
        .apply(Record::Message(earlier.clone()), "primary")
        .await
        .unwrap();
    assert!(!applied.changed && applied.refused.is_none(), "a duplicate");
    let again = store
        .apply(Record::Message(later), "redundant")
        .await
        .unwrap();
    assert!(
        !again.changed && again.refused.is_none(),
        "a later copy is a duplicate"
    );
    let stored = store.read(move |c| reads::messages(c, chat)).await.unwrap();
    assert_eq!(stored, vec![earlier]);
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "nobody"))
        .await
        .unwrap();
    assert_eq!(page.changes.len(), 1, "the feed holds the message once");
    f
}

async fn lamports_out_of_range_or_far_past_the_chat_are_refused(f: Fixture) -> Fixture {
    use twinline_core::model::{MAX_LAMPORT_STEP, MAX_SAFE_INTEGER, RecordError};
    let store = f.store();
    let chat = ChatId(Ulid(1));
    let with_lamport = |id: u128, lamport: u64| Message {
        lamport: Lamport(lamport),
        ..message(id, chat, "x")
    };
    let huge = store
        .apply(Record::Message(with_lamport(1, u64::MAX)), "primary")
        .await
        .unwrap();
    assert!(matches!(
        huge.refused,
        Some(Refusal::Invalid(RecordError::OutOfRange { .. }))
    ));
    let jump = store
        .apply(
            Record::Message(with_lamport(2, MAX_SAFE_INTEGER)),
            "primary",
        )
        .await
        .unwrap();
    assert!(matches!(
        jump.refused,
        Some(Refusal::Invalid(RecordError::LamportJump { .. }))
    ));
    // A console replaying a long chat in order, in one job, climbs one
    // step at a time: every message passes.
    let replay: Vec<(Record, String)> = (0..3 * MAX_LAMPORT_STEP)
        .map(|i| {
            (
                Record::Message(with_lamport(10 + u128::from(i), i + 1)),
                "primary".to_string(),
            )
        })
        .collect();
    let applied = store.apply_batch(replay, None).await.unwrap();
    assert!(applied.iter().all(|a| a.changed && a.refused.is_none()));
    let top = 3 * MAX_LAMPORT_STEP;
    let far = store
        .apply(
            Record::Message(with_lamport(1_000_000, top + MAX_LAMPORT_STEP)),
            "primary",
        )
        .await
        .unwrap();
    assert!(
        far.changed,
        "exactly one step past the chat's highest is allowed"
    );
    let stored = store.read(move |c| reads::messages(c, chat)).await.unwrap();
    assert_eq!(stored.len() as u64, top + 1);
    f
}

async fn notes_merge_by_id_and_the_inbox_lists_them_per_site(f: Fixture) -> Fixture {
    let store = f.store();
    for (id, site, at) in [(1, "demo", 3_000), (2, "shop", 2_000), (3, "demo", 1_000)] {
        let applied = store
            .apply(Record::Note(note(id, site, "call me", at)), "primary")
            .await
            .unwrap();
        assert!(applied.changed);
    }
    let earlier = store
        .apply(Record::Note(note(1, "demo", "call me", 500)), "redundant")
        .await
        .unwrap();
    assert!(!earlier.changed && earlier.refused.is_none(), "a duplicate");
    let other = store
        .apply(
            Record::Note(note(1, "demo", "other text", 500)),
            "redundant",
        )
        .await
        .unwrap();
    assert_eq!(other.refused, Some(Refusal::IdTaken("note")));
    let all = store.read(|c| reads::notes(c, 10, None)).await.unwrap();
    let ids: Vec<(u128, u64)> = all.iter().map(|n| (n.id.0.0, n.at.0)).collect();
    assert_eq!(
        ids,
        vec![(2, 2_000), (3, 1_000), (1, 500)],
        "newest first, the duplicate's earlier time kept (and sorted by)"
    );
    let demo = vec!["demo".to_string()];
    let only_demo = store
        .read(move |c| reads::notes(c, 10, Some(&demo)))
        .await
        .unwrap();
    assert_eq!(only_demo.len(), 2);
    let first = store.read(|c| reads::notes(c, 1, None)).await.unwrap();
    assert_eq!(first.len(), 1, "the limit holds");
    f
}

async fn the_queue_takes_sources_in_turn_and_filters_sites(f: Fixture) -> Fixture {
    let store = f.store();
    // Three chats from one source, one from another, one on another site,
    // one whose visitor has not written (it does not wait yet).
    let chats = [
        (40, "demo", "busy", 10),
        (41, "demo", "busy", 11),
        (42, "demo", "busy", 12),
        (43, "demo", "quiet", 13),
        (44, "shop", "quiet", 14),
        (45, "demo", "silent", 15),
    ];
    for (id, site, source, created) in chats {
        let chat = ChatId(Ulid(id));
        store
            .apply(
                Record::Chat(ChatRecord {
                    site: site.into(),
                    source: source.into(),
                    rating: None,
                    created: Millis(created),
                    ..header(chat, ChatStatus::default())
                }),
                "primary",
            )
            .await
            .unwrap();
        if id != 45 {
            store
                .apply(Record::Message(message(id * 10, chat, "hello")), "primary")
                .await
                .unwrap();
        }
    }
    let queue = store.read(|c| reads::queue(c, 10, None)).await.unwrap();
    let order: Vec<u128> = queue.iter().map(|q| q.chat.0.0).collect();
    assert_eq!(
        order,
        vec![40, 43, 41, 44, 42],
        "each source's oldest first, then the next; the silent chat does not wait"
    );
    let demo = vec!["demo".to_string()];
    let queue = store
        .read(move |c| reads::queue(c, 10, Some(&demo)))
        .await
        .unwrap();
    let order: Vec<u128> = queue.iter().map(|q| q.chat.0.0).collect();
    assert_eq!(order, vec![40, 43, 41, 42]);
    assert_eq!(queue[0].preview, "hello");
    let shop = vec!["shop".to_string()];
    let queue = store
        .read(move |c| reads::queue(c, 10, Some(&shop)))
        .await
        .unwrap();
    assert_eq!(queue.len(), 1);
    let none: Vec<String> = Vec::new();
    let queue = store
        .read(move |c| reads::queue(c, 10, Some(&none)))
        .await
        .unwrap();
    assert!(queue.is_empty(), "no sites, no chats");
    f
}

async fn a_read_only_open_reads_and_bumps_no_epoch(mut f: Fixture) -> Fixture {
    use super::records::{Account, OperatorRole};
    let epoch = f.store().epoch();
    let account = Account {
        username: "ada".into(),
        name: "Ada".into(),
        hash: "h".into(),
        stamp: stamp(10, 1),
        role: OperatorRole::Agent,
        sites: vec!["demo".into()],
        version: 0,
        removed: false,
    };
    f.store()
        .apply(Record::Account(account), "primary")
        .await
        .unwrap();
    f.close().await;
    let location = f.location.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let store = Store::open_read_only(&location).unwrap();
        (
            store.read(reads::accounts).unwrap(),
            store.read(reads::head).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(listed.0.len(), 1, "the read-only store reads");
    assert!(listed.1 > 0, "and sees the feed");
    f.open().await;
    assert_eq!(
        f.store().epoch(),
        epoch + 1,
        "the read-only open did not count as a start"
    );
    f
}

async fn accounts_are_last_writer_wins_and_listed_by_name(f: Fixture) -> Fixture {
    use super::records::{Account, OperatorRole};
    let store = f.store();
    let account = |username: &str, wall: u64, name: &str| Account {
        username: username.into(),
        name: name.into(),
        hash: "h".into(),
        stamp: stamp(wall, 1),
        role: OperatorRole::Agent,
        sites: vec!["demo".into()],
        version: 0,
        removed: false,
    };
    store
        .apply(Record::Account(account("zoe", 10, "Zoe")), "primary")
        .await
        .unwrap();
    store
        .apply(Record::Account(account("ada", 20, "Ada 2")), "primary")
        .await
        .unwrap();
    let older = store
        .apply(Record::Account(account("ada", 10, "Ada 1")), "redundant")
        .await
        .unwrap();
    assert!(!older.changed);
    let Record::Account(kept) = older.record else {
        panic!("an account")
    };
    assert_eq!(kept.name, "Ada 2", "the answer is what stays");
    let listed = store.read(reads::accounts).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["Ada 2", "Zoe"]);
    let one = store
        .read(|c| reads::account(c, "zoe"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.name, "Zoe");
    assert!(
        store
            .read(|c| reads::account(c, "nobody"))
            .await
            .unwrap()
            .is_none()
    );
    let counts = store.read(reads::counts).await.unwrap();
    assert_eq!(counts, (0, 0, 0, 2));
    f
}

async fn an_operators_open_chats_are_those_it_holds(f: Fixture) -> Fixture {
    let store = f.store();
    // Oldest first: a chat's `created` is when it arrived (a few ms apart
    // here, so no two share a millisecond).
    for (id, state, operator) in [
        (53, ChatState::Active, Some("ada")),
        (54, ChatState::Waiting, None),
        (50, ChatState::Active, Some("ada")),
        (51, ChatState::Active, Some("bob")),
        (52, ChatState::Closed, Some("ada")),
    ] {
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let status = ChatStatus {
            state,
            operator: operator.map(str::to_string),
            stamp: stamp(5, 1),
        };
        store
            .apply(Record::Chat(header(ChatId(Ulid(id)), status)), "primary")
            .await
            .unwrap();
    }
    let held = store
        .read(|c| reads::chats_of_operator(c, "ada"))
        .await
        .unwrap();
    let ids: Vec<u128> = held.iter().map(|c| c.id.0.0).collect();
    assert_eq!(ids, vec![53, 50], "active ones it holds, oldest first");
    f
}

async fn a_value_the_engine_refuses_fails_only_its_own_job(f: Fixture) -> Fixture {
    // A site with a NUL character is text PostgreSQL cannot store (SQLite
    // can). Either way, the batch the writer made of it and its neighbours
    // must not fail the neighbours: a refused value costs only its own job.
    let store = f.store();
    let mut waiting = Vec::new();
    for id in 0..20u128 {
        let chat = ChatId(Ulid(100 + id));
        let mut record = header(chat, ChatStatus::default());
        if id == 7 {
            record.site = "bad\0site".into();
        }
        waiting.push(store.submit(Record::Chat(record), "primary"));
    }
    let mut stored = 0;
    for answer in waiting {
        if answer.await.is_ok_and(|a| a.changed) {
            stored += 1;
        }
    }
    assert!(stored >= 19, "the neighbours were stored ({stored} of 20)");
    let counts = store.read(reads::counts).await.unwrap();
    assert_eq!(counts.0, stored);
    f
}

/// SQLite's own machinery.
mod sqlite_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_waits_for_another_connections_write_instead_of_failing() {
        // The CLI writes to a running relay's file (the boot epoch, an
        // account). The writer's transaction takes the write lock at
        // BEGIN, where the busy timeout waits; a deferred one would read
        // first and then fail at once ("database is locked") when the other
        // write commits under its snapshot.
        let dir = temp_dir("busy");
        let (store, writer) = Store::open(&dir).unwrap();
        let chat = ChatId(Ulid(43));
        store
            .apply(Record::Message(message(1, chat, "before")), "primary")
            .await
            .unwrap();
        let other = rusqlite::Connection::open(crate::store::database_path(&dir)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        other
            .execute("UPDATE meta SET value = value WHERE key = 'epoch'", [])
            .unwrap();
        let waiting = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .apply(Record::Message(message(2, chat, "during")), "primary")
                    .await
            })
        };
        // Long enough for the writer to be inside its transaction.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        other.execute_batch("COMMIT").unwrap();
        let applied = waiting
            .await
            .unwrap()
            .expect("the commit waited and went in");
        assert!(applied.changed);
        drop(other);
        drop(store);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_wal_is_copied_into_the_database_file_while_the_store_runs() {
        // The writer's own checkpoints are off; a thread of its own does
        // them. Without it the database file would keep its first few pages
        // while the WAL grew for as long as the relay runs.
        let dir = temp_dir("checkpointer");
        let (store, writer) = Store::open(&dir).unwrap();
        let chat = ChatId(Ulid(40));
        let text = "y".repeat(500);
        for batch in 0..20u128 {
            let records = (0..100u128)
                .map(|i| {
                    let id = 1_000 + batch * 100 + i;
                    (
                        Record::Message(message(id, chat, &text)),
                        "primary".to_string(),
                    )
                })
                .collect();
            store.apply_batch(records, None).await.unwrap();
        }
        let file = crate::store::database_path(&dir);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // 2,000 messages stored twice (table and feed): well over 1 MB.
            let size = std::fs::metadata(&file).unwrap().len();
            if size > 1_000_000 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database file is still {size} bytes: nothing was checkpointed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        drop(store);
        writer.join();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_store_from_before_version_2_is_migrated_and_cleaned_once() {
        use crate::store::records::OperatorRole;
        let dir = temp_dir("migrate");
        {
            // What an older relay left: schema 1, an account without role or
            // sites, a message with a Lamport clock past u64's half, a chat
            // with its status and details in columns of their own.
            let conn = rusqlite::Connection::open(crate::store::database_path(&dir)).unwrap();
            conn.execute_batch(crate::store::sqlite::SCHEMA_V1).unwrap();
            conn.execute(
                "INSERT INTO accounts (username, body) VALUES ('ada', ?1)",
                [r#"{"username":"ada","name":"Ada","hash":"x","stamp":{"wall":5,"counter":0,"node":13776814175437449529}}"#],
            )
            .unwrap();
            let chat = ChatId(Ulid(1));
            let hostile = Message {
                lamport: Lamport(u64::MAX),
                ..message(7, chat, "hostile")
            };
            conn.execute(
                "INSERT INTO messages (id, chat, lamport, body) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    hostile.id.to_string(),
                    chat.to_string(),
                    hostile.lamport.0 as i64,
                    serde_json::to_string(&hostile).unwrap()
                ],
            )
            .unwrap();
            let status = ChatStatus {
                state: ChatState::Active,
                operator: Some("ada".into()),
                stamp: stamp(9, 1),
            };
            conn.execute(
                "INSERT INTO chats (id, site, visitor, created, state, operator, status, info)
                 VALUES (?1, 'demo', ?2, 3, 'active', 'ada', ?3, ?4)",
                rusqlite::params![
                    chat.to_string(),
                    VisitorId(Ulid(5)).to_string(),
                    serde_json::to_string(&status).unwrap(),
                    serde_json::to_string(&VisitorInfo::default()).unwrap(),
                ],
            )
            .unwrap();
        }
        let (store, writer) = Store::open(&dir).unwrap();
        let account = store
            .read(|c| reads::account(c, "ada"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            account.role,
            OperatorRole::Admin,
            "it served every site before"
        );
        assert!(account.stamp.node < 1 << 53);
        let messages = store
            .read(|c| reads::messages(c, ChatId(Ulid(1))))
            .await
            .unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].lamport, Lamport(1));
        let chat = store
            .read(|c| reads::chat_in(c, ChatId(Ulid(1))))
            .await
            .unwrap()
            .expect("the chat keeps its header");
        assert_eq!(chat.status.operator.as_deref(), Some("ada"));
        assert_eq!((chat.site.as_str(), chat.created), ("demo", Millis(3)));
        drop(store);
        writer.join();
        // Opening again changes nothing more.
        let (store, writer) = Store::open(&dir).unwrap();
        let again = store
            .read(|c| reads::account(c, "ada"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again, account);
        drop(store);
        writer.join();
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// PostgreSQL with several writers: relay nodes sharing one database.
mod postgres_only {
    use super::*;
    use crate::store::backend::Backend;
    use crate::store::merge::{self, Job, Queued};
    use std::time::Duration;

    async fn both_answers(
        a: &Store,
        b: &Store,
        record: Record,
    ) -> (
        super::super::records::Applied,
        super::super::records::Applied,
    ) {
        let (first, second) = tokio::join!(a.apply(record.clone(), "primary"), async {
            b.apply(record.clone(), "primary").await
        });
        (first.unwrap(), second.unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_receiving_the_same_message_at_once_store_it_once() {
        // A visitor's replay reaching node 2 while node 1 still commits the
        // original: whichever commits second finds the row the other
        // inserted (its batch runs again) and answers with the duplicate.
        let f = Fixture::new(Engine::Postgres, "race").await;
        let (other, other_writer) = f.another_node("node-2").await;
        let chat = ChatId(Ulid(9));
        for id in 1..=100u128 {
            let (a, b) = both_answers(
                f.store(),
                &other,
                Record::Message(message(id, chat, "twice at once")),
            )
            .await;
            assert!(a.refused.is_none() && b.refused.is_none(), "{a:?} {b:?}");
            assert!(a.changed != b.changed, "stored exactly once: {a:?} {b:?}");
        }
        // Another text under a taken id, racing: one stored, one refused.
        let (a, b) = tokio::join!(
            f.store()
                .apply(Record::Message(message(500, chat, "one")), "primary"),
            other.apply(Record::Message(message(500, chat, "another")), "primary")
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            [a.changed, b.changed].iter().filter(|c| **c).count(),
            1,
            "{a:?} {b:?}"
        );
        assert_eq!(
            [&a, &b].iter().filter(|x| x.refused.is_some()).count(),
            1,
            "{a:?} {b:?}"
        );
        let messages = f
            .store()
            .read(move |c| reads::messages(c, chat))
            .await
            .unwrap();
        assert_eq!(messages.len(), 101);
        let page = f
            .store()
            .read(|c| reads::changes_since(c, 0, 1_000, "nobody"))
            .await
            .unwrap();
        let in_feed = page
            .changes
            .iter()
            .filter(|c| c.record.kind() == "message")
            .count();
        assert_eq!(in_feed, 101, "each message once in the feed");
        drop(other);
        tokio::task::spawn_blocking(move || other_writer.join())
            .await
            .unwrap();
        f.finish().await;
    }

    /// Reads the feed after `cursor` as the cross-node fan-out and the
    /// replication feed do; returns the messages' texts and the new cursor.
    async fn follow(store: &Store, cursor: u64) -> (Vec<String>, u64) {
        let changes = store
            .read(move |c| c.node_changes(cursor, 100))
            .await
            .unwrap();
        let page = store
            .read(move |c| c.changes_since(cursor, 100, "nobody"))
            .await
            .unwrap();
        let texts: Vec<String> = changes
            .iter()
            .filter_map(|c| match &c.change.record {
                Record::Message(m) => Some(m.text.clone()),
                _ => None,
            })
            .collect();
        let page_texts: Vec<String> = page
            .changes
            .iter()
            .filter_map(|c| match &c.record {
                Record::Message(m) => Some(m.text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, page_texts, "fan-out and replication read alike");
        (texts, page.next)
    }

    #[test]
    fn a_plain_sequence_lets_a_reader_skip_what_commits_late() {
        // Why the feed lock exists: with positions from a sequence alone, a
        // transaction that drew its position first can commit after one
        // that drew a later position, and a reader that moved its cursor
        // past the later one never sees the earlier.
        let url = pg_url("plain_sequence");
        let mut setup = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        setup
            .batch_execute("CREATE TABLE feed (seq BIGSERIAL PRIMARY KEY, text TEXT NOT NULL)")
            .unwrap();
        let mut first = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let mut second = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let mut early = first.transaction().unwrap();
        early
            .execute("INSERT INTO feed (text) VALUES ('drawn first')", &[])
            .unwrap();
        let mut late = second.transaction().unwrap();
        late.execute("INSERT INTO feed (text) VALUES ('drawn second')", &[])
            .unwrap();
        late.commit().unwrap();
        let seen: i64 = setup
            .query_one("SELECT max(seq) FROM feed", &[])
            .unwrap()
            .get(0);
        early.commit().unwrap();
        let after: Vec<String> = setup
            .query("SELECT text FROM feed WHERE seq > $1", &[&seen])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert!(
            after.is_empty(),
            "a reader at {seen} has skipped 'drawn first' for good"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_feed_position_drawn_first_and_committed_last_is_not_skipped() {
        // Node A draws its feed position and stalls before its commit (a
        // slow fsync, a pause). Node B writes meanwhile. Whatever a follower
        // (node C's fan-out, the replication feed) reads in between, it ends
        // up with both changes: B's append waits for A's commit, so B's
        // position is after A's.
        let f = Fixture::new(Engine::Postgres, "commit_order").await;
        let url = match &f.location {
            Location::Postgres { url, .. } => url.clone(),
            Location::Sqlite(_) => unreachable!(),
        };
        let chat = ChatId(Ulid(11));
        let (appended, appended_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let slow_node = std::thread::spawn(move || {
            let mut opened = crate::store::postgres::open(&url, "node-a").unwrap();
            let job = Job {
                records: vec![Queued::new(
                    Record::Message(message(1, chat, "from the slow node")),
                    "primary".into(),
                )],
                checkpoint: None,
                now: Millis(1),
                epoch: None,
            };
            opened
                .backend
                .transaction(&mut |tx| {
                    merge::apply(tx, &[&job])?;
                    // Its position is drawn; the commit waits.
                    let _ = appended.send(());
                    let _ = release_rx.recv();
                    Ok(())
                })
                .unwrap();
        });
        appended_rx.recv().unwrap();
        let (node_b, node_b_writer) = f.another_node("node-b").await;
        let follower = f.store();
        let (seen, cursor) = follow(follower, 0).await;
        assert!(seen.is_empty());
        let mut acked = Box::pin(node_b.apply(
            Record::Message(message(2, chat, "from the quick node")),
            "primary",
        ));
        let waited = tokio::time::timeout(Duration::from_millis(500), &mut acked).await;
        assert!(
            waited.is_err(),
            "node B's append must wait for the position drawn before it"
        );
        let (seen, cursor) = follow(follower, cursor).await;
        assert!(seen.is_empty(), "nothing is visible out of order: {seen:?}");
        release.send(()).unwrap();
        let applied = acked.await.unwrap();
        assert!(applied.changed);
        slow_node.join().unwrap();
        let (seen, cursor) = follow(follower, cursor).await;
        assert_eq!(seen, vec!["from the slow node", "from the quick node"]);
        let (seen, _) = follow(follower, cursor).await;
        assert!(seen.is_empty());
        drop(node_b);
        tokio::task::spawn_blocking(move || node_b_writer.join())
            .await
            .unwrap();
        f.finish().await;
    }
}

fn api_key(id: &str, site: &str, wall: u64, revoked: bool) -> super::api_keys::ApiKey {
    super::api_keys::ApiKey {
        id: id.into(),
        site: site.into(),
        name: "crm".into(),
        scopes: vec![super::api_keys::Scope::ChatsRead],
        hash: "ab".repeat(32),
        created: Millis(1),
        stamp: stamp(wall, 1),
        revoked,
    }
}

async fn an_api_key_revocation_wins_replicates_and_keys_read_by_id(f: Fixture) -> Fixture {
    let store = f.store();
    let made = store
        .apply(Record::ApiKey(api_key("k1", "demo", 20, false)), "primary")
        .await
        .unwrap();
    assert!(made.changed);
    store
        .apply(Record::ApiKey(api_key("k2", "other", 5, false)), "primary")
        .await
        .unwrap();
    // The revocation, made where the clock was behind, still wins...
    let revoked = store
        .apply(Record::ApiKey(api_key("k1", "demo", 10, true)), "redundant")
        .await
        .unwrap();
    assert!(revoked.changed, "a revocation wins whatever the stamps");
    // ... and a later copy that is not revoked does not bring it back.
    let late = store
        .apply(Record::ApiKey(api_key("k1", "demo", 99, false)), "primary")
        .await
        .unwrap();
    assert!(!late.changed);
    let stored = store
        .read(|c| reads::api_key(c, "k1"))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked);
    // Another secret under a taken id is refused and changes nothing.
    let other = super::api_keys::ApiKey {
        hash: "cd".repeat(32),
        ..api_key("k1", "demo", 100, true)
    };
    let refused = store.apply(Record::ApiKey(other), "primary").await.unwrap();
    assert_eq!(refused.refused, Some(Refusal::IdTaken("api key")));
    let listed = store.read(reads::api_keys).await.unwrap();
    let ids: Vec<(&str, bool)> = listed.iter().map(|k| (k.id.as_str(), k.revoked)).collect();
    assert_eq!(ids, vec![("k1", true), ("k2", false)]);
    assert!(
        store
            .read(|c| reads::api_key(c, "k3"))
            .await
            .unwrap()
            .is_none()
    );
    // The feed carries the key and its revocation, for the peer.
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "nobody"))
        .await
        .unwrap();
    let kinds: Vec<(&str, String)> = page
        .changes
        .iter()
        .map(|c| (c.record.kind(), c.record.key()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("api_key", "k1".to_string()),
            ("api_key", "k2".to_string()),
            ("api_key", "k1".to_string())
        ]
    );
    f
}

async fn a_sites_chats_page_by_id_greatest_first_with_a_state_filter(f: Fixture) -> Fixture {
    let store = f.store();
    let closed = ChatStatus {
        state: ChatState::Closed,
        operator: None,
        stamp: stamp(5, 1),
    };
    for id in 1..=5u128 {
        let mut chat = header(ChatId(Ulid(id)), ChatStatus::default());
        if id == 2 {
            chat.status = closed.clone();
        }
        store.apply(Record::Chat(chat), "primary").await.unwrap();
    }
    let mut elsewhere = header(ChatId(Ulid(9)), ChatStatus::default());
    elsewhere.site = "other".into();
    store
        .apply(Record::Chat(elsewhere), "primary")
        .await
        .unwrap();
    let ids = |chats: Vec<ChatRecord>| chats.iter().map(|c| c.id.0.0).collect::<Vec<u128>>();
    let first = store
        .read(|c| c.site_chats("demo", None, None, 2))
        .await
        .unwrap();
    assert_eq!(ids(first), vec![5, 4]);
    let next = store
        .read(|c| c.site_chats("demo", None, Some(ChatId(Ulid(4))), 10))
        .await
        .unwrap();
    assert_eq!(ids(next), vec![3, 2, 1]);
    let closed_only = store
        .read(|c| c.site_chats("demo", Some("closed"), None, 10))
        .await
        .unwrap();
    assert_eq!(ids(closed_only), vec![2]);
    let waiting = store
        .read(|c| c.site_chats("demo", Some("waiting"), Some(ChatId(Ulid(3))), 10))
        .await
        .unwrap();
    assert_eq!(ids(waiting), vec![1]);
    f
}

#[path = "erasure_tests.rs"]
mod erasure_tests;
#[path = "files_tests.rs"]
mod files_tests;

#[path = "transcript_tests.rs"]
mod transcript_tests;

#[path = "receipt_tests.rs"]
mod receipt_tests;

#[path = "search_tests.rs"]
mod search_tests;

async fn webhooks_and_their_deliveries_merge_read_and_replicate(f: Fixture) -> Fixture {
    use super::webhooks::{Delivery, DeliveryState, EventType, Subscription};
    let store = f.store();
    let hook = |id: &str, site: &str, wall: u64, removed: bool| Subscription {
        id: id.into(),
        site: site.into(),
        url: "https://hooks.example.com/".into(),
        events: vec![EventType::MessageCreated],
        enabled: true,
        secret: "whsec_c2VjcmV0".into(),
        created: Millis(1),
        stamp: stamp(wall, 1),
        removed,
    };
    for record in [
        hook("wh_a", "demo", 10, false),
        hook("wh_b", "other", 10, false),
    ] {
        assert!(
            store
                .apply(Record::Webhook(record), "primary")
                .await
                .unwrap()
                .changed
        );
    }
    // The deletion wins over a later copy, on either order.
    store
        .apply(Record::Webhook(hook("wh_a", "demo", 5, true)), "redundant")
        .await
        .unwrap();
    let late = store
        .apply(Record::Webhook(hook("wh_a", "demo", 99, false)), "primary")
        .await
        .unwrap();
    assert!(!late.changed);
    let demo = store
        .read(|c| reads::webhooks(c, Some("demo")))
        .await
        .unwrap();
    assert_eq!(demo.len(), 1);
    assert!(demo[0].removed);
    assert_eq!(
        store
            .read(|c| reads::webhooks(c, None))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .read(|c| reads::webhook(c, "wh_b"))
            .await
            .unwrap()
            .is_some()
    );
    let delivery = |event: &str, at: u64, next: u64, state: DeliveryState, wall: u64| Delivery {
        subscription: "wh_b".into(),
        event: event.into(),
        site: "other".into(),
        kind: EventType::MessageCreated,
        payload: format!("{{\"id\":\"{event}\"}}"),
        about: None,
        at: Millis(at),
        state,
        attempts: 0,
        owner: "primary".into(),
        lease_until: Millis(0),
        next_attempt: Millis(next),
        first_attempt: None,
        last_status: None,
        last_error: String::new(),
        delivered_at: None,
        stamp: stamp(wall, 1),
    };
    store
        .apply_batch(
            vec![
                (
                    Record::Delivery(delivery("evt_1", 1, 30, DeliveryState::Pending, 0)),
                    "primary".into(),
                ),
                (
                    Record::Delivery(delivery("evt_2", 2, 20, DeliveryState::Pending, 0)),
                    "primary".into(),
                ),
                (
                    Record::Delivery(delivery("evt_3", 3, 10, DeliveryState::Pending, 0)),
                    "primary".into(),
                ),
            ],
            Some(("webhooks".into(), 7)),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .read(|c| reads::checkpoint(c, "webhooks"))
            .await
            .unwrap(),
        7
    );
    // Delivered wins over a later pending claim.
    store
        .apply(
            Record::Delivery(delivery("evt_3", 3, 10, DeliveryState::Delivered, 5)),
            "redundant",
        )
        .await
        .unwrap();
    let claim = store
        .apply(
            Record::Delivery(delivery("evt_3", 3, 99, DeliveryState::Pending, 50)),
            "primary",
        )
        .await
        .unwrap();
    assert!(!claim.changed);
    let due: Vec<String> = store
        .read(|c| reads::pending_deliveries(c, 10))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.event)
        .collect();
    assert_eq!(
        due,
        vec!["evt_2", "evt_1"],
        "soonest due first, delivered left out"
    );
    let log: Vec<(String, DeliveryState)> = store
        .read(|c| reads::deliveries(c, "wh_b", 2))
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.event, d.state))
        .collect();
    assert_eq!(
        log,
        vec![
            ("evt_3".to_string(), DeliveryState::Delivered),
            ("evt_2".to_string(), DeliveryState::Pending)
        ],
        "newest event first"
    );
    // The feed carries them for the peer, and they read back from it.
    let page = store
        .read(|c| reads::changes_since(c, 0, 100, "nobody"))
        .await
        .unwrap();
    let kinds: Vec<&str> = page.changes.iter().map(|c| c.record.kind()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "webhook").count(), 3);
    assert_eq!(
        kinds.iter().filter(|k| **k == "webhook_delivery").count(),
        4
    );
    for change in &page.changes {
        let again = Record::from_feed(change.record.kind(), &change.record.body_json()).unwrap();
        assert_eq!(again.as_ref(), Some(&change.record));
    }
    f
}
