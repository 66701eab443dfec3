//! Writing a chat's status from a connection (an operator's accept,
//! transfer or close, a visitor closing its own chat), and telling its
//! followers and the operators' queue.

use super::context::Context;
use crate::catchup::{chat_record, write_chat};
use crate::fanout;
use crate::store::records::ChatRecord;
use twinline_core::protocol::{ErrorCode, ServerFrame};
use twinline_core::{ChatId, ChatStatus};

/// Writes a chat header whose status changed, tells its followers and the
/// queue. Returns whether it was written.
pub(super) async fn store_status(client: &Context<'_>, record: ChatRecord) -> bool {
    let state = &client.state;
    let chat = record.id;
    match write_chat(state, record).await {
        Ok(merged) => {
            state.hub.publish_chat(
                chat,
                &ServerFrame::Status {
                    chat,
                    status: merged.status,
                },
                None,
            );
            fanout::queue(state).await;
            true
        }
        Err(error) => {
            tracing::error!(%error, "storing a chat status failed");
            client
                .reply_store_error(&error, "storage unavailable; retry")
                .await;
            false
        }
    }
}

/// Sets a chat's status from its current one, tells its followers and the
/// queue (the visitor closing its own chat). Returns whether it was written.
pub(super) async fn change_status(
    client: &Context<'_>,
    chat: ChatId,
    next: impl FnOnce(&ChatStatus) -> ChatStatus,
) -> bool {
    let Ok(Some(mut record)) = chat_record(&client.state, chat).await else {
        client
            .reply_error(ErrorCode::Forbidden, "no such chat", None)
            .await;
        return false;
    };
    record.status = next(&record.status);
    store_status(client, record).await
}
