//! The console's history (issue 22): `GET /v1/operator/history` searches
//! the chats of the sites the operator serves, `GET
//! /v1/operator/history/{chat}` reads one whole (header, rating,
//! messages). Authenticated by the operator's session token, from the
//! console either deployment serves (the operator API's CORS), and
//! limited by [`crate::authz::Access::site_filter`]: an agent finds and
//! opens only chats of its own sites, every one of them (a team's
//! history, not only the chats it held); an admin every site's. A chat
//! outside the reach is `not_found`, as one that does not exist.
//!
//! The search itself is [`crate::store::search`]'s, the same the REST
//! API's `GET /v1/api/chats?q=` runs; both deployments answer a search
//! alike once they hold the same records, so a console that fails over
//! mid-search goes on with the same cursor at the other.

use crate::authz::Access;
use crate::http::{ApiError, bearer, operator_origin_allowed, operator_session};
use crate::state::Shared;
use crate::store::records::Account;
use crate::store::search::{self, Filters, Hit, SearchError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use twinline_core::{ChatId, Message};

/// A page of the console's history search.
#[derive(Debug, Serialize)]
pub struct HistoryPage {
    /// The chats found, greatest id (newest) first.
    pub items: Vec<Hit>,
    /// The cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One chat opened from history.
#[derive(Debug, Serialize)]
pub struct Transcript {
    /// Its header as the search lists it (the snippet empty).
    pub chat: Hit,
    /// Every message, in display order (Lamport clock, then id).
    pub messages: Vec<Message>,
}

/// The operator a request is from, or why not.
async fn operator(state: &Shared, headers: &HeaderMap) -> Result<Account, ApiError> {
    if !operator_origin_allowed(state, headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "operators read history from the console this deployment serves",
        ));
    }
    operator_session(state, bearer(headers)).await
}

/// `GET /v1/operator/history?q=&site=&visitor=&operator=&state=&date=&from=&to=&limit=&cursor=`
pub async fn search(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(filters): Query<Filters>,
) -> Result<Json<HistoryPage>, ApiError> {
    let account = operator(&state, &headers).await?;
    let access = Access::of(&account);
    let query = filters
        .query(access.site_filter())
        .map_err(|error| match error {
            SearchError::Cursor => crate::api::paging::bad_cursor(),
            SearchError::Bad(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            }
        })?;
    let page = state
        .store
        .read(move |conn| search::run(conn, &query))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(HistoryPage {
        items: page.items.iter().map(Hit::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /v1/operator/history/{chat}`
pub async fn chat(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(chat): Path<String>,
) -> Result<Json<Transcript>, ApiError> {
    let account = operator(&state, &headers).await?;
    let access = Access::of(&account);
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such chat");
    let id: ChatId = chat.parse().map_err(|_| not_found())?;
    let (header, messages) = state
        .store
        .read(move |conn| Ok((conn.chat(id)?, conn.messages(id)?)))
        .await
        .map_err(ApiError::unavailable)?;
    let header = header
        .filter(|chat| !chat.site.is_empty() && access.serves(&chat.site))
        .ok_or_else(not_found)?;
    let found = search::Found {
        chat: header,
        snippet: String::new(),
        message: None,
    };
    Ok(Json(Transcript {
        chat: Hit::from(&found),
        messages,
    }))
}
