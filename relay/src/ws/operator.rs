//! The operator side: presence, the queue of waiting chats, the inbox of
//! offline notes, and accept / reply / transfer / close, each limited to
//! what the operator's account allows ([`crate::authz`] decides, this
//! carries it out).

use super::context::Context;
use super::identity::OperatorAuth;
use super::status::store_status;
use crate::authz::{self, Write};
use crate::catchup::{WELCOME_MISSING_BUDGET, chat_frames, chat_record, chat_sync, split_welcome};
use crate::fanout;
use crate::hub::OperatorPresence;
use crate::store::reads;
use crate::store::records::ChatRecord;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{Author, ChatId, ChatState, ChatStatus, Message, Role};

fn author(auth: &OperatorAuth) -> Author {
    Author {
        role: Role::Operator,
        id: auth.access.username.clone(),
        name: auth.name.clone(),
    }
}

fn presence(auth: &OperatorAuth) -> OperatorPresence {
    OperatorPresence {
        username: auth.access.username.clone(),
        name: auth.name.clone(),
        online: auth.online,
        access: auth.access.clone(),
        version: auth.version,
    }
}

/// Answers an accepted operator `hello`: the chats it holds (and those it
/// names that it may see: a waiting chat of its sites, a chat this relay
/// does not know yet), the queue, the inbox and presence.
pub(super) async fn welcome(
    client: &mut Context<'_>,
    auth: &OperatorAuth,
    resume: Vec<ChatResume>,
) -> ControlFlow<()> {
    let state = client.state.clone();
    state.hub.set_operator(client.key, presence(auth));
    let username = auth.access.username.clone();
    let named: Vec<ChatId> = resume.iter().map(|r| r.chat).collect();
    let visible = state
        .store
        .read(move |conn| {
            let mut chats: BTreeSet<ChatId> = reads::chats_of_operator(conn, &username)?
                .into_iter()
                .map(|c| c.id)
                .collect();
            let mut headers = Vec::new();
            for &chat in &named {
                headers.push((chat, reads::chat_in(conn, chat)?));
            }
            // A chat named but not stored may have been erased (the
            // replay rule): told so, never welcomed as one to come.
            let unknown: Vec<ChatId> = headers
                .iter()
                .filter(|(_, header)| header.is_none())
                .map(|(chat, _)| *chat)
                .collect();
            let erased = if unknown.is_empty() {
                Vec::new()
            } else {
                conn.erased_chats(&unknown)?
            };
            headers.retain(|(chat, _)| !erased.contains(chat));
            Ok((std::mem::take(&mut chats), headers, erased))
        })
        .await;
    let (mut chats, named, erased) = match visible {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "could not read an operator's chats");
            client
                .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                .await;
            return ControlFlow::Break(());
        }
    };
    for (chat, header) in named {
        if authz::may_see(&auth.access, header.as_ref()) {
            chats.insert(chat);
        } else {
            state.metrics.operator_forbidden.fetch_add(1, Relaxed);
        }
    }
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
            mail: state.config.mail.is_some(),
        })
        .await;
    for msg in overflow {
        client.reply(&ServerFrame::Message { msg }).await;
    }
    for chat in erased {
        client.reply(&ServerFrame::Erased { chat }).await;
    }
    state.hub.mark_welcomed(client.key);
    for frame in fanout::queue_and_inbox(&state, &auth.access).await {
        client.reply(&frame).await;
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
    client: &mut Context<'_>,
    auth: &mut OperatorAuth,
    frame: ClientFrame,
) -> ControlFlow<()> {
    match frame {
        ClientFrame::Send { msg } => send(client, auth, msg).await,
        ClientFrame::Typing { chat, on } => {
            let header = chat_record(&client.state, chat).await.ok().flatten();
            if authz::may_write(&auth.access, header.as_ref()) == Write::Allow {
                let frame = ServerFrame::Typing {
                    chat,
                    who: author(auth),
                    on,
                };
                client
                    .state
                    .hub
                    .publish_chat(chat, &frame, Some(client.key));
                crate::cluster::bus::chat_frame(&client.state, chat, &frame);
            }
        }
        ClientFrame::SetAvailability { online } => {
            auth.online = online;
            client.state.hub.set_operator(client.key, presence(auth));
            fanout::presence(&client.state).await;
        }
        ClientFrame::Accept { chat } => accept(client, auth, chat).await,
        ClientFrame::Close { chat } => close(client, auth, chat).await,
        ClientFrame::Transfer { chat, to } => transfer(client, auth, chat, to).await,
        ClientFrame::Read { chat, up_to } => read(client, auth, chat, up_to).await,
        ClientFrame::SetVisitor { .. }
        | ClientFrame::Offline { .. }
        | ClientFrame::Rate { .. }
        | ClientFrame::EmailTranscript { .. } => {
            client
                .reply_error(ErrorCode::Forbidden, "only visitors may do that", None)
                .await;
        }
        ClientFrame::Hello { .. } | ClientFrame::Ping { .. } => {}
    }
    ControlFlow::Continue(())
}

/// A refusal by authorisation, counted.
async fn forbid(client: &mut Context<'_>, message: String, id: Option<twinline_core::MessageId>) {
    client
        .state
        .metrics
        .operator_forbidden
        .fetch_add(1, Relaxed);
    client.refuse(ErrorCode::Forbidden, message, id).await;
}

