//! History search on both backends: words, filters, pages, hostile input,
//! and an erased chat that is not found any more.

use super::{Engine, Fixture, header, message, run, stamp};
use crate::erasure::{Subject, erase};
use crate::store::Store;
use crate::store::erasures::Reason;
use crate::store::records::{ChatRecord, Record};
use crate::store::search::{self, Filters, Page};
use twinline_core::{
    ChatId, ChatState, ChatStatus, Millis, Rating, RatingId, Score, Ulid, VisitorId, VisitorInfo,
};

both_backends!(
    a_search_finds_chats_by_their_words_and_filters,
    a_search_pages_by_chat_id_greatest_first,
    hostile_searches_are_plain_words_or_a_clear_refusal,
    an_erased_chat_is_not_found_and_its_words_are_gone,
);

/// Ids made at `made` ms (the "started" time), ordered by `n` within it.
fn chat_at(made: u64, n: u128) -> ChatId {
    ChatId::new(Millis(made), n)
}

fn closed_by(operator: &str, wall: u64) -> ChatStatus {
    ChatStatus {
        state: ChatState::Closed,
        operator: Some(operator.into()),
        stamp: stamp(wall, 1),
    }
}

fn chat(
    id: ChatId,
    site: &str,
    visitor: u128,
    name: &str,
    email: &str,
    status: ChatStatus,
) -> ChatRecord {
    ChatRecord {
        site: site.into(),
        visitor: VisitorId(Ulid(visitor)),
        info: VisitorInfo {
            name: name.into(),
            email: email.into(),
            page: "https://shop.example/".into(),
            left: None,
            stamp: stamp(1, 1),
        },
        ..header(id, status)
    }
}

async fn store_all(store: &Store, records: Vec<Record>) {
    for record in records {
        let applied = store.apply(record, "primary").await.unwrap();
        assert!(applied.refused.is_none(), "{applied:?}");
    }
}

async fn find(store: &Store, filters: Filters, reach: Option<Vec<String>>) -> Page {
    let query = filters.query(reach.as_deref()).unwrap();
    store.read(move |c| search::run(c, &query)).await.unwrap()
}

fn ids(page: &Page) -> Vec<ChatId> {
    page.items.iter().map(|found| found.chat.id).collect()
}

fn q(text: &str) -> Filters {
    Filters {
        q: Some(text.into()),
        ..Filters::default()
    }
}

/// Three chats: a closed one on demo about a refund (rated), an active one
/// on demo about an order, a closed one on "other" about a refund too.
async fn seed(store: &Store) -> [ChatId; 3] {
    let refund = chat_at(1_000_000, 1);
    let order = chat_at(2_000_000, 2);
    let elsewhere = chat_at(3_000_000, 3);
    let mut rated = chat(
        refund,
        "demo",
        7,
        "Ada Lovelace",
        "Ada@Example.com",
        closed_by("grace", 1_500_000),
    );
    rated.rating = Some(Rating {
        id: RatingId(Ulid(99)),
        score: Score::Good,
        comment: "quick".into(),
        stamp: stamp(1_600_000, 1),
    });
    store_all(
        store,
        vec![
            Record::Chat(rated),
            Record::Message(message(
                10,
                refund,
                "Hello, I would like a REFUND for my order",
            )),
            Record::Message(message(11, refund, "Sure: your refund is on its way.")),
            Record::Chat(chat(
                order,
                "demo",
                8,
                "Bob",
                "bob@example.com",
                ChatStatus {
                    state: ChatState::Active,
                    operator: Some("alan".into()),
                    stamp: stamp(2_100_000, 1),
                },
            )),
            Record::Message(message(
                20,
                order,
                "Where is my order? Ça fait une semaine.",
            )),
            Record::Chat(chat(
                elsewhere,
                "other",
                9,
                "Carol",
                "carol@example.com",
                closed_by("grace", 3_500_000),
            )),
            Record::Message(message(30, elsewhere, "refund please")),
        ],
    )
    .await;
    [refund, order, elsewhere]
}

