//! Scenario tests: the session driven by hand, one input at a time, with
//! every action checked. The seeded, randomised version of these is
//! shared/tests/simulation.rs.

use super::*;
use crate::clock::Hlc;
use crate::model::{Author, ChatState, ChatStatus, Message, Role};
use crate::protocol::{
    ActiveDeployment, ChatSync, ClientFrame, DeploymentRole, ErrorCode, Health, ServerFrame,
};
use crate::{ChatId, Lamport, MessageId, Millis, OfflineId, Ulid};
use DeploymentRole::{Primary, Redundant};

pub(super) fn chat() -> ChatId {
    ChatId(Ulid::new(Millis(1), 42))
}

pub(super) fn visitor() -> Author {
    Author {
        role: Role::Visitor,
        id: "v1".into(),
        name: String::new(),
    }
}

pub(super) fn operator() -> Author {
    Author {
        role: Role::Operator,
        id: "ann".into(),
        name: "Ann".into(),
    }
}

pub(super) fn config(role: Role, moderator: bool) -> SessionConfig {
    SessionConfig {
        role,
        site: "demo".into(),
        moderator: moderator.then(|| "http://m".into()),
        deployments: vec![
            Endpoint {
                name: "p".into(),
                role: Primary,
                url: "http://p".into(),
            },
            Endpoint {
                name: "r".into(),
                role: Redundant,
                url: "http://r".into(),
            },
        ],
        timing: Timing::default(),
    }
}

pub(super) fn visitor_session(moderator: bool) -> Session {
    Session::new(
        config(Role::Visitor, moderator),
        Identity {
            token: "t".into(),
            author: visitor(),
            chat: Some(chat()),
        },
        Millis(0),
        1,
    )
}

pub(super) fn operator_session() -> Session {
    Session::new(
        config(Role::Operator, false),
        Identity {
            token: "t".into(),
            author: operator(),
            chat: None,
        },
        Millis(0),
        1,
    )
}

pub(super) fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

pub(super) fn connects(actions: &[Action]) -> Vec<(ConnId, DeploymentRole)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Connect {
                conn, deployment, ..
            } => Some((*conn, *deployment)),
            _ => None,
        })
        .collect()
}

pub(super) fn sent(actions: &[Action], on: ConnId) -> Vec<ClientFrame> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { conn, frame } if *conn == on => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

fn sent_ids(actions: &[Action], on: ConnId) -> Vec<MessageId> {
    sent(actions, on)
        .into_iter()
        .filter_map(|f| f.ack_id())
        .collect()
}

pub(super) fn welcome(name: &str, role: DeploymentRole, chats: Vec<ChatSync>) -> ServerFrame {
    ServerFrame::Welcome {
        v: 1,
        deployment: name.into(),
        role,
        epoch: 1,
        you: visitor(),
        chats,
        operators_online: 1,
        mail: false,
    }
}

pub(super) fn sync(lacking: Vec<MessageId>, missing: Vec<Message>) -> ChatSync {
    ChatSync {
        chat: chat(),
        missing,
        lacking,
        ..ChatSync::default()
    }
}

/// A second connection, after the first one closed at `at` (opened, not
/// yet welcomed).
pub(super) fn reconnect(s: &mut Session, conn: ConnId, at: u64) -> ConnId {
    s.handle(Millis(at), Input::Closed { conn });
    let mut actions = drain(s);
    s.handle_timeout(Millis(at + 500));
    actions.extend(drain(s));
    let (next, _) = *connects(&actions).last().expect("a connect");
    s.handle(Millis(at + 501), Input::Opened { conn: next });
    drain(s);
    next
}

