//! What a visitor's `hello` costs the store: the first one stores the
//! chat's header, a reconnect (the same chat, already stored) only reads,
//! once. A node taking over a dead node's clients welcomes hundreds of
//! them at once; a write each would queue every welcome for a group commit
//! behind the messages being stored. And what the cheaper welcome must
//! still say: exactly the messages the client lacks, in order, the ids the
//! relay lacks, and how many operators serve the site.

use super::connection;
use super::identity::Peer;
use super::test_socket::channel_socket;
use crate::test_relay::TestRelay;
use crate::tokens::Claim;
use axum::extract::ws::Message as WsMessage;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use twinline_core::protocol::{ChatResume, ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{Author, ChatId, Lamport, Message, MessageId, Millis, Role, Ulid, VisitorId};

/// Connects with `token`, says hello, waits for the welcome, hangs up.
async fn hello_and_welcome(state: &crate::state::Shared, token: &str) {
    hello_with(state, token, vec![]).await;
}

/// Like [`hello_and_welcome`], resuming with `resume`; returns the welcome.
async fn hello_with(
    state: &crate::state::Shared,
    token: &str,
    resume: Vec<ChatResume>,
) -> ServerFrame {
    let (socket, in_tx, mut out_rx) = channel_socket();
    let peer = Peer {
        origin: Some("http://site.test".into()),
        same_origin: false,
        ip: "127.0.0.1".parse().expect("an address"),
    };
    let task = tokio::spawn(connection::run(socket, state.clone(), peer, None));
    let hello = ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Visitor,
        site: "demo".into(),
        token: token.to_string(),
        resume,
    };
    in_tx
        .send(Ok(WsMessage::Text(hello.to_json().into())))
        .expect("the connection reads");
    let welcomed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = out_rx.recv().await {
            if let WsMessage::Text(text) = message
                && let Ok(welcome @ ServerFrame::Welcome { .. }) = ServerFrame::parse(text.as_str())
            {
                return Some(welcome);
            }
        }
        None
    })
    .await;
    let welcome = welcomed.ok().flatten().expect("a welcome");
    drop(in_tx);
    let ended = tokio::time::timeout(Duration::from_secs(30), task).await;
    assert!(matches!(ended, Ok(Ok(_))), "the connection ends: {ended:?}");
    welcome
}

#[tokio::test]
async fn a_reconnecting_visitor_is_welcomed_without_a_write() {
    let relay = TestRelay::start();
    let state = relay.state.clone();
    let token = state.signer.sign(&Claim::Visitor {
        site: "demo".into(),
        visitor: VisitorId(Ulid::new(Millis(1), 1)),
        chat: ChatId(Ulid::new(Millis(1), 2)),
        exp: crate::clock::now().plus(3_600_000),
    });
    let writes = || state.store.stats().requests.load(Relaxed);
    let before = writes();
    hello_and_welcome(&state, &token).await;
    let after_first = writes();
    assert!(after_first > before, "the first hello stores the header");
    for _ in 0..3 {
        hello_and_welcome(&state, &token).await;
    }
    assert_eq!(writes(), after_first, "a reconnect writes nothing");
    drop(state);
    relay.stop().await;
}

#[tokio::test]
async fn a_reconnect_is_told_what_it_lacks_and_what_the_relay_lacks() {
    let relay = TestRelay::start();
    let state = relay.state.clone();
    relay.add_operator("ada", "a-password-of-length").await;
    let (visitor, chat) = (
        VisitorId(Ulid::new(Millis(1), 3)),
        ChatId(Ulid::new(Millis(1), 4)),
    );
    let token = state.signer.sign(&Claim::Visitor {
        site: "demo".into(),
        visitor,
        chat,
        exp: crate::clock::now().plus(3_600_000),
    });
    hello_and_welcome(&state, &token).await;
    // Lamport clocks out of id order, and two messages on one clock: the
    // welcome orders by (lamport, id) as the stored transcript does.
    let stored: Vec<Message> = [(9_u128, 3_u64), (5, 1), (7, 2), (6, 2), (8, 4)]
        .into_iter()
        .map(|(n, lamport)| Message {
            id: MessageId::new(Millis(1_000), n),
            chat,
            author: Author {
                role: Role::Visitor,
                id: visitor.to_string(),
                name: String::new(),
            },
            text: format!("message {n}"),
            lamport: Lamport(lamport),
            at: Millis(1_000),
            file: None,
        })
        .collect();
    for msg in &stored {
        state
            .store
            .apply(
                crate::store::records::Record::Message(msg.clone()),
                "primary",
            )
            .await
            .expect("stored");
    }
    let only_here = MessageId::new(Millis(2_000), 77);
    let have = vec![stored[0].id, stored[4].id, only_here, stored[0].id];
    // Ada is online (at the peer): she serves site demo.
    state
        .hub
        .set_remote_operators(vec!["ada".into(), "nobody".into()]);
    let welcome = hello_with(&state, &token, vec![ChatResume { chat, have }]).await;
    let ServerFrame::Welcome {
        chats,
        operators_online,
        ..
    } = welcome
    else {
        unreachable!("a welcome")
    };
    assert_eq!(
        operators_online, 1,
        "ada serves demo; nobody has no account"
    );
    let [sync] = chats.as_slice() else {
        panic!("one chat: {chats:?}")
    };
    let missing: Vec<u128> = sync.missing.iter().map(|m| m.id.0.0 & 0xff).collect();
    assert_eq!(missing, vec![5, 6, 7], "the lacked ones, by (lamport, id)");
    assert_eq!(sync.missing[0].text, "message 5", "bodies as stored");
    assert_eq!(sync.lacking, vec![only_here], "once, though held twice");
    drop(state);
    relay.stop().await;
}
