//! The operator side: presence, the queue of waiting chats, the inbox of
//! offline notes, and accept / reply / transfer / close.

use super::client::{Client, OperatorAuth};
use super::fanout;
use super::sync::{
    WELCOME_MISSING_BUDGET, chat_frames, chat_record, chat_sync, split_welcome, write_chat,
};
use crate::hub::OperatorPresence;
use crate::state::Shared;
use crate::store::reads;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{Author, ChatId, ChatState, ChatStatus, Role};

/// Most waiting chats listed in a queue frame.
pub(super) const QUEUE_LIMIT: usize = 200;
/// Most offline notes listed in an inbox frame.
pub(super) const INBOX_LIMIT: usize = 100;

fn author(auth: &OperatorAuth) -> Author {
    Author {
        role: Role::Operator,
        id: auth.username.clone(),
        name: auth.name.clone(),
    }
}

/// Answers an accepted operator `hello`: their open chats (and any they say
/// they hold), the queue, the inbox and presence.
pub(super) async fn welcome(
    client: &mut Client,
    auth: &OperatorAuth,
    resume: Vec<ChatResume>,
) -> ControlFlow<()> {
    let state = client.state.clone();
    state.hub.set_operator(
        client.key,
        OperatorPresence {
            username: auth.username.clone(),
            name: auth.name.clone(),
            online: auth.online,
        },
    );
    let username = auth.username.clone();
    let assigned = state
        .store
        .read(move |conn| reads::chats_of_operator(conn, &username))
        .await
        .unwrap_or_default();
    let mut chats: BTreeSet<ChatId> = assigned.iter().map(|c| c.id).collect();
    chats.extend(resume.iter().map(|r| r.chat));
    let mut syncs = Vec::with_capacity(chats.len());
    for chat in chats {
        let have = resume
            .iter()
            .find(|r| r.chat == chat)
            .map(|r| r.have.as_slice())
            .unwrap_or_default();
        // Followed before it is read (see the visitor's welcome).
        state.hub.subscribe(client.key, chat);
        match chat_sync(&state, chat, have).await {
            Ok(sync) => {
                syncs.push(sync);
            }
            Err(error) => {
                tracing::error!(%error, "could not read a chat for an operator");
                client
                    .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                    .await;
                return ControlFlow::Break(());
            }
        }
    }
    let overflow = split_welcome(&mut syncs, WELCOME_MISSING_BUDGET);
    client
        .reply(&ServerFrame::Welcome {
            v: PROTOCOL_VERSION,
            deployment: state.config.name.clone(),
            role: state.config.role,
            epoch: state.store.epoch(),
            you: author(auth),
            chats: syncs,
            operators_online: state.hub.operators_online().len() as u32,
        })
        .await;
    for msg in overflow {
        client.reply(&ServerFrame::Message { msg }).await;
    }
    state.hub.mark_welcomed(client.key);
    if let Ok(chats) = state
        .store
        .read(|conn| reads::queue(conn, QUEUE_LIMIT))
        .await
    {
        client.reply(&ServerFrame::Queue { chats }).await;
    }
    if let Ok(notes) = state
        .store
        .read(|conn| reads::notes(conn, INBOX_LIMIT))
        .await
    {
        client.reply(&ServerFrame::Inbox { notes }).await;
    }
    fanout::presence(&state).await;
    if let Some(to) = state.drain_target() {
        client
            .reply(&ServerFrame::Migrate {
                to,
                reason: "maintenance".into(),
            })
            .await;
    }
    ControlFlow::Continue(())
}

