//! A connection's messages on their way into the store, oldest first.
//!
//! A `send` is submitted to the store writer at once and the connection
//! reads on while it commits, so a client that sends many messages (a
//! console replaying after a failover, a busy operator) gets them committed
//! together instead of one commit per message. The [`Pipeline`] holds those
//! commits in the order the messages came; [`super::messages`] submits to
//! it and carries out what follows each commit.

use crate::store::StoreError;
use crate::store::records::Applied;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Instant;
use twinline_core::{ChatId, MessageId};

/// Most messages of one connection waiting for their commit; the
/// connection stops reading until the oldest is done.
pub const PIPELINE_DEPTH: usize = 256;

/// A message's commit: resolves once the store has it (or failed to).
type Completion = Pin<Box<dyn Future<Output = Committed> + Send>>;

/// A message the store has answered for; what follows (fan-out, ack) is
/// done by `Context::after_commit` in the order the messages came.
pub struct Committed {
    pub(super) id: MessageId,
    pub(super) chat: ChatId,
    pub(super) from_visitor: bool,
    pub(super) received: Instant,
    pub(super) outcome: Result<Applied, StoreError>,
}

/// One connection's messages submitted to the store, oldest first.
#[derive(Default)]
pub struct Pipeline {
    /// Only ever reached through `&mut self` (`Mutex::get_mut`, no
    /// locking): the mutex is there to make the pipeline `Sync`, which
    /// handlers holding a `&Context` (which borrows it) across an
    /// await need.
    pending: Mutex<FuturesOrdered<Completion>>,
}

impl Pipeline {
    /// Adds a message's commit behind the others.
    pub fn push(&mut self, commit: impl Future<Output = Committed> + Send + 'static) {
        self.queue().push_back(Box::pin(commit));
    }

    fn queue(&mut self) -> &mut FuturesOrdered<Completion> {
        self.pending
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// How many messages wait for their commit.
    pub fn len(&mut self) -> usize {
        self.queue().len()
    }

    /// The oldest pending message once it is committed; `None` when
    /// nothing is pending. Cancel-safe (the connection loop selects on it):
    /// hand what it returns to `Context::after_commit`.
    pub async fn next_committed(&mut self) -> Option<Committed> {
        self.queue().next().await
    }
}