/// Connects the first Connect action it finds and welcomes it.
pub(super) fn establish(s: &mut Session, now: Millis, actions: &[Action]) -> (ConnId, Vec<Action>) {
    let (conn, role) = *connects(actions).last().expect("a connect");
    s.handle(now, Input::Opened { conn });
    let hello = drain(s);
    assert!(
        matches!(sent(&hello, conn).first(), Some(ClientFrame::Hello { .. })),
        "hello first: {hello:?}"
    );
    let name = if role == Primary { "p" } else { "r" };
    s.handle(
        now,
        Input::Frame {
            conn,
            frame: welcome(name, role, vec![sync(vec![], vec![])]),
        },
    );
    (conn, drain(s))
}

pub(super) fn health(ready: bool) -> Health {
    Health {
        deployment: String::new(),
        role: Primary,
        epoch: 1,
        ready,
        draining: false,
        lag: None,
        version: String::new(),
    }
}

#[test]
fn starts_on_the_primary_and_acks_a_message() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    assert_eq!(connects(&start).len(), 1);
    assert_eq!(connects(&start)[0].1, Primary);
    assert!(start.iter().any(|a| matches!(a, Action::Probe { .. })));
    let (conn, _) = establish(&mut s, Millis(5), &start);
    assert_eq!(s.status().state, LinkState::Connected);
    assert_eq!(s.status().name.as_deref(), Some("p"));

    let id = s.send(Millis(6), chat(), "hello").unwrap();
    assert_eq!(s.delivery(id), Delivery::Pending);
    assert_eq!(sent_ids(&drain(&mut s), conn), vec![id]);
    s.handle(
        Millis(7),
        Input::Frame {
            conn,
            frame: ServerFrame::Ack { id },
        },
    );
    assert_eq!(s.delivery(id), Delivery::Acked);
    let after = drain(&mut s);
    assert!(after.contains(&Action::Event(SessionEvent::Acked { chat: chat(), id })));
    assert!(after.contains(&Action::Persist));
}

#[test]
fn messages_written_offline_are_replayed_after_welcome_with_what_the_relay_lacks() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let a = s.send(Millis(1), chat(), "one").unwrap();
    let b = s.send(Millis(2), chat(), "two").unwrap();
    assert!(
        !drain(&mut s)
            .iter()
            .any(|a| matches!(a, Action::Send { .. })),
        "nothing is sent before a welcome"
    );
    // b was acked by a relay that then died; the new one lacks a and b.
    let (conn, _) = connects(&start)[0];
    s.handle(Millis(3), Input::Opened { conn });
    let hello = sent(&drain(&mut s), conn);
    let ClientFrame::Hello { resume, .. } = &hello[0] else {
        panic!("hello expected")
    };
    assert_eq!(resume[0].have, vec![a, b]);
    s.handle(
        Millis(4),
        Input::Frame {
            conn,
            frame: welcome("p", Primary, vec![sync(vec![a, b], vec![])]),
        },
    );
    assert_eq!(
        sent_ids(&drain(&mut s), conn),
        vec![a, b],
        "each once, in order"
    );
}

#[test]
fn a_visitor_replays_only_its_own_messages_and_an_operator_replays_any() {
    let other = Message {
        lamport: Lamport(1),
        author: operator(),
        id: MessageId(Ulid::new(Millis(1), 7)),
        chat: chat(),
        text: "from ann".into(),
        at: Millis(1),
        file: None,
    };
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    s.handle(
        Millis(2),
        Input::Frame {
            conn,
            frame: ServerFrame::Message { msg: other.clone() },
        },
    );
    s.handle(Millis(3), Input::Closed { conn });
    let retry = drain(&mut s);
    s.handle_timeout(Millis(500));
    let retry = [retry, drain(&mut s)].concat();
    let (conn2, _) = *connects(&retry).last().unwrap();
    s.handle(Millis(501), Input::Opened { conn: conn2 });
    s.handle(
        Millis(502),
        Input::Frame {
            conn: conn2,
            frame: welcome("r", Redundant, vec![sync(vec![other.id], vec![])]),
        },
    );
    assert!(sent_ids(&drain(&mut s), conn2).is_empty());

    let mut op = operator_session();
    let start = drain(&mut op);
    let (conn, _) = connects(&start)[0];
    op.handle(Millis(1), Input::Opened { conn });
    let mut with_visitor_message = other.clone();
    with_visitor_message.author = visitor();
    op.handle(
        Millis(2),
        Input::Frame {
            conn,
            frame: welcome(
                "p",
                Primary,
                vec![sync(vec![], vec![with_visitor_message.clone()])],
            ),
        },
    );
    op.handle(Millis(3), Input::Closed { conn });
    op.handle_timeout(Millis(500));
    let retry = drain(&mut op);
    let (conn2, _) = *connects(&retry).last().unwrap();
    op.handle(Millis(501), Input::Opened { conn: conn2 });
    op.handle(
        Millis(502),
        Input::Frame {
            conn: conn2,
            frame: welcome("r", Redundant, vec![sync(vec![other.id], vec![])]),
        },
    );
    assert_eq!(sent_ids(&drain(&mut op), conn2), vec![other.id]);
}

