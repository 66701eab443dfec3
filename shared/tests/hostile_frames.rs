//! Property test of the session's frame handling under hostile server
//! frames: a relay (or anyone on the path) may send anything well typed,
//! with extreme numbers, ids the client already holds with other text or
//! another chat, acks and errors for ids it never sent, welcomes for other
//! chats, migrations to nowhere, at any time, between the user's own sends
//! and socket openings and closings.
//!
//! Checked after every step, not once at the end: the session does not
//! panic, and every message the user wrote is still in the client's copy
//! of its chat with the text the user wrote, acked or not (the client's
//! copy is the authoritative one: it is what gets replayed after a
//! failover). Runs for a visitor and for an operator session.

use proptest::prelude::*;
use twinline_core::protocol::{ChatSync, DeploymentRole, ErrorCode, QueueEntry, ServerFrame};
use twinline_core::session::{
    Action, ConnId, Endpoint, Identity, Input, Session, SessionConfig, Timing,
};
use twinline_core::{
    Author, ChatId, ChatState, ChatStatus, Hlc, Lamport, Message, MessageId, Millis, OfflineId,
    OfflineNote, Role, Ulid, VisitorInfo,
};

fn own_chat() -> ChatId {
    ChatId(Ulid::new(Millis(1), 42))
}

fn author(role: Role) -> Author {
    match role {
        Role::Operator => Author {
            role,
            id: "ann".into(),
            name: "Ann".into(),
        },
        _ => Author {
            role: Role::Visitor,
            id: "v1".into(),
            name: String::new(),
        },
    }
}

fn session(role: Role) -> Session {
    let endpoint = |name: &str, role| Endpoint {
        name: name.into(),
        role,
        url: format!("http://{name}"),
    };
    Session::new(
        SessionConfig {
            role,
            site: "demo".into(),
            moderator: None,
            deployments: vec![
                endpoint("p", DeploymentRole::Primary),
                endpoint("r", DeploymentRole::Redundant),
            ],
            timing: Timing::default(),
        },
        Identity {
            token: "t".into(),
            author: author(role),
            chat: (role == Role::Visitor).then(own_chat),
        },
        Millis(0),
        7,
    )
}

/// What happens next to the session.
#[derive(Clone, Debug)]
enum Step {
    /// A hostile frame on the current socket (boxed: a message with a
    /// file, or a welcome's sync, makes a frame far larger than the other
    /// steps).
    Frame(Box<ServerFrame>),
    /// An ack for the message the user wrote `back` sends ago (a real
    /// ack, mixed in so that acked messages exist).
    AckOwn(usize),
    /// The user writes a message.
    Write(String),
    /// The socket opens, or closes.
    Open,
    Close,
    /// Time passes.
    Wait(u64),
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just((1u64 << 53) + 1),
        any::<u64>(),
        0u64..100,
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,20}",
        Just(String::new()),
        Just("<img src=x onerror=alert(1)>".into()),
        (4000usize..4005).prop_map(|n| "x".repeat(n)),
    ]
}

/// A chat id: the session's own, or another.
fn chat() -> impl Strategy<Value = ChatId> {
    prop_oneof![
        Just(own_chat()),
        any::<u128>().prop_map(|n| ChatId(Ulid(n)))
    ]
}

/// A message id: one of a few the session's own messages use (the
/// session's ids come from its seed, so small numbers are not its ids, but
/// `AckOwn` and `Write` make collisions with real ones likely through the
/// message strategy below), or any.
fn message_id() -> impl Strategy<Value = MessageId> {
    prop_oneof![
        any::<u128>().prop_map(|n| MessageId(Ulid(n))),
        (0u128..4).prop_map(|n| MessageId(Ulid(n)))
    ]
}

fn hlc() -> impl Strategy<Value = Hlc> {
    (number(), any::<u32>(), any::<u64>()).prop_map(|(wall, counter, node)| Hlc {
        wall: Millis(wall),
        counter,
        node,
    })
}

