//! A visitor and an operator chatting through one real relay process.

use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatState, Millis, OfflineId, OfflineNote, Role, Ulid};
use twinline_tests::client::{Operator, Visitor, WsClient, make_message};
use twinline_tests::process::{RelayOptions, RelayProcess};
use twinline_tests::{SITE, SITE_ORIGIN};

#[tokio::test]
async fn a_visitor_and_an_operator_chat_through_queue_accept_reply_and_close() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;

    let hello = visitor.say("Hello, is anyone there?").await;
    // The operator's queue shows the waiting chat with a preview.
    let queue = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Queue { chats } if !chats.is_empty()))
        .await;
    let ServerFrame::Queue { chats } = queue else {
        unreachable!()
    };
    assert_eq!(chats[0].chat, chat);
    assert_eq!(chats[0].preview, "Hello, is anyone there?");

    operator.ws.send(&ClientFrame::Accept { chat }).await;
    let sync = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Chat { .. }))
        .await;
    let ServerFrame::Chat { sync } = sync else {
        unreachable!()
    };
    assert_eq!(sync.status.state, ChatState::Active);
    assert_eq!(sync.missing, vec![hello.clone()]);
    let status = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { .. }))
        .await;
    assert!(matches!(
        status,
        ServerFrame::Status { status, .. } if status.operator.as_deref() == Some("ada")
    ));

    let reply = make_message(operator.author(), chat, "Hi! How can I help?", 2);
    operator
        .ws
        .send(&ClientFrame::Send { msg: reply.clone() })
        .await;
    operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Ack { id } if *id == reply.id))
        .await;
    let received = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(received, ServerFrame::Message { msg: reply });

    // Typing reaches the other side, not the sender.
    visitor
        .ws
        .send(&ClientFrame::Typing { chat, on: true })
        .await;
    let typing = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Typing { .. }))
        .await;
    assert!(matches!(
        typing,
        ServerFrame::Typing { who, on: true, .. } if who.role == Role::Visitor
    ));

    let hostile = visitor.say("<img src=x onerror=alert(1)> my order").await;
    let relayed = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(
        relayed,
        ServerFrame::Message { msg: hostile },
        "text is relayed exactly as written, as text"
    );

    operator.ws.send(&ClientFrame::Close { chat }).await;
    let closed = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { .. }))
        .await;
    assert!(matches!(
        closed,
        ServerFrame::Status { status, .. } if status.state == ChatState::Closed
    ));
}

async fn hello_holding(
    relay: &RelayProcess,
    visitor: &Visitor,
    have: Vec<twinline_core::MessageId>,
) -> ServerFrame {
    let mut ws = WsClient::connect(&relay.ws_url(), Some(SITE_ORIGIN))
        .await
        .unwrap();
    ws.send(&ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Visitor,
        site: SITE.into(),
        token: visitor.token.token.clone(),
        resume: vec![ChatResume {
            chat: visitor.token.chat,
            have,
        }],
    })
    .await;
    ws.recv().await
}

#[tokio::test]
async fn a_replayed_message_is_acked_again_and_stored_once() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let msg = visitor.say("only once").await;
    for _ in 0..3 {
        visitor
            .ws
            .send(&ClientFrame::Send { msg: msg.clone() })
            .await;
        assert_eq!(visitor.ws.recv().await, ServerFrame::Ack { id: msg.id });
    }
    // A new connection that holds nothing gets exactly one copy back.
    let ServerFrame::Welcome { chats, .. } = hello_holding(&relay, &visitor, vec![]).await else {
        panic!("expected welcome")
    };
    assert_eq!(chats[0].missing, vec![msg]);
}

#[tokio::test]
async fn welcome_lists_what_each_side_lacks() {
    let relay = RelayProcess::start(RelayOptions::primary());
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let stored = visitor.say("the relay has this").await;
    let unsent = visitor.message("the relay never saw this", 5);
    let ServerFrame::Welcome { chats, .. } = hello_holding(&relay, &visitor, vec![unsent.id]).await
    else {
        panic!("expected welcome")
    };
    assert_eq!(chats[0].missing, vec![stored]);
    assert_eq!(chats[0].lacking, vec![unsent.id]);
}

#[tokio::test]
async fn offline_notes_reach_the_operators_inbox_and_presence_is_announced() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let note = OfflineNote {
        id: OfflineId(Ulid(42)),
        site: SITE.into(),
        name: "Grace".into(),
        email: "grace@example.org".into(),
        text: "Please call me back".into(),
        at: Millis(1),
    };
    visitor
        .ws
        .send(&ClientFrame::Offline { note: note.clone() })
        .await;
    assert_eq!(
        visitor.ws.recv().await,
        ServerFrame::OfflineAck { id: note.id }
    );
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let inbox = operator
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Inbox { .. }))
        .await;
    assert_eq!(inbox, ServerFrame::Inbox { notes: vec![note] });
    // The visitor learns that an operator came online, and went away.
    let presence = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Presence { .. }))
        .await;
    assert!(matches!(
        presence,
        ServerFrame::Presence {
            operators_online: 1,
            ..
        }
    ));
    operator
        .ws
        .send(&ClientFrame::SetAvailability { online: false })
        .await;
    let presence = visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Presence { .. }))
        .await;
    assert!(matches!(
        presence,
        ServerFrame::Presence {
            operators_online: 0,
            ..
        }
    ));
}

#[tokio::test]
async fn a_chat_can_be_transferred_to_another_operator() {
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    relay.add_operator("bob", "Bob", "battery staple");
    let mut ada = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let mut bob = Operator::join(&relay.url(), &relay.ws_url(), "bob", "battery staple").await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    let first = visitor.say("I need billing").await;
    ada.ws.send(&ClientFrame::Accept { chat }).await;
    ada.ws
        .recv_until(|f| matches!(f, ServerFrame::Chat { .. }))
        .await;
    // Bob may not take a chat Ada holds.
    bob.ws.send(&ClientFrame::Accept { chat }).await;
    let refused = bob
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Error { .. }))
        .await;
    assert!(matches!(
        refused,
        ServerFrame::Error {
            code: ErrorCode::Forbidden,
            ..
        }
    ));
    ada.ws
        .send(&ClientFrame::Transfer {
            chat,
            to: "bob".into(),
        })
        .await;
    let ServerFrame::Chat { sync } = bob
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Chat { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(sync.status.operator.as_deref(), Some("bob"));
    assert_eq!(sync.missing, vec![first]);
    let second = visitor.say("thanks").await;
    let relayed = bob
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(relayed, ServerFrame::Message { msg: second });
}