#[test]
fn a_crash_moves_to_the_redundant_within_the_first_backoff() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(10), &start);
    let id = s.send(Millis(20), chat(), "in flight").unwrap();
    drain(&mut s);
    s.handle(Millis(30), Input::Closed { conn });
    let mut actions = drain(&mut s);
    let mut now = Millis(30);
    while connects(&actions).is_empty() {
        now = s.poll_timeout().expect("a timer");
        s.handle_timeout(now);
        actions.extend(drain(&mut s));
    }
    assert!(
        now.since(Millis(30)) <= s.config.timing.backoff_min,
        "reconnected after {} ms",
        now.since(Millis(30))
    );
    assert_eq!(
        connects(&actions)[0].1,
        Redundant,
        "the failed one is avoided"
    );
    assert_eq!(s.status().state, LinkState::Reconnecting);
    let (conn2, after) = establish(&mut s, now, &actions);
    assert_eq!(
        sent_ids(&after, conn2),
        vec![id],
        "the unacked message is replayed"
    );
}

#[test]
fn a_silent_link_is_found_dead_by_the_heartbeat() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    let timing = s.config.timing;
    let mut pinged = false;
    let now = loop {
        let now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        let actions = drain(&mut s);
        pinged |= sent(&actions, conn)
            .iter()
            .any(|f| matches!(f, ClientFrame::Ping { .. }));
        if actions.contains(&Action::Disconnect { conn }) {
            break now;
        }
        assert!(now.0 < 10_000, "never declared dead");
    };
    assert!(pinged);
    assert_eq!(now.0, timing.heartbeat_interval + timing.heartbeat_timeout);
}

#[test]
fn the_moderator_is_followed_make_before_break() {
    let mut s = visitor_session(true);
    let start = drain(&mut s);
    assert!(
        start
            .iter()
            .any(|a| matches!(a, Action::AskModerator { .. }))
    );
    let (old, _) = establish(&mut s, Millis(5), &start);
    s.handle(
        Millis(10),
        Input::Moderator {
            answer: Some(ActiveDeployment {
                epoch: 2,
                active: "r".into(),
                url: "http://r".into(),
                held: true,
                deployments: vec![],
            }),
        },
    );
    let actions = drain(&mut s);
    let (new, role) = connects(&actions)[0];
    assert_eq!(role, Redundant);
    assert!(!actions.contains(&Action::Disconnect { conn: old }));
    // A message written during the switch goes out on the old link...
    let id = s.send(Millis(11), chat(), "during").unwrap();
    assert_eq!(sent_ids(&drain(&mut s), old), vec![id]);
    assert_eq!(s.status().state, LinkState::Connected);
    // ...and again on the new one, which only then replaces it.
    s.handle(Millis(12), Input::Opened { conn: new });
    s.handle(
        Millis(13),
        Input::Frame {
            conn: new,
            frame: welcome("r", Redundant, vec![sync(vec![], vec![])]),
        },
    );
    let actions = drain(&mut s);
    assert!(actions.contains(&Action::Disconnect { conn: old }));
    assert_eq!(sent_ids(&actions, new), vec![id]);
    assert_eq!(s.status().name.as_deref(), Some("r"));
}