fn status() -> impl Strategy<Value = ChatStatus> {
    (
        prop_oneof![
            Just(ChatState::Waiting),
            Just(ChatState::Active),
            Just(ChatState::Closed)
        ],
        proptest::option::of(text()),
        hlc(),
    )
        .prop_map(|(state, operator, stamp)| ChatStatus {
            state,
            operator,
            stamp,
        })
}

fn info() -> impl Strategy<Value = VisitorInfo> {
    (
        text(),
        text(),
        text(),
        proptest::option::of(number()),
        hlc(),
    )
        .prop_map(|(name, email, page, left, stamp)| VisitorInfo {
            name,
            email,
            page,
            left: left.map(Millis),
            stamp,
        })
}

fn any_author() -> impl Strategy<Value = Author> {
    (
        prop_oneof![
            Just(Role::Visitor),
            Just(Role::Operator),
            Just(Role::System)
        ],
        text(),
        text(),
    )
        .prop_map(|(role, id, name)| Author { role, id, name })
}

fn message() -> impl Strategy<Value = Message> {
    (
        number(),
        any_author(),
        message_id(),
        chat(),
        text(),
        number(),
    )
        .prop_map(|(lamport, author, id, chat, text, at)| Message {
            lamport: Lamport(lamport),
            author,
            id,
            chat,
            text,
            at: Millis(at),
            file: None,
        })
}

