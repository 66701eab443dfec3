//! The console's state built from a real core session, driven by hand with
//! the frames a relay sends an operator.

use super::*;
use twinline_core::model::{Author, ChatStatus, Message, OfflineNote, VisitorInfo};
use twinline_core::protocol::{ChatSync, QueueEntry, ServerFrame};
use twinline_core::session::{
    Action, ConnId, Endpoint, Identity, Input, SessionConfig, SessionEvent, Timing,
};
use twinline_core::{Hlc, Lamport, MessageId, OfflineId, Ulid};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn chat() -> ChatId {
    ChatId(Ulid::new(Millis(1_000), 7))
}

fn ann() -> Author {
    Author {
        role: Role::Operator,
        id: "ann".into(),
        name: "Ann".into(),
    }
}

fn visitor() -> Author {
    Author {
        role: Role::Visitor,
        id: "v1".into(),
        name: HOSTILE.into(),
    }
}

fn stamp(at: u64) -> Hlc {
    Hlc::zero(9).tick(Millis(at))
}

/// An operator session connected to the primary, holding one active chat.
fn connected() -> (Session, ConnId) {
    let config = SessionConfig {
        role: Role::Operator,
        site: "console".into(),
        moderator: None,
        deployments: vec![
            Endpoint {
                name: "primary".into(),
                role: DeploymentRole::Primary,
                url: "http://p".into(),
            },
            Endpoint {
                name: "redundant".into(),
                role: DeploymentRole::Redundant,
                url: "http://r".into(),
            },
        ],
        timing: Timing::default(),
    };
    let identity = Identity {
        token: "t".into(),
        author: ann(),
        chat: None,
    };
    let mut session = Session::new(config, identity, Millis(1_000), 1);
    let conn = std::iter::from_fn(|| session.poll_action())
        .find_map(|action| match action {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("connects at once");
    session.handle(Millis(1_001), Input::Opened { conn });
    let status = ChatStatus {
        state: ChatState::Active,
        operator: Some("ann".into()),
        stamp: stamp(1_002),
    };
    let info = VisitorInfo {
        name: HOSTILE.into(),
        email: "v@example.com".into(),
        page: "https://shop.example/kettle".into(),
        left: None,
        stamp: stamp(1_002),
    };
    let first = Message {
        lamport: Lamport(1),
        author: visitor(),
        id: MessageId(Ulid::new(Millis(1_000), 1)),
        chat: chat(),
        text: HOSTILE.into(),
        at: Millis(1_000),
        file: None,
    };
    frame(
        &mut session,
        conn,
        ServerFrame::Welcome {
            v: 1,
            deployment: "primary".into(),
            role: DeploymentRole::Primary,
            epoch: 1,
            you: ann(),
            chats: vec![ChatSync {
                chat: chat(),
                status,
                visitor: info,
                missing: vec![first],
                lacking: vec![],
                rating: None,
                transcripts: vec![],
                seen: Default::default(),
            }],
            operators_online: 2,
            mail: false,
        },
    );
    (session, conn)
}

fn frame(session: &mut Session, conn: ConnId, frame: ServerFrame) {
    session.handle(Millis(1_010), Input::Frame { conn, frame });
    while session.poll_action().is_some() {}
}

#[test]
fn a_connected_session_shows_its_deployment_chat_and_visitor() {
    let (session, _) = connected();
    let state = build(&session, Millis(2_000));
    assert_eq!(
        state.me,
        Some(Me {
            username: "ann".into(),
            name: "Ann".into()
        })
    );
    assert_eq!(state.connection.state, "connected");
    assert_eq!(state.connection.deployment, Some("primary"));
    assert_eq!(state.connection.name.as_deref(), Some("primary"));
    assert_eq!(state.chats.len(), 1);
    let view = &state.chats[0];
    assert_eq!(view.chat, chat().to_string());
    assert_eq!(view.state, "active");
    assert!(view.mine);
    assert_eq!(view.visitor.email, "v@example.com");
    assert_eq!(view.visitor.page, "https://shop.example/kettle");
    // Hostile text is carried as it is; the page renders it as text.
    assert_eq!(view.visitor.name, HOSTILE);
    assert_eq!(view.messages.len(), 1);
    assert_eq!(view.messages[0].text, HOSTILE);
    assert_eq!(view.messages[0].author, "visitor");
    assert_eq!(view.messages[0].status, "received");
    assert!(!view.messages[0].own);
}

#[test]
fn own_messages_go_from_sending_to_sent_on_ack() {
    let (mut session, conn) = connected();
    let id = session.send(Millis(1_500), chat(), "Hello!").unwrap();
    while session.poll_action().is_some() {}
    let state = build(&session, Millis(1_600));
    let mine = state.chats[0].messages.last().unwrap();
    assert_eq!(
        (mine.text.as_str(), mine.status, mine.own),
        ("Hello!", "sending", true)
    );
    assert_eq!(mine.author, "operator");
    assert_eq!(state.chats[0].pending, 1);
    frame(&mut session, conn, ServerFrame::Ack { id });
    let state = build(&session, Millis(1_700));
    assert_eq!(state.chats[0].messages.last().unwrap().status, "sent");
    assert_eq!(state.chats[0].pending, 0);
}

#[test]
fn queue_waiting_first_with_wait_time_and_visitor_details() {
    let (mut session, conn) = connected();
    let entry = |n: u128, state: ChatState, since: u64| QueueEntry {
        chat: ChatId(Ulid::new(Millis(since), n)),
        status: ChatStatus {
            state,
            operator: (state == ChatState::Active).then(|| "bob".into()),
            stamp: stamp(since),
        },
        visitor: VisitorInfo {
            name: format!("visitor {n}"),
            email: format!("{n}@example.com"),
            page: "https://shop.example/".into(),
            left: None,
            stamp: stamp(since),
        },
        since: Millis(since),
        preview: "hi".into(),
    };
    frame(
        &mut session,
        conn,
        ServerFrame::Queue {
            chats: vec![
                entry(1, ChatState::Active, 500),
                entry(2, ChatState::Waiting, 1_500),
                entry(3, ChatState::Waiting, 1_200),
            ],
        },
    );
    let state = build(&session, Millis(5_000));
    let order: Vec<(&str, &str, u64)> = state
        .queue
        .iter()
        .map(|q| (q.name.as_str(), q.state, q.wait_ms))
        .collect();
    assert_eq!(
        order,
        vec![
            ("visitor 3", "waiting", 3_800),
            ("visitor 2", "waiting", 3_500),
            ("visitor 1", "active", 4_500),
        ]
    );
    assert_eq!(state.queue[2].operator.as_deref(), Some("bob"));
    assert_eq!(state.queue[0].email, "3@example.com");
}

#[test]
fn presence_inbox_and_typing() {
    let (mut session, conn) = connected();
    frame(
        &mut session,
        conn,
        ServerFrame::Presence {
            operators_online: 2,
            operators: vec!["ann".into(), "bob".into()],
        },
    );
    frame(
        &mut session,
        conn,
        ServerFrame::Inbox {
            notes: vec![OfflineNote {
                id: OfflineId(Ulid::new(Millis(900), 5)),
                site: "demo".into(),
                name: "Eve".into(),
                email: "eve@example.com".into(),
                text: HOSTILE.into(),
                at: Millis(900),
            }],
        },
    );
    // The visitor types (the frame arrives at 1 010).
    frame(
        &mut session,
        conn,
        ServerFrame::Typing {
            chat: chat(),
            who: visitor(),
            on: true,
        },
    );
    let state = build(&session, Millis(2_000));
    assert_eq!(state.operators, vec!["ann".to_string(), "bob".to_string()]);
    assert_eq!(state.operators_online, 2);
    assert_eq!(state.inbox.len(), 1);
    assert_eq!(state.inbox[0].text, HOSTILE);
    assert_eq!(state.inbox[0].email, "eve@example.com");
    assert_eq!(state.chats[0].typing.as_deref(), Some(HOSTILE));
    // A typing notice that was never turned off fades: the session drops
    // it once it is stale, and the page hears of it then.
    let stale = Millis(1_010 + Timing::default().typing_stale);
    session.handle_timeout(stale);
    let said: Vec<Action> = std::iter::from_fn(|| session.poll_action()).collect();
    assert!(said.contains(&Action::Event(SessionEvent::Typing {
        chat: chat(),
        who: visitor(),
        on: false
    })));
    let later = build(&session, stale);
    assert_eq!(later.chats[0].typing, None);
}

#[test]
fn a_chat_transferred_away_or_closed_is_no_longer_mine() {
    let (mut session, conn) = connected();
    let to = |state: ChatState, operator: &str, at: u64| ServerFrame::Status {
        chat: chat(),
        status: ChatStatus {
            state,
            operator: Some(operator.into()),
            stamp: stamp(at),
        },
    };
    frame(&mut session, conn, to(ChatState::Active, "bob", 1_100));
    let state = build(&session, Millis(2_000));
    assert_eq!(state.chats[0].operator.as_deref(), Some("bob"));
    assert!(!state.chats[0].mine);
    frame(&mut session, conn, to(ChatState::Active, "ann", 1_200));
    assert!(build(&session, Millis(2_000)).chats[0].mine);
    frame(&mut session, conn, to(ChatState::Closed, "ann", 1_300));
    let state = build(&session, Millis(2_000));
    assert_eq!(state.chats[0].state, "closed");
    assert!(!state.chats[0].mine);
}

#[test]
fn the_visitors_rating_shows_beside_the_chat_the_later_one_winning() {
    let (mut session, conn) = connected();
    assert_eq!(build(&session, Millis(2_000)).chats[0].rating, None);
    let rating = |id: u128, score, at| twinline_core::Rating {
        id: twinline_core::RatingId(twinline_core::Ulid(id)),
        score,
        comment: HOSTILE.into(),
        stamp: stamp(at),
    };
    for (id, score, at) in [
        (2, twinline_core::Score::Good, 20),
        (1, twinline_core::Score::Bad, 10),
    ] {
        frame(
            &mut session,
            conn,
            ServerFrame::Rating {
                chat: chat(),
                rating: rating(id, score, at),
            },
        );
    }
    assert_eq!(
        build(&session, Millis(2_000)).chats[0].rating,
        Some(RatingView {
            score: "good",
            comment: HOSTILE.into(),
        })
    );
}

#[test]
fn messages_are_grouped_by_author_and_minute_as_the_widget_groups_them() {
    let (mut session, _) = connected();
    for (at, text) in [(1_500, "One"), (1_600, "Two"), (61_000, "Next minute")] {
        session.send(Millis(at), chat(), text).unwrap();
    }
    while session.poll_action().is_some() {}
    let state = build(&session, Millis(61_100));
    let groups: Vec<(&str, bool)> = state.chats[0]
        .messages
        .iter()
        .map(|m| (m.text.as_str(), m.cont))
        .collect();
    assert_eq!(
        groups,
        vec![
            (HOSTILE, false),
            ("One", false),
            ("Two", true),
            ("Next minute", false)
        ],
        "a new author starts a group, so does a new minute"
    );
}

#[test]
fn seen_shows_under_the_operators_newest_message_the_visitor_has_seen() {
    let (mut session, conn) = connected();
    let first = session.send(Millis(1_500), chat(), "One").unwrap();
    let second = session.send(Millis(1_600), chat(), "Two").unwrap();
    while session.poll_action().is_some() {}
    assert_eq!(build(&session, Millis(2_000)).chats[0].seen, None);
    let receipt = |up_to| ServerFrame::Receipt {
        chat: chat(),
        side: twinline_core::Side::Visitor,
        up_to,
    };
    frame(&mut session, conn, receipt(first));
    assert_eq!(
        build(&session, Millis(2_000)).chats[0].seen,
        Some(first.to_string())
    );
    // "Seen up to X" covers the visitor's own messages too, but "Seen"
    // goes under the operators'.
    frame(
        &mut session,
        conn,
        receipt(MessageId(Ulid::new(Millis(9_000), 1))),
    );
    assert_eq!(
        build(&session, Millis(9_100)).chats[0].seen,
        Some(second.to_string())
    );
    // The operator's own receipt shows nothing.
    frame(
        &mut session,
        conn,
        ServerFrame::Receipt {
            chat: chat(),
            side: twinline_core::Side::Operator,
            up_to: MessageId(Ulid::new(Millis(9_500), 1)),
        },
    );
    assert_eq!(
        build(&session, Millis(9_600)).chats[0].seen,
        Some(second.to_string())
    );
}

#[test]
fn the_chat_on_screen_is_seen_only_on_a_visible_page_and_only_if_held() {
    let (mut session, conn) = connected();
    assert_eq!(to_mark_seen(&session, Some(chat()), true), Some(chat()));
    assert_eq!(to_mark_seen(&session, Some(chat()), false), None, "hidden");
    assert_eq!(to_mark_seen(&session, None, true), None, "no chat open");
    let other = ChatId(Ulid::new(Millis(1_000), 8));
    assert_eq!(to_mark_seen(&session, Some(other), true), None, "not held");
    // And the session sends `read` for it once per new message.
    assert!(session.mark_seen(Millis(1_100), chat()));
    let sent: Vec<_> = std::iter::from_fn(|| session.poll_action())
        .filter_map(|a| match a {
            Action::Send {
                frame: twinline_core::protocol::ClientFrame::Read { chat: c, .. },
                conn: on,
            } if on == conn => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![chat()]);
    assert!(!session.mark_seen(Millis(1_200), chat()));
}

#[test]
fn a_visitor_who_left_is_shown_as_left_beside_the_chat_and_in_the_queue() {
    let (mut session, conn) = connected();
    let state = build(&session, Millis(2_000));
    assert_eq!(state.chats[0].visitor.presence, "Visitor online");
    // The relay recorded the close of the visitor's last connection.
    frame(
        &mut session,
        conn,
        ServerFrame::Visitor {
            chat: chat(),
            info: VisitorInfo {
                name: HOSTILE.into(),
                left: Some(Millis(3_000)),
                stamp: stamp(3_000),
                ..VisitorInfo::default()
            },
        },
    );
    let state = build(&session, Millis(3_000 + 3 * 60_000));
    assert_eq!(state.chats[0].visitor.presence, "Visitor left 3 min ago");
    assert_eq!(
        state.chats[0].visitor.name, HOSTILE,
        "the rest kept as text"
    );
    // Back: online again.
    frame(
        &mut session,
        conn,
        ServerFrame::Visitor {
            chat: chat(),
            info: VisitorInfo {
                name: HOSTILE.into(),
                stamp: stamp(4_000),
                ..VisitorInfo::default()
            },
        },
    );
    assert_eq!(
        build(&session, Millis(900_000)).chats[0].visitor.presence,
        "Visitor online"
    );
    // A queue entry whose visitor left (before the relay drops it).
    frame(
        &mut session,
        conn,
        ServerFrame::Queue {
            chats: vec![QueueEntry {
                chat: ChatId(Ulid::new(Millis(1_500), 9)),
                status: ChatStatus {
                    state: ChatState::Waiting,
                    operator: None,
                    stamp: stamp(1_500),
                },
                visitor: VisitorInfo {
                    left: Some(Millis(10_000)),
                    stamp: stamp(10_000),
                    ..VisitorInfo::default()
                },
                since: Millis(1_500),
                preview: "hi".into(),
            }],
        },
    );
    let state = build(&session, Millis(10_000 + 61_000));
    assert_eq!(state.queue[0].presence, "Visitor left 1 min ago");
}

fn png(chat: ChatId, name: &str) -> twinline_core::files::FileMeta {
    twinline_core::files::FileMeta {
        id: twinline_core::FileId(Ulid::new(Millis(1_000), 40)),
        chat,
        name: name.into(),
        size: 120,
        kind: twinline_core::files::FileType::Png,
        sha256: "ab".repeat(32),
    }
}

#[test]
fn a_file_shows_as_a_preview_if_an_image_else_as_a_named_download() {
    let (mut session, conn) = connected();
    let mut pdf = png(chat(), HOSTILE);
    pdf.id = twinline_core::FileId(Ulid::new(Millis(1_000), 41));
    pdf.kind = twinline_core::files::FileType::Pdf;
    for (n, file) in [png(chat(), "shot.png"), pdf.clone()]
        .into_iter()
        .enumerate()
    {
        let msg = Message {
            lamport: Lamport(2 + n as u64),
            author: visitor(),
            id: MessageId(Ulid::new(Millis(1_100), 50 + n as u128)),
            chat: chat(),
            text: String::new(),
            at: Millis(1_100),
            file: Some(file),
        };
        frame(&mut session, conn, ServerFrame::Message { msg });
    }
    let state = build(&session, Millis(2_000));
    let messages = &state.chats[0].messages;
    let image = messages[1].file.as_ref().unwrap();
    assert_eq!(
        (image.show, image.mime, image.name.as_str()),
        ("preview", "image/png", "shot.png")
    );
    let download = messages[2].file.as_ref().unwrap();
    assert_eq!(
        (download.show, download.mime),
        ("download", "application/pdf")
    );
    // The name is carried as it is; the page renders it as text.
    assert_eq!(download.name, HOSTILE);
    assert_eq!(download.id, pdf.id.to_string());
    assert_eq!(messages[0].file, None);
}

#[test]
fn an_operator_sends_a_completed_file_as_a_message_acked_by_id() {
    let (mut session, conn) = connected();
    let id = MessageId(Ulid::new(Millis(1_500), 9));
    let file = png(chat(), "reply.png");
    // A file of another chat is not sent.
    let elsewhere = png(ChatId(Ulid::new(Millis(1_000), 8)), "reply.png");
    assert!(
        session
            .send_file_with_id(Millis(1_500), chat(), id, "", elsewhere)
            .is_err()
    );
    assert_eq!(
        session.send_file_with_id(Millis(1_500), chat(), id, "", file.clone()),
        Ok(id)
    );
    let sent = std::iter::from_fn(|| session.poll_action()).find_map(|action| match action {
        Action::Send {
            frame: twinline_core::protocol::ClientFrame::Send { msg },
            ..
        } => Some(msg),
        _ => None,
    });
    assert_eq!(sent.and_then(|m| m.file), Some(file.clone()));
    // Again with the same file: the same message.
    assert_eq!(
        session.send_file_with_id(Millis(1_501), chat(), id, "", file.clone()),
        Ok(id)
    );
    let state = build(&session, Millis(1_600));
    let mine = state.chats[0].messages.last().unwrap();
    assert_eq!(
        (mine.status, mine.file.as_ref().map(|f| f.show)),
        ("sending", Some("preview"))
    );
    frame(&mut session, conn, ServerFrame::Ack { id });
    let state = build(&session, Millis(1_700));
    assert_eq!(state.chats[0].messages.last().unwrap().status, "sent");
}