#[test]
fn a_migrate_frame_moves_the_client_and_outranks_a_stale_moderator() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (old, _) = establish(&mut s, Millis(0), &start);
    s.handle(
        Millis(1),
        Input::Probe {
            deployment: Primary,
            health: Some(health(true)),
        },
    );
    s.handle(
        Millis(2),
        Input::Frame {
            conn: old,
            frame: ServerFrame::Migrate {
                to: "r".into(),
                reason: "maintenance".into(),
            },
        },
    );
    let actions = drain(&mut s);
    assert_eq!(connects(&actions)[0].1, Redundant);
}

#[test]
fn a_migrate_back_to_a_deployment_seen_down_probes_it_then_moves() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (primary, _) = establish(&mut s, Millis(10), &start);
    s.handle(Millis(20), Input::Closed { conn: primary });
    // ...and it stops answering probes too.
    s.handle(
        Millis(21),
        Input::Probe {
            deployment: Primary,
            health: None,
        },
    );
    let mut actions = drain(&mut s);
    let mut now = Millis(21);
    while connects(&actions).is_empty() {
        now = s.poll_timeout().expect("a timer");
        s.handle_timeout(now);
        actions.extend(drain(&mut s));
    }
    let (redundant, _) = establish(&mut s, now, &actions);
    assert_eq!(s.status().name.as_deref(), Some("r"));
    // The primary is back; the redundant drains its clients to it (within
    // a heartbeat, so the redundant link is still healthy here).
    now = now.plus(500);
    s.handle(
        now,
        Input::Frame {
            conn: redundant,
            frame: ServerFrame::Migrate {
                to: "p".into(),
                reason: "the primary is active again".into(),
            },
        },
    );
    let actions = drain(&mut s);
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Probe {
                deployment: Primary,
                ..
            }
        )),
        "the primary is probed at once: {actions:?}"
    );
    assert!(
        connects(&actions).is_empty(),
        "not before it answers: {actions:?}"
    );
    s.handle(
        now,
        Input::Probe {
            deployment: Primary,
            health: Some(health(true)),
        },
    );
    let actions = drain(&mut s);
    assert_eq!(connects(&actions).first().map(|c| c.1), Some(Primary));
}

#[test]
fn a_hello_names_at_most_the_limit_of_ids_and_always_the_newest() {
    let mut s = operator_session();
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(10), &start);
    let many: Vec<Message> = (0..4_000u64)
        .map(|i| Message {
            id: MessageId::new(Millis(100 + i), u128::from(i)),
            chat: chat(),
            author: visitor(),
            text: format!("line {i}"),
            lamport: Lamport(i + 1),
            at: Millis(100 + i),
            file: None,
        })
        .collect();
    let newest = many.last().expect("some").id;
    for msg in many {
        s.handle(
            Millis(20),
            Input::Frame {
                conn,
                frame: ServerFrame::Message { msg },
            },
        );
    }
    s.handle(Millis(30), Input::Closed { conn });
    let mut actions = drain(&mut s);
    let mut now = Millis(30);
    while connects(&actions).is_empty() {
        now = s.poll_timeout().expect("a timer");
        s.handle_timeout(now);
        actions.extend(drain(&mut s));
    }
    let (next, _) = *connects(&actions).last().expect("a connect");
    s.handle(now, Input::Opened { conn: next });
    let hello = sent(&drain(&mut s), next);
    let Some(ClientFrame::Hello { resume, .. }) = hello.first() else {
        panic!("hello first: {hello:?}");
    };
    let have = &resume
        .iter()
        .find(|r| r.chat == chat())
        .expect("the chat")
        .have;
    assert_eq!(have.len(), 3_000);
    assert_eq!(have.last(), Some(&newest), "the newest is always named");
    let json = serde_json::to_string(&hello[0]).expect("json");
    assert!(
        json.len() <= crate::protocol::MAX_FRAME_BYTES,
        "hello of {} bytes",
        json.len()
    );
}

