//! The core session over real sockets against real relay and moderator
//! processes: docs/FAILURES.md's rows as the widget's logic lives
//! them. Each test ends by checking that the visitor and the operator hold
//! the same complete transcript, in the same order, without duplicates,
//! and that the deployment they ended on stored all of it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use twinline_core::protocol::DeploymentRole::{Primary, Redundant};
use twinline_core::session::{LinkState, Timing};
use twinline_core::{ChatId, ChatState, MessageId, Role};
use twinline_tests::link::Link;
use twinline_tests::moderator::ModeratorProcess;
use twinline_tests::native::{NativeClient, Target};
use twinline_tests::pair::{Pair, eventually, health, messages_of};
use twinline_tests::process::{RelayOptions, RelayProcess};

const LIMIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct horse battery";

fn target(primary: &str, redundant: &str, moderator: Option<String>) -> Target {
    Target {
        primary: primary.into(),
        redundant: redundant.into(),
        moderator,
        timing: Timing::default(),
    }
}

/// A visitor and an operator who accepted the visitor's chat.
async fn chatting(target: &Target) -> (NativeClient, NativeClient, ChatId) {
    let visitor = NativeClient::visitor(target, 1).await;
    let chat = visitor.own_chat();
    visitor.wait_connected(None, LIMIT).await;
    visitor.say(chat, "hello, is anyone there?");
    let operator = NativeClient::operator(target, "ann", PASSWORD, 2).await;
    operator.with(|s, now| s.set_availability(now, true));
    operator
        .wait(LIMIT, "the chat in the queue", |s| {
            s.queue().iter().any(|q| q.chat == chat)
        })
        .await;
    operator.with(|s, now| s.accept(now, chat));
    operator
        .wait(LIMIT, "the accepted chat", |s| {
            s.chat_status(chat)
                .is_some_and(|st| st.state == ChatState::Active)
                && s.transcript(chat).is_some_and(|t| !t.is_empty())
        })
        .await;
    (visitor, operator, chat)
}

/// Both say `n` things each, without waiting for acks.
fn exchange(visitor: &NativeClient, operator: &NativeClient, chat: ChatId, n: usize, tag: &str) {
    for i in 0..n {
        visitor.say(chat, &format!("visitor {tag} {i}"));
        operator.say(chat, &format!("operator {tag} {i}"));
    }
}

/// Waits until both hold `count` messages with nothing pending, then
/// checks they agree exactly.
async fn converged(
    visitor: &NativeClient,
    operator: &NativeClient,
    chat: ChatId,
    count: usize,
) -> Vec<MessageId> {
    for (who, client) in [("visitor", visitor), ("operator", operator)] {
        client
            .wait(
                LIMIT,
                &format!("{who} to hold {count} messages, all acked"),
                |s| s.pending_count() == 0 && s.transcript(chat).is_some_and(|t| t.len() == count),
            )
            .await;
    }
    let seen_by_visitor = visitor.transcript(chat);
    let seen_by_operator = operator.transcript(chat);
    assert_eq!(
        seen_by_visitor, seen_by_operator,
        "same transcript, same order"
    );
    let unique: BTreeSet<_> = seen_by_visitor.iter().collect();
    assert_eq!(unique.len(), seen_by_visitor.len(), "no duplicates");
    seen_by_visitor
}

async fn relay_holds(relay: &RelayProcess, ids: &[MessageId]) {
    eventually(
        LIMIT,
        &format!("{} to hold every message", relay.name()),
        || async {
            let stored = messages_of(relay).await;
            ids.iter().all(|id| stored.contains_key(&id.to_string()))
        },
    )
    .await;
}

/// Time from `fault` to the first ack after it.
fn failover_ms(client: &NativeClient, fault: twinline_core::Millis) -> u64 {
    client
        .seen()
        .acks
        .iter()
        .find(|(at, _)| *at >= fault)
        .map_or(u64::MAX, |(at, _)| at.since(fault))
}

