//! The few things the widget needs from the JS runtime: the clock, random
//! numbers, JSON text and the console.
//!
//! JSON is read through the browser's own `JSON.parse` and the core's
//! `FromJson` over [`JsView`] (no serde: its derived deserialisers were
//! most of the chat bundle). JS numbers are exact only up to 2^53, so
//! reading falls back to BigInts when a value needs more.
//!
//! JSON is written by serde_json: the values written hold no floats (so its
//! float formatting is not linked), integers come out exact, and it is
//! smaller than building JS objects to hand to `JSON.stringify` (4.8 KB less
//! wasm when this replaced that, plus the BigInt fallback writer it needed).
//! The text is the same: same field order, and both escape exactly `"`,
//! `\\` and the control characters, in the same forms.

use crate::js_json::JsView;
use serde::Serialize;
use std::cell::RefCell;
use twinline_core::protocol::{FrameError, FromJson, ServerFrame, Unreadable, decode_server_frame};
use twinline_core::{Millis, Ulid};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::{Closure, JsValue, wasm_bindgen};

/// Wall-clock time.
pub fn now() -> Millis {
    Millis(js_sys::Date::now() as u64)
}

/// Sixteen random bytes from `crypto.getRandomValues`, or from
/// `Math.random` where there is no crypto (ids need uniqueness, not secrecy).
pub fn random_u128() -> u128 {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for byte in &mut bytes {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    u128::from_le_bytes(bytes)
}

/// Sixty-four random bits.
pub fn random_u64() -> u64 {
    random_u128() as u64
}

/// A JS value in the shape JSON would give (objects, not Maps; null for
/// None). Integers beyond 2^53 are an error here (`to_json` has no such
/// limit).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| e.to_string())
}

/// JSON text of a value, with every integer exact.
///
/// Writing the widget's types cannot fail (no maps with non-string keys,
/// no serialiser that refuses), so serde_json's error is not spelled out:
/// its `Display` would be linked for a message never shown.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|_| "could not write JSON".to_string())
}

/// A value from JSON text, with every integer exact (see [`read_json`]).
pub fn from_json<T: FromJson>(text: &str) -> Result<T, String> {
    read_json(text, |value| T::from_json(value).map_err(|e| e.to_string()))
}

/// `text` parsed by `JSON.parse` and read by `read`, every integer exact.
///
/// `JSON.parse` turns integers beyond 2^53 into rounded floats, which do
/// not read as integers. When `read` fails, the text is parsed again with a
/// reviver that turns such numbers into BigInts, from their source text
/// where the browser offers it (exact), else from the float (rounded, but
/// readable), and read again.
pub fn read_json<T, E: From<NotJson>>(
    text: &str,
    read: impl Fn(&JsView) -> Result<T, E>,
) -> Result<T, E> {
    let value = js_sys::JSON::parse(text).map_err(|_| NotJson)?;
    let first = match read(&JsView(value)) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let reviver = Closure::<dyn FnMut(JsValue, JsValue, JsValue) -> JsValue>::new(
        |_key: JsValue, value: JsValue, context: JsValue| {
            let Some(number) = value.as_f64() else {
                return value;
            };
            if number.fract() != 0.0 || number.abs() < 9_007_199_254_740_992.0 {
                return value;
            }
            let source = js_sys::Reflect::get(&context, &"source".into())
                .ok()
                .filter(|s| s.is_string());
            js_sys::BigInt::new(source.as_ref().unwrap_or(&value))
                .map(JsValue::from)
                .unwrap_or(value)
        },
    );
    match parse_with_context(text, reviver.as_ref().unchecked_ref()) {
        // What exact integers still fail on says more than the rounding.
        Ok(value) => read(&JsView(value)),
        Err(_) => Err(first),
    }
}

/// A relay's frame, read as the core reads it (its tag, then its
/// variant's fields; see `twinline_core::protocol::decode`), every integer
/// exact, the records no reader can show left out and logged.
pub fn read_frame(text: &str) -> Result<ServerFrame, FrameError> {
    read_json(text, |value| {
        decode_server_frame(value, |record| warn_skipped(&record))
    })
}

/// Text that `JSON.parse` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotJson;

impl From<NotJson> for String {
    fn from(_: NotJson) -> String {
        "not JSON".into()
    }
}

impl From<NotJson> for FrameError {
    fn from(_: NotJson) -> FrameError {
        FrameError::Malformed("not JSON".into())
    }
}

/// Logs a record left out because it cannot be shown, once per record per
/// page (queue and welcome frames repeat their records; the first 256
/// records are remembered, later ones may be logged again).
pub fn warn_skipped(record: &Unreadable) {
    thread_local! {
        static LOGGED: RefCell<Vec<Ulid>> = const { RefCell::new(Vec::new()) };
    }
    let first = LOGGED.with_borrow_mut(|logged| {
        if logged.contains(&record.id) {
            return false;
        }
        if logged.len() < 256 {
            logged.push(record.id);
        }
        true
    });
    if first {
        warn(&format!("left out a record it cannot show: {record}"));
    }
}

#[wasm_bindgen]
extern "C" {
    /// `JSON.parse` with a three-argument reviver (key, value, context).
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn parse_with_context(text: &str, reviver: &js_sys::Function) -> Result<JsValue, JsValue>;
}

/// Logs a warning, prefixed so site owners can find it.
pub fn warn(message: &str) {
    web_sys::console::warn_1(&format!("Twinline: {message}").into());
}

#[wasm_bindgen]
extern "C" {
    /// JS's `String(value)`: what a thrown value or a page's argument says
    /// of itself, for a log line (`{:?}` on a `JsValue` would link
    /// wasm-bindgen's whole debug formatter, in wasm and in the glue).
    #[wasm_bindgen(js_name = String, catch)]
    fn js_string(value: &JsValue) -> Result<String, JsValue>;
}

/// What `value` says of itself, as JS's `String(value)` would (an error's
/// `name: message`, a string as itself; an object whose `toString`
/// throws says so).
pub fn describe(value: &JsValue) -> String {
    js_string(value).unwrap_or_else(|_| "a value that cannot be shown".into())
}
