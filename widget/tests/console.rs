//! The console bindings (`--features console`) in a real browser, with no
//! relay reachable (the deployments point at a closed port): configuration
//! errors, login failures, a stored login bound to its deployments, and
//! what the operator writes while no deployment answers: shown at once as
//! sending, kept in localStorage per operator, still there after a "reload"
//! (a new `Console` on the same storage).
#![cfg(all(target_arch = "wasm32", feature = "console"))]

use js_sys::{Function, Reflect};
use serde_json::{Value, json};
use std::cell::Cell;
use std::rc::Rc;
use twinline_core::model::{Author, ChatState, ChatStatus, Role};
use twinline_core::protocol::LoginResponse;
use twinline_core::session::{Identity, LocalChat, SNAPSHOT_VERSION, Snapshot};
use twinline_core::{ChatId, Hlc, Lamport, Message, MessageId, Millis, Transcript, Ulid};
use twinline_widget::console::Console;
use twinline_widget::js;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Nothing listens here (and browsers refuse the port outright).
const DEAD: &str = "http://127.0.0.1:9";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

fn config() -> JsValue {
    js::to_js(&json!({ "primary": DEAD, "redundant": DEAD })).unwrap()
}

fn state(console: &Console) -> Value {
    serde_wasm_bindgen::from_value(console.state().unwrap()).unwrap()
}

fn chat() -> ChatId {
    ChatId(Ulid::new(Millis(1_000), 99))
}

/// Stores a login for `username` and a snapshot holding one active chat of
/// theirs, as a console that had accepted it would have left behind.
fn leave_behind(username: &str) {
    leave_behind_with(username, Transcript::new());
}

/// [`leave_behind`], with `transcript` in the chat.
fn leave_behind_with(username: &str, transcript: Transcript) {
    let now = js::now();
    let login = LoginResponse {
        token: "token-from-an-earlier-login".into(),
        username: username.into(),
        name: "Operator".into(),
        expires: now.plus(3_600_000),
    };
    storage()
        .set_item("twinline:console:login", &js::to_json(&login).unwrap())
        .unwrap();
    // Issued for the deployments of `config()` (one, named twice).
    storage()
        .set_item("twinline:console:login-for", DEAD)
        .unwrap();
    let local = LocalChat {
        transcript,
        status: ChatStatus {
            state: ChatState::Active,
            operator: Some(username.into()),
            stamp: Hlc::zero(3).tick(Millis(1_000)),
        },
        ..LocalChat::default()
    };
    let snapshot = Snapshot {
        v: SNAPSHOT_VERSION,
        identity: Identity {
            token: login.token.clone(),
            author: Author {
                role: Role::Operator,
                id: username.into(),
                name: "Operator".into(),
            },
            chat: None,
        },
        chats: vec![(chat(), local)],
        pending: vec![],
        refused: vec![],
        notes: vec![],
        intents: vec![],
        visitor: None,
        online: Some(true),
        ratings: Vec::new(),
        emails: Vec::new(),
    };
    storage()
        .set_item(
            &format!("twinline:console:session:{username}"),
            &js::to_json(&snapshot).unwrap(),
        )
        .unwrap();
}

fn clear() {
    storage().clear().unwrap();
}

#[wasm_bindgen_test]
fn without_a_stored_login_it_asks_for_one() {
    clear();
    let console = Console::new(config()).unwrap();
    let state = state(&console);
    assert_eq!(state["needsLogin"], json!(true));
    assert_eq!(state["me"], Value::Null);
    assert_eq!(state["connection"]["state"], json!("offline"));
    let refused = console.send(&chat().to_string(), "hi").unwrap_err();
    assert_eq!(
        Reflect::get(&refused, &"message".into()).unwrap(),
        "not logged in"
    );
}

#[wasm_bindgen_test]
fn a_bad_configuration_is_a_clear_error() {
    let error = Console::new(js::to_js(&json!({ "primary": "ftp://x" })).unwrap())
        .err()
        .unwrap();
    let message = Reflect::get(&error, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(
        message.contains("`primary` must be an http(s) URL"),
        "{message}"
    );
}

#[wasm_bindgen_test]
async fn login_with_no_deployment_answering_says_so() {
    clear();
    let console = Console::new(config()).unwrap();
    let result = JsFuture::from(console.login("ada".into(), "pw".into())).await;
    let error = result.unwrap_err();
    let message = Reflect::get(&error, &"message".into())
        .unwrap()
        .as_string()
        .unwrap();
    assert!(message.starts_with("no deployment answers"), "{message}");
    assert!(
        storage()
            .get_item("twinline:console:login")
            .unwrap()
            .is_none()
    );
}

#[wasm_bindgen_test]
async fn what_the_operator_writes_offline_is_kept_and_survives_a_reload() {
    clear();
    leave_behind("ann");
    let console = Console::new(config()).unwrap();
    let before = state(&console);
    assert_eq!(before["needsLogin"], json!(false));
    assert_eq!(before["me"]["username"], json!("ann"));
    assert_eq!(before["chats"][0]["chat"], json!(chat().to_string()));
    assert_eq!(before["chats"][0]["mine"], json!(true));

    let notified = Rc::new(Cell::new(0));
    let counter = notified.clone();
    let listener = Closure::<dyn FnMut()>::new(move || counter.set(counter.get() + 1));
    console.on_change(listener.as_ref().unchecked_ref::<Function>().clone());

    let id = console.send(&chat().to_string(), HOSTILE).unwrap();
    let after = state(&console);
    let message = &after["chats"][0]["messages"][0];
    assert_eq!(message["id"], json!(id));
    assert_eq!(message["text"], json!(HOSTILE));
    assert_eq!(message["status"], json!("sending"));
    assert_eq!(message["own"], json!(true));
    assert_eq!(after["chats"][0]["pending"], json!(1));

    // Listeners run after the call, once for the burst.
    assert_eq!(notified.get(), 0);
    JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL))
        .await
        .unwrap();
    assert!(notified.get() >= 1);

    // Stored per operator at once.
    let saved = storage()
        .get_item("twinline:console:session:ann")
        .unwrap()
        .unwrap();
    assert!(saved.contains(&id), "{saved}");

    // A closed chat with unsent messages cannot be dropped.
    assert!(!console.forget(&chat().to_string()).unwrap());

    // "Reload": the page goes, a new console starts from storage.
    console.stop();
    drop(console);
    let reloaded = Console::new(config()).unwrap();
    let again = state(&reloaded);
    assert_eq!(again["needsLogin"], json!(false));
    let message = &again["chats"][0]["messages"][0];
    assert_eq!(message["id"], json!(id));
    assert_eq!(message["status"], json!("sending"));
    reloaded.stop();
}

