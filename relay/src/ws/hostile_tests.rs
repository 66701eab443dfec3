//! Property test of the relay's per-connection handling under hostile
//! input: arbitrary text, arbitrary bytes and well-typed but hostile
//! frames (other chats, forged authors, extreme numbers, replayed ids,
//! oversize and control-character text, frames out of order) fed to
//! [`connection::run`] after a valid visitor `hello`.
//!
//! The seam is `run`'s socket parameter: any `Sink + Stream` of WebSocket
//! messages, here a pair of channels, so the real connection loop, client
//! dispatch, rate limits and store (a real SQLite file in a temp dir) run
//! without a socket. Checked after each case: the connection task did not
//! panic, and every message the relay acked is in the store, in the
//! sender's chat, as it was sent (`Message::same_as`: everything but `at`,
//! which the relay stamps itself). Some sends reuse a taken id with another
//! body (text, Lamport clock or author name): such a send is never acked,
//! because an ack means that message, not another, is stored.
//!
//! Each send is answered by exactly one frame naming its id (its ack or
//! its error), in the order the sends came, until the connection ends; so
//! the n-th answer naming an id belongs to the n-th send of that id.

use super::connection;
use super::identity::Peer;
use super::test_socket::channel_socket;
use crate::store::reads;
use crate::test_relay::TestRelay;
use crate::tokens::Claim;
use axum::extract::ws::Message as WsMessage;
use proptest::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use twinline_core::protocol::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{
    Author, ChatId, Lamport, Message, MessageId, Millis, OfflineId, OfflineNote, Role, Ulid,
    VisitorId,
};

/// One hostile input after the hello.
#[derive(Clone, Debug)]
enum Input {
    /// Any text, sent as a text message.
    Text(String),
    /// Any bytes, sent as a binary message.
    Binary(Vec<u8>),
    /// A WebSocket ping.
    Ping,
    /// A well-typed frame, hostile in its values.
    Frame(Hostile),
}

/// Frames with values a hostile client picks.
#[derive(Clone, Debug)]
enum Hostile {
    /// A message: own chat or another, own author or forged, any numbers,
    /// any text; `reuse` replays the message sent `reuse` sends ago.
    Send {
        other_chat: bool,
        role: Role,
        forged_author: bool,
        lamport: u64,
        at: u64,
        text: String,
        reuse: Option<usize>,
    },
    /// An honest message among the hostile ones (what must stay acked).
    Honest(String),
    /// The id of the message sent `back` sends ago with another body: a
    /// taken id, which must be refused, never acked.
    Conflict {
        back: usize,
        change: Change,
    },
    Typing(bool, bool),
    SetVisitor(String, String, String),
    Offline(String, u64),
    Close(bool),
    Accept(bool),
    Transfer(String),
    SetAvailability(bool),
    Hello,
    JsonPing(u64),
}

/// What a conflicting send changes in the message whose id it takes.
#[derive(Clone, Copy, Debug)]
enum Change {
    Text,
    Lamport,
    AuthorName,
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\x00-\\x1f\\u{202e}\\u{200b}<>&\"']{0,20}",
        Just(String::new()),
        (3990usize..4010).prop_map(|n| "a".repeat(n)),
        Just("<script>alert(1)</script>".to_string()),
    ]
}

fn extreme_number() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(1u64 << 53),
        Just((1u64 << 53) + 1),
        Just(i64::MAX as u64),
        Just(i64::MAX as u64 + 1),
        any::<u64>(),
        0u64..10,
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Visitor),
        Just(Role::Operator),
        Just(Role::System)
    ]
}

