//! A visitor's `rate`: the rating stored in its chat's header and told to
//! the chat's followers (the visitor too: a `rating` frame with its id is
//! how it knows the rating is stored).
//!
//! The relay stamps the rating, as it stamps every register a client
//! changes, over the stored rating's stamp, so the visitor's later rating
//! wins here and, once replicated, on the peer. A rating whose id is
//! already stored is a replay (after a failover, or a reconnect before the
//! answer came): it is answered with what is stored, and never stamped
//! again, so an old replay cannot win over a newer rating.

use super::context::Context;
use super::identity::VisitorAuth;
use crate::catchup::write_chat;
use twinline_core::protocol::{ErrorCode, ServerFrame};
use twinline_core::rating::check_comment;
use twinline_core::{ChatId, Hlc, Rating, RatingId, Score};

/// Stores the visitor's rating of its own chat and tells the followers.
pub(super) async fn rate(
    client: &Context<'_>,
    auth: &VisitorAuth,
    id: RatingId,
    score: Score,
    comment: String,
) {
    let chat = auth.chat;
    if let Err(error) = check_comment(&comment) {
        client
            .reply_error(ErrorCode::BadText, format!("comment: {error}"), None)
            .await;
        return;
    }
    let state = &client.state;
    let Some(mut record) = client.header_to_change(chat, "rate").await else {
        return;
    };
    if let Some(stored) = record.rating.clone().filter(|r| r.id == id) {
        client.reply(&rating_frame(chat, stored)).await;
        return;
    }
    let over = record.rating.as_ref().map_or(Hlc::default(), |r| r.stamp);
    record.rating = Some(Rating {
        id,
        score,
        comment,
        stamp: state.stamp_over(over),
    });
    match write_chat(state, record).await {
        Ok(merged) => {
            if let Some(rating) = merged.rating {
                tracing::info!(%chat, score = rating.score.as_str(), "chat rated");
                state
                    .hub
                    .publish_chat(chat, &rating_frame(chat, rating), None);
            }
        }
        Err(error) => {
            tracing::error!(%error, "storing a rating failed");
            client
                .reply_store_error(&error, "the rating could not be stored; send it again")
                .await;
        }
    }
}

fn rating_frame(chat: ChatId, rating: Rating) -> ServerFrame {
    ServerFrame::Rating { chat, rating }
}
