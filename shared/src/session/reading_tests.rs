//! Read receipts through the session: `read` sent when the chat on screen
//! shows something new, the other side's receipt shown, and a receipt the
//! primary took but never replicated sent again to the redundant.

use super::tests::{
    chat, drain, establish, operator_session, sent, sync, visitor_session, welcome,
};
use super::*;
use crate::model::{Author, Message, Role};
use crate::protocol::{ClientFrame, DeploymentRole, ServerFrame};
use crate::receipt::{Seen, Side};
use crate::{Lamport, MessageId, Millis, Ulid};

fn reads(frames: &[ClientFrame]) -> Vec<MessageId> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Read { chat: c, up_to } if *c == chat() => Some(*up_to),
            _ => None,
        })
        .collect()
}

fn operator_message(n: u64) -> Message {
    Message {
        lamport: Lamport(n),
        author: Author {
            role: Role::Operator,
            id: "ann".into(),
            name: "Ann".into(),
        },
        id: MessageId(Ulid::new(Millis(1_000 + n), 7)),
        chat: chat(),
        text: format!("answer {n}"),
        at: Millis(1_000 + n),
        file: None,
    }
}

fn seen_event(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Event(SessionEvent::Seen { chat: c }) if *c == chat()))
}

/// A second connection after the first closed at `at`.
fn reconnect(s: &mut Session, conn: ConnId, at: u64) -> ConnId {
    s.handle(Millis(at), Input::Closed { conn });
    let mut actions = drain(s);
    s.handle_timeout(Millis(at + 500));
    actions.extend(drain(s));
    let (next, _) = *super::tests::connects(&actions).last().expect("a connect");
    s.handle(Millis(at + 501), Input::Opened { conn: next });
    drain(s);
    next
}

#[test]
fn the_chat_on_screen_sends_read_only_when_it_shows_something_new() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    assert!(!s.mark_seen(Millis(2), chat()), "nothing to have seen yet");
    let first = operator_message(1);
    s.handle(
        Millis(3),
        Input::Frame {
            conn,
            frame: ServerFrame::Message { msg: first.clone() },
        },
    );
    drain(&mut s);
    assert!(s.mark_seen(Millis(4), chat()));
    assert_eq!(reads(&sent(&drain(&mut s), conn)), vec![first.id]);
    assert!(
        !s.mark_seen(Millis(5), chat()),
        "the same again says nothing"
    );
    assert!(reads(&sent(&drain(&mut s), conn)).is_empty());
    assert_eq!(s.seen_by_me(chat()), Some(first.id));
}

#[test]
fn the_other_sides_receipt_is_shown_from_a_frame_or_a_welcome_and_only_moves_forward() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let mut synced = sync(vec![], vec![]);
    synced.seen = Some(Box::new(Seen {
        visitor: None,
        operator: Some(MessageId(Ulid(5))),
    }));
    let (conn, _) = establish(&mut s, Millis(1), &start);
    assert_eq!(s.seen_by_other(chat()), None);
    let conn = reconnect(&mut s, conn, 2);
    let frame = welcome("p", DeploymentRole::Primary, vec![synced]);
    s.handle(Millis(600), Input::Frame { conn, frame });
    assert!(seen_event(&drain(&mut s)));
    assert_eq!(s.seen_by_other(chat()), Some(MessageId(Ulid(5))));
    let receipt = |side, n| ServerFrame::Receipt {
        chat: chat(),
        side,
        up_to: MessageId(Ulid(n)),
    };
    s.handle(
        Millis(601),
        Input::Frame {
            conn,
            frame: receipt(Side::Operator, 3),
        },
    );
    assert!(
        !seen_event(&drain(&mut s)),
        "an older receipt changes nothing"
    );
    s.handle(
        Millis(602),
        Input::Frame {
            conn,
            frame: receipt(Side::Visitor, 99),
        },
    );
    assert!(!seen_event(&drain(&mut s)), "our own echo is no \"Seen\"");
    s.handle(
        Millis(603),
        Input::Frame {
            conn,
            frame: receipt(Side::Operator, 9),
        },
    );
    assert!(seen_event(&drain(&mut s)));
    assert_eq!(s.seen_by_other(chat()), Some(MessageId(Ulid(9))));
}

#[test]
fn a_receipt_the_primary_took_but_never_replicated_is_replayed_to_the_redundant() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let (one, two) = (operator_message(1), operator_message(2));
    for msg in [&one, &two] {
        let frame = ServerFrame::Message { msg: msg.clone() };
        s.handle(Millis(2), Input::Frame { conn, frame });
    }
    drain(&mut s);
    assert!(s.mark_seen(Millis(3), chat()));
    assert_eq!(reads(&sent(&drain(&mut s), conn)), vec![two.id]);
    // The primary stored it (its echo) and died before replicating it.
    let frame = ServerFrame::Receipt {
        chat: chat(),
        side: Side::Visitor,
        up_to: two.id,
    };
    s.handle(Millis(4), Input::Frame { conn, frame });
    drain(&mut s);

    // The redundant had only the messages.
    let conn = reconnect(&mut s, conn, 5);
    let frame = welcome(
        "r",
        DeploymentRole::Redundant,
        vec![sync(vec![], vec![one.clone(), two.clone()])],
    );
    s.handle(Millis(600), Input::Frame { conn, frame });
    assert_eq!(
        reads(&sent(&drain(&mut s), conn)),
        vec![two.id],
        "sent again to the redundant"
    );

    // A relay whose welcome shows it is not sent it again.
    let conn = reconnect(&mut s, conn, 700);
    let mut held = sync(vec![], vec![one, two.clone()]);
    held.seen = Some(Box::new(Seen {
        visitor: Some(two.id),
        operator: None,
    }));
    let frame = welcome("r", DeploymentRole::Redundant, vec![held]);
    s.handle(Millis(1_300), Input::Frame { conn, frame });
    assert!(reads(&sent(&drain(&mut s), conn)).is_empty());
}

#[test]
fn seen_while_no_link_is_ready_goes_out_after_the_next_welcome() {
    let mut s = operator_session();
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let msg = Message {
        author: super::tests::visitor(),
        ..operator_message(1)
    };
    let frame = ServerFrame::Chat {
        sync: sync(vec![], vec![msg.clone()]),
    };
    s.handle(Millis(2), Input::Frame { conn, frame });
    drain(&mut s);
    s.handle(Millis(3), Input::Closed { conn });
    drain(&mut s);
    assert!(s.mark_seen(Millis(4), chat()), "kept while no link is up");
    s.handle_timeout(Millis(600));
    let actions = drain(&mut s);
    let (next, _) = *super::tests::connects(&actions).last().expect("a connect");
    s.handle(Millis(601), Input::Opened { conn: next });
    drain(&mut s);
    let frame = welcome(
        "p",
        DeploymentRole::Primary,
        vec![sync(vec![], vec![msg.clone()])],
    );
    s.handle(Millis(602), Input::Frame { conn: next, frame });
    assert_eq!(reads(&sent(&drain(&mut s), next)), vec![msg.id]);
}

#[test]
fn an_erased_chat_forgets_its_receipts() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let frame = ServerFrame::Receipt {
        chat: chat(),
        side: Side::Operator,
        up_to: MessageId(Ulid(4)),
    };
    s.handle(Millis(2), Input::Frame { conn, frame });
    let frame = ServerFrame::Erased { chat: chat() };
    s.handle(Millis(3), Input::Frame { conn, frame });
    drain(&mut s);
    assert_eq!(s.seen_by_other(chat()), None);
}
