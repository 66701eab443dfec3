//! HTTP with a deadline: `fetch` plus an `AbortController`.
//!
//! Every request the widget makes (token, health probes, the moderator) has
//! a short timeout, because a deployment that is down often does not refuse
//! but simply never answers, and the point is to move on to the other one.

use crate::js;
use gloo_timers::callback::Timeout;
use serde::Serialize;
use twinline_core::protocol::FromJson;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

/// GETs (or, with a body, POSTs as JSON) and reads a JSON answer, giving up
/// after `timeout_ms`.
pub async fn json<B, T>(url: &str, body: Option<&B>, timeout_ms: u32) -> Result<T, String>
where
    B: Serialize + ?Sized,
    T: FromJson,
{
    let window = web_sys::window().ok_or("no window")?;
    let controller = AbortController::new().map_err(|_| "no AbortController")?;
    let init = RequestInit::new();
    init.set_signal(Some(&controller.signal()));
    init.set_cache(web_sys::RequestCache::NoStore);
    if let Some(body) = body {
        init.set_method("POST");
        let headers = web_sys::Headers::new().map_err(|_| "no Headers")?;
        let _ = headers.set("content-type", "application/json");
        init.set_headers(&headers);
        init.set_body(&js::to_json(body)?.into());
    }
    let request =
        Request::new_with_str_and_init(url, &init).map_err(|_| format!("bad URL {url}"))?;
    // Aborting covers both the response and reading its body.
    let _deadline = Timeout::new(timeout_ms, move || controller.abort());
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| format!("{url}: no answer"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| "unreadable body")?)
        .await
        .map_err(|_| format!("{url}: body cut off"))?
        .as_string()
        .unwrap_or_default();
    js::from_json(&text).map_err(|e| format!("{url}: {e}"))
}
