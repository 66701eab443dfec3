//! Read receipts through real relay processes: an operator's `read` shows
//! the visitor the operator has seen, a visitor's shows the operator,
//! refusals carry their codes, welcomes carry what is stored, and a receipt
//! given to a primary that never replicated it is replayed by the real
//! session to the redundant after the primary is SIGKILLed.

use std::time::Duration;
use twinline_core::protocol::DeploymentRole::Redundant;
use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::session::Timing;
use twinline_core::{ChatId, ChatState, MessageId, Millis, Role, Seen, Side, Ulid};
use twinline_tests::client::{Operator, Visitor, WsClient, login};
use twinline_tests::native::{NativeClient, Target};
use twinline_tests::pair::eventually;
use twinline_tests::process::{RelayOptions, RelayProcess};

const LIMIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct horse battery";

fn read(chat: ChatId, up_to: MessageId) -> ClientFrame {
    ClientFrame::Read { chat, up_to }
}

/// The next `receipt` frame for `side`: its `up_to`.
async fn receipt(ws: &mut WsClient, side: Side) -> MessageId {
    match ws
        .recv_until(|f| matches!(f, ServerFrame::Receipt { side: s, .. } if *s == side))
        .await
    {
        ServerFrame::Receipt { up_to, .. } => up_to,
        _ => unreachable!(),
    }
}

async fn error_code(ws: &mut WsClient) -> ErrorCode {
    match ws
        .recv_until(|f| matches!(f, ServerFrame::Error { .. }))
        .await
    {
        ServerFrame::Error { code, .. } => code,
        _ => unreachable!(),
    }
}

/// What `relay` holds of `chat`'s receipts, as an operator's welcome
/// naming the chat shows it.
async fn stored_seen(relay: &RelayProcess, username: &str, chat: ChatId) -> Option<Seen> {
    let login = login(&relay.url(), username, PASSWORD).await.ok()?;
    let mut ws = WsClient::connect(&relay.ws_url(), None).await.ok()?;
    let syncs = ws
        .hello_with_catch_up(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: Role::Operator,
            site: twinline_tests::SITE.into(),
            token: login.token,
            resume: vec![ChatResume { chat, have: vec![] }],
        })
        .await;
    syncs
        .into_iter()
        .find(|s| s.chat == chat)
        .and_then(|s| s.seen.map(|seen| *seen))
}

#[tokio::test]
async fn each_side_sees_what_the_other_has_read_and_refusals_carry_their_codes() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", PASSWORD);
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "ada", PASSWORD).await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    let question = visitor.say("Is the blue one in stock?").await;
    operator.accept(chat).await;

    // The operator has seen the question: the visitor is told.
    operator.ws.send(&read(chat, question.id)).await;
    assert_eq!(receipt(&mut operator.ws, Side::Operator).await, question.id);
    assert_eq!(receipt(&mut visitor.ws, Side::Operator).await, question.id);

    // The visitor has seen an answer: the operator is told.
    let answer = twinline_tests::client::make_message(operator.author(), chat, "Yes.", 2);
    operator
        .ws
        .send(&ClientFrame::Send {
            msg: answer.clone(),
        })
        .await;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { msg } if msg.id == answer.id))
        .await;
    visitor.ws.send(&read(chat, answer.id)).await;
    assert_eq!(receipt(&mut visitor.ws, Side::Visitor).await, answer.id);
    assert_eq!(receipt(&mut operator.ws, Side::Visitor).await, answer.id);

    // An older receipt (another tab, a replay) is answered with what is
    // stored.
    visitor.ws.send(&read(chat, question.id)).await;
    assert_eq!(receipt(&mut visitor.ws, Side::Visitor).await, answer.id);

    // Refused: another chat, an id from the far future, an operator's read
    // of a chat the relay does not hold.
    let other = ChatId(Ulid::new(Millis(5), 5));
    visitor.ws.send(&read(other, answer.id)).await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::Forbidden);
    let future = MessageId::new(Millis(twinline_tests::native::now().0 + 3_600_000), 1);
    visitor.ws.send(&read(chat, future)).await;
    assert_eq!(error_code(&mut visitor.ws).await, ErrorCode::OutOfRange);
    operator.ws.send(&read(other, answer.id)).await;
    assert_eq!(error_code(&mut operator.ws).await, ErrorCode::Forbidden);

    // A new connection's welcome carries both.
    let syncs = visitor.stored(&relay.ws_url()).await;
    assert_eq!(
        syncs[0].seen.as_deref(),
        Some(&Seen {
            visitor: Some(answer.id),
            operator: Some(question.id),
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_killed_primary_never_replicated_still_shows_on_the_redundant() {
    // No replication at all: whatever the primary held is gone with it.
    let mut primary = RelayProcess::start(RelayOptions::primary());
    let redundant = RelayProcess::start(RelayOptions::redundant());
    primary.add_operator("ann", "Ann", PASSWORD);
    redundant.add_operator("ann", "Ann", PASSWORD);
    let target = Target {
        primary: primary.url(),
        redundant: redundant.url(),
        moderator: None,
        timing: Timing::default(),
    };
    let visitor = NativeClient::visitor(&target, 1).await;
    let chat = visitor.own_chat();
    visitor.wait_connected(None, LIMIT).await;
    visitor.say(chat, "hello, is anyone there?");
    let operator = NativeClient::operator(&target, "ann", PASSWORD, 2).await;
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
    operator.say(chat, "Hello! How can I help?");
    visitor
        .wait(LIMIT, "the answer", |s| {
            s.transcript(chat).is_some_and(|t| t.len() == 2)
        })
        .await;

    // Each side has the chat on screen.
    assert!(operator.with(|s, now| s.mark_seen(now, chat)));
    assert!(visitor.with(|s, now| s.mark_seen(now, chat)));
    let by_operator = operator.with(|s, _| s.seen_by_me(chat)).expect("seen");
    let by_visitor = visitor.with(|s, _| s.seen_by_me(chat)).expect("seen");
    visitor
        .wait(LIMIT, "the operator's receipt", |s| {
            s.seen_by_other(chat) == Some(by_operator)
        })
        .await;
    operator
        .wait(LIMIT, "the visitor's receipt", |s| {
            s.seen_by_other(chat) == Some(by_visitor)
        })
        .await;
    assert_eq!(stored_seen(&redundant, "ann", chat).await, None);

    primary.kill9();
    visitor.wait_connected(Some(Redundant), LIMIT).await;
    operator.wait_connected(Some(Redundant), LIMIT).await;
    let both = Seen {
        visitor: Some(by_visitor),
        operator: Some(by_operator),
    };
    eventually(LIMIT, "the redundant to hold both receipts", || async {
        stored_seen(&redundant, "ann", chat).await == Some(both)
    })
    .await;
    assert_eq!(
        visitor.with(|s, _| s.seen_by_other(chat)),
        Some(by_operator),
        "the visitor still sees \"Seen\""
    );
}
