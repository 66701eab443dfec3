//! Operator login: `POST /v1/operator/login` on the active deployment, then
//! on the other, and the answer kept in localStorage; and logout,
//! `POST /v1/operator/logout` the same way, which ends the session on both
//! deployments (the account's new version replicates), not only here.
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
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

/// Per deployment, how long to wait for a login or logout answer, ms.
const LOGIN_TIMEOUT_MS: u32 = 5_000;
/// How long to wait for the moderator's opinion before trying anyway, ms.
const MODERATOR_TIMEOUT_MS: u32 = 1_500;
/// A stored login this close to expiry is not used, ms.
const EXPIRY_MARGIN_MS: u64 = 60_000;

/// Why a login or logout got no answer to use.
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
async fn active_deployment(config: &WidgetConfig) -> DeploymentRole {
    let Some(moderator) = &config.moderator else {
        return DeploymentRole::Primary;
    };
    let url = format!("{moderator}/v1/active");
    match crate::net::json::<(), ActiveDeployment>(&url, None, MODERATOR_TIMEOUT_MS).await {
        Ok(active) if active.active == config.redundant.0 => DeploymentRole::Redundant,
        _ => DeploymentRole::Primary,
    }
}

/// Which deployment to ask first: the one the session is on (`on`), else
/// the moderator's active one.
pub async fn first_to_ask(config: &WidgetConfig, on: Option<DeploymentRole>) -> DeploymentRole {
    match on {
        Some(role) => role,
        None => active_deployment(config).await,
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
    let request = &request;
    let answer = first_answer(config, first, "/v1/operator/login", |url| async move {
        let body = js::to_json(request).map_err(Failure::Unreachable)?;
        match post(&url, Some(body), None).await? {
            (200..=299, text) => {
                js::from_json::<LoginResponse>(&text).map_err(Failure::Unreachable)
            }
            (status, text) => Err(refusal(status, &text)),
        }
    })
    .await;
    match answer {
        Ok(login) => {
            let kept = js::to_json(&login).is_ok_and(|text| {
                store.set(&bound_key(store), &deployments(config)) && store.set(&key(store), &text)
            });
            if !kept {
                js::warn("localStorage refused the login; a reload will ask again");
            }
            Ok(login)
        }
        Err(Failure::Refused(message)) => Err(message),
        Err(Failure::Unreachable(errors)) => Err(format!(
            "no deployment answers ({errors}); try again in a moment"
        )),
    }
}

/// Ends the session `token` stands for on the relays: on `first`, then on
/// the other deployment if `first` does not answer. One answer is enough:
/// the relay that ends it replicates the account's new version, and the
/// other ends its sessions when that arrives. A token a relay already
/// refuses (401) has ended too.
pub async fn logout(
    config: &WidgetConfig,
    first: DeploymentRole,
    token: &str,
) -> Result<(), String> {
    let answer = first_answer(config, first, "/v1/operator/logout", |url| async move {
        match post(&url, None, Some(token)).await? {
            (200..=299 | 401, _) => Ok(()),
            (status, text) => Err(refusal(status, &text)),
        }
    })
    .await;
    match answer {
        Ok(()) => Ok(()),
        Err(Failure::Refused(message)) => Err(message),
        Err(Failure::Unreachable(errors)) => Err(format!(
            "logged out here, but no deployment answered ({errors}): the session \
             stays valid on the relays until it expires"
        )),
    }
}

/// Asks `first`'s relay at `path` (`ask` gets the whole URL), then the
/// other deployment's if `first` gives no usable answer. A refusal is
/// final; when neither answers, the [`Failure::Unreachable`] names each
/// deployment and why.
async fn first_answer<T, F, Fut>(
    config: &WidgetConfig,
    first: DeploymentRole,
    path: &str,
    ask: F,
) -> Result<T, Failure>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut unreachable = Vec::new();
    for role in [first, first.other()] {
        let (name, base) = match role {
            DeploymentRole::Primary => &config.primary,
            DeploymentRole::Redundant => &config.redundant,
        };
        if role != first && base == base_of(config, first) {
            break; // one deployment configured twice: nothing else to try
        }
        match ask(format!("{base}{path}")).await {
            Err(Failure::Unreachable(error)) => unreachable.push(format!("{name}: {error}")),
            answer => return answer,
        }
    }
    Err(Failure::Unreachable(unreachable.join("; ")))
}

fn base_of(config: &WidgetConfig, role: DeploymentRole) -> &String {
    match role {
        DeploymentRole::Primary => &config.primary.1,
        DeploymentRole::Redundant => &config.redundant.1,
    }
}

/// A relay's refusal: final for a 4xx (it answered and said no), else
/// worth trying the other deployment.
fn refusal(status: u16, text: &str) -> Failure {
    let message = js::from_json::<ApiError>(text)
        .map(|e| e.message)
        .unwrap_or_default();
    match status {
        400..=499 => Failure::Refused(if message.is_empty() {
            format!("refused (HTTP {status})")
        } else {
            message
        }),
        _ => Failure::Unreachable(format!("HTTP {status} {message}")),
    }
}

