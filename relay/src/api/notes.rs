//! `GET /v1/api/notes`: the site's offline notes, newest first.

use super::auth::caller;
use super::paging::{self, PageQuery};
use super::views::{NoteView, Page};
use crate::http::ApiError;
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::api_keys::Scope;
use crate::store::reads;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};

/// The newest notes of the key's site (`limit` of them; no cursor yet).
/// Scope `chats:read`.
pub async fn list(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<NoteView>>, ApiError> {
    let key = caller(&state, &headers, ip, Scope::ChatsRead).await?;
    let limit = paging::limit(query.limit)?;
    if query.cursor.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_cursor",
            "notes are listed newest first without a cursor",
        ));
    }
    let sites = vec![key.site.clone()];
    let notes = state
        .store
        .read(move |conn| reads::notes(conn, limit, Some(&sites)))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(Page {
        items: notes.iter().map(NoteView::from).collect(),
        next_cursor: None,
    }))
}
