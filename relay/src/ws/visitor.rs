//! The visitor side: one chat, bound by the token.

use super::context::Context;
use super::identity::VisitorAuth;
use super::refusal::{record_error_code, refusal_code};
use super::status::change_status;
use crate::catchup::{
    WELCOME_MISSING_BUDGET, chat_record, split_welcome, sync_of, visitor_read, write_chat,
};
use crate::fanout;
use crate::store::StoreError;
use crate::store::records::{Applied, ChatRecord, Record, Refusal};
use std::ops::ControlFlow;
use twinline_core::model::check_field;
use twinline_core::protocol::{ChatResume, ClientFrame, ErrorCode, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{Author, ChatState, ChatStatus, OfflineNote, Role, Side, VisitorInfo};

/// The queue's fairness key for a visitor at `ip`: a keyed hash of its
/// network (an IPv4 address, an IPv6 /64), the same on both deployments
/// (they share the secret), and no address kept in the store.
pub(crate) fn source_key(secret: &str, ip: std::net::IpAddr) -> String {
    use sha2::{Digest, Sha256};
    let network = crate::net::admission::AddrKey::of(ip);
    let digest = Sha256::digest(format!("twinline-source-v1:{secret}:{network}").as_bytes());
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn author(auth: &VisitorAuth, name: &str) -> Author {
    Author {
        role: Role::Visitor,
        id: auth.visitor.to_string(),
        name: name.to_string(),
    }
}

/// The chat's header as a visitor's connection makes it: created now,
/// from the visitor's network. The merge keeps what is stored.
fn header(client: &Context<'_>, auth: &VisitorAuth) -> ChatRecord {
    ChatRecord {
        id: auth.chat,
        site: auth.site.clone(),
        visitor: auth.visitor,
        created: crate::clock::now(),
        status: ChatStatus::default(),
        info: VisitorInfo::default(),
        source: source_key(&client.state.config.secret, client.peer.ip),
        rating: None,
        transcripts: Vec::new(),
    }
}

/// Answers an accepted visitor `hello`.
///
/// A welcome costs one read ([`visitor_read`]: the chat's header, the
/// catch-up, and the accounts when operators are online) and, on first
/// contact only, one write: the hello stores the chat's header (a chat
/// already stored is only read: the merge would keep what is stored).
/// When that commit fails, the store cannot write (a full disk: health is
/// not ready and the moderator moves clients away), but it can still read:
/// the visitor is welcomed with what is stored, its messages are refused
/// as `unavailable` until the store writes again, and its first message
/// stores the header first ([`VisitorAuth::header_pending`]).
pub(super) async fn welcome(
    client: &mut Context<'_>,
    auth: &mut VisitorAuth,
    resume: Vec<ChatResume>,
) -> ControlFlow<()> {
    let state = &client.state;
    state.hub.set_visitor(client.key, &auth.site, auth.chat);
    let have = resume
        .into_iter()
        .find(|r| r.chat == auth.chat)
        .map(|r| r.have)
        .unwrap_or_default();
    // Follow the chat before reading it: a message committed after the read
    // is then broadcast to this connection (held until the welcome is out),
    // and one committed before it is in the read. Reading first would lose
    // a message committed between the two until the next reconnect.
    state.hub.subscribe(client.key, auth.chat);
    let online = state.hub.operators_online();
    let read = match visitor_read(state, auth.chat, have, !online.is_empty()).await {
        Ok(read) => read,
        Err(error) => {
            tracing::error!(%error, "could not read a chat");
            client
                .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
                .await;
            return ControlFlow::Break(());
        }
    };
    // Only a first contact writes: for a chat already stored the merge
    // keeps every stored field, so the write would change nothing, yet it
    // waits for a group commit behind every message being stored. That
    // wait was on every reconnect (a node's thousand clients arriving at
    // the node that takes them over); a read does not queue for the writer.
    let record = match read.record {
        Some(stored) => {
            tracing::trace!("chat header already stored: nothing to write");
            Some(stored)
        }
        None => match write_chat(state, header(client, auth)).await {
            Ok(merged) => Some(merged),
            // The replay rule (docs/PROTOCOL.md): the browser drops the
            // chat and never sends it again; this token is done with.
            Err(StoreError::Erased(chat)) => {
                tracing::info!(%chat, "hello for an erased chat");
                client.reply(&ServerFrame::Erased { chat }).await;
                return ControlFlow::Break(());
            }
            Err(error) => {
                tracing::warn!(%error, "could not store the chat's header; welcoming from what is stored");
                auth.header_pending = true;
                None
            }
        },
    };
    if let Some(stored) = &record {
        crate::presence::connected(state, stored).await;
    }
    let sync = sync_of(auth.chat, record, read.catch_up, read.seen);
    let you = author(auth, &sync.visitor.name);
    let mut chats = vec![sync];
    let overflow = split_welcome(&mut chats, WELCOME_MISSING_BUDGET);
    let welcome = ServerFrame::Welcome {
        v: PROTOCOL_VERSION,
        deployment: state.config.name.clone(),
        role: state.config.role,
        epoch: state.store.epoch(),
        you,
        chats,
        operators_online: fanout::serving(&online, &read.accounts, &auth.site),
        mail: state.config.mail.is_some(),
    };
    client.reply(&welcome).await;
    for msg in overflow {
        client.reply(&ServerFrame::Message { msg }).await;
    }
    state.hub.mark_welcomed(client.key);
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

/// Handles a visitor's frame after `hello`.
pub(super) async fn handle(
    client: &mut Context<'_>,
    auth: &mut VisitorAuth,
    frame: ClientFrame,
) -> ControlFlow<()> {
    let own_chat = |chat| chat == auth.chat;
    match frame {
        ClientFrame::Send { msg } => {
            if !own_chat(msg.chat) {
                client
                    .refuse(ErrorCode::Forbidden, "not your chat", Some(msg.id))
                    .await;
                return ControlFlow::Continue(());
            }
            if auth.header_pending {
                if let Err(error) = write_chat(&client.state, header(client, auth)).await {
                    tracing::warn!(%error, "could not store the chat's header");
                    client
                        .refuse(
                            ErrorCode::Unavailable,
                            "the message could not be stored; it was not acknowledged, send it again",
                            Some(msg.id),
                        )
                        .await;
                    return ControlFlow::Continue(());
                }
                auth.header_pending = false;
            }
            let name = msg.author.name.clone();
            client.store_message(msg, &author(auth, &name)).await;
        }
        ClientFrame::Typing { chat, on } if own_chat(chat) => {
            let info = chat_record(&client.state, chat).await.ok().flatten();
            let name = info.map(|r| r.info.name).unwrap_or_default();
            let frame = ServerFrame::Typing {
                chat,
                who: author(auth, &name),
                on,
            };
            client
                .state
                .hub
                .publish_chat(chat, &frame, Some(client.key));
            crate::cluster::bus::chat_frame(&client.state, chat, &frame);
        }
        ClientFrame::SetVisitor {
            chat,
            name,
            email,
            page,
        } if own_chat(chat) => set_visitor(client, auth, name, email, page).await,
        ClientFrame::Offline { note } => offline(client, auth, note).await,
        ClientFrame::Rate {
            chat,
            id,
            score,
            comment,
        } if own_chat(chat) => super::rating::rate(client, auth, id, score, comment).await,
        ClientFrame::EmailTranscript { chat, id, to } if own_chat(chat) => {
            super::transcript::email_transcript(client, auth, id, to).await
        }
        ClientFrame::Read { chat, up_to } if own_chat(chat) => {
            super::receipts::read(client, Side::Visitor, chat, up_to).await;
        }
        ClientFrame::Close { chat } if own_chat(chat) => {
            let state = client.state.clone();
            change_status(client, chat, move |status| ChatStatus {
                state: ChatState::Closed,
                operator: status.operator.clone(),
                stamp: state.stamp_over(status.stamp),
            })
            .await;
        }
        ClientFrame::Typing { .. }
        | ClientFrame::SetVisitor { .. }
        | ClientFrame::Close { .. }
        | ClientFrame::Rate { .. }
        | ClientFrame::EmailTranscript { .. }
        | ClientFrame::Read { .. } => {
            client
                .reply_error(ErrorCode::Forbidden, "not your chat", None)
                .await;
        }
        ClientFrame::Accept { .. }
        | ClientFrame::Transfer { .. }
        | ClientFrame::SetAvailability { .. } => {
            client
                .reply_error(ErrorCode::Forbidden, "only operators may do that", None)
                .await;
        }
        ClientFrame::Hello { .. } | ClientFrame::Ping { .. } => {}
    }
    ControlFlow::Continue(())
}

async fn set_visitor(
    client: &Context<'_>,
    auth: &VisitorAuth,
    name: String,
    email: String,
    page: String,
) {
    let checked = check_field(&name)
        .and_then(|()| check_field(&email))
        .and_then(|()| check_field(&page));
    if let Err(error) = checked {
        client
            .reply_error(ErrorCode::BadText, error.to_string(), None)
            .await;
        return;
    }
    let state = &client.state;
    let Ok(Some(mut record)) = chat_record(state, auth.chat).await else {
        client
            .reply_error(ErrorCode::Unavailable, "storage unavailable; retry", None)
            .await;
        return;
    };
    record.info = VisitorInfo {
        name: name.trim().to_string(),
        email: email.trim().to_string(),
        page,
        // The visitor wrote this: connected, whatever was stored.
        left: None,
        stamp: state.stamp_over(record.info.stamp),
    };
    match write_chat(state, record).await {
        Ok(merged) => {
            let frame = ServerFrame::Visitor {
                chat: auth.chat,
                info: merged.info,
            };
            state.hub.publish_chat(auth.chat, &frame, None);
            fanout::queue(state).await;
        }
        Err(error) => {
            tracing::error!(%error, "storing visitor details failed");
            client
                .reply_store_error(&error, "storage unavailable; retry")
                .await;
        }
    }
}

/// Stores an offline note, dated by this relay, and tells the operators.
async fn offline(client: &Context<'_>, auth: &VisitorAuth, mut note: OfflineNote) {
    if note.site != auth.site {
        client
            .reply_error(ErrorCode::Forbidden, "the note is for another site", None)
            .await;
        return;
    }
    note.at = crate::clock::now();
    if let Err(error) = note.check() {
        client
            .reply_error(record_error_code(&error), error.to_string(), None)
            .await;
        return;
    }
    let id = note.id;
    let state = &client.state;
    match state
        .store
        .apply(Record::Note(note), &state.config.name)
        .await
    {
        // The note's tombstone is what lasts: settled, so the browser
        // stops sending it.
        Ok(Applied {
            refused: Some(Refusal::Erased),
            ..
        }) => client.reply(&ServerFrame::OfflineAck { id }).await,
        Ok(Applied {
            refused: Some(refusal),
            ..
        }) => {
            client
                .reply_error(refusal_code(&refusal), refusal.to_string(), None)
                .await;
        }
        Ok(applied) => {
            if applied.changed {
                fanout::inbox(state).await;
            }
            client.reply(&ServerFrame::OfflineAck { id }).await;
        }
        Err(error) => {
            tracing::error!(%error, "storing an offline note failed");
            client
                .reply_error(
                    ErrorCode::Unavailable,
                    "the note could not be stored; send it again",
                    None,
                )
                .await;
        }
    }
}
