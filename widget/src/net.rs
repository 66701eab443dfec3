//! HTTP with a deadline: `fetch` plus an `AbortController`; and two of them
//! raced, one per deployment ([`race`]).
//!
//! Every request the widget makes (token, health probes, the moderator) has
//! a short timeout, because a deployment that is down often does not refuse
//! but simply never answers, and the point is to move on to the other one.

use crate::js;
use crate::race::{HEAD_START_MS, Race, Step};
use gloo_timers::callback::Timeout;
use serde::Serialize;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use twinline_core::protocol::FromJson;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Request, RequestInit, Response};

/// GETs (or, with a body, POSTs as JSON) and reads a JSON answer, giving up
/// after `timeout_ms`.
pub async fn json<B, T>(url: &str, body: Option<&B>, timeout_ms: u32) -> Result<T, String>
where
    B: Serialize + ?Sized,
    T: FromJson,
{
    let controller = AbortController::new().map_err(|_| "no AbortController")?;
    json_until(url, body, timeout_ms, controller).await
}

/// [`json`], also given up when `controller` aborts (a race was won by the
/// other attempt).
pub async fn json_until<B, T>(
    url: &str,
    body: Option<&B>,
    timeout_ms: u32,
    controller: AbortController,
) -> Result<T, String>
where
    B: Serialize + ?Sized,
    T: FromJson,
{
    let window = web_sys::window().ok_or("no window")?;
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

/// One race under way: its decisions and what carrying them out needs.
struct Running<T> {
    race: Race,
    controllers: [Option<AbortController>; 2],
    answer: Option<T>,
    errors: Vec<String>,
    /// Resolves the promise [`race`] waits on.
    decided: Option<js_sys::Function>,
    head_start: Option<Timeout>,
}

/// Runs `attempt(0, abort)` (the preferred deployment) and, after
/// [`HEAD_START_MS`] or as soon as it fails, `attempt(1, abort)`; the first
/// `Ok` wins and the other is aborted (see `crate::race`). Both failing
/// gives both errors.
pub async fn race<T, F, Fut>(attempt: F) -> Result<T, String>
where
    T: 'static,
    F: Fn(usize, AbortController) -> Fut + 'static,
    Fut: Future<Output = Result<T, String>> + 'static,
{
    let mut decided = None;
    let promise = js_sys::Promise::new(&mut |resolve, _| decided = Some(resolve));
    let (race, first) = Race::new();
    let running = Rc::new(RefCell::new(Running {
        race,
        controllers: [None, None],
        answer: None,
        errors: Vec::new(),
        decided,
        head_start: None,
    }));
    let attempt = Rc::new(attempt);
    carry_out(&running, &attempt, first);
    let timer = {
        let (running, attempt) = (running.clone(), attempt.clone());
        Timeout::new(HEAD_START_MS, move || {
            let step = running.borrow_mut().race.head_start_over();
            carry_out(&running, &attempt, step);
        })
    };
    running.borrow_mut().head_start = Some(timer);
    let _ = JsFuture::from(promise).await;
    let mut done = running.borrow_mut();
    done.head_start = None;
    match done.answer.take() {
        Some(answer) => Ok(answer),
        None => Err(std::mem::take(&mut done.errors).join("; ")),
    }
}

fn carry_out<T, F, Fut>(running: &Rc<RefCell<Running<T>>>, attempt: &Rc<F>, step: Step)
where
    T: 'static,
    F: Fn(usize, AbortController) -> Fut + 'static,
    Fut: Future<Output = Result<T, String>> + 'static,
{
    match step {
        Step::Start(i) => {
            let Ok(controller) = AbortController::new() else {
                let step = running.borrow_mut().race.failed(i);
                return carry_out(running, attempt, step);
            };
            running.borrow_mut().controllers[i] = Some(controller.clone());
            let future = attempt(i, controller);
            let (running, attempt) = (running.clone(), attempt.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = future.await;
                let step = {
                    let mut state = running.borrow_mut();
                    match outcome {
                        Ok(answer) => {
                            let step = state.race.answered(i);
                            if matches!(step, Step::Won { .. }) {
                                state.answer = Some(answer);
                            }
                            step
                        }
                        Err(error) => {
                            state.errors.push(error);
                            state.race.failed(i)
                        }
                    }
                };
                carry_out(&running, &attempt, step);
            });
        }
        Step::Won { cancel, .. } => {
            let mut state = running.borrow_mut();
            if let Some(controller) = cancel.and_then(|i| state.controllers[i].take()) {
                controller.abort();
            }
            decide(&mut state);
        }
        Step::Lost => decide(&mut running.borrow_mut()),
        Step::Wait => {}
    }
}

fn decide<T>(state: &mut Running<T>) {
    if let Some(resolve) = state.decided.take() {
        let _ = resolve.call0(&JsValue::NULL);
    }
}
