//! The visitor's rating through the session: kept until a relay shows it
//! stored, replaced by a later one, sent again where a relay lacks it.

use super::tests::{chat, drain, establish, reconnect, sent, sync, visitor_session, welcome};
use super::*;
use crate::clock::Hlc;
use crate::protocol::{ClientFrame, DeploymentRole, ServerFrame};
use crate::rating::{MAX_COMMENT_CHARS, Rating, Score};
use crate::{Millis, RatingId};

fn rates(frames: &[ClientFrame]) -> Vec<(RatingId, Score, String)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Rate {
                id, score, comment, ..
            } => Some((*id, *score, comment.clone())),
            _ => None,
        })
        .collect()
}

fn stored(id: RatingId, score: Score, wall: u64) -> Rating {
    Rating {
        id,
        score,
        comment: String::new(),
        stamp: Hlc {
            wall: Millis(wall),
            counter: 0,
            node: 7,
        },
    }
}

#[test]
fn a_rating_is_kept_until_a_relay_shows_its_id_and_a_later_one_replaces_it() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let first = s.rate(Millis(2), chat(), Score::Bad, "slow").unwrap();
    assert_eq!(
        rates(&sent(&drain(&mut s), conn)),
        vec![(first, Score::Bad, "slow".into())]
    );
    let shown = s.rating(chat()).unwrap();
    assert_eq!((shown.score, shown.stored), (Score::Bad, false));

    let second = s.rate(Millis(3), chat(), Score::Good, "").unwrap();
    assert_ne!(first, second);
    drain(&mut s);
    assert_eq!(
        s.snapshot().ratings.len(),
        1,
        "the later replaces the earlier"
    );

    // The first one's answer does not settle the second.
    let frame = ServerFrame::Rating {
        chat: chat(),
        rating: stored(first, Score::Bad, 10),
    };
    s.handle(Millis(4), Input::Frame { conn, frame });
    let shown = s.rating(chat()).unwrap();
    assert_eq!((shown.score, shown.stored), (Score::Good, false));

    let frame = ServerFrame::Rating {
        chat: chat(),
        rating: stored(second, Score::Good, 20),
    };
    s.handle(Millis(5), Input::Frame { conn, frame });
    let actions = drain(&mut s);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Event(SessionEvent::Rating { chat: c }) if *c == chat()))
    );
    let shown = s.rating(chat()).unwrap();
    assert_eq!((shown.score, shown.stored), (Score::Good, true));
    assert!(s.snapshot().ratings.is_empty());
}

#[test]
fn an_unstored_rating_survives_a_reload_and_goes_out_after_the_welcome() {
    let mut s = visitor_session(false);
    drain(&mut s);
    let id = s.rate(Millis(2), chat(), Score::Good, "thanks").unwrap();
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
        rates(&sent(&after, conn)),
        vec![(id, Score::Good, "thanks".into())]
    );
}

#[test]
fn a_stored_rating_goes_again_to_a_relay_that_lacks_it_and_not_to_one_that_has_it() {
    let mut s = visitor_session(false);
    let start = drain(&mut s);
    let (conn, _) = establish(&mut s, Millis(1), &start);
    let id = s.rate(Millis(2), chat(), Score::Good, "kind").unwrap();
    drain(&mut s);
    let mut rating = stored(id, Score::Good, 10);
    rating.comment = "kind".into();
    let frame = ServerFrame::Rating {
        chat: chat(),
        rating: rating.clone(),
    };
    s.handle(Millis(3), Input::Frame { conn, frame });
    drain(&mut s);

    // The primary stored it and died before replicating it.
    let conn = reconnect(&mut s, conn, 4);
    let frame = welcome("r", DeploymentRole::Redundant, vec![sync(vec![], vec![])]);
    s.handle(Millis(600), Input::Frame { conn, frame });
    assert_eq!(
        rates(&sent(&drain(&mut s), conn)),
        vec![(id, Score::Good, "kind".into())]
    );

    // A relay that has it (under its own, later stamp) is not sent it.
    let conn = reconnect(&mut s, conn, 700);
    let mut theirs = rating;
    theirs.stamp.wall = Millis(99);
    let mut with_rating = sync(vec![], vec![]);
    with_rating.rating = Some(Box::new(theirs));
    let frame = welcome("r", DeploymentRole::Redundant, vec![with_rating]);
    s.handle(Millis(1_300), Input::Frame { conn, frame });
    assert!(rates(&sent(&drain(&mut s), conn)).is_empty());
}

#[test]
fn a_comment_past_the_limit_is_refused_before_anything_is_kept() {
    let mut s = visitor_session(false);
    drain(&mut s);
    let long = "x".repeat(MAX_COMMENT_CHARS + 1);
    assert!(matches!(
        s.rate(Millis(2), chat(), Score::Bad, &long),
        Err(SendError::Text(_))
    ));
    assert!(s.rating(chat()).is_none());
    assert!(s.snapshot().ratings.is_empty());
}
