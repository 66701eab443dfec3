//! The tombstone against every ordering: two deployments (real SQLite
//! stores), a visitor's chats written to either, erased on either,
//! replicated late and in small pages both ways, replayed by clients
//! (the whole chat again, as a browser or a console does after a
//! failover), and restarts. In every ordering, once a store has applied
//! the erasure the erased chats are absent from it (rows and feed), and at
//! the end, replicated to quiet, they are absent from both and never came
//! back; another visitor's chat is untouched.

use super::{Subject, erase};
use crate::store::erasures::Reason;
use crate::store::records::{ChatRecord, Record};
use crate::store::{Store, WriterThread, reads};
use proptest::prelude::*;
use twinline_core::{
    Author, ChatId, ChatState, ChatStatus, Hlc, Lamport, Message, MessageId, Millis, Rating,
    RatingId, Role, Score, Ulid, VisitorId,
};

const NAMES: [&str; 2] = ["primary", "redundant"];
const VISITOR: VisitorId = VisitorId(Ulid(5));
const OTHER: VisitorId = VisitorId(Ulid(6));

/// Chats 0 and 1 are the erased visitor's, 2 another visitor's.
fn chat(i: usize) -> ChatId {
    ChatId::new(Millis(1_000 + i as u64), i as u128 + 1)
}

#[derive(Clone, Debug)]
enum Op {
    /// A record of chat `chat` written at deployment `at` (after its
    /// header, as a relay does): 0 the header, 1..=3 a message, 4 the
    /// rating.
    Write { at: usize, chat: usize, part: usize },
    /// The visitor erased at deployment `at`.
    Erase { at: usize },
    /// Up to `page` changes pulled by `to` from the other.
    Replicate { to: usize, page: usize },
    /// A client replays all of chat `chat` to deployment `at`.
    Replay { at: usize, chat: usize },
    /// Deployment `at` restarts.
    Restart { at: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..3usize, 0..5usize)
            .prop_map(|(at, chat, part)| Op::Write { at, chat, part }),
        1 => (0..2usize).prop_map(|at| Op::Erase { at }),
        3 => (0..2usize, 1..4usize).prop_map(|(to, page)| Op::Replicate { to, page }),
        2 => (0..2usize, 0..3usize).prop_map(|(at, chat)| Op::Replay { at, chat }),
        1 => (0..2usize).prop_map(|at| Op::Restart { at }),
    ]
}

fn stamp(wall: u64) -> Hlc {
    Hlc {
        wall: Millis(wall),
        counter: 0,
        node: 3,
    }
}

fn record(chat_index: usize, part: usize) -> Record {
    let id = chat(chat_index);
    match part {
        0 | 4 => {
            let mut header = ChatRecord::empty(id, Millis(1));
            header.site = "demo".into();
            header.visitor = if chat_index == 2 { OTHER } else { VISITOR };
            header.status = ChatStatus {
                state: ChatState::Active,
                operator: Some("ada".into()),
                stamp: stamp(10),
            };
            if part == 4 {
                header.rating = Some(Rating {
                    id: RatingId(Ulid(100 + chat_index as u128)),
                    score: Score::Good,
                    comment: String::new(),
                    // Far ahead: the tombstone wins whatever the clocks.
                    stamp: stamp(u64::from(u32::MAX)),
                });
            }
            Record::Chat(header)
        }
        n => Record::Message(Message {
            lamport: Lamport(n as u64),
            author: Author {
                role: Role::Visitor,
                id: "v".into(),
                name: String::new(),
            },
            id: MessageId(Ulid::new(Millis(2_000), (chat_index * 10 + n) as u128)),
            chat: id,
            text: format!("message {n}"),
            at: Millis(2_000 + n as u64),
            file: None,
        }),
    }
}

struct Deployment {
    dir: std::path::PathBuf,
    opened: Option<(Store, WriterThread)>,
}

impl Deployment {
    fn store(&self) -> &Store {
        &self.opened.as_ref().expect("open").0
    }

    async fn open(&mut self) {
        let dir = self.dir.clone();
        self.opened = Some(
            tokio::task::spawn_blocking(move || Store::open(&dir))
                .await
                .unwrap()
                .unwrap(),
        );
    }

    async fn close(&mut self) {
        if let Some((store, writer)) = self.opened.take() {
            drop(store);
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .unwrap();
        }
    }