fn hostile_frame() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        4 => (
            any::<bool>(),
            role(),
            any::<bool>(),
            extreme_number(),
            extreme_number(),
            hostile_text(),
            proptest::option::of(0usize..4),
        )
            .prop_map(|(other_chat, role, forged_author, lamport, at, text, reuse)| {
                Hostile::Send { other_chat, role, forged_author, lamport, at, text, reuse }
            }),
        4 => "[a-z ]{1,30}".prop_map(Hostile::Honest),
        2 => (
            0usize..4,
            prop_oneof![Just(Change::Text), Just(Change::Lamport), Just(Change::AuthorName)],
        )
            .prop_map(|(back, change)| Hostile::Conflict { back, change }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(other, on)| Hostile::Typing(other, on)),
        1 => (hostile_text(), hostile_text(), hostile_text())
            .prop_map(|(name, email, page)| Hostile::SetVisitor(name, email, page)),
        1 => (hostile_text(), extreme_number()).prop_map(|(text, at)| Hostile::Offline(text, at)),
        1 => any::<bool>().prop_map(Hostile::Close),
        1 => any::<bool>().prop_map(Hostile::Accept),
        1 => hostile_text().prop_map(Hostile::Transfer),
        1 => any::<bool>().prop_map(Hostile::SetAvailability),
        1 => Just(Hostile::Hello),
        1 => any::<u64>().prop_map(Hostile::JsonPing),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => ".{0,60}".prop_map(Input::Text),
        1 => "\\{\"type\":\"(send|hello|ping|offline)\".{0,60}".prop_map(Input::Text),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Input::Binary),
        1 => Just(Input::Ping),
        6 => hostile_frame().prop_map(Input::Frame),
    ]
}

struct Visitor {
    visitor: VisitorId,
    chat: ChatId,
    token: String,
}

fn frame_of(hostile: &Hostile, me: &Visitor, sent: &mut Vec<Message>, n: u128) -> ClientFrame {
    let other = ChatId(Ulid::new(Millis(1), 0xbad));
    let chat_of = |other_chat: bool| if other_chat { other } else { me.chat };
    match hostile.clone() {
        Hostile::Send {
            other_chat,
            role,
            forged_author,
            lamport,
            at,
            text,
            reuse,
        } => {
            let msg = match reuse.and_then(|back| sent.iter().rev().nth(back)) {
                // A replay is the same message again (a client replaying
                // after a failover).
                Some(previous) => previous.clone(),
                None => Message {
                    lamport: Lamport(lamport),
                    author: Author {
                        role,
                        id: if forged_author {
                            "someone-else".into()
                        } else {
                            me.visitor.to_string()
                        },
                        name: String::new(),
                    },
                    id: MessageId(Ulid::new(Millis(2), n)),
                    chat: chat_of(other_chat),
                    text,
                    at: Millis(at),
                    file: None,
                },
            };
            sent.push(msg.clone());
            ClientFrame::Send { msg }
        }
        Hostile::Honest(text) => {
            let msg = Message {
                lamport: Lamport(sent.len() as u64 + 1),
                author: Author {
                    role: Role::Visitor,
                    id: me.visitor.to_string(),
                    name: String::new(),
                },
                id: MessageId(Ulid::new(Millis(2), n)),
                chat: me.chat,
                text,
                at: Millis(1_764_036_000_000),
                file: None,
            };
            sent.push(msg.clone());
            ClientFrame::Send { msg }
        }
        Hostile::Conflict { back, change } => {
            // With nothing sent yet there is no id to take: an honest one.
            let Some(mut msg) = sent.iter().rev().nth(back).cloned() else {
                return frame_of(&Hostile::Honest("first".into()), me, sent, n);
            };
            match change {
                Change::Text => msg.text.push_str(" (another body)"),
                Change::Lamport => msg.lamport = Lamport(msg.lamport.0 ^ 1),
                Change::AuthorName => msg.author.name.push_str("someone else"),
            }
            sent.push(msg.clone());
            ClientFrame::Send { msg }
        }
        Hostile::Typing(other_chat, on) => ClientFrame::Typing {
            chat: chat_of(other_chat),
            on,
        },
        Hostile::SetVisitor(name, email, page) => ClientFrame::SetVisitor {
            chat: me.chat,
            name,
            email,
            page,
        },
        Hostile::Offline(text, at) => ClientFrame::Offline {
            note: OfflineNote {
                id: OfflineId(Ulid::new(Millis(3), n)),
                site: "demo".into(),
                name: String::new(),
                email: String::new(),
                text,
                at: Millis(at),
            },
        },
        Hostile::Close(other_chat) => ClientFrame::Close {
            chat: chat_of(other_chat),
        },
        Hostile::Accept(other_chat) => ClientFrame::Accept {
            chat: chat_of(other_chat),
        },
        Hostile::Transfer(to) => ClientFrame::Transfer { chat: me.chat, to },
        Hostile::SetAvailability(online) => ClientFrame::SetAvailability { online },
        Hostile::Hello => hello(me),
        Hostile::JsonPing(nonce) => ClientFrame::Ping { nonce },
    }
}

