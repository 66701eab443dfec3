//! The few things the widget needs from the JS runtime: the clock, random
//! numbers, JSON text and the console.
//!
//! JSON goes through the browser's own `JSON.parse`/`JSON.stringify` and
//! serde-wasm-bindgen, not serde_json: serde_json's number formatting alone
//! would be a good part of the size budget. JS numbers are exact only up to
//! 2^53, so both directions fall back to BigInts when a value needs more.

use serde::Serialize;
use serde::de::DeserializeOwned;
use twinline_core::Millis;
use twinline_core::protocol::FrameSource;
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
/// None). Integers beyond 2^53 are an error here; see [`to_json`].
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| e.to_string())
}

/// A Rust value from a JS value.
pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, String> {
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

/// JSON text of a value, with every integer exact.
///
/// The fast path is the browser's `JSON.stringify`. A value holding an
/// integer beyond 2^53 (a random 64-bit node id in a clock stamp, say) is
/// instead serialised with BigInts and written out by [`write_json`].
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    if let Ok(js) = to_js(value) {
        if let Ok(text) = js_sys::JSON::stringify(&js) {
            return Ok(text.into());
        }
    }
    let exact = serde_wasm_bindgen::Serializer::json_compatible()
        .serialize_large_number_types_as_bigints(true);
    let js = value.serialize(&exact).map_err(|e| e.to_string())?;
    let mut out = String::new();
    write_json(&js, &mut out)?;
    Ok(out)
}

/// A value from JSON text, with every integer exact.
///
/// `JSON.parse` turns integers beyond 2^53 into rounded floats, which serde
/// then refuses for `u64` fields. When the fast path fails, the text is
/// parsed again with a reviver that turns such numbers into BigInts, from
/// their source text where the browser offers it (exact), else from the
/// float (rounded, but readable).
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    JsonValue::parse(text)?.read()
}

/// JSON text parsed once by the browser, readable as several types (a
/// server frame is read as its tag, then as its variant's fields).
pub struct JsonValue<'a> {
    text: &'a str,
    value: JsValue,
}

impl<'a> JsonValue<'a> {
    /// `JSON.parse` of `text`.
    pub fn parse(text: &'a str) -> Result<JsonValue<'a>, String> {
        let value = js_sys::JSON::parse(text).map_err(|_| "not JSON".to_string())?;
        Ok(JsonValue { text, value })
    }

    /// The value as `T`, every integer exact (see [`from_json`]).
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, String> {
        read_exact(self.text, self.value.clone())
    }
}

impl FrameSource for JsonValue<'_> {
    type Error = String;

    fn read<T: DeserializeOwned>(&mut self) -> Result<T, String> {
        JsonValue::read(self)
    }
}

/// `js` (parsed from `text`) as `T`; see [`from_json`].
fn read_exact<T: DeserializeOwned>(text: &str, js: JsValue) -> Result<T, String> {
    let first = match from_js(js) {
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
    let js =
        parse_with_context(text, reviver.as_ref().unchecked_ref()).map_err(|_| first.clone())?;
    from_js(js).map_err(|_| first)
}

#[wasm_bindgen]
extern "C" {
    /// `JSON.parse` with a three-argument reviver (key, value, context).
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn parse_with_context(text: &str, reviver: &js_sys::Function) -> Result<JsValue, JsValue>;
}

/// Writes a JSON-shaped JS value (null, bool, number, BigInt, string, array,
/// plain object) as JSON text; BigInts as their exact digits.
fn write_json(value: &JsValue, out: &mut String) -> Result<(), String> {
    if value.is_null() || value.is_undefined() {
        out.push_str("null");
    } else if let Some(flag) = value.as_bool() {
        out.push_str(if flag { "true" } else { "false" });
    } else if value.is_bigint() {
        let digits = value
            .unchecked_ref::<js_sys::BigInt>()
            .to_string(10)
            .map_err(|_| "bigint".to_string())?;
        out.push_str(&String::from(digits));
    } else if value.as_f64().is_some() || value.is_string() {
        let text = js_sys::JSON::stringify(value).map_err(|_| "number".to_string())?;
        out.push_str(&String::from(text));
    } else if js_sys::Array::is_array(value) {
        out.push('[');
        for (index, item) in js_sys::Array::from(value).iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            write_json(&item, out)?;
        }
        out.push(']');
    } else {
        out.push('{');
        let mut first = true;
        let object = value.unchecked_ref::<js_sys::Object>();
        for key in js_sys::Object::keys(object).iter() {
            let item = js_sys::Reflect::get(value, &key).unwrap_or(JsValue::UNDEFINED);
            if item.is_undefined() {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            write_json(&key, out)?;
            out.push(':');
            write_json(&item, out)?;
        }
        out.push('}');
    }
    Ok(())
}

/// Logs a warning, prefixed so site owners can find it.
pub fn warn(message: &str) {
    web_sys::console::warn_1(&format!("Twinline: {message}").into());
}