/// Handles an operator's frame after `hello`.
pub(super) async fn handle(
    client: &mut Client,
    auth: &OperatorAuth,
    frame: ClientFrame,
) -> ControlFlow<()> {
    match frame {
        ClientFrame::Send { msg } => {
            // A chat named in this operator's hello may be unknown here: it
            // lived on a deployment that failed before replicating it, and
            // the console is now the copy of record (the white paper's
            // "pushed from the Operator's side").
            let held = client.state.hub.follows(client.key, msg.chat);
            if !held && !chat_exists(client, msg.chat).await {
                client
                    .refuse(ErrorCode::Forbidden, "no such chat", Some(msg.id))
                    .await;
                return ControlFlow::Continue(());
            }
            let chat = msg.chat;
            let me = author(auth);
            if msg.author.role == me.role && msg.author.id == me.id {
                client.store_message(msg, &me).await;
            } else {
                client.store_replay(msg).await;
            }
            client.state.hub.subscribe(client.key, chat);
        }
        ClientFrame::Typing { chat, on } => {
            client.state.hub.publish_chat(
                chat,
                &ServerFrame::Typing {
                    chat,
                    who: author(auth),
                    on,
                },
                Some(client.key),
            );
        }
        ClientFrame::SetAvailability { online } => {
            let mut updated = auth.clone();
            updated.online = online;
            client.state.hub.set_operator(
                client.key,
                OperatorPresence {
                    username: updated.username.clone(),
                    name: updated.name.clone(),
                    online,
                },
            );
            client.identity = super::client::Identity::Operator(updated);
            fanout::presence(&client.state).await;
        }
        ClientFrame::Accept { chat } => accept(client, auth, chat).await,
        ClientFrame::Close { chat } => {
            let stamp = client.state.stamp();
            change_status(client, chat, move |status| ChatStatus {
                state: ChatState::Closed,
                operator: status.operator.clone(),
                stamp,
            })
            .await;
        }
        ClientFrame::Transfer { chat, to } => transfer(client, chat, to).await,
        ClientFrame::SetVisitor { .. } | ClientFrame::Offline { .. } => {
            client
                .reply_error(ErrorCode::Forbidden, "only visitors may do that", None)
                .await;
        }
        ClientFrame::Hello { .. } | ClientFrame::Ping { .. } => {}
    }
    ControlFlow::Continue(())
}

async fn chat_exists(client: &Client, chat: ChatId) -> bool {
    matches!(chat_record(&client.state, chat).await, Ok(Some(record)) if !record.site.is_empty())
}

async fn accept(client: &Client, auth: &OperatorAuth, chat: ChatId) {
    let state = &client.state;
    let Ok(Some(record)) = chat_record(state, chat).await else {
        client
            .reply_error(ErrorCode::Forbidden, "no such chat", None)
            .await;
        return;
    };
    if record.status.state == ChatState::Active
        && let Some(owner) = &record.status.operator
        && owner != &auth.username
    {
        client
            .reply_error(
                ErrorCode::Forbidden,
                format!("{owner} has already accepted this chat"),
                None,
            )
            .await;
        return;
    }
    let username = auth.username.clone();
    let stamp = state.stamp();
    change_status(client, chat, move |_| ChatStatus {
        state: ChatState::Active,
        operator: Some(username),
        stamp,
    })
    .await;
    state.hub.subscribe(client.key, chat);
    if let Ok(sync) = chat_sync(state, chat, &[]).await {
        for frame in chat_frames(sync) {
            state.hub.publish_operator(&auth.username, &frame);
        }
    }
}

async fn transfer(client: &Client, chat: ChatId, to: String) {
    let state = &client.state;
    let lookup = to.clone();
    let exists = state
        .store
        .read(move |conn| reads::account(conn, &lookup))
        .await
        .ok()
        .flatten()
        .is_some();
    if !exists {
        client
            .reply_error(
                ErrorCode::Forbidden,
                format!("no operator named {to:?}"),
                None,
            )
            .await;
        return;
    }
    let target = to.clone();
    let stamp = state.stamp();
    if !change_status(client, chat, move |_| ChatStatus {
        state: ChatState::Active,
        operator: Some(target),
        stamp,
    })
    .await
    {
        return;
    }
    // The new owner's connections follow the chat before it is read, so a
    // message committed meanwhile reaches them (a connection opened later
    // gets the chat in its welcome, as one of its assigned chats).
    for key in state.hub.operator_keys(&to) {
        state.hub.subscribe(key, chat);
    }
    if let Ok(sync) = chat_sync(state, chat, &[]).await {
        for frame in chat_frames(sync) {
            state.hub.publish_operator(&to, &frame);
        }
    }
}

/// Sets a chat's status from its current one, tells its followers and the
/// queue. Returns whether it was written.
pub(super) async fn change_status(
    client: &Client,
    chat: ChatId,
    next: impl FnOnce(&ChatStatus) -> ChatStatus,
) -> bool {
    let state = &client.state;
    let Ok(Some(mut record)) = chat_record(state, chat).await else {
        client
            .reply_error(ErrorCode::Forbidden, "no such chat", None)
            .await;
        return false;
    };
    record.status = next(&record.status);
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
                .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                .await;
            false
        }
    }
}

/// Sends the queue if `chat` is waiting (a visitor wrote in it).
pub async fn publish_queue_if_waiting(state: &Shared, chat: ChatId) {
    if state.hub.operator_names().is_empty() {
        return;
    }
    if let Ok(Some(record)) = chat_record(state, chat).await
        && record.status.state == ChatState::Waiting
    {
        fanout::queue(state).await;
    }
}
