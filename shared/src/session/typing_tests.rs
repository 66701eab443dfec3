//! "Is typing" both ways, driven through the session as the widget and the
//! console drive it: keystrokes in, frames and `typing_in` out.

use super::tests::{chat, config, drain, establish, sent, visitor};
use super::*;
use crate::model::{Author, Message, Role};
use crate::protocol::ClientFrame;
use crate::protocol::ServerFrame;
use crate::{Lamport, MessageId, Millis, Ulid};

/// Heartbeats far apart, so a link stays up over the seconds these tests
/// skip without the relay saying anything.
fn patient() -> Timing {
    Timing {
        heartbeat_interval: 600_000,
        heartbeat_timeout: 600_000,
        ..Timing::default()
    }
}

/// A visitor session welcomed by the primary at 0 ms.
fn connected() -> (Session, ConnId) {
    let mut s = Session::new(
        SessionConfig {
            timing: patient(),
            ..config(Role::Visitor, false)
        },
        Identity {
            token: "t".into(),
            author: visitor(),
            chat: Some(chat()),
        },
        Millis(0),
        1,
    );
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(0), &start);
    (s, conn)
}

fn typing_frames(s: &mut Session, conn: ConnId) -> Vec<bool> {
    sent(&drain(s), conn)
        .into_iter()
        .filter_map(|frame| match frame {
            ClientFrame::Typing { on, .. } => Some(on),
            _ => None,
        })
        .collect()
}

/// Runs the session's timer up to `until`; true if it asked for exactly
/// `until` on the way (so a real timer would have fired then).
fn run_until(s: &mut Session, until: Millis) -> bool {
    let mut asked = false;
    while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
        asked |= at == until;
        s.handle_timeout(at);
    }
    s.handle_timeout(until);
    asked
}

fn ann() -> Author {
    Author {
        role: Role::Operator,
        id: "ann".into(),
        name: "Ann".into(),
    }
}

fn heard(s: &mut Session, conn: ConnId, now: u64, who: Author, on: bool) {
    s.handle(
        Millis(now),
        Input::Frame {
            conn,
            frame: ServerFrame::Typing {
                chat: chat(),
                who,
                on,
            },
        },
    );
}

#[test]
fn a_steady_typist_refreshes_on_every_typing_every_and_says_off_after_quiet() {
    let (mut s, conn) = connected();
    let timing = patient();
    // A keystroke every 200 ms for 6 s.
    let mut frames = Vec::new();
    for t in (100..=6_100).step_by(200) {
        run_until(&mut s, Millis(t));
        s.typing(Millis(t), chat(), true);
        frames.extend(typing_frames(&mut s, conn));
    }
    // `on` at 100, 2_700 (first keystroke 2.5 s later), 5_300.
    assert_eq!(frames, vec![true, true, true]);
    assert!(
        timing.typing_every < timing.typing_stale,
        "refreshed before stale"
    );
    // The last keystroke at 6_100: quiet until 10_100, then `off`.
    run_until(&mut s, Millis(6_100 + timing.typing_quiet - 1));
    assert!(typing_frames(&mut s, conn).is_empty());
    assert!(run_until(&mut s, Millis(6_100 + timing.typing_quiet)));
    assert_eq!(typing_frames(&mut s, conn), vec![false]);
    run_until(&mut s, Millis(60_000));
    assert!(typing_frames(&mut s, conn).is_empty(), "one off");
}

#[test]
fn stopping_says_off_at_once_and_only_after_an_on() {
    let (mut s, conn) = connected();
    s.typing(Millis(1), chat(), false);
    assert!(
        typing_frames(&mut s, conn).is_empty(),
        "no off without an on"
    );
    s.typing(Millis(2), chat(), true);
    s.typing(Millis(3), chat(), false);
    assert_eq!(typing_frames(&mut s, conn), vec![true, false]);
    run_until(&mut s, Millis(60_000));
    assert!(
        typing_frames(&mut s, conn).is_empty(),
        "the quiet timer went with it"
    );
}

