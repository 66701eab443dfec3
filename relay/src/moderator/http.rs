//! The moderator's HTTP API: `GET /v1/active` and `GET /v1/status` (cached
//! bytes, CORS for the configured origins) and `POST /v1/admin/active`
//! (bearer admin token, compared in constant time, wrong ones throttled per
//! client address exactly as on the relays: [`crate::http::check_admin`]).
//! Errors are JSON `{"error": code, "message": text}` as on the relays.

use super::state::ModeratorState;
use crate::http::{ApiError, check_admin};
use crate::net::ClientIp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use twinline_core::moderation::{Command, ModerationError};

/// Shared by every handler.
pub type Shared = Arc<ModeratorState>;

fn json_response(body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET /v1/active`
pub async fn active(State(state): State<Shared>) -> Response {
    json_response(state.answers().active)
}

/// `GET /v1/status`
pub async fn status(State(state): State<Shared>) -> Response {
    json_response(state.answers().status)
}

/// Body of `POST /v1/admin/active`: `{"active": "NAME", "hold": true}` or
/// `{"release": true}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminActiveRequest {
    /// Deployment to make active.
    #[serde(default)]
    pub active: Option<String>,
    /// Keep it until released (default true).
    #[serde(default)]
    pub hold: Option<bool>,
    /// End a hold.
    #[serde(default)]
    pub release: bool,
}

impl AdminActiveRequest {
    fn command(self) -> Result<Command, ApiError> {
        match (self.active, self.release) {
            (Some(to), false) => Ok(Command::Switch {
                to,
                hold: self.hold.unwrap_or(true),
            }),
            (None, true) if self.hold.is_none() => Ok(Command::Release),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                r#"send {"active": "NAME", "hold": true} or {"release": true}"#,
            )),
        }
    }
}

/// `POST /v1/admin/active`: switch (and hold) or release; answers with the
/// resulting `/v1/active` body.
pub async fn admin_active(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_admin(&state.admin_throttle, &state.admin_token, &headers, ip)?;
    let request: AdminActiveRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("not a valid request body: {error}"),
        )
    })?;
    let command = request.command()?;
    tracing::info!(?command, "administrator request");
    let answer = state.update(|machine, now| {
        machine
            .handle_command(now, command)
            .map(|()| machine.active())
    });
    match answer {
        Ok(active) => Ok(json_response(Bytes::from(
            serde_json::to_vec(&active).unwrap_or_default(),
        ))),
        Err(error @ ModerationError::UnknownDeployment(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_deployment",
            error.to_string(),
        )),
        Err(error @ ModerationError::NotUp(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_up",
            error.to_string(),
        )),
    }
}