fn hello(me: &Visitor) -> ClientFrame {
    ClientFrame::Hello {
        v: PROTOCOL_VERSION,
        role: Role::Visitor,
        site: "demo".into(),
        token: me.token.clone(),
        resume: vec![],
    }
}

/// Runs one case; returns what was acked and what is stored.
async fn run_case(inputs: Vec<Input>) {
    let relay = TestRelay::start();
    let state = relay.state.clone();
    let me = Visitor {
        visitor: VisitorId(Ulid::new(Millis(1), 1)),
        chat: ChatId(Ulid::new(Millis(1), 2)),
        token: String::new(),
    };
    let me = Visitor {
        token: state.signer.sign(&Claim::Visitor {
            site: "demo".into(),
            visitor: me.visitor,
            chat: me.chat,
            exp: crate::clock::now().plus(3_600_000),
        }),
        ..me
    };
    let (socket, in_tx, mut out_rx) = channel_socket();
    let context = Peer {
        origin: Some("http://site.test".into()),
        same_origin: false,
        ip: "127.0.0.1".parse().unwrap(),
    };
    let task = tokio::spawn(connection::run(socket, state.clone(), context, None));
    let send_text = |text: String| in_tx.send(Ok(WsMessage::Text(text.into()))).is_ok();
    send_text(hello(&me).to_json());
    let mut sent = Vec::new();
    for (n, input) in inputs.iter().enumerate() {
        let open = match input {
            Input::Text(text) => send_text(text.clone()),
            Input::Binary(bytes) => in_tx
                .send(Ok(WsMessage::Binary(bytes.clone().into())))
                .is_ok(),
            Input::Ping => in_tx.send(Ok(WsMessage::Ping(vec![1].into()))).is_ok(),
            Input::Frame(hostile) => {
                send_text(frame_of(hostile, &me, &mut sent, n as u128 + 10).to_json())
            }
        };
        if !open {
            break;
        }
    }
    drop(in_tx);
    let outcome = tokio::time::timeout(Duration::from_secs(30), task).await;
    let ended = outcome.expect("the connection ends when its input does");
    assert!(ended.is_ok(), "the connection task panicked: {ended:?}");

    // The answers naming a message, in order: acked or refused.
    let mut answers: HashMap<MessageId, Vec<bool>> = HashMap::new();
    while let Ok(message) = out_rx.try_recv() {
        if let WsMessage::Text(text) = message {
            match ServerFrame::parse(text.as_str()) {
                Ok(ServerFrame::Ack { id }) => answers.entry(id).or_default().push(true),
                Ok(ServerFrame::Error { id: Some(id), .. }) => {
                    answers.entry(id).or_default().push(false)
                }
                _ => {}
            }
        }
    }
    let chat = me.chat;
    let stored: HashMap<MessageId, Message> = state
        .store
        .read(move |conn| reads::messages(conn, chat))
        .await
        .expect("the store reads")
        .into_iter()
        .map(|msg| (msg.id, msg))
        .collect();
    for (id, answers) in answers {
        let sends: Vec<&Message> = sent.iter().filter(|m| m.id == id).collect();
        assert!(
            answers.len() <= sends.len(),
            "message {id}: {} answers to {} sends",
            answers.len(),
            sends.len()
        );
        for (send, acked) in sends.into_iter().zip(answers) {
            if !acked {
                continue;
            }
            let stored = stored
                .get(&id)
                .unwrap_or_else(|| panic!("message {id} was acked but is not stored"));
            assert!(
                stored.same_as(send),
                "an ack for a send that is not what is stored (a taken id with another \
                 body must be refused): sent {send:?}, stored {stored:?}"
            );
            assert_eq!(stored.chat, chat);
        }
    }
    drop(state);
    relay.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_input_never_panics_a_connection_nor_loses_an_acked_message(
        inputs in proptest::collection::vec(input(), 0..40)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run_case(inputs));
    }
}
