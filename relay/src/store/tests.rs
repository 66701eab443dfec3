//! The store's merge rules and change feed, on real SQLite files.

use super::records::{ChatRecord, Record, Refusal};
use super::{Store, reads};
use twinline_core::{
    Author, ChatId, ChatState, ChatStatus, Hlc, Lamport, Message, MessageId, Millis, Role, Ulid,
    VisitorId, VisitorInfo,
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
    }
}

#[tokio::test]
async fn a_message_is_stored_once_however_often_it_arrives() {
    let dir = temp_dir("idempotent");
    let (store, writer) = Store::open(&dir).unwrap();
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_chat_status_keeps_the_latest_stamp_whatever_the_arrival_order() {
    let dir = temp_dir("lww");
    let (store, writer) = Store::open(&dir).unwrap();
    let chat = ChatId(Ulid(2));
    let older = ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: Hlc {
            wall: Millis(10),
            counter: 0,
            node: 1,
        },
    };
    let newer = ChatStatus {
        state: ChatState::Closed,
        operator: Some("ada".into()),
        stamp: Hlc {
            wall: Millis(20),
            counter: 0,
            node: 2,
        },
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_feed_leaves_out_the_askers_own_changes_and_survives_reopening() {
    let dir = temp_dir("feed");
    let chat = ChatId(Ulid(3));
    {
        let (store, writer) = Store::open(&dir).unwrap();
        store
            .apply(Record::Message(message(1, chat, "local")), "primary")
            .await
            .unwrap();
        store
            .apply(Record::Message(message(2, chat, "from peer")), "redundant")
            .await
            .unwrap();
        drop(store);
        writer.join();
    }
    let (store, writer) = Store::open(&dir).unwrap();
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_checkpoint_moves_with_the_batch_it_covers() {
    let dir = temp_dir("checkpoint");
    let (store, writer) = Store::open(&dir).unwrap();
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reads_go_on_while_a_reader_is_busy() {
    let dir = temp_dir("readers");
    let (store, _writer) = Store::open(&dir).unwrap();
    // Every reader but one is busy (a long welcome read, say): a read still
    // gets the free one instead of queueing behind them.
    let busy: Vec<_> = (0..(super::READERS - 1).max(1))
        .map(|_| store.readers.take())
        .collect();
    let (done, answer) = std::sync::mpsc::channel();
    let reader = store.clone();
    std::thread::spawn(move || {
        let one =
            reader.read_blocking(|conn| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)));
        let _ = done.send(one.unwrap());
    });
    let value = answer
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a read waited behind busy readers");
    assert_eq!(value, 1);
    drop(busy);
}

/// One chat row as the queue and the transcript lists see it.
type ChatRow = (String, String, i64, String, Option<i64>, String);

fn chat_rows(store: &Store) -> Vec<ChatRow> {
    store
        .read_blocking(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, site, created, state, last_at, preview FROM chats ORDER BY id",
            )?;
            stmt.query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })?
            .collect()
        })
        .unwrap()
}

#[tokio::test]
async fn a_page_of_messages_leaves_the_chat_rows_as_one_message_at_a_time_would() {
    // The writer gathers what a job's messages do to their chats (latest
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

    let one_by_one_dir = temp_dir("touch-one");
    let (one_by_one, one_writer) = Store::open(&one_by_one_dir).unwrap();
    for record in records.clone() {
        one_by_one.apply(record, "redundant").await.unwrap();
    }
    let paged_dir = temp_dir("touch-page");
    let (paged, paged_writer) = Store::open(&paged_dir).unwrap();
    let applied = paged
        .apply_batch(
            records
                .into_iter()
                .map(|record| (record, "redundant".to_string()))
                .collect(),
            Some(("redundant".into(), 7)),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.iter().filter(|a| a.changed).count(),
        6,
        "the repeated message is stored once"
    );

    let rows = chat_rows(&paged);
    assert_eq!(rows, chat_rows(&one_by_one));
    let (_, site, created, state, last_at, preview) = &rows[0];
    assert_eq!(
        (site.as_str(), *created, state.as_str()),
        ("demo", 1, "waiting")
    );
    assert_eq!(*last_at, Some(9_000));
    assert_eq!(preview, &"x".repeat(120));
    let (_, site, created, _, last_at, preview) = &rows[1];
    assert_eq!(site, "", "no header for this chat yet");
    assert_eq!((*created, *last_at), (1_030, Some(1_034)));
    assert_eq!(preview, "second");

    for (store, writer, dir) in [
        (one_by_one, one_writer, one_by_one_dir),
        (paged, paged_writer, paged_dir),
    ] {
        drop(store);
        writer.join();
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[tokio::test]
async fn the_wal_is_copied_into_the_database_file_while_the_store_runs() {
    // The writer's own checkpoints are off; a thread of its own does them.
    // Without it the database file would keep its first few pages while the
    // WAL grew for as long as the relay runs.
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
    let file = super::database_path(&dir);
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
async fn a_taken_id_with_another_chat_or_text_is_refused_and_the_stored_one_stays() {
    let dir = temp_dir("taken-id");
    let (store, writer) = Store::open(&dir).unwrap();
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn copies_of_one_message_with_different_times_settle_on_the_earliest() {
    // Each relay stamps its own receive time; a replay to the other
    // deployment after a failover and the original meet by replication.
    let dir = temp_dir("earliest");
    let (store, writer) = Store::open(&dir).unwrap();
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn lamports_out_of_range_or_far_past_the_chat_are_refused() {
    use twinline_core::model::{MAX_LAMPORT_STEP, MAX_SAFE_INTEGER, RecordError};
    let dir = temp_dir("lamport");
    let (store, writer) = Store::open(&dir).unwrap();
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
    drop(store);
    writer.join();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_store_from_before_version_2_is_migrated_and_cleaned_once() {
    use super::records::OperatorRole;
    let dir = temp_dir("migrate");
    {
        // What an older relay left: schema 1, an account without role or
        // sites, a message with a Lamport clock past u64's half.
        let conn = rusqlite::Connection::open(super::database_path(&dir)).unwrap();
        conn.execute_batch(super::schema::SCHEMA).unwrap();
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
