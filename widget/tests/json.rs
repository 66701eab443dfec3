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
use twinline_core::clock::{Hlc, Lamport};
use twinline_core::protocol::{
    ActiveDeployment, ChatSync, DeploymentRole, DeploymentState, Fields, FromJson, Health,
    JsonError, JsonView, LoginResponse, ReplicationLag, ServerFrame, VisitorTokenResponse,
    reference,
};
use twinline_core::session::{Identity, Intent, LocalChat, Snapshot, VisitorUpdate};
use twinline_core::{
    Author, ChatId, ChatState, ChatStatus, Message, MessageId, Millis, OfflineId, OfflineNote,
    Role, Transcript, Ulid, VisitorId, VisitorInfo,
};
use twinline_widget::js;
use twinline_widget::tabs::message::TabMessage;
use twinline_widget::view::{ChatPhase, Link, Status, Unsent, View, ViewMessage, ViewNote};
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

fn id(n: u128) -> Ulid {
    Ulid(n << 20 | 7)
}

fn stamp() -> Hlc {
    Hlc {
        wall: Millis(1_733_000_000_000),
        counter: 3,
        node: 42,
    }
}

fn message() -> Message {
    Message {
        lamport: Lamport(9),
        author: Author {
            role: Role::Operator,
            id: "ada".into(),
            name: "Ada".into(),
        },
        id: MessageId(id(1)),
        chat: ChatId(id(2)),
        text: "Is the blue one in stock? \"quoted\" \u{1f600}".into(),
        at: Millis(1_733_000_000_500),
    }
}

fn status() -> ChatStatus {
    ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(),
    }
}

fn visitor() -> VisitorInfo {
    VisitorInfo {
        name: "Grace".into(),
        email: "grace@example.net".into(),
        page: "/shop".into(),
        stamp: stamp(),
    }
}

fn health() -> Health {
    Health {
        deployment: "primary".into(),
        role: DeploymentRole::Primary,
        epoch: 4,
        ready: true,
        draining: false,
        lag: Some(ReplicationLag {
            changes: 12,
            seconds: 0.25,
            connected: true,
        }),
        version: "0.1.0".into(),
    }
}

#[wasm_bindgen_test]
fn the_stored_session_reads_as_the_derive_reads_it() {
    let chat = ChatId(id(2));
    holds(Snapshot {
        v: 1,
        identity: Identity {
            token: "v1.token".into(),
            author: Author {
                role: Role::Visitor,
                id: "visitor-1".into(),
                name: String::new(),
            },
            chat: Some(chat),
        },
        chats: vec![(
            chat,
            LocalChat {
                transcript: Transcript::from(vec![message()]),
                status: status(),
                visitor: visitor(),
            },
        )],
        pending: vec![MessageId(id(1))],
        refused: vec![MessageId(id(4))],
        notes: vec![OfflineNote {
            id: OfflineId(id(3)),
            site: "demo".into(),
            name: "Grace".into(),
            email: "grace@example.net".into(),
            text: "Call me back".into(),
            at: Millis(5),
        }],
        intents: vec![
            Intent::Accept { chat },
            Intent::Close { chat },
            Intent::Transfer {
                chat,
                to: "grace".into(),
            },
        ],
        visitor: Some(VisitorUpdate {
            chat,
            name: "Grace".into(),
            email: "g@example.net".into(),
            page: "/".into(),
        }),
        online: Some(true),
    });
}

#[wasm_bindgen_test]
fn what_relays_and_the_moderator_answer_reads_as_the_derive_reads_it() {
    holds(health());
    holds(ActiveDeployment {
        epoch: 4,
        active: "primary".into(),
        url: "https://chat-a.example.net".into(),
        held: false,
        deployments: vec![
            DeploymentState {
                name: "primary".into(),
                role: DeploymentRole::Primary,
                url: "https://chat-a.example.net".into(),
                up: true,
                health: Some(health()),
            },
            DeploymentState {
                name: "redundant".into(),
                role: DeploymentRole::Redundant,
                url: "https://chat-b.example.net".into(),
                up: false,
                health: None,
            },
        ],
    });
    holds(VisitorTokenResponse {
        token: "v1.token".into(),
        visitor: VisitorId(id(5)),
        chat: ChatId(id(2)),
        expires: Millis(1_733_086_400_000),
    });
    holds(LoginResponse {
        token: "o1.token".into(),
        username: "ada".into(),
        name: "Ada".into(),
        expires: Millis(u64::MAX),
    });
    holds(ChatSync {
        chat: ChatId(id(2)),
        status: status(),
        visitor: visitor(),
        missing: vec![message()],
        lacking: vec![MessageId(id(6))],
    });
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
    }
}

#[wasm_bindgen_test]
fn what_tabs_tell_each_other_reads_as_the_derive_reads_it() {
    let from = || String::from("t1");
    for message in [
        TabMessage::View {
            from: from(),
            view: view(),
        },
        TabMessage::Hello { from: from() },
        TabMessage::Unsent { from: from() },
        TabMessage::Typing { from: from() },
        TabMessage::Visitor {
            from: from(),
            name: "Ann".into(),
            email: "a@b.c".into(),
            page: "/".into(),
        },
        TabMessage::Offline {
            from: from(),
            name: "Ann".into(),
            email: "a@b.c".into(),
            text: "hi".into(),
        },
        TabMessage::NewChat { from: from() },
        TabMessage::Bye { from: from() },
    ] {
        holds(message);
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

/// The body of every ```json server block in docs/PROTOCOL.md.
fn server_examples() -> Vec<String> {
    let doc = include_str!("../../docs/PROTOCOL.md");
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```json server" {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push(body.join("\n"));
        }
    }
    out
}

#[wasm_bindgen_test]
fn frames_read_through_json_parse_as_through_serde_json() {
    let examples = server_examples();
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
