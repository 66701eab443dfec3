//! JS values (what `JSON.parse` gives) as a [`JsonView`], so the core's
//! [`FromJson`](twinline_core::protocol::FromJson) reads them without serde.
//!
//! One accessor per JSON shape, over the few checks the browser answers
//! (`typeof`, `Array.isArray`, a property read). Integers are exact: a
//! number must be a safe integer (at most 2^53 - 1) to read as one, or a
//! BigInt, which [`crate::js::from_json`]'s second pass makes of the
//! integers beyond (`JSON.parse` would round them). `undefined`, which JSON
//! does not have, reads as an absent member or `null`.

use js_sys::{Array, Reflect};
use twinline_core::protocol::JsonView;
use wasm_bindgen::{JsCast, JsValue};

/// A JS value read as JSON.
#[derive(Clone, Debug)]
pub struct JsView(pub JsValue);

/// 2^53 - 1 as a float: the largest integer a JS number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

impl JsonView for JsView {
    fn member(&self, key: &str) -> Option<JsView> {
        if !self.0.is_object() {
            return None;
        }
        let value = Reflect::get(&self.0, &JsValue::from_str(key)).ok()?;
        (!value.is_undefined()).then_some(JsView(value))
    }

    fn is_object(&self) -> bool {
        self.0.is_object() && !Array::is_array(&self.0)
    }

    fn is_null(&self) -> bool {
        self.0.is_null() || self.0.is_undefined()
    }

    fn text(&self) -> Option<String> {
        self.0.as_string()
    }

    fn boolean(&self) -> Option<bool> {
        self.0.as_bool()
    }

    fn unsigned(&self) -> Option<u64> {
        if self.0.is_bigint() {
            return u64::try_from(self.0.clone()).ok();
        }
        let x = self.0.as_f64()?;
        (x.trunc() == x && (0.0..=MAX_SAFE).contains(&x)).then_some(x as u64)
    }

    fn number(&self) -> Option<f64> {
        self.0.as_f64()
    }

    fn elements(&self) -> Option<Vec<JsView>> {
        let array = self.0.dyn_ref::<Array>()?;
        Some(array.iter().map(JsView).collect())
    }
}
