//! `GET /v1/api/chats/{chat}/messages` and `POST` the same: a chat's
//! transcript, and a message written into it as one of the site's
//! operators or as the site itself.

use super::auth::caller;
use super::chats::site_chat;
use super::idempotency;
use super::paging::{self, PageQuery};
use super::views::{MessageView, Page};
use crate::http::{ApiError, ApiJson};
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::api_keys::{ApiKey, Scope};
use crate::store::reads;
use crate::store::records::Record;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use twinline_core::{Author, ChatState, Lamport, Message, MessageId, Role};

/// The response header a replayed POST carries.
pub const REPLAYED: &str = "idempotent-replayed";

/// A chat's messages in display order. Scope `chats:read`.
pub async fn list(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::ChatsRead).await?;
    let limit = paging::limit(query.limit)?;
    let after: Option<MessageId> = paging::cursor(query.cursor.as_deref())?;
    let record = site_chat(&state, &key.site, &chat).await?;
    let id = record.id;
    let all = state
        .store
        .read(move |conn| reads::messages(conn, id))
        .await
        .map_err(ApiError::unavailable)?;
    let start = match after {
        None => 0,
        Some(after) => match all.iter().position(|m| m.id == after) {
            Some(at) => at + 1,
            None => return Err(paging::bad_cursor()),
        },
    };
    let page: Vec<&Message> = all.iter().skip(start).take(limit).collect();
    Ok(Json(Page {
        next_cursor: paging::next_cursor(&page, limit, |m| m.id.to_string()),
        items: page.into_iter().map(MessageView::from).collect(),
    }))
}

/// Body of `POST /v1/api/chats/{chat}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The text (plain text, at most 4,000 characters).
    pub text: String,
    /// Write as this operator (an account serving the site); absent:
    /// as the site.
    #[serde(default)]
    pub operator: Option<String>,
    /// The name shown when writing as the site (default: the key's name,
    /// else the site id).
    #[serde(default)]
    pub name: Option<String>,
}

/// Writes a message into an open chat; the visitor and the consoles get it
/// live. `201` with the message, or `200` and `Idempotent-Replayed: true`
/// when the `Idempotency-Key` names one already stored. Scope
/// `messages:write`.
pub async fn post(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<Response, ApiError> {
    let key = caller(&state, &headers, ip, Scope::MessagesWrite).await?;
    let idempotency_key = idempotency::key(&headers)?;
    let record = site_chat(&state, &key.site, &chat).await?;
    let author = author(&state, &key, &body).await?;
    let id = match idempotency_key {
        Some(k) => idempotency::message_id(&key.site, record.id, k),
        None => MessageId::new(crate::clock::now(), rand::random()),
    };
    let chat_id = record.id;
    let stored = state
        .store
        .read(move |conn| reads::messages(conn, chat_id))
        .await
        .map_err(ApiError::unavailable)?;
    if let Some(earlier) = stored.iter().find(|m| m.id == id) {
        return replayed(earlier, &author, &body.text);
    }
    if record.status.state == ChatState::Closed {
        return Err(chat_closed());
    }
    let highest = stored.iter().map(|m| m.lamport).max().unwrap_or_default();
    let msg = Message {
        lamport: Lamport(highest.0.saturating_add(1)),
        author: author.clone(),
        id,
        chat: chat_id,
        text: body.text.clone(),
        at: crate::clock::now(),
        file: None,
    };
    msg.check().map_err(|error| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
    })?;
    let applied = state
        .store
        .apply(Record::Message(msg), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    let Record::Message(kept) = applied.record.clone() else {
        return Err(ApiError::unavailable(
            "the store answered with another record",
        ));
    };
    if applied.refused.is_some() || !applied.changed {
        // Stored meanwhile by a retry racing this one.
        return replayed(&kept, &author, &body.text);
    }
    tracing::info!(chat = %kept.chat, id = %kept.id, key = %key.id, "message posted through the API");
    crate::replication::puller::fan_out(&state, vec![applied]).await;
    Ok((StatusCode::CREATED, Json(MessageView::from(&kept))).into_response())
}

/// Who the message is from: an operator of the site, or the site.
async fn author(state: &Shared, key: &ApiKey, body: &PostMessage) -> Result<Author, ApiError> {
    let Some(username) = body.operator.clone() else {
        let name = body
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| {
                if key.name.is_empty() {
                    key.site.clone()
                } else {
                    key.name.clone()
                }
            });
        twinline_core::model::check_field(&name).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("name: {error}"),
            )
        })?;
        return Ok(Author {
            role: Role::Operator,
            id: format!("api:{}", key.id),
            name,
        });
    };
    let account = site_operator(state, &key.site, &username).await?;
    Ok(Author {
        role: Role::Operator,
        id: account.username,
        name: account.name,
    })
}

/// The answer to a POST whose id is stored already: the stored message if
/// it is this request's, else a conflict.
fn replayed(earlier: &Message, author: &Author, text: &str) -> Result<Response, ApiError> {
    if earlier.author != *author || earlier.text != text {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_conflict",
            "this Idempotency-Key was used for another message",
        ));
    }
    let mut response = Json(MessageView::from(earlier)).into_response();
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

/// 409 `chat_closed`.
pub(super) fn chat_closed() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "chat_closed", "the chat is closed")
}

/// The account `username` if it serves `site`, or `unknown_operator`.
pub(super) async fn site_operator(
    state: &Shared,
    site: &str,
    username: &str,
) -> Result<crate::store::records::Account, ApiError> {
    let lookup = username.to_string();
    state
        .store
        .read(move |conn| reads::account(conn, &lookup))
        .await
        .map_err(ApiError::unavailable)?
        .filter(|a| !a.removed && a.serves(site))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_operator",
                format!("no operator {username:?} serves this site"),
            )
        })
}
