//! Telling connected clients about changes, whether a local client made
//! them or they arrived from the peer by replication: queue, inbox,
//! presence, chat headers (status, visitor details, rating, a new
//! owner) and read receipts.
//!
//! The [`crate::hub`] knows who is connected and delivers; this module
//! decides what each of them is sent (an operator's queue and inbox hold
//! only its sites, a visitor learns how many operators serve its site,
//! never who) and bounds the lists. Both the WebSocket handlers
//! ([`crate::ws`]) and replication call it, so a change reads the same to
//! a client whichever deployment made it.

use crate::authz::Access;
use crate::catchup::{chat_frames, chat_sync};
use crate::state::Shared;
use crate::store::backend::Reads;
use crate::store::records::{Account, ChatRecord};
use crate::store::{StoreError, reads};
use twinline_core::protocol::{QueueEntry, ServerFrame};
use twinline_core::{ChatState, presence};

/// Most waiting chats listed in a queue frame.
pub const QUEUE_LIMIT: usize = 200;
/// Most offline notes listed in an inbox frame.
pub const INBOX_LIMIT: usize = 100;

/// A read of a list for a set of sites (all when `None`).
type SitesRead<T> = fn(&mut dyn Reads, Option<&[String]>) -> Result<T, StoreError>;

/// Sends every operator a list read for the sites it serves (once per
/// distinct set of sites).
async fn per_access<T: Send + 'static>(
    state: &Shared,
    read: SitesRead<T>,
    frame: fn(T) -> ServerFrame,
    what: &str,
) {
    for (access, keys) in state.hub.operator_accesses() {
        let sites = access.site_filter().map(<[String]>::to_vec);
        match state
            .store
            .read(move |conn| read(conn, sites.as_deref()))
            .await
        {
            Ok(list) => state.hub.send_to_all(&keys, &frame(list)),
            Err(error) => tracing::error!(%error, "could not read the {what}"),
        }
    }
}

/// Sends the current queue to every operator: each gets the chats of the
/// sites it serves.
pub async fn queue(state: &Shared) {
    let after = state.config.visitor_left_ms;
    for (access, keys) in state.hub.operator_accesses() {
        let sites = access.site_filter().map(<[String]>::to_vec);
        match state
            .store
            .read(move |conn| reads::queue(conn, QUEUE_LIMIT, sites.as_deref()))
            .await
        {
            Ok(chats) => state.hub.send_to_all(&keys, &queue_frame(chats, after)),
            Err(error) => tracing::error!(%error, "could not read the queue"),
        }
    }
}

/// The queue frame: the waiting chats whose visitor has not left
/// `visitor_left_ms` or more ago (`twinline_core::presence::waits`).
fn queue_frame(mut chats: Vec<QueueEntry>, visitor_left_ms: u64) -> ServerFrame {
    let now = crate::clock::now();
    chats.retain(|entry| presence::waits(&entry.visitor, now, visitor_left_ms));
    ServerFrame::Queue { chats }
}

/// Sends the queue after a visitor wrote in a chat, if the chat waits:
/// `chat_state` is its state as the message's commit saw it
/// ([`Applied::chat_state`](crate::store::records::Applied::chat_state)),
/// so no read of the header follows every message.
pub async fn queue_if_waiting(state: &Shared, chat_state: Option<ChatState>) {
    if chat_state == Some(ChatState::Waiting) && !state.hub.operator_names().is_empty() {
        queue(state).await;
    }
}

/// One operator's queue and inbox (its welcome): the chats and notes of
/// the sites `access` serves. A list the store cannot read now is left out
/// (the next change sends it).
pub async fn queue_and_inbox(state: &Shared, access: &Access) -> Vec<ServerFrame> {
    let sites = access.site_filter().map(<[String]>::to_vec);
    let filter = sites.clone();
    let mut frames = Vec::new();
    if let Ok(chats) = state
        .store
        .read(move |conn| reads::queue(conn, QUEUE_LIMIT, filter.as_deref()))
        .await
    {
        frames.push(queue_frame(chats, state.config.visitor_left_ms));
    }
    if let Ok(notes) = state
        .store
        .read(move |conn| reads::notes(conn, INBOX_LIMIT, sites.as_deref()))
        .await
    {
        frames.push(ServerFrame::Inbox { notes });
    }
    frames
}

/// Sends the inbox to every operator: the notes of the sites it serves.
pub async fn inbox(state: &Shared) {
    per_access(
        state,
        |conn, sites| reads::notes(conn, INBOX_LIMIT, sites),
        |notes| ServerFrame::Inbox { notes },
        "inbox",
    )
    .await;
}

/// How many online operators (here and at the peer) serve `site`, given
/// the accounts (a visitor's welcome reads them with its chat).
pub fn serving(names: &[String], accounts: &[Account], site: &str) -> u32 {
    names
        .iter()
        .filter(|name| {
            accounts
                .iter()
                .any(|a| &a.username == *name && !a.removed && a.serves(site))
        })
        .count() as u32
}

/// Tells every client who is online (here and at the peer): operators get
/// the names, visitors only how many serve their site.
pub async fn presence(state: &Shared) {
    let names = state.hub.operators_online();
    let accounts = if names.is_empty() {
        Vec::new()
    } else {
        state.store.read(reads::accounts).await.unwrap_or_default()
    };
    state
        .hub
        .publish_presence(&names, |site| serving(&names, &accounts, site));
}

/// A read receipt was stored (here, by another node, or replicated): tell
/// the chat's followers on this node.
pub fn receipt(state: &Shared, receipt: twinline_core::Receipt) {
    state.hub.publish_chat(
        receipt.chat,
        &ServerFrame::Receipt {
            chat: receipt.chat,
            side: receipt.side,
            up_to: receipt.up_to,
        },
        None,
    );
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
    if let Some(rating) = chat.rating.clone() {
        state.hub.publish_chat(
            chat.id,
            &ServerFrame::Rating {
                chat: chat.id,
                rating,
            },
            None,
        );
    }
    if chat.status.state == ChatState::Active
        && let Some(owner) = chat.status.operator.clone()
    {
        let state = state.clone();
        let id = chat.id;
        let site = chat.site.clone();
        tokio::spawn(async move {
            // Followed before the chat is read (see the visitor's welcome).
            let newcomers: Vec<_> = state
                .hub
                .operator_keys_serving(&owner, &site)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_and_inbox_limits_are_the_ones_the_protocol_documents() {
        let doc = include_str!("../../docs/PROTOCOL.md");
        // A section's prose up to its example, on one line.
        let section = |title: &str| {
            let start = doc.find(title).expect("the section");
            let prose = &doc[start..start + doc[start..].find("```").expect("its example")];
            prose.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        assert!(
            section("### queue (operators)").contains(&format!("at most **{QUEUE_LIMIT}**")),
            "docs/PROTOCOL.md states the queue's limit"
        );
        assert!(
            section("### inbox (operators)").contains(&format!("the **{INBOX_LIMIT}** newest")),
            "docs/PROTOCOL.md states the inbox's limit"
        );
    }
}
