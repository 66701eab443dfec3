//! `GET /v1/api/chats` (and its history search, `?q=`), `GET /v1/api/chats/{chat}`,
//! `POST /v1/api/chats/{chat}/close`.

use super::auth::caller;
use super::paging;
use super::views::{ChatView, Page};
use crate::catchup::{chat_record, write_chat};
use crate::http::ApiError;
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::api_keys::Scope;
use crate::store::records::{Applied, ChatRecord, Record};
use crate::store::search;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use twinline_core::{ChatId, ChatState, ChatStatus};

/// The chat `id` of `site`, or `not_found` (also for another site's).
pub(super) async fn site_chat(
    state: &Shared,
    site: &str,
    id: &str,
) -> Result<ChatRecord, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such chat");
    let chat: ChatId = id.parse().map_err(|_| not_found())?;
    chat_record(state, chat)
        .await
        .map_err(ApiError::unavailable)?
        .filter(|record| record.site == site)
        .ok_or_else(not_found)
}

fn state_filter(asked: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match asked {
        None => Ok(None),
        Some("waiting") => Ok(Some("waiting")),
        Some("active") => Ok(Some("active")),
        Some("closed") => Ok(Some("closed")),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("state is {other:?}; it must be waiting, active or closed"),
        )),
    }
}

/// The query of `GET /v1/api/chats`: a page (`limit`, `cursor`, `state`),
/// and the history search's filters (`q`, `visitor`, `operator`, `date`,
/// `from`, `to`; [`crate::store::search`]).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    /// Items wanted.
    pub limit: Option<usize>,
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// waiting, active, closed (or, searching, open).
    pub state: Option<String>,
    /// Words one message of the chat holds, each as a prefix.
    pub q: Option<String>,
    /// A visitor id, pre-chat email or part of a pre-chat name.
    pub visitor: Option<String>,
    /// The operator holding or last holding the chat.
    pub operator: Option<String>,
    /// started (default) or closed: what `from` and `to` bound.
    pub date: Option<String>,
    /// From this time, ms since the epoch.
    pub from: Option<u64>,
    /// Before this time, ms since the epoch.
    pub to: Option<u64>,
}

impl ListQuery {
    /// Whether this asks for a search rather than the plain list.
    fn searches(&self) -> bool {
        self.q.is_some()
            || self.visitor.is_some()
            || self.operator.is_some()
            || self.date.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || self.state.as_deref() == Some("open")
    }
}

/// The key's site's chats, greatest id (newest) first; with `q=` (or any
/// other search filter) the history search over them, each item with the
/// snippet of the message its words are in. Scope `chats:read`.
pub async fn list(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page<ChatView>>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::ChatsRead).await?;
    if query.searches() {
        return search(&state, &key.site, query).await;
    }
    let limit = paging::limit(query.limit)?;
    let before: Option<ChatId> = paging::cursor(query.cursor.as_deref())?;
    let filter = state_filter(query.state.as_deref())?;
    let site = key.site.clone();
    let chats = state
        .store
        .read(move |conn| conn.site_chats(&site, filter, before, limit))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(Page {
        next_cursor: paging::next_cursor(&chats, limit, |c| c.id.to_string()),
        items: chats.iter().map(ChatView::from).collect(),
    }))
}

/// The history search over `site`'s chats, as the list's page.
async fn search(
    state: &Shared,
    site: &str,
    query: ListQuery,
) -> Result<Json<Page<ChatView>>, ApiError> {
    let filters = search::Filters {
        q: query.q,
        site: None,
        visitor: query.visitor,
        operator: query.operator,
        state: query.state,
        date: query.date,
        from: query.from,
        to: query.to,
        limit: query.limit,
        cursor: query.cursor,
    };
    let reach = [site.to_string()];
    let checked = filters.query(Some(&reach)).map_err(|error| match error {
        search::SearchError::Cursor => paging::bad_cursor(),
        search::SearchError::Bad(message) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
        }
    })?;
    let page = state
        .store
        .read(move |conn| search::run(conn, &checked))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(Page {
        next_cursor: page.next_cursor,
        items: page.items.iter().map(ChatView::found).collect(),
    }))
}

/// One chat. Scope `chats:read`.
pub async fn get_one(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(chat): Path<String>,
) -> Result<Json<ChatView>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::ChatsRead).await?;
    let record = site_chat(&state, &key.site, &chat).await?;
    Ok(Json(ChatView::from(&record)))
}

/// Closes a chat (a closed one stays as it is: closing is idempotent by
/// nature, so `Idempotency-Key` is accepted and changes nothing). Its
/// visitor and the consoles are told at once. Scope `messages:write`.
pub async fn close(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(chat): Path<String>,
) -> Result<Json<ChatView>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::MessagesWrite).await?;
    super::idempotency::key(&headers)?;
    let mut record = site_chat(&state, &key.site, &chat).await?;
    if record.status.state == ChatState::Closed {
        return Ok(Json(ChatView::from(&record)));
    }
    record.status = ChatStatus {
        state: ChatState::Closed,
        operator: record.status.operator.clone(),
        stamp: state.stamp_over(record.status.stamp),
    };
    let merged = store_status(&state, record).await?;
    tracing::info!(chat = %merged.id, key = %key.id, "chat closed through the API");
    Ok(Json(ChatView::from(&merged)))
}

/// Body of `POST /v1/api/chats/{chat}/transfer`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The operator to hand the chat to (an account serving the site).
    pub to: String,
}

/// Hands a chat to an operator of the site (a waiting chat is assigned,
/// an active one moves); the operator's consoles get it at once, here and
/// at the peer, as after an operator's own transfer. Transferring to the
/// holder again changes nothing. Scope `messages:write`.
pub async fn transfer(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(chat): Path<String>,
    crate::http::ApiJson(body): crate::http::ApiJson<Transfer>,
) -> Result<Json<ChatView>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::MessagesWrite).await?;
    super::idempotency::key(&headers)?;
    let mut record = site_chat(&state, &key.site, &chat).await?;
    let target = super::messages::site_operator(&state, &key.site, &body.to).await?;
    if record.status.state == ChatState::Closed {
        return Err(super::messages::chat_closed());
    }
    if record.status.state == ChatState::Active
        && record.status.operator.as_deref() == Some(target.username.as_str())
    {
        return Ok(Json(ChatView::from(&record)));
    }
    record.status = ChatStatus {
        state: ChatState::Active,
        operator: Some(target.username.clone()),
        stamp: state.stamp_over(record.status.stamp),
    };
    let merged = store_status(&state, record).await?;
    tracing::info!(chat = %merged.id, to = %target.username, key = %key.id, "chat transferred through the API");
    Ok(Json(ChatView::from(&merged)))
}

/// Writes a header whose status changed and tells whoever follows the
/// chat, here and on the deployment's other nodes, as a replicated change
/// is told: the visitor, the consoles, the queue, a new holder's consoles.
async fn store_status(state: &Shared, record: ChatRecord) -> Result<ChatRecord, ApiError> {
    let merged = write_chat(state, record)
        .await
        .map_err(|error| match error {
            // Erased since it was read: as if it did not exist.
            crate::store::StoreError::Erased(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such chat")
            }
            error => ApiError::unavailable(error),
        })?;
    crate::replication::puller::fan_out(
        state,
        vec![Applied {
            changed: true,
            record: Record::Chat(merged.clone()),
            refused: None,
            chat_state: None,
        }],
    )
    .await;
    Ok(merged)
}