#[test]
fn a_sent_message_ends_typing_without_an_off() {
    let (mut s, conn) = connected();
    s.typing(Millis(1), chat(), true);
    s.send(Millis(2), chat(), "done typing").unwrap();
    assert_eq!(typing_frames(&mut s, conn), vec![true]);
    run_until(&mut s, Millis(60_000));
    assert!(
        typing_frames(&mut s, conn).is_empty(),
        "receivers drop the notice with the message"
    );
    s.typing(Millis(60_001), chat(), true);
    assert_eq!(typing_frames(&mut s, conn), vec![true], "a new notice");
}

#[test]
fn a_lost_link_forgets_what_it_was_told() {
    let (mut s, conn) = connected();
    s.typing(Millis(1), chat(), true);
    assert_eq!(typing_frames(&mut s, conn), vec![true]);
    s.handle(Millis(2), Input::Closed { conn });
    let mut actions = drain(&mut s);
    s.typing(Millis(3), chat(), true);
    let after = drain(&mut s);
    assert!(
        !after.iter().any(|a| matches!(a, Action::Send { .. })),
        "nothing is queued for the next link"
    );
    actions.extend(after);
    // The reconnect comes after a jittered backoff.
    run_until(&mut s, Millis(1_000));
    actions.extend(drain(&mut s));
    let (conn, _) = establish(&mut s, Millis(1_000), &actions);
    s.typing(Millis(1_001), chat(), true);
    assert_eq!(
        typing_frames(&mut s, conn),
        vec![true],
        "the new relay is told, though 2.5 s have not passed"
    );
}

#[test]
fn a_notice_heard_lasts_until_off_the_typists_message_or_stale() {
    let (mut s, conn) = connected();
    let stale = patient().typing_stale;
    heard(&mut s, conn, 10, ann(), true);
    assert_eq!(s.typing_in(chat()), Some(&ann()));
    heard(&mut s, conn, 20, ann(), false);
    assert_eq!(s.typing_in(chat()), None, "off");

    heard(&mut s, conn, 30, ann(), true);
    // Someone else's message leaves Ann typing; hers ends it.
    let message = |author: Author, n: u128| ServerFrame::Message {
        msg: Message {
            lamport: Lamport(n as u64),
            author,
            id: MessageId(Ulid::new(Millis(40), n)),
            chat: chat(),
            text: "hi".into(),
            at: Millis(40),
            file: None,
        },
    };
    let system = Author {
        role: Role::System,
        id: String::new(),
        name: String::new(),
    };
    s.handle(
        Millis(40),
        Input::Frame {
            conn,
            frame: message(system, 1),
        },
    );
    assert_eq!(s.typing_in(chat()), Some(&ann()));
    s.handle(
        Millis(41),
        Input::Frame {
            conn,
            frame: message(ann(), 2),
        },
    );
    assert_eq!(s.typing_in(chat()), None, "her message");

    // An `on` never followed by anything fades, and the UI is told.
    heard(&mut s, conn, 100, ann(), true);
    let _ = drain(&mut s);
    run_until(&mut s, Millis(100 + stale - 1));
    assert_eq!(s.typing_in(chat()), Some(&ann()));
    assert!(run_until(&mut s, Millis(100 + stale)), "a timer for it");
    assert_eq!(s.typing_in(chat()), None, "stale");
    assert!(drain(&mut s).contains(&Action::Event(SessionEvent::Typing {
        chat: chat(),
        who: ann(),
        on: false
    })));

    // A refresh before it goes stale keeps it.
    heard(&mut s, conn, 20_000, ann(), true);
    heard(&mut s, conn, 20_000 + stale - 1, ann(), true);
    run_until(&mut s, Millis(20_000 + stale + 1));
    assert_eq!(s.typing_in(chat()), Some(&ann()));
}

#[test]
fn an_echo_of_ones_own_notice_is_not_shown() {
    let (mut s, conn) = connected();
    heard(&mut s, conn, 10, visitor(), true);
    assert_eq!(s.typing_in(chat()), None);
    assert!(
        !drain(&mut s)
            .iter()
            .any(|a| matches!(a, Action::Event(SessionEvent::Typing { .. })))
    );
}
