//! The HTTP endpoints beside the WebSocket: health, visitor tokens, operator
//! login, admin drain and metrics. Errors are JSON `{"error": code,
//! "message": text}` with a fitting status.

use crate::accounts::verify_password;
use crate::net::ClientIp;
use crate::net::refusal::with_retry_after;
use crate::state::Shared;
use crate::store::reads;
use crate::tokens::{Claim, OPERATOR_TOKEN_LIFETIME, VISITOR_TOKEN_LIFETIME};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use twinline_core::protocol::{
    Health, LoginRequest, LoginResponse, ServerFrame, VisitorTokenRequest, VisitorTokenResponse,
};
use twinline_core::{ChatId, Millis, VisitorId};

/// A refusal with a stable code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            message: &'a str,
        }
        (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
            }),
        )
            .into_response()
    }
}

/// `GET /v1/health`
pub async fn health(State(state): State<Shared>) -> Response {
    let health: Health = state.health();
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(health)).into_response()
}

/// `GET /metrics`
pub async fn metrics(State(state): State<Shared>) -> Response {
    let text = state.metrics.render(&state.config.name, &state.gauges());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The request's Origin header, if any.
pub fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .map(|origin| origin.trim_end_matches('/'))
}

/// Whether the Origin is this relay itself (a page it served, such as the
/// console): its host:port equals the request's Host.
pub fn is_same_origin(headers: &HeaderMap, origin: &str) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((host, origin_host), (Some(host), Some(origin_host)) if host == origin_host)
}

/// Whether an Origin may use the operator side: this relay, or its peer
/// (the console loaded from the other deployment before a failover).
pub fn operator_origin_allowed(state: &Shared, headers: &HeaderMap) -> bool {
    match origin_of(headers) {
        None => true,
        Some(origin) => {
            is_same_origin(headers, origin) || state.config.peer_origin() == Some(origin)
        }
    }
}

/// `POST /v1/visitor/token`: a new visitor and chat, or the caller's own
/// still-valid token back (renewed when it is close to expiry).
///
/// Rate keys: a request with a valid token is a returning visitor, charged
/// to that visitor; one without is a new visitor, charged to the client
/// address (with a burst sized for many visitors behind one NAT); both to
/// the relay's global ceiling (see `limits`).
pub async fn visitor_token(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(request): Json<VisitorTokenRequest>,
) -> Result<Json<VisitorTokenResponse>, Response> {
    if !state.config.sites.contains_key(&request.site) {
        return Err(api_error(
            StatusCode::NOT_FOUND,
            "unknown_site",
            format!(
                "no site {:?} is configured on this deployment",
                request.site
            ),
        ));
    }
    if let Some(origin) = origin_of(&headers)
        && !state.config.site_allows(&request.site, origin)
        && !is_same_origin(&headers, origin)
    {
        state.metrics.origin_refused.fetch_add(1, Relaxed);
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("origin {origin} may not embed site {:?}", request.site),
        ));
    }
    let now = crate::clock::now();
    let returning =
        request
            .token
            .as_deref()
            .and_then(|token| match state.signer.verify(token, now) {
                Ok(Claim::Visitor {
                    site,
                    visitor,
                    chat,
                    exp,
                }) if site == request.site => Some((token.to_string(), site, visitor, chat, exp)),
                _ => None,
            });
    let charged = match &returning {
        Some((_, _, visitor, _, _)) => state.rates.by_visitor(*visitor, Instant::now()),
        None => state.rates.by_address(ip, Instant::now()),
    };
    if let Err(limited) = charged {
        state.metrics.rate_limited.fetch_add(1, Relaxed);
        let refusal = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many token requests for this {}; retry shortly",
                limited.scope
            ),
        );
        return Err(with_retry_after(
            refusal.into_response(),
            limited.retry_after_secs,
        ));
    }
    if let Some((token, site, visitor, chat, exp)) = returning {
        let renew_after = Millis(exp.0.saturating_sub(VISITOR_TOKEN_LIFETIME.0 / 4));
        if now < renew_after {
            return Ok(Json(VisitorTokenResponse {
                token,
                visitor,
                chat,
                expires: exp,
            }));
        }
        return Ok(Json(mint_visitor(&state, site, visitor, chat, now)));
    }
    let visitor = VisitorId::new(now, rand::random());
    let chat = ChatId::new(now, rand::random());
    Ok(Json(mint_visitor(&state, request.site, visitor, chat, now)))
}