/// An operator's message, or its console's replay of someone else's after
/// a failover, into a chat it holds (or takes by writing: see
/// [`crate::authz`]).
async fn send(client: &mut Context<'_>, auth: &OperatorAuth, msg: Message) {
    let chat = msg.chat;
    let header = match chat_record(&client.state, chat).await {
        Ok(header) => header,
        Err(error) => {
            tracing::error!(%error, "could not read a chat header");
            client
                .refuse(
                    ErrorCode::Unavailable,
                    "storage unavailable; retry",
                    Some(msg.id),
                )
                .await;
            return;
        }
    };
    match authz::may_write(&auth.access, header.as_ref()) {
        Write::Allow => {}
        Write::AssignFirst => {
            if !assign(client, auth, chat, header).await {
                return;
            }
        }
        Write::Refuse(reason) => {
            tracing::info!(username = %auth.access.username, %chat, %reason, "operator write refused");
            forbid(client, reason, Some(msg.id)).await;
            return;
        }
    }
    let me = author(auth);
    if msg.author.role == me.role && msg.author.id == me.id {
        client.store_message(msg, &me).await;
    } else {
        tracing::info!(
            username = %auth.access.username,
            %chat,
            author = %msg.author.id,
            id = %msg.id,
            "operator replays a message written by someone else"
        );
        client.store_replay(msg).await;
    }
    client.state.hub.subscribe(client.key, chat);
}

/// Assigns a chat to the operator (an accept) and hands it the whole
/// chat; creates the header of a chat this relay has none for. Returns
/// whether it was written.
async fn assign(
    client: &Context<'_>,
    auth: &OperatorAuth,
    chat: ChatId,
    header: Option<ChatRecord>,
) -> bool {
    let state = &client.state;
    let mut record = header.unwrap_or_else(|| ChatRecord::empty(chat, crate::clock::now()));
    record.status = ChatStatus {
        state: ChatState::Active,
        operator: Some(auth.access.username.clone()),
        stamp: state.stamp_over(record.status.stamp),
    };
    if !store_status(client, record).await {
        return false;
    }
    state.hub.subscribe(client.key, chat);
    if let Ok(sync) = chat_sync(state, chat, &[]).await {
        for frame in chat_frames(sync) {
            state.hub.publish_operator(&auth.access.username, &frame);
        }
    }
    true
}

/// A read receipt for a chat the operator may see (one stored here: a
/// receipt for a chat this relay does not know would show nobody).
async fn read(
    client: &mut Context<'_>,
    auth: &OperatorAuth,
    chat: ChatId,
    up_to: twinline_core::MessageId,
) {
    let header = match chat_record(&client.state, chat).await {
        Ok(header) => header,
        Err(_) => {
            client
                .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                .await;
            return;
        }
    };
    match header {
        Some(header) if authz::may_see(&auth.access, Some(&header)) => {
            super::receipts::read(client, twinline_core::Side::Operator, chat, up_to).await;
        }
        Some(_) => forbid(client, "not a chat you may see".into(), None).await,
        None => {
            // Erased, or not here yet.
            let erased = client
                .state
                .store
                .read(move |conn| conn.erased_chats(&[chat]))
                .await
                .unwrap_or_default();
            if erased.contains(&chat) {
                client.reply(&ServerFrame::Erased { chat }).await;
            } else {
                client
                    .reply_error(ErrorCode::Forbidden, "no such chat", None)
                    .await;
            }
        }
    }
}

async fn accept(client: &mut Context<'_>, auth: &OperatorAuth, chat: ChatId) {
    let header = match chat_record(&client.state, chat).await {
        Ok(header) => header,
        Err(_) => {
            client
                .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                .await;
            return;
        }
    };
    if let Err(reason) = authz::may_accept(&auth.access, header.as_ref()) {
        forbid(client, reason, None).await;
        return;
    }
    assign(client, auth, chat, header).await;
}

async fn close(client: &mut Context<'_>, auth: &OperatorAuth, chat: ChatId) {
    let Ok(Some(mut record)) = chat_record(&client.state, chat).await else {
        client
            .reply_error(ErrorCode::Forbidden, "no such chat", None)
            .await;
        return;
    };
    if let Err(reason) = authz::may_close(&auth.access, &record) {
        forbid(client, reason, None).await;
        return;
    }
    record.status = ChatStatus {
        state: ChatState::Closed,
        operator: record.status.operator.clone(),
        stamp: client.state.stamp_over(record.status.stamp),
    };
    store_status(client, record).await;
}

async fn transfer(client: &mut Context<'_>, auth: &OperatorAuth, chat: ChatId, to: String) {
    let state = client.state.clone();
    let lookup = to.clone();
    let found = state
        .store
        .read(move |conn| Ok((reads::chat_in(conn, chat)?, reads::account(conn, &lookup)?)))
        .await;
    let (header, target) = match found {
        Ok(found) => found,
        Err(_) => {
            client
                .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                .await;
            return;
        }
    };
    let Some(mut record) = header else {
        client
            .reply_error(ErrorCode::Forbidden, "no such chat", None)
            .await;
        return;
    };
    if let Err(reason) = authz::may_transfer(&auth.access, &record, target.as_ref()) {
        let reason = if target.is_none() {
            format!("no operator named {to:?}")
        } else {
            reason
        };
        forbid(client, reason, None).await;
        return;
    }
    record.status = ChatStatus {
        state: ChatState::Active,
        operator: Some(to.clone()),
        stamp: state.stamp_over(record.status.stamp),
    };
    if !store_status(client, record).await {
        return;
    }
    // The new owner's connections follow the chat before it is read, so a
    // message committed meanwhile reaches them (a connection opened later
    // gets the chat in its welcome, as one of its assigned chats).
    for key in state.hub.operator_keys(&to) {
        state.hub.subscribe(key, chat);
    }
    if let Ok(sync) = chat_sync(&state, chat, &[]).await {
        for frame in chat_frames(sync) {
            state.hub.publish_operator(&to, &frame);
        }
    }
}
