//! Whether a chat's visitor is still there (issue 22): the I/O around
//! `twinline_core::presence`, which decides.
//!
//! The relay holding a visitor's connection writes the visitor details'
//! `left` when the chat's last visitor connection here has been closed for
//! the grace period (so quick reconnects write nothing), and clears it when
//! the visitor connects. The header is replicated, so the other
//! deployment and the other nodes of this one know it too; a relay that
//! still holds a connection of the visitor and sees a "left" arrive (a
//! late close from elsewhere) writes the visitor back online. Operators
//! are told like any change of the visitor details (a `visitor` frame to
//! the chat's followers, the queue again), and once more when a waiting
//! chat's time in the queue runs out (`visitor_left_minutes`), since that
//! changes by the clock alone.

use crate::catchup::{chat_record, write_chat};
use crate::fanout;
use crate::state::Shared;
use crate::store::records::ChatRecord;
use twinline_core::protocol::ServerFrame;
use twinline_core::{ChatId, ChatState, Millis, presence};

/// The visitor connected (its welcome, with the header it read): clears a
/// stored "left".
pub async fn connected(state: &Shared, record: &ChatRecord) {
    if presence::correct_online(&record.info, state.hub.visitor_connections(record.id)) {
        write_left(state, record.clone(), None).await;
    }
}

/// A visitor connection of `chat` ended (after the hub forgot it): once
/// [`presence::LEFT_GRACE_MS`] has passed with no visitor connection of the
/// chat here, the visitor is recorded as left at the moment it closed,
/// unless the chat is closed. Waiting first keeps a tab's lease moving and
/// a reconnect (a failover's storm of them included) free of writes: a
/// reconnect's welcome is read-only. The wait holds the relay weakly, so a
/// relay shutting down is not kept alive by it.
pub async fn disconnected(state: &Shared, chat: ChatId) {
    if state.hub.visitor_connections(chat) > 0 {
        return;
    }
    let closed_at = crate::clock::now();
    let relay = std::sync::Arc::downgrade(state);
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(presence::LEFT_GRACE_MS)).await;
        if let Some(state) = relay.upgrade() {
            record_left(&state, chat, closed_at).await;
        }
    });
}

async fn record_left(state: &Shared, chat: ChatId, closed_at: Millis) {
    if state.hub.visitor_connections(chat) > 0 {
        return;
    }
    let record = match chat_record(state, chat).await {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, %chat, "could not read a chat to record its visitor left");
            return;
        }
    };
    if record.status.state == ChatState::Closed
        || !presence::record_left(&record.info, state.hub.visitor_connections(chat))
    {
        return;
    }
    write_left(state, record, Some(closed_at)).await;
}

/// A header changed elsewhere (replication, another node): a "left" for a
/// visitor connected here is corrected, and a waiting chat's exit from the
/// queue is scheduled.
pub fn changed(state: &Shared, record: &ChatRecord) {
    if presence::correct_online(&record.info, state.hub.visitor_connections(record.id)) {
        let state = state.clone();
        let record = record.clone();
        tokio::spawn(async move { write_left(&state, record, None).await });
    } else {
        queue_again_when_it_leaves(state, record);
    }
}

/// Writes the visitor details with `left`, stamped past the stored ones,
/// and tells the chat's followers and the operators' queues.
async fn write_left(state: &Shared, mut record: ChatRecord, left: Option<Millis>) {
    let chat = record.id;
    record.info.left = left;
    record.info.stamp = state.stamp_over(record.info.stamp);
    match write_chat(state, record).await {
        Ok(merged) => {
            tracing::debug!(%chat, left = left.is_some(), "visitor presence stored");
            state.hub.publish_chat(
                chat,
                &ServerFrame::Visitor {
                    chat,
                    info: merged.info.clone(),
                },
                None,
            );
            fanout::queue(state).await;
            queue_again_when_it_leaves(state, &merged);
        }
        Err(error) => tracing::warn!(%error, %chat, "could not store the visitor's presence"),
    }
}

/// Sends the queue again when a waiting chat whose visitor left drops out
/// of it by time alone.
fn queue_again_when_it_leaves(state: &Shared, record: &ChatRecord) {
    if record.status.state != ChatState::Waiting {
        return;
    }
    let now = crate::clock::now();
    let Some(at) = presence::leaves_queue_at(&record.info, now, state.config.visitor_left_ms)
    else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(at.since(now))).await;
        fanout::queue(&state).await;
    });
}
