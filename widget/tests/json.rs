//! The widget's JSON in a real browser: `js::to_json` (serde_json in the
//! bundle) writes the text the browser's `JSON.stringify` wrote for the same
//! values; `js::from_json` (`JSON.parse`, then the core's `FromJson` over
//! `JsView`) reads every type the bundles read as the serde derive reads
//! it, on a full sample of each and the sample altered at every path
//! (`twinline_core::protocol::reference`), with every integer exact; and a
//! relay's frames read through `JsView` as through a `serde_json::Value`.
#![cfg(target_arch = "wasm32")]

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use twinline_core::protocol::{
    Fields, FromJson, JsonError, JsonView, ServerFrame, reference, samples,
};
use twinline_widget::js;
use twinline_widget::tabs::message::TabMessage;
use twinline_widget::view::{
    ChatPhase, Link, Status, Unsent, View, ViewEmail, ViewMessage, ViewNote, ViewRating,
};
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

impl FromJson for Sample {
    fn from_json<V: JsonView>(value: &V) -> Result<Sample, JsonError> {
        let f = Fields::of(value)?;
        Ok(Sample {
            small: f.get("small")?,
            safe: f.get("safe")?,
            beyond: f.get("beyond")?,
            none: f.get("none")?,
            some: f.get("some")?,
            flag: f.get("flag")?,
            list: f.get("list")?,
        })
    }
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

/// `sample` and every alteration of it read by `js::from_json` as the
/// derive reads them.
fn holds<T>(sample: T)
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    let cases = reference::holds_by(sample, |value| js::from_json::<T>(&value.to_string()))
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(cases > 20, "only {cases} alterations");
}

#[wasm_bindgen_test]
fn the_stored_session_reads_as_the_derive_reads_it() {
    holds(samples::snapshot());
}

#[wasm_bindgen_test]
fn what_relays_and_the_moderator_answer_reads_as_the_derive_reads_it() {
    holds(samples::health());
    holds(samples::active());
    holds(samples::token());
    holds(samples::login());
    holds(samples::chat_sync());
    holds(samples::queue_entry());
}

fn view() -> View {
    View {
        chat: Some("C".into()),
        messages: vec![ViewMessage {
            id: "A".into(),
            author: "operator".into(),
            name: "Ada".into(),
            text: "x".into(),
            at: 1,
            status: Status::Received,
        }],
        link: Link::Reconnecting,
        deployment: Some("primary".into()),
        operators_online: Some(2),
        phase: ChatPhase::Active,
        operator: Some("Ada".into()),
        typing: Some(String::new()),
        visitor_name: "Grace".into(),
        visitor_email: "g@example.net".into(),
        notes: vec![ViewNote {
            id: "N".into(),
            stored: false,
        }],
        rating: Some(ViewRating {
            score: twinline_core::Score::Good,
            comment: "kind \"and\" quick".into(),
            stored: true,
        }),
        seen: Some("A".into()),
        mail: true,
        email: Some(Box::new(ViewEmail {
            to: "g@example.net".into(),
            stored: false,
        })),
    }
}

#[wasm_bindgen_test]
fn what_tabs_tell_each_other_reads_as_the_derive_reads_it() {
    let view = serde_json::to_string(&view()).unwrap();
    for text in [
        format!(r#"{{"t":"view","from":"t1","view":{view}}}"#),
        r#"{"t":"hello","from":"t1"}"#.into(),
        r#"{"t":"unsent","from":"t1"}"#.into(),
        r#"{"t":"typing","from":"t1"}"#.into(),
        r#"{"t":"visitor","from":"t1","name":"Ann","email":"a@b.c","page":"/"}"#.into(),
        r#"{"t":"offline","from":"t1","name":"Ann","email":"a@b.c","text":"hi"}"#.into(),
        r#"{"t":"new_chat","from":"t1"}"#.into(),
        r#"{"t":"bye","from":"t1"}"#.into(),
        r#"{"t":"rate","from":"t1","score":"bad","comment":"slow"}"#.into(),
        r#"{"t":"seen","from":"t1"}"#.into(),
        r#"{"t":"email_transcript","from":"t1","email":"a@b.c"}"#.into(),
    ] {
        holds(serde_json::from_str::<TabMessage>(&text).unwrap());
    }
    holds(vec![
        Unsent {
            id: "A".into(),
            text: "x".into(),
            at: 1,
        },
        Unsent {
            id: "B".into(),
            text: "y".into(),
            at: (1 << 53) + 1,
        },
    ]);
}

#[wasm_bindgen_test]
fn frames_read_through_json_parse_as_through_serde_json() {
    let examples = reference::server_examples();
    assert!(examples.len() >= ServerFrame::TYPES.len());
    for text in examples {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        for case in reference::alterations(&value) {
            let text = case.to_string();
            let ours = js::read_frame(&text);
            let native = ServerFrame::decode(&text);
            match (&ours, &native) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(_), Err(_)) => {}
                _ => panic!("JSON.parse read {ours:?} but serde_json {native:?} from {text}"),
            }
        }
    }
}

/// What the widget logs of a thrown value or a page's argument: JS's own
/// `String(value)` (not wasm-bindgen's Debug formatter, kept out of the
/// bundles), and a fallback when even that throws.
#[wasm_bindgen_test]
fn thrown_values_are_described_as_js_describes_them() {
    let error: JsValue = js_sys::Error::new("it broke").into();
    assert_eq!(js::describe(&error), "Error: it broke");
    assert_eq!(js::describe(&"send".into()), "send");
    assert_eq!(js::describe(&JsValue::from(5)), "5");
    let hostile = js_sys::Function::new_no_args("return {toString() { throw 1; }};")
        .call0(&JsValue::NULL)
        .unwrap();
    assert_eq!(js::describe(&hostile), "a value that cannot be shown");
}