/// GETs `path` with the session's bearer token, on `first` and then on
/// the other deployment if `first` does not answer (the console's history,
/// `history.rs`): the answer's JSON text, or what to show.
pub async fn get(
    config: &WidgetConfig,
    first: DeploymentRole,
    path: &str,
    token: &str,
) -> Result<String, String> {
    let answer = first_answer(config, first, path, |url| async move {
        match fetch("GET", &url, None, Some(token)).await? {
            (200..=299, text) => Ok(text),
            (status, text) => Err(refusal(status, &text)),
        }
    })
    .await;
    match answer {
        Ok(text) => Ok(text),
        Err(Failure::Refused(message)) => Err(message),
        Err(Failure::Unreachable(errors)) => Err(format!(
            "no deployment answers ({errors}); try again in a moment"
        )),
    }
}

/// POSTs `body` (JSON) with an optional bearer token, with a deadline; the
/// status and text of the answer, or why there is none.
async fn post(
    url: &str,
    body: Option<String>,
    bearer: Option<&str>,
) -> Result<(u16, String), Failure> {
    fetch("POST", url, body, bearer).await
}

/// Sends `method` to `url` with an optional JSON body and bearer token,
/// with a deadline; the status and text of the answer, or why there is
/// none.
async fn fetch(
    method: &str,
    url: &str,
    body: Option<String>,
    bearer: Option<&str>,
) -> Result<(u16, String), Failure> {
    let body = body.map(|text| (JsValue::from(text), "application/json"));
    let response = respond(method, url, body, bearer).await?;
    let text = JsFuture::from(
        response
            .text()
            .map_err(|_| Failure::Unreachable("unreadable".into()))?,
    )
    .await
    .map_err(|_| Failure::Unreachable("answer cut off".into()))?
    .as_string()
    .unwrap_or_default();
    Ok((response.status(), text))
}

/// The response to `method` on `url` with an optional body (and its
/// content type) and bearer token, with a deadline.
async fn respond(
    method: &str,
    url: &str,
    body: Option<(JsValue, &str)>,
    bearer: Option<&str>,
) -> Result<Response, Failure> {
    let unreachable = |what: &str| Failure::Unreachable(what.to_string());
    let window = web_sys::window().ok_or_else(|| unreachable("no window"))?;
    let controller = AbortController::new().map_err(|_| unreachable("no AbortController"))?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_signal(Some(&controller.signal()));
    init.set_cache(web_sys::RequestCache::NoStore);
    let headers = web_sys::Headers::new().map_err(|_| unreachable("no Headers"))?;
    if let Some(token) = bearer {
        let _ = headers.set("authorization", &format!("Bearer {token}"));
    }
    if let Some((body, kind)) = body {
        let _ = headers.set("content-type", kind);
        init.set_body(&body);
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(url, &init)
        .map_err(|_| Failure::Unreachable(format!("bad URL {url}")))?;
    let _deadline = Timeout::new(LOGIN_TIMEOUT_MS, move || controller.abort());
    Ok(JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| unreachable("no answer"))?
        .unchecked_into())
}

/// The answer of one deployment to a file request (an upload step goes to
/// the deployment the session is on, not to the first that answers).
pub enum Answer {
    /// 2xx, with the answer's text.
    Ok(String),
    /// 4xx: the relay's message, to show as it is.
    Refused(String),
    /// No answer, or 5xx: try again.
    Unreachable(String),
}

/// `method` on `path` of deployment `role` with an optional body (bytes
/// or JSON text, with its content type) and the session's token.
pub async fn ask(
    config: &WidgetConfig,
    role: DeploymentRole,
    method: &str,
    path: &str,
    body: Option<(JsValue, &str)>,
    token: &str,
) -> Answer {
    let url = format!("{}{path}", base_of(config, role));
    let answer = async {
        let response = respond(method, &url, body, Some(token)).await?;
        let text = JsFuture::from(
            response
                .text()
                .map_err(|_| Failure::Unreachable("unreadable".into()))?,
        )
        .await
        .map_err(|_| Failure::Unreachable("answer cut off".into()))?
        .as_string()
        .unwrap_or_default();
        match response.status() {
            200..=299 => Ok(text),
            status => Err(refusal(status, &text)),
        }
    };
    match answer.await {
        Ok(text) => Answer::Ok(text),
        Err(Failure::Refused(message)) => Answer::Refused(message),
        Err(Failure::Unreachable(error)) => Answer::Unreachable(error),
    }
}

/// The bytes at `path` (a file), from the deployment the session is on,
/// else the other.
pub async fn get_bytes(
    config: &WidgetConfig,
    first: DeploymentRole,
    path: &str,
    token: &str,
) -> Result<js_sys::Uint8Array, String> {
    let answer = first_answer(config, first, path, |url| async move {
        let response = respond("GET", &url, None, Some(token)).await?;
        let status = response.status();
        if !(200..=299).contains(&status) {
            let text = JsFuture::from(
                response
                    .text()
                    .map_err(|_| Failure::Unreachable("unreadable".into()))?,
            )
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default();
            return Err(refusal(status, &text));
        }
        let buffer = JsFuture::from(
            response
                .array_buffer()
                .map_err(|_| Failure::Unreachable("unreadable".into()))?,
        )
        .await
        .map_err(|_| Failure::Unreachable("answer cut off".into()))?;
        Ok(js_sys::Uint8Array::new(&buffer))
    })
    .await;
    match answer {
        Ok(bytes) => Ok(bytes),
        Err(Failure::Refused(message)) => Err(message),
        Err(Failure::Unreachable(errors)) => Err(format!(
            "no deployment answers ({errors}); try again in a moment"
        )),
    }
}
