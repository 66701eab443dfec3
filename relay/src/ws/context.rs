//! What a frame handler gets: the one thing it needs of its connection.
//!
//! As in mini-redis, where a command is applied to the database and the
//! connection and nothing else, a handler ([`super::visitor`],
//! [`super::operator`]) receives a [`Context`]: the relay's shared state,
//! its connection's key in the hub, where the client connected from, its
//! reply queue and its store-then-ack pipeline ([`super::pipeline`]). The
//! connection's identity comes as a separate argument, and its rate
//! buckets, close reason and hello state stay with the dispatcher
//! ([`super::client`]), out of a handler's reach.

use super::identity::Peer;
use super::pipeline::Pipeline;
use crate::hub::{ConnKey, Outbox};
use crate::state::Shared;
use std::sync::atomic::Ordering::Relaxed;
use twinline_core::MessageId;
use twinline_core::protocol::{ErrorCode, ServerFrame};

/// A handler's view of its connection (made for each frame: its one
/// owned field is the state's `Arc`).
pub(super) struct Context<'a> {
    /// The relay's shared state.
    pub state: Shared,
    /// This connection in the hub (to follow chats, to be skipped by its
    /// own broadcasts).
    pub key: ConnKey,
    /// Where the client connected from.
    pub peer: &'a Peer,
    pub(super) outbox: &'a Outbox,
    pub(super) pipeline: &'a mut Pipeline,
}

impl Context<'_> {
    /// Queues a frame to this client.
    pub async fn reply(&self, frame: &ServerFrame) {
        self.outbox.send(frame).await;
    }

    /// Queues an error frame to this client (at once: see
    /// [`Context::refuse`] for one that waits for pending messages).
    pub async fn reply_error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        id: Option<MessageId>,
    ) {
        self.state.metrics.errors_sent.fetch_add(1, Relaxed);
        self.reply(&ServerFrame::Error {
            code,
            message: message.into(),
            id,
        })
        .await;
    }

    /// The stored header of `chat`, for a handler to change it; `None`
    /// once the client is told why not (`forbidden` for a chat not stored,
    /// `unavailable` when the store could not be read; `what` names the
    /// change in the log).
    pub async fn header_to_change(
        &self,
        chat: twinline_core::ChatId,
        what: &str,
    ) -> Option<crate::store::records::ChatRecord> {
        match crate::catchup::chat_record(&self.state, chat).await {
            Ok(Some(record)) => Some(record),
            Ok(None) => {
                self.reply_error(ErrorCode::Forbidden, "no such chat", None)
                    .await;
                None
            }
            Err(error) => {
                tracing::error!(%error, what, "could not read a chat to change it");
                self.reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                    .await;
                None
            }
        }
    }

    /// Answers a header write the store could not make: `erased {chat}`
    /// for a chat erased (the replay rule: the client drops it), else
    /// `unavailable` with `retry`.
    pub async fn reply_store_error(&self, error: &crate::store::StoreError, retry: &str) {
        match error {
            crate::store::StoreError::Erased(chat) => {
                self.reply(&ServerFrame::Erased { chat: *chat }).await;
            }
            _ => self.reply_error(ErrorCode::Unavailable, retry, None).await,
        }
    }
}