fn never_offline(client: &NativeClient, who: &str) {
    let offline = client
        .seen()
        .links
        .iter()
        .filter(|(_, state, _)| *state == LinkState::Offline)
        .count();
    assert_eq!(
        offline, 0,
        "{who} was shown offline while a deployment was up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_active_deployment_is_killed_mid_chat() {
    let mut pair = Pair::start(&[]);
    pair.primary.add_operator("ann", "Ann", PASSWORD);
    let target = target(&pair.primary.url(), &pair.redundant.url(), None);
    let (visitor, operator, chat) = chatting(&target).await;
    exchange(&visitor, &operator, chat, 5, "before");
    converged(&visitor, &operator, chat, 11).await;

    let fault = twinline_tests::native::now();
    pair.primary.kill9();
    exchange(&visitor, &operator, chat, 5, "during");
    let ids = converged(&visitor, &operator, chat, 21).await;
    assert_eq!(visitor.link(), (LinkState::Connected, Some(Redundant)));
    assert_eq!(operator.link(), (LinkState::Connected, Some(Redundant)));
    relay_holds(&pair.redundant, &ids).await;
    never_offline(&visitor, "the visitor");
    println!(
        "failover after SIGKILL: visitor {} ms, operator {} ms",
        failover_ms(&visitor, fault),
        failover_ms(&operator, fault)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_pushes_what_a_failed_deployment_never_replicated() {
    // No replication at all: whatever the primary held is gone with it.
    let mut primary = RelayProcess::start(RelayOptions::primary());
    let redundant = RelayProcess::start(RelayOptions::redundant());
    primary.add_operator("ann", "Ann", PASSWORD);
    redundant.add_operator("ann", "Ann", PASSWORD);
    let target = target(&primary.url(), &redundant.url(), None);
    let (visitor, operator, chat) = chatting(&target).await;
    exchange(&visitor, &operator, chat, 3, "before");
    let ids = converged(&visitor, &operator, chat, 7).await;
    // The visitor leaves; then the data center fails.
    visitor.stop();
    primary.kill9();
    operator.wait_connected(Some(Redundant), LIMIT).await;
    relay_holds(&redundant, &ids).await;
    operator
        .wait(LIMIT, "the chat to stay accepted", |s| {
            s.chat_status(chat)
                .is_some_and(|st| st.operator.as_deref() == Some("ann"))
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_follow_the_moderator_and_bypass_it_when_it_is_gone() {
    let mut pair = Pair::start(&[]);
    pair.primary.add_operator("ann", "Ann", PASSWORD);
    let mut moderator = ModeratorProcess::start(&pair.primary, &pair.redundant, &[]);
    let target = target(
        &pair.primary.url(),
        &pair.redundant.url(),
        Some(moderator.url()),
    );
    let (visitor, operator, chat) = chatting(&target).await;
    assert_eq!(visitor.link().1, Some(Primary));

    // Planned switch: the moderator holds the redundant and drains the
    // primary; clients move without a gap while both keep talking.
    let (ok, out) = moderator.switch_cli(twinline_tests::ADMIN_TOKEN, &["--to", "redundant"]);
    assert!(ok, "switch: {out}");
    exchange(&visitor, &operator, chat, 5, "switch");
    visitor.wait_connected(Some(Redundant), LIMIT).await;
    operator.wait_connected(Some(Redundant), LIMIT).await;
    converged(&visitor, &operator, chat, 11).await;
    for (who, client) in [("visitor", &visitor), ("operator", &operator)] {
        let reconnecting = client
            .seen()
            .links
            .iter()
            .filter(|(_, state, _)| *state != LinkState::Connected)
            .count();
        // Only the initial "connecting" before the first welcome.
        assert_eq!(
            reconnecting,
            1,
            "{who} saw the planned switch: {:?}",
            client.seen().links
        );
    }

    // The moderator ends the primary's drain once its last client has
    // left; a moderator killed before that leaves the primary drained
    // (sending every client to the dead redundant), which is not the case
    // this test is about.
    eventually(LIMIT, "the moderator undrains the primary", || async {
        health(&pair.primary).await.is_some_and(|h| !h.draining)
    })
    .await;
    // The moderator dies, then the deployment it named: clients decide
    // alone, and the primary answers.
    moderator.kill9();
    pair.redundant.kill9();
    exchange(&visitor, &operator, chat, 3, "bypass");
    visitor.wait_connected(Some(Primary), LIMIT).await;
    let ids = converged(&visitor, &operator, chat, 17).await;
    relay_holds(&pair.primary, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_link_is_found_by_the_heartbeat_and_left() {
    let pair = Pair::start(&[]);
    let link = Link::start(pair.primary.port()).await;
    let target = target(&link.url(), &pair.redundant.url(), None);
    let visitor = NativeClient::visitor(&target, 3).await;
    let chat = visitor.own_chat();
    visitor.wait_connected(Some(Primary), LIMIT).await;
    visitor.say(chat, "before the silence");
    visitor
        .wait(LIMIT, "the ack", |s| s.pending_count() == 0)
        .await;

    let silenced = Instant::now();
    link.silence();
    let id = visitor.say(chat, "into the void");
    visitor.wait_connected(Some(Redundant), LIMIT).await;
    let detected = silenced.elapsed();
    visitor
        .wait(LIMIT, "the replay's ack", |s| s.pending_count() == 0)
        .await;
    relay_holds(&pair.redundant, &[id]).await;
    let timing = Timing::default();
    let bound = Duration::from_millis(timing.heartbeat_interval + timing.heartbeat_timeout + 1_000);
    println!("silent link left after {} ms", detected.as_millis());
    assert!(detected <= bound, "took {detected:?}, bound {bound:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_in_the_middle_of_a_failover_continues_the_chat() {
    let mut pair = Pair::start(&[]);
    let target = target(&pair.primary.url(), &pair.redundant.url(), None);
    let visitor = NativeClient::visitor(&target, 4).await;
    let chat = visitor.own_chat();
    visitor.wait_connected(Some(Primary), LIMIT).await;
    let first = visitor.say(chat, "one");
    visitor
        .wait(LIMIT, "the ack", |s| s.pending_count() == 0)
        .await;

    pair.primary.kill9();
    pair.redundant.kill9();
    let typed: Vec<MessageId> = (0..3)
        .map(|i| visitor.say(chat, &format!("typed while down {i}")))
        .collect();
    // What the page stored (it persists on every change).
    let snapshot = visitor
        .wait_snapshot(LIMIT, |s| s.pending.len() == typed.len())
        .await;
    visitor.stop();

    pair.redundant.restart();
    let reloaded = NativeClient::restore(&target, Role::Visitor, snapshot, 5);
    reloaded.wait_connected(Some(Redundant), LIMIT).await;
    reloaded
        .wait(LIMIT, "every typed message acked", |s| {
            s.pending_count() == 0
        })
        .await;
    let mut all = vec![first];
    all.extend(typed);
    assert_eq!(reloaded.transcript(chat), all);
    relay_holds(&pair.redundant, &all).await;
}

/// An operator away while a visitor wrote far more than one frame can hold
/// (here ~600 KB) comes back: the welcome carries what fits and the rest
/// follows as messages. Then a failover: nothing lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_catches_up_on_more_than_one_frame_holds() {
    const LINES: usize = 200;
    let mut pair = Pair::start(&[]);
    pair.primary.add_operator("ann", "Ann", PASSWORD);
    let target = target(&pair.primary.url(), &pair.redundant.url(), None);
    let (visitor, operator, chat) = chatting(&target).await;
    converged(&visitor, &operator, chat, 1).await;
    let snapshot = operator.wait_snapshot(LIMIT, |s| !s.chats.is_empty()).await;
    operator.stop();

    let long = "x".repeat(3_000);
    for i in 0..LINES {
        visitor.say(chat, &format!("{i} {long}"));
    }
    visitor
        .wait(LIMIT, "every visitor line acked", |s| {
            s.pending_count() == 0
        })
        .await;

    let operator = NativeClient::restore(&target, Role::Operator, snapshot, 9);
    operator
        .wait(LIMIT, "the operator to catch up", |s| {
            s.transcript(chat).is_some_and(|t| t.len() == LINES + 1)
        })
        .await;
    operator.wait_connected(Some(Primary), LIMIT).await;

    pair.primary.kill9();
    operator.say(chat, "still here after the failover");
    let ids = converged(&visitor, &operator, chat, LINES + 2).await;
    assert_eq!(operator.link(), (LinkState::Connected, Some(Redundant)));
    relay_holds(&pair.redundant, &ids).await;
}

/// A chat longer than one frame is accepted by an operator who never saw
/// it: the `chat` frame carries what fits and the rest follows as messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_longer_than_one_frame_reaches_the_operator_who_accepts_it() {
    const LINES: usize = 200;
    let pair = Pair::start(&[]);
    pair.primary.add_operator("ann", "Ann", PASSWORD);
    let target = target(&pair.primary.url(), &pair.redundant.url(), None);
    let visitor = NativeClient::visitor(&target, 11).await;
    let chat = visitor.own_chat();
    visitor.wait_connected(None, LIMIT).await;
    let long = "y".repeat(3_000);
    for i in 0..LINES {
        visitor.say(chat, &format!("{i} {long}"));
    }
    visitor
        .wait(LIMIT, "every visitor line acked", |s| {
            s.pending_count() == 0
        })
        .await;

    let operator = NativeClient::operator(&target, "ann", PASSWORD, 12).await;
    operator.with(|s, now| s.set_availability(now, true));
    operator
        .wait(LIMIT, "the chat in the queue", |s| {
            s.queue().iter().any(|q| q.chat == chat)
        })
        .await;
    operator.with(|s, now| s.accept(now, chat));
    operator
        .wait(LIMIT, "the whole transcript", |s| {
            s.transcript(chat).is_some_and(|t| t.len() == LINES)
        })
        .await;
    operator.say(chat, "sorry for the wait");
    converged(&visitor, &operator, chat, LINES + 1).await;
}
