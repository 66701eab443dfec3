//! Telling connected clients about changes, whether a local client made
//! them or they arrived from the peer by replication: queue, inbox,
//! presence, and chat headers (status, visitor details, a new owner).

use super::operator::{INBOX_LIMIT, QUEUE_LIMIT};
use super::sync::{chat_frames, chat_sync};
use crate::state::Shared;
use crate::store::reads;
use crate::store::records::ChatRecord;
use twinline_core::ChatState;
use twinline_core::protocol::ServerFrame;

/// Sends the current queue to every operator.
pub async fn queue(state: &Shared) {
    if state.hub.operator_names().is_empty() {
        return;
    }
    match state
        .store
        .read(|conn| reads::queue(conn, QUEUE_LIMIT))
        .await
    {
        Ok(chats) => state.hub.publish_operators(&ServerFrame::Queue { chats }),
        Err(error) => tracing::error!(%error, "could not read the queue"),
    }
}

/// Sends the inbox to every operator.
pub async fn inbox(state: &Shared) {
    if state.hub.operator_names().is_empty() {
        return;
    }
    match state
        .store
        .read(|conn| reads::notes(conn, INBOX_LIMIT))
        .await
    {
        Ok(notes) => state.hub.publish_operators(&ServerFrame::Inbox { notes }),
        Err(error) => tracing::error!(%error, "could not read the inbox"),
    }
}

/// Tells every client who is online (here and at the peer).
pub async fn presence(state: &Shared) {
    let operators = state.hub.operators_online();
    state.hub.publish_all(&ServerFrame::Presence {
        operators_online: operators.len() as u32,
        operators,
    });
}

/// A chat header changed elsewhere: tell its followers, and hand the chat
/// to its operator's connections here if they do not follow it yet (an
/// accept or transfer made on the other deployment).
pub fn chat_header(state: &Shared, chat: &ChatRecord) {
    state.hub.publish_chat(
        chat.id,
        &ServerFrame::Status {
            chat: chat.id,
            status: chat.status.clone(),
        },
        None,
    );
    state.hub.publish_chat(
        chat.id,
        &ServerFrame::Visitor {
            chat: chat.id,
            info: chat.info.clone(),
        },
        None,
    );
    if chat.status.state == ChatState::Active
        && let Some(owner) = chat.status.operator.clone()
    {
        let state = state.clone();
        let id = chat.id;
        tokio::spawn(async move {
            // Followed before the chat is read (see the visitor's welcome).
            let newcomers: Vec<_> = state
                .hub
                .operator_keys(&owner)
                .into_iter()
                .filter(|key| !state.hub.follows(*key, id))
                .collect();
            if newcomers.is_empty() {
                return;
            }
            for key in &newcomers {
                state.hub.subscribe(*key, id);
            }
            if let Ok(sync) = chat_sync(&state, id, &[]).await {
                let frames = chat_frames(sync);
                for key in newcomers {
                    for frame in &frames {
                        state.hub.send_to(key, frame);
                    }
                }
            }
        });
    }
}