#[test]
fn a_reload_continues_the_chat_with_unsent_messages() {
    let mut s = visitor_session(false);
    drain(&mut s);
    let id = s.send(Millis(1), chat(), "typed before reload").unwrap();
    let snapshot = s.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let restored: Snapshot = serde_json::from_str(&json).unwrap();
    let mut s = Session::restore(config(Role::Visitor, false), restored, Millis(100), 2);
    assert_eq!(s.delivery(id), Delivery::Pending);
    let start = drain(&mut s);
    let (conn, after) = establish(&mut s, Millis(101), &start);
    assert_eq!(sent_ids(&after, conn), vec![id]);
    assert_eq!(s.transcript(chat()).unwrap().len(), 1);
}

#[test]
fn both_down_backs_off_and_says_offline() {
    let mut s = visitor_session(false);
    let mut now = Millis(0);
    let mut attempts = Vec::new();
    for _ in 0..8 {
        let actions = drain(&mut s);
        for (conn, _) in connects(&actions) {
            attempts.push(now);
            s.handle(now, Input::Closed { conn });
        }
        for a in &actions {
            if let Action::Probe { deployment, .. } = a {
                s.handle(
                    now,
                    Input::Probe {
                        deployment: *deployment,
                        health: None,
                    },
                );
            }
        }
        now = s.poll_timeout().unwrap().max(now.plus(1));
        s.handle_timeout(now);
    }
    assert_eq!(s.status().state, LinkState::Offline);
    let gaps: Vec<u64> = attempts.windows(2).map(|w| w[1].since(w[0])).collect();
    assert!(gaps.last() > gaps.first(), "backoff grows: {gaps:?}");
    assert!(gaps.iter().all(|g| *g <= s.config.timing.backoff_max));
}

#[test]
fn a_refused_token_waits_for_a_new_one() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = connects(&start)[0];
    s.handle(Millis(1), Input::Opened { conn });
    s.handle(
        Millis(2),
        Input::Frame {
            conn,
            frame: ServerFrame::error(ErrorCode::BadToken, "expired"),
        },
    );
    s.handle(Millis(3), Input::Closed { conn });
    drain(&mut s);
    s.handle_timeout(Millis(10_000));
    assert!(connects(&drain(&mut s)).is_empty());
    assert_eq!(s.status().state, LinkState::Offline);
    s.set_token(Millis(10_001), "fresh".into());
    let actions = drain(&mut s);
    assert_eq!(connects(&actions).len(), 1);
}

#[test]
fn rate_limited_messages_are_resent_and_bad_ones_refused() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    let id = s.send(Millis(1), chat(), "hi").unwrap();
    drain(&mut s);
    s.handle(
        Millis(2),
        Input::Frame {
            conn,
            frame: ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                id: Some(id),
            },
        },
    );
    drain(&mut s);
    let at = Millis(2 + s.config.timing.resend_delay);
    s.handle(
        at,
        Input::Frame {
            conn,
            frame: ServerFrame::Pong { nonce: 0 },
        },
    );
    assert_eq!(sent_ids(&drain(&mut s), conn), vec![id]);
    s.handle(
        at,
        Input::Frame {
            conn,
            frame: ServerFrame::Error {
                code: ErrorCode::Forbidden,
                message: "no".into(),
                id: Some(id),
            },
        },
    );
    assert_eq!(s.delivery(id), Delivery::Refused);
}

