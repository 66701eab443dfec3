//! Operator login: `POST /v1/operator/login` on the active deployment, then
//! on the other, and the answer kept in localStorage.
//!
//! Both deployments sign tokens the other accepts, so one login serves the
//! whole session: after a failover the session says `hello` to the other
//! relay with the same token, and a reload of the page starts from the
//! stored answer without asking for the password again (until it expires,
//! or a relay refuses it).
//!
//! The stored login is bound to the deployments it was issued for: their
//! base URLs are stored beside it, and a console configured with another
//! set drops it unused (the token works on any relay that shares the
//! secret, so it must never be offered to one this login was not for).

use crate::config::WidgetConfig;
use crate::js;
use crate::storage::Store;
use gloo_timers::callback::Timeout;
use serde::Deserialize;
use twinline_core::protocol::{
    ActiveDeployment, DeploymentRole, Fields, FromJson, JsonError, JsonView, LoginRequest,
    LoginResponse,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

/// Per deployment, how long to wait for a login answer, ms.
const LOGIN_TIMEOUT_MS: u32 = 5_000;
/// How long to wait for the moderator's opinion before trying anyway, ms.
const MODERATOR_TIMEOUT_MS: u32 = 1_500;
/// A stored login this close to expiry is not used, ms.
const EXPIRY_MARGIN_MS: u64 = 60_000;

/// Why a login failed.
#[derive(Debug)]
enum Failure {
    /// A relay answered and said no (bad credentials, rate limit): final.
    Refused(String),
    /// No usable answer (down, timeout, 5xx): try the other deployment.
    Unreachable(String),
}

/// The error body relays send.
#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    message: String,
}

impl FromJson for ApiError {
    fn from_json<V: JsonView>(value: &V) -> Result<ApiError, JsonError> {
        Ok(ApiError {
            message: Fields::of(value)?.or_default("message")?,
        })
    }
}

/// The storage key of the stored login.
pub fn key(store: &Store) -> String {
    format!("{}login", store.keys.prefix())
}

/// The storage key of the deployments the stored login was issued for.
pub fn bound_key(store: &Store) -> String {
    format!("{}login-for", store.keys.prefix())
}

/// The deployments of `config` as stored beside a login: their base URLs,
/// sorted, space-separated (a set: the console served by either
/// deployment names the same one).
pub fn deployments(config: &WidgetConfig) -> String {
    let (a, b) = (&config.primary.1, &config.redundant.1);
    match a.cmp(b) {
        std::cmp::Ordering::Less => format!("{a} {b}"),
        std::cmp::Ordering::Equal => a.clone(),
        std::cmp::Ordering::Greater => format!("{b} {a}"),
    }
}

/// The stored login, if it was issued for `config`'s deployments and is
/// still good for a while. One issued for others is forgotten.
pub fn stored(store: &Store, config: &WidgetConfig) -> Option<LoginResponse> {
    let text = store.get(&key(store))?;
    if store.get(&bound_key(store)) != Some(deployments(config)) {
        js::warn("forgot a stored login issued for other deployments; log in again");
        forget(store);
        return None;
    }
    let login: LoginResponse = js::from_json(&text).ok()?;
    (login.expires.0 > js::now().0 + EXPIRY_MARGIN_MS).then_some(login)
}

/// Forgets the stored login (log out).
pub fn forget(store: &Store) {
    store.remove(&key(store));
    store.remove(&bound_key(store));
}

/// Which deployment to ask first when no session says: the moderator's
/// active one if it answers quickly, else the primary.
pub async fn active_deployment(config: &WidgetConfig) -> DeploymentRole {
    let Some(moderator) = &config.moderator else {
        return DeploymentRole::Primary;
    };
    let url = format!("{moderator}/v1/active");
    match crate::net::json::<(), ActiveDeployment>(&url, None, MODERATOR_TIMEOUT_MS).await {
        Ok(active) if active.active == config.redundant.0 => DeploymentRole::Redundant,
        _ => DeploymentRole::Primary,
    }
}

/// Logs in on `first`, then on the other deployment if `first` does not
/// answer; stores and returns the answer.
pub async fn login(
    config: &WidgetConfig,
    store: &Store,
    first: DeploymentRole,
    username: &str,
    password: &str,
) -> Result<LoginResponse, String> {
    let request = LoginRequest {
        username: username.trim().to_string(),
        password: password.to_string(),
    };
    let mut unreachable = Vec::new();
    for role in [first, first.other()] {
        let (name, base) = match role {
            DeploymentRole::Primary => &config.primary,
            DeploymentRole::Redundant => &config.redundant,
        };
        if role != first && base == base_of(config, first) {
            break; // one deployment configured twice: nothing else to try
        }
        match post(&format!("{base}/v1/operator/login"), &request).await {
            Ok(login) => {
                let kept = js::to_json(&login).is_ok_and(|text| {
                    store.set(&bound_key(store), &deployments(config))
                        && store.set(&key(store), &text)
                });
                if !kept {
                    js::warn("localStorage refused the login; a reload will ask again");
                }
                return Ok(login);
            }
            Err(Failure::Refused(message)) => return Err(message),
            Err(Failure::Unreachable(error)) => unreachable.push(format!("{name}: {error}")),
        }
    }
    Err(format!(
        "no deployment answers ({}); try again in a moment",
        unreachable.join("; ")
    ))
}

fn base_of(config: &WidgetConfig, role: DeploymentRole) -> &String {
    match role {
        DeploymentRole::Primary => &config.primary.1,
        DeploymentRole::Redundant => &config.redundant.1,
    }
}

/// POSTs the login as JSON, with a deadline.
async fn post(url: &str, request: &LoginRequest) -> Result<LoginResponse, Failure> {
    let unreachable = |what: &str| Failure::Unreachable(what.to_string());
    let window = web_sys::window().ok_or_else(|| unreachable("no window"))?;
    let controller = AbortController::new().map_err(|_| unreachable("no AbortController"))?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_signal(Some(&controller.signal()));
    init.set_cache(web_sys::RequestCache::NoStore);
    let headers = web_sys::Headers::new().map_err(|_| unreachable("no Headers"))?;
    let _ = headers.set("content-type", "application/json");
    init.set_headers(&headers);
    init.set_body(&js::to_json(request).map_err(Failure::Unreachable)?.into());
    let request = Request::new_with_str_and_init(url, &init)
        .map_err(|_| Failure::Unreachable(format!("bad URL {url}")))?;
    let _deadline = Timeout::new(LOGIN_TIMEOUT_MS, move || controller.abort());
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| unreachable("no answer"))?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(|_| unreachable("unreadable"))?)
        .await
        .map_err(|_| unreachable("answer cut off"))?
        .as_string()
        .unwrap_or_default();
    let status = response.status();
    if response.ok() {
        return js::from_json(&text).map_err(Failure::Unreachable);
    }
    let message = js::from_json::<ApiError>(&text)
        .map(|e| e.message)
        .unwrap_or_default();
    match status {
        400..=499 => Err(Failure::Refused(if message.is_empty() {
            format!("refused (HTTP {status})")
        } else {
            message
        })),
        _ => Err(Failure::Unreachable(format!("HTTP {status} {message}"))),
    }
}
