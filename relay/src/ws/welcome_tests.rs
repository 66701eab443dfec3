//! What a visitor's `hello` costs the store: the first one stores the
//! chat's header, a reconnect (the same chat, already stored) only reads.
//! A node taking over a dead node's clients welcomes hundreds of them at
//! once; a write each would queue every welcome for a group commit behind
//! the messages being stored.

use super::connection;
use super::identity::Peer;
use super::test_socket::channel_socket;
use crate::test_relay::TestRelay;
use crate::tokens::Claim;
use axum::extract::ws::Message as WsMessage;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatId, Millis, Role, Ulid, VisitorId};

/// Connects with `token`, says hello, waits for the welcome, hangs up.
async fn hello_and_welcome(state: &crate::state::Shared, token: &str) {
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
        resume: vec![],
    };
    in_tx
        .send(Ok(WsMessage::Text(hello.to_json().into())))
        .expect("the connection reads");
    let welcomed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = out_rx.recv().await {
            if let WsMessage::Text(text) = message
                && let Ok(ServerFrame::Welcome { .. }) = ServerFrame::parse(text.as_str())
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(welcomed, Ok(true), "a welcome");
    drop(in_tx);
    let ended = tokio::time::timeout(Duration::from_secs(30), task).await;
    assert!(matches!(ended, Ok(Ok(_))), "the connection ends: {ended:?}");
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
