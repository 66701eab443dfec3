//! The visitor's rating of a chat, from the click to every deployment.
//!
//! A rating is a register in the chat (see [`crate::rating`]). Written here
//! it becomes a [`RatingRequest`] in the outbox, sent now if a relay is
//! ready and after every welcome until a relay's register shows its id
//! (the relay answers `rate` with a `rating` frame once stored, which is
//! that). A later rating replaces the request. Once stored, the rating is
//! also in the local chat; a relay whose welcome lacks it (the deployment
//! that stored it failed before replicating it) is sent it again, so the
//! rating given while the primary was dying reaches the redundant too.
//! Sending one twice is harmless: the relay keeps the stored one when the
//! id is already there.

use super::io::{SendError, SessionEvent};
use super::machine::Session;
use crate::id::{ChatId, RatingId};
use crate::model::Role;
use crate::protocol::{ChatSync, ClientFrame};
use crate::rating::{Rating, Score, check_comment, merge_rating};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// A rating written here that no relay has shown stored yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingRequest {
    /// The chat.
    pub chat: ChatId,
    /// Its id.
    pub id: RatingId,
    /// Good or bad.
    pub score: Score,
    /// The comment, possibly empty.
    pub comment: String,
}

impl RatingRequest {
    pub(crate) fn frame(&self) -> ClientFrame {
        ClientFrame::Rate {
            chat: self.chat,
            id: self.id,
            score: self.score,
            comment: self.comment.clone(),
        }
    }

    fn of(chat: ChatId, rating: &Rating) -> RatingRequest {
        RatingRequest {
            chat,
            id: rating.id,
            score: rating.score,
            comment: rating.comment.clone(),
        }
    }
}

/// A chat's rating as a user interface shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatRating<'a> {
    /// Good or bad.
    pub score: Score,
    /// The comment, possibly empty.
    pub comment: &'a str,
    /// A relay has stored it (false: written here, on its way).
    pub stored: bool,
}

impl Session {
    /// Visitor: rates `chat` (again: a later rating replaces the earlier).
    /// Kept until a relay shows it stored; its id.
    pub fn rate(
        &mut self,
        now: Millis,
        chat: ChatId,
        score: Score,
        comment: &str,
    ) -> Result<RatingId, SendError> {
        if self.shut {
            return Err(SendError::ShutDown);
        }
        check_comment(comment)?;
        if self.chats.get(chat).is_none() {
            return Err(SendError::UnknownChat);
        }
        let request = RatingRequest {
            chat,
            id: RatingId::new(now, self.random.next_u128()),
            score,
            comment: comment.to_string(),
        };
        let id = request.id;
        self.send_now(now, request.frame());
        self.outbox.ratings.retain(|r| r.chat != chat);
        self.outbox.ratings.push(request);
        self.mark_dirty();
        self.step(now);
        Ok(id)
    }

    /// `chat`'s rating: the one on its way if there is one, else the one
    /// stored.
    pub fn rating(&self, chat: ChatId) -> Option<ChatRating<'_>> {
        if let Some(request) = self.outbox.ratings.iter().find(|r| r.chat == chat) {
            return Some(ChatRating {
                score: request.score,
                comment: &request.comment,
                stored: false,
            });
        }
        let stored = self.chats.get(chat)?.rating.as_ref()?;
        Some(ChatRating {
            score: stored.score,
            comment: &stored.comment,
            stored: true,
        })
    }

    /// A relay's rating register for `chat` (a `rating` frame, a sync).
    pub(super) fn merge_rating(&mut self, chat: ChatId, rating: Option<&Rating>) {
        if merge_rating(&mut self.chats.ensure(chat).rating, rating) {
            self.mark_dirty();
            self.event(SessionEvent::Rating { chat });
        }
        let Some(rating) = rating else { return };
        let before = self.outbox.ratings.len();
        self.outbox
            .ratings
            .retain(|r| r.chat != chat || r.id != rating.id);
        if before != self.outbox.ratings.len() {
            self.mark_dirty();
            self.event(SessionEvent::Rating { chat });
        }
    }

    /// After a welcome: the ratings stored here (by a relay) that this
    /// relay lacks, to send again. Requests still unsettled go with the
    /// outbox.
    pub(super) fn ratings_lacking(&self, syncs: &[ChatSync]) -> Vec<ClientFrame> {
        if self.config.role != Role::Visitor {
            return Vec::new();
        }
        syncs
            .iter()
            .filter_map(|sync| {
                let mine = self.chats.get(sync.chat)?.rating.as_ref()?;
                let lacks = sync
                    .rating
                    .as_deref()
                    .is_none_or(|theirs| theirs.id != mine.id && theirs.stamp < mine.stamp);
                let unsent = !self.outbox.ratings.iter().any(|r| r.chat == sync.chat);
                (lacks && unsent).then(|| RatingRequest::of(sync.chat, mine).frame())
            })
            .collect()
    }
}