    /// Whether this store holds the erasure.
    async fn erased(&self) -> bool {
        !self
            .store()
            .read(|c| c.erasures("demo"))
            .await
            .unwrap()
            .is_empty()
    }

    /// Whether anything of chat `i` is stored here: its row, a message, a
    /// feed entry of either.
    async fn holds(&self, i: usize) -> bool {
        let id = chat(i);
        self.store()
            .read(move |c| {
                let page = reads::changes_since(c, 0, 100_000, "")?;
                let in_feed = page.changes.iter().any(|change| match &change.record {
                    Record::Chat(header) => header.id == id,
                    Record::Message(message) => message.chat == id,
                    _ => false,
                });
                Ok(c.chat(id)?.is_some() || !c.messages(id)?.is_empty() || in_feed)
            })
            .await
            .unwrap()
    }
}

/// Pulls up to `page` changes of `from`'s feed into `to`, as the puller
/// does (the asker's own changes left out, the checkpoint moved with
/// them); returns how many it applied.
async fn replicate(
    from: &Deployment,
    from_name: &str,
    to: &Deployment,
    to_name: &str,
    page: usize,
) -> usize {
    let peer = from_name.to_string();
    let after = to.store().read(move |c| c.checkpoint(&peer)).await.unwrap();
    let asker = to_name.to_string();
    let changes = from
        .store()
        .read(move |c| c.changes_since(after, page, &asker))
        .await
        .unwrap();
    if changes.next == after {
        return 0;
    }
    let count = changes.changes.len();
    let records = changes
        .changes
        .into_iter()
        .map(|change| (change.record, change.origin))
        .collect();
    to.store()
        .apply_batch(records, Some((from_name.to_string(), changes.next)))
        .await
        .unwrap();
    count.max(1)
}

/// The case's directory, removed however the case ends (proptest runs
/// many failing cases while it shrinks one).
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run_case(ops: Vec<Op>) {
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "twinline-erasure-prop-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    )));
    let base = scratch.0.clone();
    let mut deps = Vec::new();
    for name in NAMES {
        let mut dep = Deployment {
            dir: base.join(name),
            opened: None,
        };
        dep.open().await;
        deps.push(dep);
    }
    let mut ever_erased = false;
    for op in ops {
        match op {
            Op::Write { at, chat, part } => {
                // As at a relay: a visitor's hello stores the chat's header
                // before anything of it (and replication carries the feed
                // in order, header first).
                for part in [0, part] {
                    let _ = deps[at]
                        .store()
                        .apply(record(chat, part), NAMES[at])
                        .await
                        .unwrap();
                }
            }
            Op::Erase { at } => {
                erase(
                    deps[at].store(),
                    NAMES[at],
                    "demo",
                    &Subject::Visitor(VISITOR),
                    Reason::Request,
                )
                .await
                .unwrap();
                ever_erased = true;
            }
            Op::Replicate { to, page } => {
                let from = 1 - to;
                replicate(&deps[from], NAMES[from], &deps[to], NAMES[to], page).await;
            }
            Op::Replay { at, chat } => {
                for part in 0..5 {
                    let _ = deps[at]
                        .store()
                        .apply(record(chat, part), NAMES[at])
                        .await
                        .unwrap();
                }
            }
            Op::Restart { at } => {
                deps[at].close().await;
                deps[at].open().await;
            }
        }
        for dep in &deps {
            if dep.erased().await {
                for i in [0, 1] {
                    assert!(!dep.holds(i).await, "chat {i} is back after the erasure");
                }
            }
        }
    }
    // Replication catches up both ways.
    loop {
        let moved = replicate(&deps[0], NAMES[0], &deps[1], NAMES[1], 50).await
            + replicate(&deps[1], NAMES[1], &deps[0], NAMES[0], 50).await;
        if moved == 0 {
            break;
        }
    }
    for dep in &deps {
        assert_eq!(dep.erased().await, ever_erased);
        if ever_erased {
            for i in [0, 1] {
                assert!(!dep.holds(i).await, "chat {i} survived the erasure");
            }
        }
    }
    let other = [deps[0].holds(2).await, deps[1].holds(2).await];
    assert_eq!(
        other[0], other[1],
        "another visitor's chat converges untouched"
    );
    for dep in &mut deps {
        dep.close().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn an_erasure_wins_over_every_ordering_of_writes_replication_replays_and_restarts(
        ops in proptest::collection::vec(op(), 1..30)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run_case(ops));
    }
}
