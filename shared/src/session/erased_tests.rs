//! The `erased` frame: the chat leaves the session, its storage and every
//! replay, whatever was still to be sent in it.

use super::tests::{chat, drain, establish, sent, visitor_session};
use super::*;
use crate::protocol::{ClientFrame, ServerFrame};
use crate::rating::Score;
use crate::{ChatId, Millis, Ulid};

fn erased(s: &mut Session, conn: ConnId, at: u64, chat: ChatId) -> Vec<Action> {
    let frame = ServerFrame::Erased { chat };
    s.handle(Millis(at), Input::Frame { conn, frame });
    drain(s)
}

/// Whether any frame names `chat`.
fn names(frames: &[ClientFrame], chat: ChatId) -> bool {
    frames.iter().any(|frame| {
        let json = serde_json::to_string(frame).unwrap();
        json.contains(&chat.to_string())
    })
}

#[test]
fn an_erased_chat_leaves_the_snapshot_with_all_it_still_had_to_send() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    s.send(Millis(2), chat(), "my address is ...").unwrap();
    s.rate(Millis(3), chat(), Score::Good, "thanks").unwrap();
    s.set_visitor(Millis(4), chat(), "Ada", "ada@example.org", "/");
    drain(&mut s);
    assert!(!s.snapshot().pending.is_empty());

    let actions = erased(&mut s, conn, 5, chat());
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Event(SessionEvent::Erased { chat: c }) if *c == chat()))
    );
    let snapshot = s.snapshot();
    assert!(snapshot.chats.iter().all(|(c, _)| *c != chat()));
    assert!(snapshot.pending.is_empty());
    assert!(snapshot.ratings.is_empty());
    assert!(snapshot.visitor.is_none());
    assert!(snapshot.intents.is_empty());
}

#[test]
fn after_its_chat_is_erased_a_visitor_session_never_sends_it_again() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    s.send(Millis(2), chat(), "hello").unwrap();
    drain(&mut s);
    erased(&mut s, conn, 3, chat());
    // The link drops (a failover): no reconnect with the erased chat's
    // token, however long it waits; nor after a reload.
    s.handle(Millis(4), Input::Closed { conn });
    let mut actions = drain(&mut s);
    for at in [1_000, 10_000, 60_000, 600_000] {
        s.handle_timeout(Millis(at));
        actions.extend(drain(&mut s));
    }
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Connect { .. })),
        "{actions:?}"
    );
    let mut restored = Session::restore(
        super::tests::config(crate::Role::Visitor, false),
        s.snapshot(),
        Millis(700_000),
        3,
    );
    let start = drain(&mut restored);
    let (conn, after) = establish(&mut restored, Millis(700_001), &start);
    let frames = sent(&after, conn);
    assert!(
        !frames.iter().any(|f| matches!(f, ClientFrame::Send { .. })),
        "{frames:?}"
    );
}

#[test]
fn an_operator_drops_the_erased_chat_and_keeps_the_others() {
    let mut s = super::tests::operator_session();
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let other = ChatId(Ulid::new(Millis(1_000), 99));
    for held in [chat(), other] {
        let sync = crate::protocol::ChatSync {
            chat: held,
            ..Default::default()
        };
        let frame = ServerFrame::Chat { sync };
        s.handle(Millis(2), Input::Frame { conn, frame });
    }
    s.send(Millis(3), chat(), "an answer").unwrap();
    s.send(Millis(3), other, "another").unwrap();
    drain(&mut s);
    erased(&mut s, conn, 4, chat());
    // Reconnected (a failover): the hello and the replay name the other
    // chat only.
    s.handle(Millis(5), Input::Closed { conn });
    let mut actions = drain(&mut s);
    s.handle_timeout(Millis(2_000));
    actions.extend(drain(&mut s));
    let (next, after) = establish(&mut s, Millis(2_001), &actions);
    let frames = sent(&after, next);
    assert!(!names(&frames, chat()), "{frames:?}");
    assert!(names(&frames, other), "{frames:?}");
}
