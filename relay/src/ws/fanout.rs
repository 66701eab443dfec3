//! Telling connected clients about changes, whether a local client made
//! them or they arrived from the peer by replication: queue, inbox,
//! presence, and chat headers (status, visitor details, a new owner).

use super::operator::{INBOX_LIMIT, QUEUE_LIMIT};
use super::sync::{chat_frames, chat_sync};
use crate::state::Shared;
use crate::store::reads;
use crate::store::records::{Account, ChatRecord};
use twinline_core::ChatState;
use twinline_core::protocol::ServerFrame;

/// Sends every operator a list read for the sites it serves (once per
/// distinct set of sites).
async fn per_access<T: Send + 'static>(
    state: &Shared,
    read: fn(&rusqlite::Connection, Option<&[String]>) -> rusqlite::Result<T>,
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
    per_access(
        state,
        |conn, sites| reads::queue(conn, QUEUE_LIMIT, sites),
        |chats| ServerFrame::Queue { chats },
        "queue",
    )
    .await;
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
/// the accounts.
fn serving(names: &[String], accounts: &[Account], site: &str) -> u32 {
    names
        .iter()
        .filter(|name| {
            accounts
                .iter()
                .any(|a| &a.username == *name && !a.removed && a.serves(site))
        })
        .count() as u32
}

/// How many online operators serve `site` (a visitor's welcome).
pub async fn operators_serving(state: &Shared, site: &str) -> u32 {
    let names = state.hub.operators_online();
    if names.is_empty() {
        return 0;
    }
    let accounts = state.store.read(reads::accounts).await.unwrap_or_default();
    serving(&names, &accounts, site)
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