async fn a_search_finds_chats_by_their_words_and_filters(f: Fixture) -> Fixture {
    let store = f.store();
    let [refund, order, elsewhere] = seed(store).await;
    // Words: case aside, each a prefix, all in one message.
    assert_eq!(
        ids(&find(store, q("refund"), None).await),
        [elsewhere, refund]
    );
    assert_eq!(ids(&find(store, q("REF"), None).await), [elsewhere, refund]);
    assert_eq!(ids(&find(store, q("order refund"), None).await), [refund]);
    assert_eq!(ids(&find(store, q("semaine ça"), None).await), [order]);
    assert!(
        ids(&find(store, q("efund"), None).await).is_empty(),
        "a prefix, not a substring"
    );
    assert!(
        ids(&find(store, q("refund semaine"), None).await).is_empty(),
        "not in one message"
    );
    // The hit: header, rating, a snippet of the first matching message.
    let page = find(store, q("refund order"), None).await;
    let hit = search::Hit::from(&page.items[0]);
    assert_eq!(hit.snippet, "Hello, I would like a REFUND for my order");
    assert_eq!(hit.site, "demo");
    assert_eq!(hit.state, ChatState::Closed);
    assert_eq!(hit.closed, Some(Millis(1_500_000)));
    assert_eq!(hit.started, Millis(1_000_000));
    assert_eq!(hit.rating.as_ref().map(|r| r.score), Some(Score::Good));
    assert_eq!(hit.name, "Ada Lovelace");
    assert_eq!(hit.chat, refund);
    assert_eq!(page.next_cursor, None);
    // An agent's reach: only its sites, whatever site it asks for.
    let demo = Some(vec!["demo".to_string()]);
    assert_eq!(ids(&find(store, q("refund"), demo.clone()).await), [refund]);
    let asks_other = Filters {
        site: Some("other".into()),
        ..q("refund")
    };
    assert!(ids(&find(store, asks_other.clone(), demo.clone()).await).is_empty());
    assert_eq!(ids(&find(store, asks_other, None).await), [elsewhere]);
    // Visitor: id, email (case aside), part of the name (case aside).
    for visitor in [
        VisitorId(Ulid(7)).to_string(),
        "ada@example.COM".into(),
        "lovel".into(),
    ] {
        let by = Filters {
            visitor: Some(visitor.clone()),
            ..Filters::default()
        };
        assert_eq!(ids(&find(store, by, None).await), [refund], "{visitor}");
    }
    // Operator and state.
    let grace = Filters {
        operator: Some("grace".into()),
        ..Filters::default()
    };
    assert_eq!(ids(&find(store, grace, None).await), [elsewhere, refund]);
    let open = Filters {
        state: Some("open".into()),
        ..Filters::default()
    };
    assert_eq!(ids(&find(store, open, None).await), [order]);
    let closed = Filters {
        state: Some("closed".into()),
        ..Filters::default()
    };
    assert_eq!(ids(&find(store, closed, None).await), [elsewhere, refund]);
    // Dates: started (the id's time) and closed (the closing stamp's).
    let started = Filters {
        from: Some(1_500_000),
        to: Some(3_000_000),
        ..Filters::default()
    };
    assert_eq!(ids(&find(store, started, None).await), [order]);
    let closed_in = Filters {
        date: Some("closed".into()),
        from: Some(1_000_000),
        to: Some(2_000_000),
        ..Filters::default()
    };
    assert_eq!(ids(&find(store, closed_in, None).await), [refund]);
    // No words: every chat the filters keep, each with its first message.
    let all = find(store, Filters::default(), None).await;
    assert_eq!(ids(&all), [elsewhere, order, refund]);
    assert_eq!(
        all.items[1].snippet,
        "Where is my order? Ça fait une semaine."
    );
    f
}

async fn a_search_pages_by_chat_id_greatest_first(f: Fixture) -> Fixture {
    let store = f.store();
    let chats: Vec<ChatId> = (0..5).map(|n| chat_at(1_000 + n as u64, 1)).collect();
    let mut records = Vec::new();
    for (n, &id) in chats.iter().enumerate() {
        records.push(Record::Chat(chat(
            id,
            "demo",
            7,
            "",
            "",
            closed_by("grace", 5_000),
        )));
        records.push(Record::Message(message(
            100 + n as u128,
            id,
            &format!("invoice number {n}"),
        )));
    }
    store_all(store, records).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = find(
            store,
            Filters {
                limit: Some(2),
                cursor: cursor.clone(),
                ..q("invoice")
            },
            None,
        )
        .await;
        seen.extend(ids(&page));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut newest_first = chats.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    f
}

