//! The HTTP endpoints beside the WebSocket: health, visitor tokens, operator
//! login and logout, admin drain and metrics.
//!
//! Every refusal is JSON `{"error": code, "message": text}` with a fitting
//! status and a stable code (docs/PROTOCOL.md, "HTTP errors"): handlers
//! answer with [`ApiError`], bodies are read through [`ApiJson`] (whose
//! rejections, bad JSON, a wrong content type or a body too large, become
//! `ApiError`s), and [`json_refusals`] turns whatever else refuses (axum's
//! own 404 and 405, other extractors' rejections) into the same shape.
//!
//! Login is throttled per account and per address before any password is
//! checked ([`crate::throttle`]), and checks go through the
//! [`crate::accounts::PasswordGate`]; wrong admin tokens are throttled per
//! address.

use crate::accounts::{GateError, signed_out};
use crate::net::ClientIp;
use crate::net::admission::AddrKey;
use crate::state::Shared;
use crate::store::reads;
use crate::store::records::{Account, Record};
use crate::throttle::AdminThrottle;
use crate::tokens::{Claim, OPERATOR_TOKEN_LIFETIME, VISITOR_TOKEN_LIFETIME};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
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
    retry_after: Option<Duration>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Tells the client when to try again (`Retry-After`, whole seconds).
    pub fn retry_after(mut self, wait: Duration) -> ApiError {
        self.retry_after = Some(wait);
        self
    }

    /// 503 `unavailable`: the store failed; nothing was written.
    pub fn unavailable(error: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            error.to_string(),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The stable code for a refusal that only has a status (axum's own).
pub fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "bad_token",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_client_error() => "bad_request",
        _ => "internal",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            message: &'a str,
        }
        let mut response = (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        if let Some(wait) = self.retry_after {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        // JSON of the wrong shape is a bad request like JSON that does not
        // parse (axum says 422): one documented code for both.
        let status = match rejection.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            status => status,
        };
        ApiError::new(status, code_for(status), rejection.body_text())
    }
}

/// A JSON request body whose rejections are [`ApiError`]s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Refusals that did not come from a handler (axum's 404 and 405, other
/// extractors' rejections, a static file not found) get the JSON body too:
/// a response layer, so none can be missed. The refusal keeps the headers
/// that say when to try again (`Retry-After`, `Allow`) and whether it may
/// be kept (`Cache-Control`: a missing static file is `no-store`).
pub async fn json_refusals(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase()
    } else {
        text
    };
    let mut json = ApiError::new(status, code_for(status), message).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW, header::CACHE_CONTROL] {
        if let Some(value) = parts.headers.get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    json
}

/// `GET /v1/health`: the deployment's health; `GET /v1/health?node` this
/// node's, for a load balancer (see [`AppState::node_health`]).
///
/// [`AppState::node_health`]: crate::state::AppState::node_health
pub async fn health(
    State(state): State<Shared>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let node = query.as_deref().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "node" || pair.starts_with("node="))
    });
    let health: Health = if node {
        state.node_health()
    } else {
        state.health()
    };
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthBody {
        health,
        store: state.store.stats().health(),
        peer_clock_offset_ms: state.replication.peer_clock_offset_ms(),
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The `/v1/health` body: the [`Health`] clients and the moderator decode
/// (they ignore the rest), and what an operator looking at a deployment
/// wants to know besides.
#[derive(Serialize)]
struct HealthBody {
    #[serde(flatten)]
    health: Health,
    /// Why the store is or is not ready.
    store: crate::store::StoreHealth,
    /// The peer's clock minus this relay's, once measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_clock_offset_ms: Option<i64>,
}

/// `GET /metrics`: with the metrics token if one is configured, else (or
/// also) the admin token.
pub async fn metrics(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let metrics_token = state.config.metrics_token.as_deref();
    if metrics_token.is_none_or(|token| !bearer_is(&headers, token)) {
        require_admin(&state, &headers, ip)?;
    }
    let text = state.metrics.render(&state.config.name, &state.gauges());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
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
    ApiJson(request): ApiJson<VisitorTokenRequest>,
) -> Result<Json<VisitorTokenResponse>, ApiError> {
    if !state.config.sites.contains_key(&request.site) {
        return Err(ApiError::new(
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
        return Err(ApiError::new(
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
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many token requests for this {}; retry shortly",
                limited.scope
            ),
        )
        .retry_after(Duration::from_secs(limited.retry_after_secs)));
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

/// Refuses an operator request from a foreign origin.
fn require_operator_origin(state: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    if operator_origin_allowed(state, headers) {
        return Ok(());
    }
    state.metrics.origin_refused.fetch_add(1, Relaxed);
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "operators sign in from the console this deployment serves",
    ))
}

/// The key a username is throttled by (bounded in size: anything longer
/// than a username can be is no account anyway).
fn account_key(username: &str) -> String {
    username
        .chars()
        .take(crate::accounts::MAX_USERNAME_CHARS + 1)
        .collect()
}

/// `POST /v1/operator/login`
pub async fn operator_login(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    require_operator_origin(&state, &headers)?;
    if !state.ip_limiter.allow(ip) {
        state.metrics.rate_limited.fetch_add(1, Relaxed);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many attempts from this address; retry in a few seconds",
        )
        .retry_after(Duration::from_secs(1)));
    }
    let username = request.username.trim().to_string();
    let key = account_key(&username);
    let address = AddrKey::of(ip);
    let now = Instant::now();
    let throttled = state
        .login_throttle
        .check(&key, address, now)
        .map_err(|wait| {
            state.metrics.login_throttled.fetch_add(1, Relaxed);
            tracing::warn!(%username, %address, "operator login throttled");
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed sign-ins for this account or from this address; retry later",
            )
            .retry_after(wait)
        });
    throttled?;
    let verified = state
        .password_gate
        .check(&state.store, username.clone(), request.password)
        .await
        .map_err(|error| match error {
            GateError::Full => {
                state.metrics.login_throttled.fetch_add(1, Relaxed);
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "too many sign-ins at once; retry in a moment",
                )
                .retry_after(Duration::from_secs(1))
            }
            GateError::Store(error) => ApiError::unavailable(error),
        })?;
    let account = match verified {
        Some(account) => account,
        None => {
            state.login_throttle.fail(key, address, Instant::now());
            tracing::info!(%username, %address, "operator login refused");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "unknown username or wrong password",
            ));
        }
    };
    let expires = crate::clock::now().plus(OPERATOR_TOKEN_LIFETIME.0);
    let token = state.signer.sign(&Claim::Operator {
        username: account.username.clone(),
        name: account.name.clone(),
        exp: expires,
        ver: account.version,
    });
    tracing::info!(username = %account.username, "operator logged in");
    Ok(Json(LoginResponse {
        token,
        username: account.username,
        name: account.name,
        expires,
    }))
}

