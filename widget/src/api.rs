//! `window.Twinline`: the page's handle on the widget.
//!
//! ```js
//! Twinline.open(); Twinline.close();
//! const id = Twinline.send("Hello");   // message id; throws on empty/too long text
//! Twinline.transcript();  // [{id, author, name, text, status, at}]
//!                          //   author: "visitor" | "operator" | "system"
//!                          //   status: "sending" | "sent" | "received"
//! Twinline.status();      // {deployment: "primary" | null, state: "connecting" |
//!                          //   "connected" | "reconnecting" | "offline"}
//! Twinline.setVisitor({name, email});
//! Twinline.rate("good", "Thanks!"); // once the chat is closed: "good" | "bad",
//!                                   //   comment optional (<= 1000 characters)
//! Twinline.emailTranscript("ada@example.com"); // sent once the chat is closed,
//!                                   //   where the relay has [mail]; throws otherwise
//! const off = Twinline.on("message", m => ...);  // also "status", "open", "close"
//! off();                                          // unsubscribe
//! Twinline.on("read", r => ...);  // r.id: the visitor's newest message the
//!                                 //   operator has seen (a read receipt)
//! ```
//!
//! The loader defines a stub whose methods push `[name, args]` onto
//! `Twinline.q`; [`install`] replaces it and replays the queue in order, so
//! calls made before the widget arrived are kept. A queued `send` is
//! `["send", [text], id]`: the loader (or the launcher) made the message's
//! id and returned it to the page, and the chat writes the message under
//! that id, so the page's id names the message from the start.

use crate::app::App;
use crate::js;
use crate::view::{message_object, status_value};
use js_sys::{Array, Function, Object, Reflect};
use twinline_core::MessageId;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Builds the API object for `app`.
pub fn build(app: &App) -> Object {
    let api = Object::new();
    let method = |name: &str, f: JsValue| {
        let _ = Reflect::set(&api, &name.into(), &f);
    };

    let a = app.clone();
    method(
        "open",
        Closure::<dyn Fn()>::new(move || a.open()).into_js_value(),
    );
    let a = app.clone();
    method(
        "close",
        Closure::<dyn Fn()>::new(move || a.close()).into_js_value(),
    );
    let a = app.clone();
    method(
        "send",
        Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(move |text: JsValue| {
            let text = text
                .as_string()
                .ok_or_else(|| js_sys::Error::new("Twinline.send: text must be a string"))?;
            a.send(&text)
                .map(JsValue::from)
                .map_err(|e| js_sys::Error::new(&format!("Twinline.send: {e}")).into())
        })
        .into_js_value(),
    );
    let a = app.clone();
    method(
        "transcript",
        Closure::<dyn Fn() -> JsValue>::new(move || {
            let messages = a.transcript();
            let list = Array::new();
            for message in &messages {
                list.push(&message_object(message));
            }
            list.into()
        })
        .into_js_value(),
    );
    let a = app.clone();
    method(
        "status",
        Closure::<dyn Fn() -> JsValue>::new(move || {
            let (deployment, link) = a.status();
            status_value(deployment.as_deref(), link)
        })
        .into_js_value(),
    );
    let a = app.clone();
    method(
        "setVisitor",
        Closure::<dyn Fn(JsValue)>::new(move |who: JsValue| {
            let field = |name: &str| {
                Reflect::get(&who, &name.into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default()
            };
            a.set_visitor(&field("name"), &field("email"));
        })
        .into_js_value(),
    );
    let a = app.clone();
    method(
        "rate",
        Closure::<dyn Fn(JsValue, JsValue) -> Result<(), JsValue>>::new(
            move |score: JsValue, comment: JsValue| {
                let score = score
                    .as_string()
                    .and_then(|s| twinline_core::Score::parse(&s))
                    .ok_or_else(|| {
                        js_sys::Error::new("Twinline.rate: score must be \"good\" or \"bad\"")
                    })?;
                let comment = comment.as_string().unwrap_or_default();
                a.rate(score, &comment)
                    .map_err(|e| js_sys::Error::new(&format!("Twinline.rate: {e}")).into())
            },
        )
        .into_js_value(),
    );
    let a = app.clone();
    method(
        "emailTranscript",
        // The signature of `rate`'s closure (the second argument unused):
        // wasm-bindgen makes one call shim per signature, not per closure.
        Closure::<dyn Fn(JsValue, JsValue) -> Result<(), JsValue>>::new(
            move |to: JsValue, _: JsValue| {
                a.email_transcript(&to.as_string().unwrap_or_default())
                    .map_err(|e| {
                        js_sys::Error::new(&format!("Twinline.emailTranscript: {e}")).into()
                    })
            },
        )
        .into_js_value(),
    );
    let a = app.clone();
    method(
        "on",
        Closure::<dyn Fn(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
            move |event: JsValue, handler: JsValue| {
                let event = event.as_string().unwrap_or_default();
                if !["message", "status", "open", "close", "read"].contains(&event.as_str()) {
                    return Err(js_sys::Error::new(&format!(
                        "Twinline.on: unknown event \"{event}\" (message, status, open, close, read)"
                    ))
                    .into());
                }
                let handler: Function = handler
                    .dyn_into()
                    .map_err(|_| js_sys::Error::new("Twinline.on: handler must be a function"))?;
                let id = a.on(&event, handler);
                let b = a.clone();
                Ok(Closure::<dyn Fn()>::new(move || b.off(id)).into_js_value())
            },
        )
        .into_js_value(),
    );
    let _ = Reflect::set(&api, &"loaded".into(), &true.into());
    let _ = Reflect::set(&api, &"version".into(), &env!("CARGO_PKG_VERSION").into());
    api
}

/// Installs the API as `window.Twinline`, replaying the stub's queue.
pub fn install(app: &App) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let stub = Reflect::get(&window, &"Twinline".into()).unwrap_or(JsValue::UNDEFINED);
    let api = build(app);
    let _ = Reflect::set(&window, &"Twinline".into(), &api);
    let queue = Reflect::get(&stub, &"q".into()).unwrap_or(JsValue::UNDEFINED);
    if Array::is_array(&queue) {
        replay(app, &api, &Array::from(&queue));
    }
}