fn mint_visitor(
    state: &Shared,
    site: String,
    visitor: VisitorId,
    chat: ChatId,
    now: Millis,
) -> VisitorTokenResponse {
    let exp = now.plus(VISITOR_TOKEN_LIFETIME.0);
    let token = state.signer.sign(&Claim::Visitor {
        site,
        visitor,
        chat,
        exp,
    });
    VisitorTokenResponse {
        token,
        visitor,
        chat,
        expires: exp,
    }
}

fn api_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// `POST /v1/operator/login`
pub async fn operator_login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if !operator_origin_allowed(&state, &headers) {
        state.metrics.origin_refused.fetch_add(1, Relaxed);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "operators log in from the console this deployment serves",
        ));
    }
    if !state.ip_limiter.allow(peer.ip()) {
        state.metrics.rate_limited.fetch_add(1, Relaxed);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many attempts from this address; retry in a few seconds",
        ));
    }
    let username = request.username.trim().to_string();
    let lookup = username.clone();
    let account = state
        .store
        .read(move |conn| reads::account(conn, &lookup))
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                error.to_string(),
            )
        })?;
    let password = request.password;
    let verified = tokio::task::spawn_blocking(move || {
        account.filter(|account| verify_password(account, &password))
    })
    .await
    .ok()
    .flatten();
    let Some(account) = verified else {
        tracing::info!(%username, "operator login refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "unknown username or wrong password",
        ));
    };
    let expires = crate::clock::now().plus(OPERATOR_TOKEN_LIFETIME.0);
    let token = state.signer.sign(&Claim::Operator {
        username: account.username.clone(),
        name: account.name.clone(),
        exp: expires,
    });
    tracing::info!(username = %account.username, "operator logged in");
    Ok(Json(LoginResponse {
        token,
        username: account.username,
        name: account.name,
        expires,
    }))
}

/// Checks `Authorization: Bearer <admin token>` in constant time.
pub fn require_admin(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), state.config.admin_token.as_bytes()) {
        Ok(())
    } else {
        tracing::warn!("admin request with a wrong or missing token");
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "a valid admin bearer token is required",
        ))
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Body of `POST /v1/admin/drain`.
#[derive(Debug, Default, Deserialize)]
pub struct DrainRequest {
    /// Where clients should go; defaults to the peer.
    #[serde(default)]
    pub to: Option<String>,
}

/// Answer of the drain endpoints.
#[derive(Debug, Serialize)]
pub struct DrainStatus {
    /// Whether a drain is on.
    pub draining: bool,
    /// Where clients are sent.
    pub to: Option<String>,
    /// Clients still connected here.
    pub clients: usize,
}

fn drain_status(state: &Shared) -> DrainStatus {
    DrainStatus {
        draining: state.drain_target().is_some(),
        to: state.drain_target(),
        clients: state.hub.connection_count(),
    }
}

/// `POST /v1/admin/drain`: tell every client to migrate.
pub async fn drain(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<DrainRequest>>,
) -> Result<Json<DrainStatus>, ApiError> {
    require_admin(&state, &headers)?;
    let request = body.map(|Json(body)| body).unwrap_or_default();
    let Some(to) = request
        .to
        .or_else(|| state.config.peer.as_ref().map(|peer| peer.name.clone()))
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_peer",
            "no peer deployment is configured to drain to",
        ));
    };
    state.set_drain_target(Some(to.clone()));
    let told = state.hub.publish_all(&ServerFrame::Migrate {
        to: to.clone(),
        reason: "maintenance".into(),
    });
    tracing::info!(%to, clients = told, "draining: clients told to migrate");
    Ok(Json(drain_status(&state)))
}

/// `GET /v1/admin/drain`: how many clients are left.
pub async fn drain_progress(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<DrainStatus>, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(drain_status(&state)))
}

/// `POST /v1/admin/undrain`: accept clients normally again.
pub async fn undrain(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<DrainStatus>, ApiError> {
    require_admin(&state, &headers)?;
    state.set_drain_target(None);
    tracing::info!("drain ended");
    Ok(Json(drain_status(&state)))
}
