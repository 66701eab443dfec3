//! The widget's JSON in a real browser: `js::to_json` (serde_json in the
//! bundle) writes the text the browser's `JSON.stringify` wrote for the same
//! values; `js_reader` reads JS values as serde-wasm-bindgen read them, with
//! the same errors; `js::from_json` reads back every integer exactly.
#![cfg(target_arch = "wasm32")]

use serde::de::{DeserializeOwned, Unexpected};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use twinline_core::protocol::{ActiveDeployment, ChatSync, Health, VisitorTokenResponse};
use twinline_core::session::{Intent, Snapshot};
use twinline_core::{Message, Ulid};
use twinline_widget::config::RawConfig;
use twinline_widget::js;
use twinline_widget::js_reader::{JsReader, float_text};
use twinline_widget::tabs::message::TabMessage;
use twinline_widget::view::{Unsent, View};
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

/// Reads `value` as `T` with `js_reader` and with serde-wasm-bindgen (what
/// the widget used before): the same value, or the same error message.
/// Where serde-wasm-bindgen failed with a JS `TypeError` (it asked a
/// non-object for its iterator), `js_reader` must fail with serde's words.
fn same_read<T: DeserializeOwned + Debug>(value: &JsValue, what: &str) {
    let ours = T::deserialize(JsReader(value.clone()))
        .map(|v| format!("{v:?}"))
        .map_err(|e| e.to_string());
    let theirs = serde_wasm_bindgen::from_value::<T>(value.clone())
        .map(|v| format!("{v:?}"))
        .map_err(|e| e.to_string());
    if let Err(error) = &theirs {
        if error.starts_with("TypeError") {
            assert!(
                ours.as_ref()
                    .is_err_and(|e| e.starts_with("Error: invalid type: ")),
                "{what}: {ours:?} / {theirs:?}"
            );
            return;
        }
    }
    assert_eq!(ours, theirs, "{what}");
}

fn parse(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Plain,
    Other,
    Wrapped(u32),
    Pair(u32, String),
    Shaped { x: u32 },
}

#[derive(Debug, PartialEq, Deserialize)]
struct Newtype(u64);

/// A field of every shape the widget's types have.
#[derive(Debug, PartialEq, Deserialize)]
struct Everything {
    small: u32,
    tiny: u8,
    big: u64,
    signed: i64,
    narrow: i32,
    float: f64,
    flag: bool,
    text: String,
    maybe: Option<String>,
    list: Vec<u16>,
    pair: (String, u32),
    kind: Kind,
    newtype: Newtype,
    id: Ulid,
    unit: (),
    #[serde(default)]
    defaulted: String,
}

const EVERYTHING: &str = r#"{"small":1,"tiny":2,"big":3,"signed":-4,"narrow":-5,"float":0.5,
"flag":true,"text":"t","maybe":"m","list":[1,2],"pair":["p",6],"kind":"plain","newtype":7,
"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","unit":null,"defaulted":"d"}"#;

/// Values put in place of each field in turn.
const ODD_VALUES: &[&str] = &[
    "null",
    "true",
    "0",
    "1",
    "-1",
    "300",
    "70000",
    "4294967296",
    "1.5",
    "-2.25",
    "1e21",
    "1.5e300",
    "1e-7",
    "9007199254740993",
    "-9007199254740993",
    "18446744073709551616",
    "\"x\"",
    "\"plain\"",
    "\"nope\"",
    "\"\"",
    "\"tab\\tquote\\\"\"",
    "[]",
    "[1]",
    "[\"p\",6]",
    "[\"p\",6,7]",
    "[1,\"x\"]",
    "{}",
    "{\"wrapped\":5}",
    "{\"pair\":[5,\"s\"]}",
    "{\"shaped\":{\"x\":5}}",
    "{\"shaped\":{}}",
    "{\"plain\":null}",
    "{\"a\":1,\"b\":2}",
];