fn sync() -> impl Strategy<Value = ChatSync> {
    (
        chat(),
        status(),
        info(),
        proptest::collection::vec(message(), 0..4),
        proptest::collection::vec(message_id(), 0..4),
    )
        .prop_map(|(chat, status, visitor, missing, lacking)| ChatSync {
            chat,
            status,
            visitor,
            missing,
            lacking,
            rating: None,
            transcripts: Vec::new(),
            seen: Default::default(),
        })
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::BadFrame),
        Just(ErrorCode::UnknownType),
        Just(ErrorCode::TooLarge),
        Just(ErrorCode::BadText),
        Just(ErrorCode::BadToken),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Version),
        Just(ErrorCode::HelloFirst),
        Just(ErrorCode::Unavailable),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let role = prop_oneof![
        Just(DeploymentRole::Primary),
        Just(DeploymentRole::Redundant)
    ];
    prop_oneof![
        (
            any::<u32>(),
            text(),
            role,
            number(),
            any_author(),
            proptest::collection::vec(sync(), 0..3),
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(
                |(v, deployment, role, epoch, you, chats, operators_online, mail)| {
                    ServerFrame::Welcome {
                        v,
                        deployment,
                        role,
                        epoch,
                        you,
                        chats,
                        operators_online,
                        mail,
                    }
                }
            ),
        sync().prop_map(|sync| ServerFrame::Chat { sync }),
        message().prop_map(|msg| ServerFrame::Message { msg }),
        message_id().prop_map(|id| ServerFrame::Ack { id }),
        any::<u128>().prop_map(|n| ServerFrame::OfflineAck {
            id: OfflineId(Ulid(n))
        }),
        (chat(), any::<u128>()).prop_map(|(chat, n)| ServerFrame::TranscriptAck {
            chat,
            id: twinline_core::TranscriptId(Ulid(n))
        }),
        (chat(), any_author(), any::<bool>()).prop_map(|(chat, who, on)| ServerFrame::Typing {
            chat,
            who,
            on
        }),
        (chat(), status()).prop_map(|(chat, status)| ServerFrame::Status { chat, status }),
        (chat(), info()).prop_map(|(chat, info)| ServerFrame::Visitor { chat, info }),
        proptest::collection::vec((chat(), status(), info(), number(), text()), 0..3).prop_map(
            |entries| {
                ServerFrame::Queue {
                    chats: entries
                        .into_iter()
                        .map(|(chat, status, visitor, since, preview)| QueueEntry {
                            chat,
                            status,
                            visitor,
                            since: Millis(since),
                            preview,
                        })
                        .collect(),
                }
            }
        ),
        (any::<u32>(), proptest::collection::vec(text(), 0..3)).prop_map(
            |(operators_online, operators)| ServerFrame::Presence {
                operators_online,
                operators
            }
        ),
        proptest::collection::vec((any::<u128>(), text(), text(), number()), 0..3).prop_map(
            |notes| {
                ServerFrame::Inbox {
                    notes: notes
                        .into_iter()
                        .map(|(id, site, text, at)| OfflineNote {
                            id: OfflineId(Ulid(id)),
                            site,
                            name: String::new(),
                            email: String::new(),
                            text,
                            at: Millis(at),
                        })
                        .collect(),
                }
            }
        ),
        (text(), text()).prop_map(|(to, reason)| ServerFrame::Migrate { to, reason }),
        number().prop_map(|nonce| ServerFrame::Pong { nonce }),
        (error_code(), text(), proptest::option::of(message_id()))
            .prop_map(|(code, message, id)| ServerFrame::Error { code, message, id }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => server_frame().prop_map(|frame| Step::Frame(Box::new(frame))),
        2 => (0usize..4).prop_map(Step::AckOwn),
        3 => "[a-z ]{1,20}".prop_map(Step::Write),
        1 => Just(Step::Open),
        1 => Just(Step::Close),
        1 => (0u64..5_000).prop_map(Step::Wait),
    ]
}

/// Drives one session through `steps`, checking after each.
fn run(role: Role, steps: Vec<Step>) {
    let mut session = session(role);
    let mut now = Millis(0);
    let mut conns: Vec<ConnId> = Vec::new();
    let mut written: Vec<(MessageId, String)> = Vec::new();
    let chat = own_chat();
    if role == Role::Operator {
        // An operator's chats come from the relay; give it one to write in.
        session.handle(
            now,
            Input::Frame {
                conn: ConnId(u64::MAX),
                frame: ServerFrame::Chat {
                    sync: ChatSync {
                        chat,
                        ..ChatSync::default()
                    },
                },
            },
        );
    }
    for step in steps {
        session.handle_timeout(now);
        while let Some(action) = session.poll_action() {
            if let Action::Connect { conn, .. } = action {
                conns.push(conn);
            }
        }
        let conn = conns.last().copied().unwrap_or(ConnId(0));
        match step {
            Step::Frame(frame) => session.handle(
                now,
                Input::Frame {
                    conn,
                    frame: *frame,
                },
            ),
            Step::AckOwn(back) => {
                if let Some((id, _)) = written.iter().rev().nth(back) {
                    session.handle(
                        now,
                        Input::Frame {
                            conn,
                            frame: ServerFrame::Ack { id: *id },
                        },
                    );
                }
            }
            Step::Write(text) => {
                if let Ok(id) = session.send(now, chat, &text) {
                    written.push((id, text));
                }
            }
            Step::Open => session.handle(now, Input::Opened { conn }),
            Step::Close => session.handle(now, Input::Closed { conn }),
            Step::Wait(ms) => now = now.plus(ms),
        }
        // The check, after every step.
        for (id, text) in &written {
            let kept = session
                .transcript(chat)
                .and_then(|transcript| transcript.iter().find(|m| m.id == *id));
            match kept {
                Some(message) => assert_eq!(
                    &message.text, text,
                    "message {id}: the client's copy was rewritten by a server frame"
                ),
                None => panic!("message {id} the user wrote is gone from the client's copy"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_visitor_session_survives_any_server_frame_and_keeps_what_it_wrote(
        steps in proptest::collection::vec(step(), 0..60)
    ) {
        run(Role::Visitor, steps);
    }

    #[test]
    fn an_operator_session_survives_any_server_frame_and_keeps_what_it_wrote(
        steps in proptest::collection::vec(step(), 0..60)
    ) {
        run(Role::Operator, steps);
    }
}
