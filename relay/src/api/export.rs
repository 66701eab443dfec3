//! A visitor's data by email: `GET /v1/api/sites/{site}/export?email=` and
//! `DELETE /v1/api/sites/{site}/data?email=` (offline notes carry an email,
//! and so does a pre-chat form). Scope `data:manage`, as for the routes by
//! visitor id ([`super::visitors`]). And the retention's dry run,
//! `GET /v1/api/sites/{site}/retention`.

use super::visitors::{data_caller, erase_subject};
use crate::erasure::retention::{self, DryRun};
use crate::erasure::{self, Export, Subject};
use crate::http::ApiError;
use crate::net::ClientIp;
use crate::state::Shared;
use crate::store::erasures::Erasure;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// `?email=`
#[derive(Debug, Deserialize)]
pub struct EmailQuery {
    /// Compared case-blind. Optional here so that a request without it is
    /// answered after the key and scope are checked.
    pub email: Option<String>,
}

fn email(query: EmailQuery) -> Result<Subject, ApiError> {
    match query.email {
        Some(email) if !email.trim().is_empty() => Ok(Subject::Email(email)),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "?email= is required",
        )),
    }
}

/// The chats (by pre-chat email) and notes left with the email, and its
/// erasures.
pub async fn by_email(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(site): Path<String>,
    Query(query): Query<EmailQuery>,
) -> Result<Json<Export>, ApiError> {
    data_caller(&state, &headers, ip, &site).await?;
    let subject = email(query)?;
    let export = erasure::export(&state.store, &site, &subject)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(export))
}

/// What the site's retention period would erase now (a count; nothing is
/// erased). `days` is null for a site without one.
pub async fn retention(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(site): Path<String>,
) -> Result<Json<DryRun>, ApiError> {
    data_caller(&state, &headers, ip, &site).await?;
    let days = state.config.retention.get(&site).copied();
    let now = crate::clock::now();
    let counted = state
        .store
        .read(move |conn| retention::dry_run(conn, &site, days, now))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(counted))
}

/// Erases what the email covers on both deployments; answers the erasure.
pub async fn erase_by_email(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(site): Path<String>,
    Query(query): Query<EmailQuery>,
) -> Result<Json<Erasure>, ApiError> {
    data_caller(&state, &headers, ip, &site).await?;
    let subject = email(query)?;
    erase_subject(&state, &site, &subject).await
}
