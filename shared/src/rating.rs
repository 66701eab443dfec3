//! A visitor's rating of a chat: good or bad, with an optional comment.
//!
//! A chat has at most one rating, kept in its header as a last-writer-wins
//! register like the status and the visitor's details, so it is stored,
//! replicated and merged exactly as they are: the same rating arriving again
//! (a replay after a failover, the peer's copy) changes nothing, and when
//! the visitor changes their mind the later stamp wins on both deployments,
//! whichever copy meets which first.
//!
//! The visitor makes the rating's id; the relay that stores it stamps it
//! (as it stamps every register a client changes), and keeps the stored
//! stamp when the id is already there, so a replay can never win over a
//! later rating. The id is how a client knows its rating was stored: the
//! relay's register shows it.

use crate::clock::Hlc;
use crate::id::RatingId;
use crate::model::{LastWriterWins, RecordError, TextError, check_len, check_number};
use serde::{Deserialize, Serialize};

/// Longest comment a rating may carry, in characters.
pub const MAX_COMMENT_CHARS: usize = 1_000;

/// What the visitor thought of the chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// Thumbs up.
    Good,
    /// Thumbs down.
    Bad,
}

impl Score {
    /// The name on the wire and in the JS API.
    pub fn as_str(self) -> &'static str {
        match self {
            Score::Good => "good",
            Score::Bad => "bad",
        }
    }

    /// Reads the name on the wire and in the JS API.
    pub fn parse(text: &str) -> Option<Score> {
        match text {
            "good" => Some(Score::Good),
            "bad" => Some(Score::Bad),
            _ => None,
        }
    }
}

/// A chat's rating, as stored in its header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// Client-made id: the same rating again is a duplicate.
    pub id: RatingId,
    /// Good or bad.
    pub score: Score,
    /// What the visitor added, possibly empty (at most
    /// [`MAX_COMMENT_CHARS`]).
    #[serde(default)]
    pub comment: String,
    /// Last-writer-wins stamp, the storing relay's.
    pub stamp: Hlc,
}

impl Rating {
    /// What every relay checks before storing a rating: the comment within
    /// its limit, the stamp's numbers ones every reader holds.
    pub fn check(&self) -> Result<(), RecordError> {
        check_comment(&self.comment).map_err(|error| RecordError::Text("comment", error))?;
        check_number("stamp.wall", self.stamp.wall.0)?;
        check_number("stamp.node", self.stamp.node)
    }
}

/// Checks a rating's comment against [`MAX_COMMENT_CHARS`] (empty is fine).
pub fn check_comment(comment: &str) -> Result<(), TextError> {
    check_len(comment, MAX_COMMENT_CHARS)
}

impl LastWriterWins for Rating {
    fn stamp(&self) -> Hlc {
        self.stamp
    }
}

/// Merges `other` into `local`; true if `local` changed. Commutative,
/// associative and idempotent, like every register merge.
pub fn merge_rating(local: &mut Option<Rating>, other: Option<&Rating>) -> bool {
    match (local.as_mut(), other) {
        (_, None) => false,
        (None, Some(other)) => {
            *local = Some(other.clone());
            true
        }
        (Some(mine), Some(other)) => mine.merge_from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Millis, Ulid};

    fn rating(id: u128, score: Score, wall: u64) -> Rating {
        Rating {
            id: RatingId(Ulid(id)),
            score,
            comment: String::new(),
            stamp: Hlc {
                wall: Millis(wall),
                counter: 0,
                node: 1,
            },
        }
    }

    #[test]
    fn the_later_stamp_wins_in_any_order_and_again_changes_nothing() {
        let first = rating(1, Score::Bad, 10);
        let second = rating(2, Score::Good, 20);
        for order in [[&first, &second], [&second, &first]] {
            let mut local = None;
            for r in order {
                merge_rating(&mut local, Some(r));
            }
            assert_eq!(local.as_ref(), Some(&second));
            assert!(!merge_rating(&mut local, Some(&second)));
            assert!(!merge_rating(&mut local, Some(&first)));
            assert!(!merge_rating(&mut local, None));
        }
    }

    #[test]
    fn a_comment_is_bounded_and_may_be_empty() {
        let mut r = rating(1, Score::Good, 1);
        assert!(r.check().is_ok());
        r.comment = "é".repeat(MAX_COMMENT_CHARS);
        assert!(r.check().is_ok());
        r.comment.push('x');
        assert!(matches!(
            r.check(),
            Err(RecordError::Text("comment", TextError::TooLong { .. }))
        ));
    }

    #[test]
    fn the_protocol_documents_the_comment_limit() {
        let doc = include_str!("../../docs/PROTOCOL.md");
        let start = doc.find("### rate (visitor)").expect("the rate section");
        let section = &doc[start..start + doc[start..].find("```").expect("its example")];
        let prose = section.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            prose.contains(&format!("at most **{MAX_COMMENT_CHARS}** characters")),
            "docs/PROTOCOL.md states the comment limit"
        );
    }

    #[test]
    fn scores_read_back_by_name() {
        for score in [Score::Good, Score::Bad] {
            assert_eq!(Score::parse(score.as_str()), Some(score));
        }
        assert_eq!(Score::parse("meh"), None);
    }
}