#[test]
fn an_operator_remakes_a_status_the_new_relay_lost() {
    let mut op = operator_session();
    let start = drain(&mut op);
    let (conn, _) = connects(&start)[0];
    op.handle(Millis(1), Input::Opened { conn });
    let mut held = sync(vec![], vec![]);
    held.status = ChatStatus {
        state: ChatState::Active,
        operator: Some("ann".into()),
        stamp: Hlc::zero(1).tick(Millis(5)),
    };
    op.handle(
        Millis(2),
        Input::Frame {
            conn,
            frame: welcome("p", Primary, vec![held]),
        },
    );
    op.handle(Millis(3), Input::Closed { conn });
    op.handle_timeout(Millis(500));
    let (conn2, _) = *connects(&drain(&mut op)).last().unwrap();
    op.handle(Millis(501), Input::Opened { conn: conn2 });
    op.handle(
        Millis(502),
        Input::Frame {
            conn: conn2,
            frame: welcome("r", Redundant, vec![sync(vec![], vec![])]),
        },
    );
    assert!(sent(&drain(&mut op), conn2).contains(&ClientFrame::Accept { chat: chat() }));
}

#[test]
fn typing_is_not_queued_and_not_repeated() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    s.typing(Millis(1), chat(), true);
    assert!(sent(&drain(&mut s), connects(&start)[0].0).is_empty());
    let (conn, _) = establish(&mut s, Millis(2), &start);
    s.typing(Millis(3), chat(), true);
    s.typing(Millis(4), chat(), true);
    let frames = sent(&drain(&mut s), conn);
    assert_eq!(
        frames,
        vec![ClientFrame::Typing {
            chat: chat(),
            on: true
        }]
    );
}

#[test]
fn inputs_from_abandoned_sockets_are_ignored() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    s.handle(Millis(1), Input::Closed { conn: ConnId(999) });
    s.handle(
        Millis(1),
        Input::Frame {
            conn: ConnId(999),
            frame: ServerFrame::Ack {
                id: MessageId(Ulid::new(Millis(0), 1)),
            },
        },
    );
    assert_eq!(s.status().state, LinkState::Connected);
    let _ = conn;
}

#[test]
fn shutdown_queues_its_disconnects_and_leaves_the_session_inert() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let snapshot = s.snapshot();
    s.shutdown();
    assert!(s.is_shut_down());
    assert_eq!(drain(&mut s), vec![Action::Disconnect { conn }]);
    assert_eq!(s.poll_timeout(), None, "no timer to arm");

    // Nothing that comes after makes it act again.
    s.handle(Millis(2), Input::Opened { conn });
    s.handle(
        Millis(2),
        Input::Frame {
            conn,
            frame: welcome("p", Primary, vec![]),
        },
    );
    s.handle_timeout(Millis(60_000));
    assert_eq!(
        s.send(Millis(3), chat(), "too late"),
        Err(SendError::ShutDown)
    );
    assert_eq!(
        s.leave_offline_note(Millis(3), "Ada", "", "too late"),
        Err(SendError::ShutDown)
    );
    s.typing(Millis(3), chat(), true);
    s.set_visitor(Millis(3), chat(), "Ada", "", "/");
    s.close_chat(Millis(3), chat());
    s.set_token(Millis(3), "new".into());
    s.shutdown();
    assert_eq!(drain(&mut s), vec![], "inert");
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.snapshot(),
        snapshot,
        "the stored chat stays for whoever resumes"
    );
}

#[test]
fn a_message_sent_under_an_id_made_elsewhere_keeps_the_ids_time() {
    let mut s = visitor_session(false);
    let _ = drain(&mut s);
    // Written at wall-clock 1_700_000 by the tab that made the id; taken by
    // a session whose monotonic clock reads 5.
    let id = MessageId(Ulid::new(Millis(1_700_000), 9));
    s.send_with_id(Millis(5), chat(), id, "from a follower tab")
        .unwrap();
    let at = s.transcript(chat()).unwrap().get(id).unwrap().at;
    assert_eq!(at, Millis(1_700_000));
    let note = OfflineId(Ulid::new(Millis(1_800_000), 3));
    s.leave_offline_note_with_id(Millis(6), note, "Ada", "", "call me")
        .unwrap();
    assert_eq!(s.pending_notes()[0].at, Millis(1_800_000));
}