#[wasm_bindgen_test]
fn js_reader_reads_every_field_shape_as_serde_wasm_bindgen_did() {
    same_read::<Everything>(&parse(EVERYTHING), "the sample");
    let sample: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(EVERYTHING).unwrap();
    for field in sample.keys() {
        let mut without = sample.clone();
        without.remove(field);
        let text = serde_json::to_string(&without).unwrap();
        same_read::<Everything>(&parse(&text), &text);
        // A field set to `undefined` is present (and not a unit value).
        let value = parse(&text);
        js_sys::Reflect::set(&value, &JsValue::from_str(field), &JsValue::UNDEFINED).unwrap();
        same_read::<Everything>(&value, &format!("{field}: undefined"));
        for odd in ODD_VALUES {
            let mut changed = sample.clone();
            changed.insert(field.clone(), serde_json::Value::Null);
            let text = serde_json::to_string(&changed)
                .unwrap()
                .replace(&format!("\"{field}\":null"), &format!("\"{field}\":{odd}"));
            same_read::<Everything>(&parse(&text), &text);
        }
    }
    for odd in ODD_VALUES {
        same_read::<Everything>(&parse(odd), odd);
    }
    // BigInts, as `js::from_json` makes them for integers beyond 2^53.
    for (field, digits) in [
        ("big", "18446744073709551615"),
        ("big", "18446744073709551616"),
        ("big", "-1"),
        ("signed", "-9223372036854775808"),
        ("signed", "9223372036854775808"),
        ("small", "5"),
    ] {
        let value = parse(EVERYTHING);
        let bigint = js_sys::BigInt::new(&JsValue::from_str(digits)).unwrap();
        js_sys::Reflect::set(&value, &JsValue::from_str(field), &bigint).unwrap();
        same_read::<Everything>(&value, &format!("{field}: {digits}n"));
    }
}