/// Calls `api[name](...args)` for every `[name, args]` queued by the stub
/// (a `send` with the id it was given).
pub fn replay(app: &App, api: &Object, queue: &Array) {
    for call in queue.iter() {
        let name = Reflect::get(&call, &0.into()).unwrap_or(JsValue::UNDEFINED);
        let args = Reflect::get(&call, &1.into()).unwrap_or(JsValue::UNDEFINED);
        let args = Array::from(&args);
        if let Some((text, id)) = queued_send(&name, &args, &call) {
            if let Err(error) = app.send_with_id(&text, id) {
                js::warn(&format!("queued send {id} refused: {error}"));
            }
            continue;
        }
        let method = Reflect::get(api, &name)
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        match method {
            Some(method) => {
                if let Err(error) = Reflect::apply(&method, api, &args) {
                    js::warn(&format!(
                        "queued call \"{}\" failed: {}",
                        js::describe(&name),
                        js::describe(&error)
                    ));
                }
            }
            None => js::warn(&format!(
                "queued call to unknown method \"{}\"",
                js::describe(&name)
            )),
        }
    }
}

/// A queued `["send", [text], id]`, if `call` is one with a valid id.
fn queued_send(name: &JsValue, args: &Array, call: &JsValue) -> Option<(String, MessageId)> {
    if name.as_string()? != "send" {
        return None;
    }
    let id = Reflect::get(call, &2.into()).ok()?.as_string()?;
    let text = args.get(0).as_string().unwrap_or_default();
    match id.parse() {
        Ok(id) => Some((text, id)),
        Err(error) => {
            js::warn(&format!(
                "queued send with a bad id \"{id}\" ({error}): a new id"
            ));
            None
        }
    }
}
