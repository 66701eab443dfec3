//! A visitor's data by visitor id: `GET /v1/api/sites/{site}/visitors/{visitor}/export`
//! and `DELETE /v1/api/sites/{site}/visitors/{visitor}` (the erasure). Scope
//! `data:manage` for both: they reach all of a visitor's personal data, and an
//! erasure cannot be undone, so a key that reads chats for a CRM cannot do
//! either unless it is given that scope on purpose.
//!
//! The site in the path must be the key's (another site is `not_found`, as
//! if it did not exist), so a URL says whose data it is.

use super::auth::caller;
use crate::erasure::{self, ErasureError, Export, Subject};
use crate::http::ApiError;
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::api_keys::{ApiKey, Scope};
use crate::store::erasures::{Erasure, Reason};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use std::net::IpAddr;
use twinline_core::VisitorId;

/// The key of a `data:manage` request on `site`, or the refusal.
pub(super) async fn data_caller(
    state: &Shared,
    headers: &HeaderMap,
    ip: IpAddr,
    site: &str,
) -> Result<ApiKey, ApiError> {
    let key = caller(state, headers, ip, Scope::DataManage).await?;
    if key.site != site {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such site for this API key",
        ));
    }
    Ok(key)
}

fn visitor_id(text: &str) -> Result<VisitorId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_visitor",
            "a visitor id is 26 characters of Crockford base32",
        )
    })
}

/// The refusal for an erasure that could not be made.
pub(super) fn erasure_error(error: ErasureError) -> ApiError {
    match error {
        ErasureError::Store(error) => ApiError::unavailable(error),
        ErasureError::TooMany(_) => {
            ApiError::new(StatusCode::CONFLICT, "too_many_rows", error.to_string())
        }
        ErasureError::Empty(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
        }
        ErasureError::Refused(_) => ApiError::unavailable(error),
    }
}

/// Everything this deployment holds of the visitor: chats with messages,
/// ratings and visitor details, and the erasures of that visitor id.
pub async fn export(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, visitor)): Path<(String, String)>,
) -> Result<Json<Export>, ApiError> {
    data_caller(&state, &headers, ip, &site).await?;
    let subject = Subject::Visitor(visitor_id(&visitor)?);
    let export = erasure::export(&state.store, &site, &subject)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(export))
}

/// Erases the visitor on both deployments; answers the erasure. Erasing
/// again is harmless (the second finds nothing left), so a retry needs no
/// idempotency key: `DELETE` is idempotent as HTTP means it.
pub async fn erase(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((site, visitor)): Path<(String, String)>,
) -> Result<Json<Erasure>, ApiError> {
    data_caller(&state, &headers, ip, &site).await?;
    let subject = Subject::Visitor(visitor_id(&visitor)?);
    erase_subject(&state, &site, &subject).await
}

/// Erases `subject` as this deployment and tells the connected clients.
pub(super) async fn erase_subject(
    state: &Shared,
    site: &str,
    subject: &Subject,
) -> Result<Json<Erasure>, ApiError> {
    let erased = erasure::erase(
        &state.store,
        &state.config.name,
        site,
        subject,
        Reason::Request,
    )
    .await
    .map_err(erasure_error)?;
    tracing::info!(
        erasure = %erased.id,
        site,
        chats = erased.chats.len(),
        notes = erased.notes.len(),
        "visitor data erased (API)"
    );
    crate::erasure::announce(state, &erased).await;
    Ok(Json(erased))
}
