//! A visitor and an operator chatting through one real relay process.

use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatState, Millis, OfflineId, OfflineNote, Role, Ulid};
use twinline_tests::client::{
    Operator, Visitor, WsClient, make_message, untimed, untimed_all, untimed_frame,
};
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

    let sync = operator.accept(chat).await;
    assert_eq!(sync.status.state, ChatState::Active);
    assert_eq!(untimed_all(sync.missing), untimed_all([hello.clone()]));
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
    assert_eq!(
        untimed_frame(received),
        ServerFrame::Message {
            msg: untimed(reply)
        }
    );

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
        untimed_frame(relayed),
        ServerFrame::Message {
            msg: untimed(hostile)
        },
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
    assert_eq!(untimed_all(chats[0].missing.clone()), untimed_all([msg]));
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
    assert_eq!(untimed_all(chats[0].missing.clone()), untimed_all([stored]));
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
    // The relay dates the note itself (a client cannot date one into the
    // future to pin it to the top of every inbox).
    let ServerFrame::Inbox { notes } = inbox else {
        unreachable!()
    };
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].at > note.at,
        "dated by the relay, not the client's claim"
    );
    assert_eq!(
        notes[0],
        OfflineNote {
            at: notes[0].at,
            ..note
        }
    );
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
    ada.accept(chat).await;
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
    assert_eq!(untimed_all(sync.missing), untimed_all([first]));
    let second = visitor.say("thanks").await;
    let relayed = bob
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(
        untimed_frame(relayed),
        ServerFrame::Message {
            msg: untimed(second)
        }
    );
}

/// A counter from the relay's `/metrics`.
async fn metric(relay: &RelayProcess, name: &str) -> u64 {
    let text = twinline_tests::client::metrics(&relay.url()).await;
    text.lines()
        .find(|line| line.starts_with(&format!("{name}{{")))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[tokio::test]
async fn a_burst_of_messages_commits_together_and_is_acked_and_relayed_in_order() {
    const BURST: usize = 200;
    let relay = RelayProcess::start(RelayOptions::primary());
    relay.add_operator("ada", "Ada", "correct horse");
    let mut operator = Operator::join(&relay.url(), &relay.ws_url(), "ada", "correct horse").await;
    let mut visitor = Visitor::join(&relay.url(), &relay.ws_url()).await;
    let chat = visitor.token.chat;
    visitor.say("first").await;
    operator.accept(chat).await;
    visitor
        .ws
        .recv_until(|f| matches!(f, ServerFrame::Status { .. }))
        .await;

    let commits_before = metric(&relay, "twinline_store_commits").await;
    let burst: Vec<_> = (0..BURST)
        .map(|i| visitor.message(&format!("burst {i}"), 10 + i as u64))
        .collect();
    let mut frames: Vec<_> = burst
        .iter()
        .map(|msg| ClientFrame::Send { msg: msg.clone() })
        .collect();
    frames.push(ClientFrame::Ping { nonce: 7 });
    visitor.ws.send_burst(&frames).await;

    // Every ack, in the order sent, and the pong only after all of them:
    // the relay answers a connection's frames in order even though it
    // commits the messages together.
    let mut acked = Vec::new();
    loop {
        match visitor.ws.recv().await {
            ServerFrame::Ack { id } => acked.push(id),
            ServerFrame::Pong { nonce: 7 } => break,
            other => panic!("unexpected frame during the burst: {other:?}"),
        }
    }
    let sent: Vec<_> = burst.iter().map(|m| m.id).collect();
    assert_eq!(acked, sent);

    // The operator gets them in the same order.
    let mut relayed = Vec::new();
    while relayed.len() < BURST {
        if let ServerFrame::Message { msg } = operator.ws.recv().await {
            relayed.push(msg);
        }
    }
    assert_eq!(untimed_all(relayed), untimed_all(burst));

    // A connection does not wait for one message's commit before reading
    // the next, so the burst shares commits (one at a time would take one
    // commit, one fsync, per message).
    let commits = metric(&relay, "twinline_store_commits").await - commits_before;
    assert!(
        commits < BURST as u64,
        "{BURST} messages sent back to back took {commits} commits"
    );
    eprintln!("{BURST} messages sent back to back: {commits} commits");
}