async fn hostile_searches_are_plain_words_or_a_clear_refusal(f: Fixture) -> Fixture {
    let store = f.store();
    let [refund, ..] = seed(store).await;
    for hostile in [
        "\"refund",
        "refund\"",
        "refund*",
        "refund AND",
        "OR refund NOT",
        "words:refund",
        "NEAR(refund order)",
        "^refund",
        "refund'; DROP TABLE messages; --",
        "refund & | ! <-> :* \\",
        "{refund}",
        "(refund",
        "refund)",
        "%refund_",
    ] {
        let filters = Filters {
            site: Some("demo".into()),
            ..q(hostile)
        };
        let query = filters
            .query(None)
            .unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
        let only_refund = query.words == ["refund"];
        let page = store
            .read(move |c| search::run(c, &query))
            .await
            .unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
        let found = ids(&page);
        if only_refund {
            assert_eq!(found, [refund], "{hostile:?} is the word refund");
        }
    }
    // Hostile filters are values, never SQL.
    for visitor in ["' OR 1=1 --", "%", "_", "\"", "\\"] {
        let filters = Filters {
            visitor: Some(visitor.into()),
            operator: Some(visitor.into()),
            site: Some(visitor.into()),
            ..Filters::default()
        };
        assert!(
            ids(&find(store, filters, None).await).is_empty(),
            "{visitor:?}"
        );
    }
    // Too long, too many words: refused before any engine is asked.
    assert!(q(&"refund ".repeat(100)).query(None).is_err());
    assert!(q("a b c d e f g h i j").query(None).is_err());
    // A very long word is cut as it was indexed, and still matches.
    let long = format!("{}z", "x".repeat(twinline_core::model::MAX_TEXT_CHARS - 1));
    let id = chat_at(9_000_000, 9);
    store_all(
        store,
        vec![
            Record::Chat(chat(id, "demo", 7, "", "", closed_by("grace", 9_100_000))),
            Record::Message(message(90, id, &long)),
        ],
    )
    .await;
    let long_query = q(&"x".repeat(search::MAX_QUERY_CHARS));
    assert_eq!(ids(&find(store, long_query, None).await), [id]);
    f
}

async fn an_erased_chat_is_not_found_and_its_words_are_gone(f: Fixture) -> Fixture {
    let store = f.store();
    let [refund, _order, elsewhere] = seed(store).await;
    assert_eq!(
        ids(&find(store, q("refund"), None).await),
        [elsewhere, refund]
    );
    erase(
        store,
        "primary",
        "demo",
        &Subject::Visitor(VisitorId(Ulid(7))),
        Reason::Request,
    )
    .await
    .unwrap();
    assert_eq!(ids(&find(store, q("refund"), None).await), [elsewhere]);
    // A new chat with the same words is found alone: nothing of the erased
    // one's index answers for it.
    let again = chat_at(4_000_000, 4);
    store_all(
        store,
        vec![
            Record::Chat(chat(
                again,
                "demo",
                8,
                "",
                "",
                closed_by("grace", 4_100_000),
            )),
            Record::Message(message(40, again, "refund again")),
        ],
    )
    .await;
    assert_eq!(
        ids(&find(store, q("refund"), None).await),
        [again, elsewhere]
    );
    assert_eq!(super::super::search::words("refund again"), "refund again");
    f
}

