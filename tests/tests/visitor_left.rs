//! "Visitor left" (issue 22) through two real relay processes that
//! replicate to each other: when the visitor's connection closes, both
//! deployments' operators see the visitor left (in the queue entry's
//! visitor details), the waiting chat leaves the queue on both once
//! `--visitor-left-minutes` have passed, and the visitor coming back (to
//! the other deployment) puts it back in both queues.

use std::time::Duration;
use twinline_core::protocol::{LoginResponse, QueueEntry, ServerFrame};
use twinline_core::{ChatId, Millis};
use twinline_tests::client::{Operator, Visitor, login};
use twinline_tests::pair::{Pair, eventually};
use twinline_tests::process::RelayProcess;

const PASSWORD: &str = "correct horse battery";
/// The shortest time the relay accepts, plus the 10 s grace before a
/// closed connection counts as left on screen, plus room for a slow
/// machine.
const LIMIT: Duration = Duration::from_secs(120);

/// `chat`'s entry in the queue a new operator connection to `relay` is
/// welcomed with, if it is queued.
async fn queued(relay: &RelayProcess, login: &LoginResponse, chat: ChatId) -> Option<QueueEntry> {
    let mut operator = Operator::resume(login.clone(), &relay.ws_url(), Vec::new()).await;
    let ServerFrame::Queue { chats } = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Queue { .. }))
        .await
    else {
        unreachable!("recv_until returned another frame")
    };
    chats.into_iter().find(|entry| entry.chat == chat)
}

/// Polls `relay`'s queue (once a second) until `wanted` holds for `chat`'s
/// entry.
async fn until_queue(
    relay: &RelayProcess,
    login: &LoginResponse,
    chat: ChatId,
    what: &str,
    wanted: impl Fn(Option<&QueueEntry>) -> bool,
) {
    eventually(LIMIT, what, || async {
        let entry = queued(relay, login, chat).await;
        if wanted(entry.as_ref()) {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        false
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_left_visitors_waiting_chat_leaves_the_queue_on_both_deployments_and_comes_back() {
    let pair = Pair::start(&["--visitor-left-minutes", "1"]);
    pair.primary.add_operator("ada", "Ada", PASSWORD);
    pair.redundant.add_operator("bob", "Bob", PASSWORD);
    let at_primary = login(&pair.primary.url(), "ada", PASSWORD)
        .await
        .expect("login");
    let at_redundant = login(&pair.redundant.url(), "bob", PASSWORD)
        .await
        .expect("login");

    let mut visitor = Visitor::join(&pair.primary.url(), &pair.primary.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("Is the blue one in stock?").await;
    for (relay, login) in [
        (&pair.primary, &at_primary),
        (&pair.redundant, &at_redundant),
    ] {
        until_queue(relay, login, chat, "the chat waits, visitor here", |e| {
            e.is_some_and(|e| e.visitor.left.is_none())
        })
        .await;
    }

    // Every tab closed: the primary records when, the redundant learns it
    // by replication.
    let before = twinline_tests::native::now();
    drop(visitor.ws);
    for (relay, login) in [
        (&pair.primary, &at_primary),
        (&pair.redundant, &at_redundant),
    ] {
        until_queue(
            relay,
            login,
            chat,
            "the queue shows the visitor left",
            |e| {
                e.and_then(|e| e.visitor.left)
                    .is_some_and(|left| left >= Millis(before.0.saturating_sub(1_000)))
            },
        )
        .await;
    }
    // A minute later it no longer waits, on either deployment.
    for (relay, login) in [
        (&pair.primary, &at_primary),
        (&pair.redundant, &at_redundant),
    ] {
        until_queue(relay, login, chat, "the chat out of the queue", |e| {
            e.is_none()
        })
        .await;
    }
    assert!(
        twinline_tests::native::now().since(before) >= 60_000,
        "not before the configured minute"
    );

    // The visitor comes back, to the other deployment: waiting again on
    // both, and online.
    let back = Visitor::resume(visitor.token.clone(), &pair.redundant.ws_url(), &[]).await;
    for (relay, login) in [
        (&pair.redundant, &at_redundant),
        (&pair.primary, &at_primary),
    ] {
        until_queue(relay, login, chat, "the chat back in the queue", |e| {
            e.is_some_and(|e| e.visitor.left.is_none())
        })
        .await;
    }
    drop(back);
}
