//! `js::to_json` (serde_json in the bundle) writes the text the browser's
//! `JSON.stringify` wrote for the same values, and `js::from_json` reads
//! back every integer exactly, in a real browser.
#![cfg(target_arch = "wasm32")]

use serde::{Deserialize, Serialize};
use twinline_widget::js;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `JSON.stringify` of a JS value, as the widget used to write its JSON.
fn stringify(value: &JsValue) -> String {
    js_sys::JSON::stringify(value).unwrap().into()
}

#[wasm_bindgen_test]
fn strings_are_escaped_as_json_stringify_escapes_them() {
    let mut texts: Vec<String> = (0u32..0x80)
        .filter_map(char::from_u32)
        .map(String::from)
        .collect();
    texts.extend(
        [
            "",
            "plain text",
            "quote \" backslash \\ slash / tab \t newline \n",
            "\u{7f}\u{80}\u{a0}\u{2028}\u{2029}\u{feff}",
            "ümlaut, 漢字, emoji 😀",
            "</script><script>alert(1)</script>",
        ]
        .map(String::from),
    );
    for text in &texts {
        assert_eq!(
            js::to_json(text).unwrap(),
            stringify(&JsValue::from_str(text)),
            "{text:?}"
        );
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sample {
    small: u64,
    safe: u64,
    beyond: u64,
    none: Option<String>,
    some: Option<u32>,
    flag: bool,
    list: Vec<(String, u32)>,
}

#[wasm_bindgen_test]
fn structs_come_out_as_json_stringify_wrote_them_with_exact_integers() {
    let sample = Sample {
        small: 0,
        safe: (1 << 53) - 1,
        beyond: u64::MAX,
        none: None,
        some: Some(7),
        flag: true,
        list: vec![("a".into(), 1), ("b\n".into(), 2)],
    };
    let text = js::to_json(&sample).unwrap();
    assert_eq!(
        text,
        r#"{"small":0,"safe":9007199254740991,"beyond":18446744073709551615,"none":null,"some":7,"flag":true,"list":[["a",1],["b\n",2]]}"#
    );
    let within = Sample {
        beyond: 1,
        ..sample
    };
    assert_eq!(
        js::to_json(&within).unwrap(),
        stringify(&js::to_js(&within).unwrap())
    );
    assert_eq!(js::from_json::<Sample>(&text).unwrap().beyond, u64::MAX);
    assert_eq!(
        js::from_json::<Sample>(&js::to_json(&within).unwrap()).unwrap(),
        within
    );
}