#[wasm_bindgen_test]
async fn logout_forgets_the_login_but_keeps_the_chats() {
    clear();
    leave_behind("ben");
    let console = Console::new(config()).unwrap();
    let id = console.send(&chat().to_string(), "kept").unwrap();
    let ended = console.logout();
    // Logged out here at once, before any relay answers.
    assert_eq!(state(&console)["needsLogin"], json!(true));
    assert!(
        storage()
            .get_item("twinline:console:login")
            .unwrap()
            .is_none()
    );
    let saved = storage()
        .get_item("twinline:console:session:ben")
        .unwrap()
        .unwrap();
    assert!(saved.contains(&id));
    // No deployment answers here: the page is told the session could not
    // be ended on the relays.
    let refused = JsFuture::from(ended).await.expect_err("no relay answered");
    let message = js_sys::Error::from(refused).message().as_string().unwrap();
    assert!(message.contains("no deployment answered"), "{message}");
}

#[wasm_bindgen_test]
fn a_login_stored_for_other_deployments_is_forgotten_unused() {
    let other =
        js::to_js(&json!({ "primary": DEAD, "redundant": "https://evil.example" })).unwrap();
    for unbound in [false, true] {
        clear();
        leave_behind("dan");
        if unbound {
            // Stored before logins were bound: which deployments it was
            // for is unknown, so it is not used either.
            storage().remove_item("twinline:console:login-for").unwrap();
        }
        let console = Console::new(if unbound { config() } else { other.clone() }).unwrap();
        let state = state(&console);
        assert_eq!(state["needsLogin"], json!(true), "unbound: {unbound}");
        assert_eq!(state["me"], Value::Null, "no session started");
        for key in ["twinline:console:login", "twinline:console:login-for"] {
            assert!(storage().get_item(key).unwrap().is_none(), "{key} kept");
        }
        // The operator's chats stay for the next login.
        assert!(
            storage()
                .get_item("twinline:console:session:dan")
                .unwrap()
                .is_some()
        );
    }
    // The same deployments in the other order (the console served by the
    // other deployment) are the same set: the login is used.
    clear();
    leave_behind("dan");
    storage()
        .set_item(
            "twinline:console:login-for",
            "http://127.0.0.1:10 http://127.0.0.1:9",
        )
        .unwrap();
    let swapped =
        js::to_js(&json!({ "primary": "http://127.0.0.1:10", "redundant": DEAD })).unwrap();
    let console = Console::new(swapped).unwrap();
    assert_eq!(state(&console)["me"]["username"], json!("dan"));
    console.stop();
}

#[wasm_bindgen_test]
fn a_redundant_alone_is_the_deployment_it_starts_on() {
    clear();
    let alone = js::to_js(&json!({ "redundant": DEAD, "redundantName": "eu-west" })).unwrap();
    let console = Console::new(alone).unwrap();
    assert_eq!(state(&console)["needsLogin"], json!(true));
}

#[wasm_bindgen_test]
fn a_saved_message_no_reader_can_show_is_left_out_and_the_chat_shown() {
    // Saved by a console older than the decoder's check: `state()` threw
    // "can't be represented as a JavaScript number" on every render.
    clear();
    let mut transcript = Transcript::new();
    for (n, lamport, at) in [(1, 1, 1_000), (2, 2, u64::MAX), (3, u64::MAX, 5)] {
        transcript.insert(Message {
            lamport: Lamport(lamport),
            author: Author {
                role: Role::Visitor,
                id: "v1".into(),
                name: "Ada".into(),
            },
            id: MessageId(Ulid::new(Millis(1_000), n)),
            chat: chat(),
            text: format!("message {n}"),
            at: Millis(at),
            file: None,
        });
    }
    leave_behind_with("eve", transcript);
    let console = Console::new(config()).unwrap();
    let state = state(&console);
    let shown: Vec<&Value> = state["chats"][0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(shown, [&json!("message 1")]);
    console.stop();
}

#[wasm_bindgen_test]
fn bad_arguments_are_refused_with_a_reason() {
    clear();
    leave_behind("cid");
    let console = Console::new(config()).unwrap();
    let message = |error: JsValue| {
        Reflect::get(&error, &"message".into())
            .unwrap()
            .as_string()
            .unwrap()
    };
    assert!(message(console.accept("nope").unwrap_err()).contains("is not a chat id"));
    assert_eq!(
        message(console.transfer(&chat().to_string(), " ").unwrap_err()),
        "transfer to whom?"
    );
    assert_eq!(
        message(console.send(&chat().to_string(), "   ").unwrap_err()),
        "the text is empty"
    );
    let unknown = ChatId(Ulid::new(Millis(5), 5)).to_string();
    assert_eq!(
        message(console.send(&unknown, "hi").unwrap_err()),
        "no such chat"
    );
    console.stop();
}
