//! The visitor's transcript requests through the session: sent until a
//! relay acks them, kept across a reload, sent again to a relay whose
//! welcome lacks them, bounded and checked before anything is kept.

use super::tests::{chat, drain, establish, reconnect, sent, sync, visitor_session, welcome};
use super::*;
use crate::protocol::{ClientFrame, DeploymentRole, ServerFrame};
use crate::{Millis, TranscriptId};

fn requests(frames: &[ClientFrame]) -> Vec<(TranscriptId, String)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::EmailTranscript { id, to, .. } => Some((*id, to.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_request_goes_out_until_acked_and_again_to_a_relay_that_lacks_it() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let id = s
        .email_transcript(Millis(2), chat(), "ada@example.com")
        .unwrap();
    assert_eq!(
        requests(&sent(&drain(&mut s), conn)),
        vec![(id, "ada@example.com".to_string())]
    );

    // No ack yet: a new connection sends it again after the welcome.
    let conn = reconnect(&mut s, conn, 3);
    let frame = welcome("p", DeploymentRole::Primary, vec![sync(vec![], vec![])]);
    s.handle(Millis(600), Input::Frame { conn, frame });
    assert_eq!(
        requests(&sent(&drain(&mut s), conn)),
        vec![(id, "ada@example.com".to_string())]
    );
    let frame = ServerFrame::TranscriptAck { chat: chat(), id };
    s.handle(Millis(601), Input::Frame { conn, frame });
    drain(&mut s);
    assert!(s.email_requests(chat()).all(|r| r.stored));
    assert!(
        s.snapshot().emails.iter().all(|r| r.stored),
        "kept, as stored"
    );

    // The primary acked it and died before replicating it: the redundant's
    // welcome lacks it, so it goes again.
    let conn = reconnect(&mut s, conn, 700);
    let frame = welcome("r", DeploymentRole::Redundant, vec![sync(vec![], vec![])]);
    s.handle(Millis(1_300), Input::Frame { conn, frame });
    assert_eq!(
        requests(&sent(&drain(&mut s), conn)),
        vec![(id, "ada@example.com".to_string())]
    );

    // A relay that lists it is not sent it.
    let conn = reconnect(&mut s, conn, 1_400);
    let mut holding = sync(vec![], vec![]);
    holding.transcripts = vec![id];
    let frame = welcome("r", DeploymentRole::Redundant, vec![holding]);
    s.handle(Millis(2_000), Input::Frame { conn, frame });
    assert!(requests(&sent(&drain(&mut s), conn)).is_empty());
}

#[test]
fn an_unacked_request_survives_a_reload() {
    let mut s = visitor_session(false);
    drain(&mut s);
    let id = s
        .email_transcript(Millis(2), chat(), "ada@example.com")
        .unwrap();
    let snapshot = s.snapshot();
    let mut restored = Session::restore(
        super::tests::config(crate::Role::Visitor, false),
        snapshot,
        Millis(3),
        2,
    );
    let start = drain(&mut restored);
    let (conn, after) = establish(&mut restored, Millis(4), &start);
    assert_eq!(
        requests(&sent(&after, conn)),
        vec![(id, "ada@example.com".to_string())]
    );
}

#[test]
fn the_errors_name_the_limits_the_core_enforces() {
    use crate::transcript_email::{MAX_ADDRESS_BYTES, MAX_PER_CHAT};
    let address = SendError::Address.to_string();
    assert!(
        address.contains(&MAX_ADDRESS_BYTES.to_string()),
        "{address}"
    );
    let many = SendError::TooMany.to_string();
    assert!(many.contains(&MAX_PER_CHAT.to_string()), "{many}");
}

#[test]
fn a_bad_address_or_one_request_too_many_is_refused_before_anything_is_kept() {
    let mut s = visitor_session(false);
    drain(&mut s);
    assert!(matches!(
        s.email_transcript(Millis(2), chat(), "not an address"),
        Err(SendError::Address)
    ));
    assert!(s.snapshot().emails.is_empty());
    for n in 0..crate::transcript_email::MAX_PER_CHAT {
        s.email_transcript(Millis(3 + n as u64), chat(), "ada@example.com")
            .unwrap();
    }
    assert!(matches!(
        s.email_transcript(Millis(10), chat(), "ada@example.com"),
        Err(SendError::TooMany)
    ));
    assert_eq!(
        s.snapshot().emails.len(),
        crate::transcript_email::MAX_PER_CHAT
    );
}

#[test]
fn the_offer_follows_the_last_welcome_and_outlives_a_dropped_link() {
    let with_mail = |name: &str, role, mail| {
        let mut frame = welcome(name, role, vec![sync(vec![], vec![])]);
        if let ServerFrame::Welcome { mail: m, .. } = &mut frame {
            *m = mail;
        }
        frame
    };
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    assert!(!s.mail_offered(), "nothing is offered before a welcome");
    let (conn, _) = establish(&mut s, Millis(1), &start);
    assert!(!s.mail_offered(), "a welcome without `mail`");
    let conn = reconnect(&mut s, conn, 3);
    let frame = with_mail("p", DeploymentRole::Primary, true);
    s.handle(Millis(600), Input::Frame { conn, frame });
    assert!(s.mail_offered());
    // The link drops: still offered (a request made now waits in the
    // outbox for the next relay).
    let conn = reconnect(&mut s, conn, 700);
    assert!(s.mail_offered(), "kept while no relay answers");
    // The redundant has no [mail]: no longer offered.
    let frame = with_mail("r", DeploymentRole::Redundant, false);
    s.handle(Millis(1_300), Input::Frame { conn, frame });
    assert!(!s.mail_offered());
}