#[wasm_bindgen_test]
fn js_reader_reads_the_widgets_types_as_serde_wasm_bindgen_did() {
    let message = r#"{"lamport":3,"author":{"role":"visitor","id":"v1","name":"Ada"},
        "id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","chat":"01ARZ3NDEKTSV4RRFFQ69G5FAW","text":"hi","at":5}"#;
    let status = r#"{"state":"active","operator":"ann","stamp":{"wall":1,"counter":2,"node":3}}"#;
    let snapshot = format!(
        r#"{{"v":1,"identity":{{"token":"t","author":{{"role":"visitor","id":"v1","name":""}},
        "chat":"01ARZ3NDEKTSV4RRFFQ69G5FAW"}},"chats":[["01ARZ3NDEKTSV4RRFFQ69G5FAW",
        {{"transcript":[{message}],"status":{status},"visitor":{{"name":"n","email":"e","page":"p"}}}}]],
        "pending":["01ARZ3NDEKTSV4RRFFQ69G5FAV"],"intents":[{{"do":"close","chat":"01ARZ3NDEKTSV4RRFFQ69G5FAW"}}],
        "visitor":null,"online":true}}"#
    );
    same_read::<Snapshot>(&parse(&snapshot), "snapshot");
    same_read::<Snapshot>(&parse(&snapshot.replace(r#""v":1"#, r#""v":"1""#)), "bad v");
    same_read::<Snapshot>(
        &parse(&snapshot.replace(r#""do":"close""#, r#""do":"fly""#)),
        "bad intent",
    );
    same_read::<Snapshot>(
        &parse(&snapshot.replace("\"lamport\":3", "\"lamport\":3.5")),
        "float",
    );
    same_read::<Snapshot>(&parse(&snapshot.replace("FAV\"]", "FA\"]")), "short id");
    same_read::<Message>(&parse(message), "message");
    same_read::<Message>(
        &parse(&message.replace("\"role\":\"visitor\"", "\"role\":\"robot\"")),
        "role",
    );
    same_read::<Intent>(
        &parse(r#"{"do":"transfer","chat":"01ARZ3NDEKTSV4RRFFQ69G5FAW"}"#),
        "intent",
    );
    let sync = format!(
        r#"{{"chat":"01ARZ3NDEKTSV4RRFFQ69G5FAW","status":{status},"missing":[{message}],"lacking":[]}}"#
    );
    same_read::<ChatSync>(&parse(&sync), "sync");
    same_read::<ChatSync>(
        &parse(&sync.replace("\"lacking\":[]", "\"lacking\":{}")),
        "sync lacking map",
    );
    same_read::<VisitorTokenResponse>(
        &parse(
            r#"{"token":"t","visitor":"01ARZ3NDEKTSV4RRFFQ69G5FAV","chat":"01ARZ3NDEKTSV4RRFFQ69G5FAW","expires":9}"#,
        ),
        "token",
    );
    same_read::<Health>(
        &parse(
            r#"{"deployment":"a","role":"primary","epoch":2,"ready":true,"lag":{"changes":1,"seconds":0.25,"connected":true}}"#,
        ),
        "health",
    );
    same_read::<Health>(
        &parse(r#"{"deployment":"a","role":"primary","epoch":2.5,"ready":true}"#),
        "float epoch",
    );
    let view = r#"{"chat":"C","messages":[{"id":"A","author":"operator","name":"","text":"x","at":1,"status":"received"}],
        "link":"connected","deployment":null,"operators_online":2,"phase":"active","operator":null,"typing":null,
        "visitor_name":"","visitor_email":"","notes":[{"id":"N","stored":false}]}"#;
    same_read::<View>(&parse(view), "view");
    same_read::<TabMessage>(
        &parse(&format!(r#"{{"t":"view","from":"t1","view":{view}}}"#)),
        "tab view",
    );
    same_read::<TabMessage>(
        &parse(r#"{"t":"visitor","from":"t1","name":"n","email":5,"page":"p"}"#),
        "tab visitor",
    );
    same_read::<TabMessage>(
        &parse(r#"{"t":"hello","from":"t1","name":[1]}"#),
        "tab hello",
    );
    same_read::<Vec<Unsent>>(
        &parse(r#"[{"id":"A","text":"x","at":1},{"id":"B","text":"y"}]"#),
        "unsent",
    );
    let active = r#"{"epoch":3,"active":"a","url":"http://a","deployments":[{"name":"a","role":"primary",
        "url":"http://a","up":true,"health":{"deployment":"a","role":"primary","epoch":3,"ready":true}},
        {"name":"b","role":"redundant","url":"http://b","up":false}]}"#;
    same_read::<ActiveDeployment>(&parse(active), "active");
    same_read::<ActiveDeployment>(
        &parse(&active.replace("\"up\":false", "\"up\":0")),
        "active bad",
    );
    // The page's own object, with its camelCase keys and odd values.
    for config in [
        r#"{"site":"s","primary":"http://a","redundant":"http://b","prechat":"off","primaryName":"p","servedBy":"x"}"#,
        r#"{"site":"s","prechat":"sometimes"}"#,
        r#"{"site":5}"#,
        r#"{"lang":null,"title":["t"],"moderator":"m"}"#,
        r#"{}"#,
        r#"[]"#,
        r#""site""#,
    ] {
        same_read::<RawConfig>(&parse(config), config);
    }
}

#[wasm_bindgen_test]
fn floats_in_messages_are_written_as_serde_writes_them() {
    for x in [
        0.0,
        -0.0,
        1.0,
        1.5,
        -2.25,
        0.1 + 0.2,
        1e20,
        1e21,
        -1.5e300,
        1.2345678901234567e25,
        123_456_789_012_345_680_000.0,
        1e-6,
        1e-7,
        -1.2345e-10,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        9_007_199_254_740_993.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(
            format!("floating point `{}`", float_text(x)),
            Unexpected::Float(x).to_string(),
            "{x:e}"
        );
    }
}