/// The account an operator token stands for, if the session still holds:
/// signature and expiry, then the account (not removed, same version).
pub async fn operator_session(state: &Shared, token: &str) -> Result<Account, ApiError> {
    let refused =
        |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "bad_token", message.to_string());
    let Ok(Claim::Operator { username, ver, .. }) = state.signer.verify(token, crate::clock::now())
    else {
        return Err(refused("a valid operator session token is required"));
    };
    let account = state
        .store
        .read(move |conn| reads::account(conn, &username))
        .await
        .map_err(ApiError::unavailable)?;
    match account {
        Some(account) if !account.removed && account.version == ver => Ok(account),
        _ => Err(refused(
            "this session has ended (signed out, password changed or account removed)",
        )),
    }
}

/// `POST /v1/operator/logout` (`Authorization: Bearer <session token>`):
/// ends every session of the account, on both deployments (the account's
/// new version replicates; sessions connected here close at once, those at
/// the peer when the change arrives there).
pub async fn operator_logout(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_operator_origin(&state, &headers)?;
    let account = operator_session(&state, bearer(&headers)).await?;
    let next = signed_out(&account, crate::clock::now(), rand::random());
    let username = next.username.clone();
    state
        .store
        .apply(Record::Account(next), &state.config.name)
        .await
        .map_err(ApiError::unavailable)?;
    crate::sessions::end_revoked(&state, &username).await;
    tracing::info!(%username, "operator signed out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

/// The bearer token of a request ("" if there is none).
pub fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// Whether the request's bearer token is `expected` (constant time).
fn bearer_is(headers: &HeaderMap, expected: &str) -> bool {
    constant_time_eq(bearer(headers).as_bytes(), expected.as_bytes())
}

/// Checks `Authorization: Bearer <admin token>` in constant time; wrong
/// tokens are throttled per address (then even the right one waits).
pub fn require_admin(state: &Shared, headers: &HeaderMap, ip: IpAddr) -> Result<(), ApiError> {
    check_admin(
        &state.admin_throttle,
        &state.config.admin_token,
        headers,
        ip,
    )
}

/// The admin check the relay and the moderator share: the bearer token is
/// `expected` (constant time), and the client address `ip` has not sent
/// too many wrong ones ([`AdminThrottle`]: while it is throttled, even the
/// right token waits, so guessing gains nothing).
pub fn check_admin(
    throttle: &AdminThrottle,
    expected: &str,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let address = AddrKey::of(ip);
    let now = Instant::now();
    if let Err(wait) = throttle.check(address, now) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many wrong admin tokens from this address; retry later",
        )
        .retry_after(wait));
    }
    if bearer_is(headers, expected) {
        Ok(())
    } else {
        throttle.fail(address, now);
        tracing::warn!(%address, "admin request with a wrong or missing token");
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
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<DrainStatus>, ApiError> {
    require_admin(&state, &headers, ip)?;
    // The body is optional: none means "to the peer".
    let request: DrainRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DrainRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", error.to_string())
        })?
    };
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

/// `GET /v1/admin/drain`: how many clients are left; renews the drain
/// (see [`crate::drain`]).
pub async fn drain_progress(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Json<DrainStatus>, ApiError> {
    require_admin(&state, &headers, ip)?;
    state.renew_drain();
    Ok(Json(drain_status(&state)))
}

/// `POST /v1/admin/undrain`: accept clients normally again.
pub async fn undrain(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Json<DrainStatus>, ApiError> {
    require_admin(&state, &headers, ip)?;
    state.set_drain_target(None);
    tracing::info!("drain ended");
    Ok(Json(drain_status(&state)))
}
