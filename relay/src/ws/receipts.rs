//! A `read` from a visitor or an operator: the read receipt stored, then
//! told to the chat's followers here (the sender always, with the merged
//! receipt: its sign that the receipt is stored) and, through the feed, on
//! the deployment's other nodes and the peer.
//!
//! Who may send one is the caller's check (a visitor for its own chat, an
//! operator for a chat it may see); what is checked here is the receipt
//! itself: its `up_to` no further ahead than clocks drift, since a receipt
//! never moves back. The store merges by the larger id, so a replay after
//! a failover, a second tab or an older `read` is answered with what is
//! stored and tells nobody else.

use super::context::Context;
use crate::store::records::{Record, Refusal};
use twinline_core::protocol::{ErrorCode, ServerFrame};
use twinline_core::{ChatId, MessageId, Receipt, Side};

/// Stores `side`'s receipt of `chat` up to `up_to` and tells the
/// followers.
pub(super) async fn read(client: &Context<'_>, side: Side, chat: ChatId, up_to: MessageId) {
    let receipt = Receipt { chat, side, up_to };
    if let Err(error) = receipt.check(crate::clock::now()) {
        client
            .reply_error(ErrorCode::OutOfRange, error.to_string(), None)
            .await;
        return;
    }
    let state = &client.state;
    let applied = match state
        .store
        .apply(Record::Receipt(receipt), &state.config.name)
        .await
    {
        Ok(applied) => applied,
        Err(error) => {
            tracing::error!(%error, "storing a read receipt failed");
            client
                .reply_store_error(&error, "the receipt could not be stored; send it again")
                .await;
            return;
        }
    };
    if applied.refused == Some(Refusal::Erased) {
        client.reply(&ServerFrame::Erased { chat }).await;
        return;
    }
    let Record::Receipt(stored) = applied.record else {
        return;
    };
    let frame = ServerFrame::Receipt {
        chat,
        side: stored.side,
        up_to: stored.up_to,
    };
    if applied.changed {
        tracing::debug!(%chat, side = side.as_str(), up_to = %stored.up_to, "read receipt stored");
        state.hub.publish_chat(chat, &frame, Some(client.key));
    }
    client.reply(&frame).await;
}