/// SQLite: the index holds exactly the stored messages' rows, after an
/// erasure too (the triggers), and no word of the erased chat stays in the
/// index's own pages. A contentless FTS5 table deletes a row by a
/// tombstone; the tokens stay in the segment blobs (`message_words_data`)
/// until the segments are merged, readable by anyone who opens the file,
/// so the erasure merges them (`optimize`). Without it "hello", a word only
/// the erased chat had, was still in the blobs.
#[tokio::test]
async fn sqlite_index_rows_follow_the_messages_through_erasure() {
    let f = Fixture::new(Engine::Sqlite, "search_index_rows").await;
    let store = f.store().clone();
    let [refund, ..] = seed(&store).await;
    let super::Location::Sqlite(dir) = f.location.clone() else {
        unreachable!()
    };
    let count = |dir: &std::path::Path, word: &str| -> i64 {
        let conn = rusqlite::Connection::open(crate::store::database_path(dir)).unwrap();
        conn.query_row(
            "SELECT count(*) FROM message_words WHERE message_words MATCH ?1",
            [format!("\"{word}\"*")],
            |row| row.get(0),
        )
        .unwrap()
    };
    let blobs_hold = |dir: &std::path::Path, word: &[u8]| -> bool {
        let conn = rusqlite::Connection::open(crate::store::database_path(dir)).unwrap();
        let mut select = conn
            .prepare("SELECT block FROM message_words_data")
            .unwrap();
        let blocks: Vec<Vec<u8>> = select
            .query_map([], |row| row.get::<_, Option<Vec<u8>>>(0))
            .unwrap()
            .map(|block| block.unwrap().unwrap_or_default())
            .collect();
        blocks
            .iter()
            .any(|block| block.windows(word.len()).any(|w| w == word))
    };
    assert_eq!(count(&dir, "refund"), 3);
    assert!(
        blobs_hold(&dir, b"hello"),
        "the seeded word is in the index's pages (else this test shows nothing)"
    );
    erase(
        &store,
        "primary",
        "demo",
        &Subject::Visitor(VisitorId(Ulid(7))),
        Reason::Request,
    )
    .await
    .unwrap();
    assert_eq!(
        count(&dir, "refund"),
        1,
        "the erased chat's two messages left the index"
    );
    assert!(!ids(&find(&store, q("refund"), None).await).contains(&refund));
    assert!(
        !blobs_hold(&dir, b"hello"),
        "an erased chat's word is still in the FTS5 segments"
    );
    assert!(blobs_hold(&dir, b"please"), "another chat's words stay");
    drop(store);
    f.finish().await;
}

/// SQLite: a store from before search (schema 1, migrated through every
/// version) has its old messages indexed, and new ones join them.
#[tokio::test]
async fn sqlite_messages_stored_before_search_are_found_after_the_migration() {
    let dir = super::temp_dir("search_migration");
    let chat = chat_at(1_000, 1);
    {
        let conn = rusqlite::Connection::open(crate::store::database_path(&dir)).unwrap();
        conn.execute_batch(crate::store::sqlite::SCHEMA_V1).unwrap();
        let old = message(7, chat, "A legacy Refund question");
        conn.execute(
            "INSERT INTO messages (id, chat, lamport, body) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                old.id.to_string(),
                chat.to_string(),
                old.lamport.0 as i64,
                serde_json::to_string(&old).unwrap()
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO chats (id, site, visitor, created, state, operator, status, info)
             VALUES (?1, 'demo', ?2, 3, 'closed', 'ada', ?3, ?4)",
            rusqlite::params![
                chat.to_string(),
                VisitorId(Ulid(5)).to_string(),
                serde_json::to_string(&closed_by("ada", 9)).unwrap(),
                serde_json::to_string(&VisitorInfo::default()).unwrap(),
            ],
        )
        .unwrap();
    }
    let (store, writer) = Store::open(&dir).unwrap();
    let page = find(&store, q("legacy refund"), None).await;
    assert_eq!(ids(&page), [chat]);
    assert_eq!(page.items[0].snippet, "A legacy Refund question");
    store_all(
        &store,
        vec![Record::Message(message(8, chat, "legacy answer"))],
    )
    .await;
    let page = find(&store, q("answer"), None).await;
    assert_eq!(ids(&page), [chat]);
    drop(store);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// PostgreSQL: a database from before search (schema 4) has its messages'
/// words filled by the migration, so they are found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_messages_stored_before_search_are_found_after_the_migration() {
    let mut f = Fixture::new(Engine::Postgres, "search_pg_migration").await;
    let id = chat_at(1_000, 1);
    store_all(
        f.store(),
        vec![
            Record::Chat(chat(id, "demo", 7, "", "", closed_by("ada", 9))),
            Record::Message(message(7, id, "A legacy Refund question")),
        ],
    )
    .await;
    f.close().await;
    let super::Location::Postgres { url, .. } = f.location.clone() else {
        unreachable!()
    };
    // Back to schema 4: no words column, no index over it.
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "DROP INDEX messages_words; DROP INDEX chats_by_state_id;
                 ALTER TABLE messages DROP COLUMN words;
                 UPDATE meta SET value = '4' WHERE key = 'schema';",
            )
            .unwrap();
    })
    .await
    .unwrap();
    f.open().await;
    let page = find(f.store(), q("legacy refund"), None).await;
    assert_eq!(ids(&page), [id]);
    assert_eq!(page.items[0].snippet, "A legacy Refund question");
    f.finish().await;
}
