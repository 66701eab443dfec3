//! A record no reader can show, in the frames a relay sends, read the way
//! the browser reads them (`JSON.parse` with the BigInt fallback, then the
//! core's decoder): a message with `lamport` 2^64 - 1 in a welcome, one with
//! `at` 2^64 - 1 in a message frame, a queue entry with `since` 2^64 - 1 and
//! a note with `at` 2^53 + 1 in an inbox. Each is left out and logged; the
//! rest is shown. Once, such a record made `Console.state()` throw in every
//! console, on both deployments, for as long as it was stored.
//!
//! The console's half (`--features console`) also holds the page's state to
//! it: `Console.state()`'s object is built and converted with those frames
//! in the session (tests/console.rs has such a message in a snapshot a
//! console saved before the decoder checked).
#![cfg(target_arch = "wasm32")]

use serde_json::{Value, json};
use twinline_core::model::Role;
use twinline_core::protocol::{DeploymentRole, FrameError, ServerFrame};
use twinline_core::session::{Action, ConnId, Endpoint, Identity, Input, Session, SessionConfig};
use twinline_core::{Author, ChatId, Millis};
use twinline_widget::js;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CHAT: &str = "01JDQ5Z8K6V3N2M4P7R9S0T1W2";
const GOOD: &str = "01JDQ62AAAAAAAAAAAAAAAAAAA";
const HUGE_LAMPORT: &str = "01JDQ62AAAAAAAAAAAAAAAAAA1";
const HUGE_AT: &str = "01JDQ62AAAAAAAAAAAAAAAAAA2";
const LATE_CHAT: &str = "01JDQ5Z8K6V3N2M4P7R9S0T1W3";
const GOOD_NOTE: &str = "01JDQ61XYZ0123456789ABCDEF";
const ODD_NOTE: &str = "01JDQ61XYZ0123456789ABCDE1";
/// 2^53 + 1: not even a float can hold it exactly.
const JUST_BEYOND: u64 = (1 << 53) + 1;

fn message(id: &str, lamport: u64, at: u64) -> Value {
    json!({"lamport": lamport, "author": {"role": "visitor", "id": "v1", "name": "Ada"},
           "id": id, "chat": CHAT, "text": format!("message {id}"), "at": at})
}

fn stamp() -> Value {
    json!({"wall": 1_764_035_990_000u64, "counter": 0, "node": 7})
}

fn visitor() -> Value {
    json!({"name": "Ada", "email": "ada@example.com", "page": "https://shop.example/blue", "stamp": stamp()})
}

fn welcome(you: Value, operator: Option<&str>) -> String {
    json!({"type": "welcome", "v": 1, "deployment": "primary", "role": "primary", "epoch": 3,
           "you": you,
           "chats": [{"chat": CHAT,
                      "status": {"state": "active", "operator": operator, "stamp": stamp()},
                      "visitor": visitor(),
                      "missing": [message(GOOD, 1, 1_764_036_001_000),
                                  message(HUGE_LAMPORT, u64::MAX, 1_764_036_002_000)],
                      "lacking": []}],
           "operators_online": 1})
    .to_string()
}

fn message_frame() -> String {
    json!({"type": "message", "msg": message(HUGE_AT, 2, u64::MAX)}).to_string()
}

fn queue() -> String {
    let entry = |chat: &str, since: u64| {
        json!({"chat": chat, "status": {"state": "waiting", "operator": null, "stamp": stamp()},
               "visitor": visitor(), "since": since, "preview": "hello"})
    };
    json!({"type": "queue", "chats": [entry(LATE_CHAT, u64::MAX), entry(CHAT, 1_764_035_990_000)]})
        .to_string()
}

fn inbox() -> String {
    let note = |id: &str, at: u64| {
        json!({"id": id, "site": "demo", "name": "Ada", "email": "ada@example.com",
               "text": "Please call me back.", "at": at})
    };
    json!({"type": "inbox", "notes": [note(ODD_NOTE, JUST_BEYOND), note(GOOD_NOTE, 1_764_036_000_000)]})
        .to_string()
}

/// The `key` of every object in the list `list`.
#[cfg(feature = "console")]
fn ids<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    let items = list.as_array().expect("a list");
    items
        .iter()
        .map(|item| item[key].as_str().unwrap())
        .collect()
}

/// A frame read as the browser reads it (widget/src/host.rs).
fn read(text: &str) -> Result<ServerFrame, FrameError> {
    js::read_frame(text)
}

fn session(author: Author, chat: Option<ChatId>) -> (Session, ConnId) {
    let config = SessionConfig {
        role: author.role,
        site: "demo".into(),
        moderator: None,
        deployments: vec![Endpoint {
            name: "primary".into(),
            role: DeploymentRole::Primary,
            url: "http://127.0.0.1:9".into(),
        }],
        timing: Default::default(),
    };
    let identity = Identity {
        token: "t".into(),
        author,
        chat,
    };
    let mut session = Session::new(config, identity, Millis(1_764_036_000_000), 1);
    let conn = std::iter::from_fn(|| session.poll_action())
        .find_map(|action| match action {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("connects at once");
    session.handle(Millis(1_764_036_000_001), Input::Opened { conn });
    (session, conn)
}

/// Feeds every frame that reads (as the host does; the others are logged
/// and dropped there).
fn feed(session: &mut Session, conn: ConnId, texts: &[String]) {
    for text in texts {
        if let Ok(frame) = read(text) {
            session.handle(Millis(1_764_036_003_000), Input::Frame { conn, frame });
            while session.poll_action().is_some() {}
        }
    }
}

#[wasm_bindgen_test]
fn the_browser_reader_leaves_out_each_record_it_cannot_show_and_keeps_the_rest() {
    let Ok(ServerFrame::Welcome { chats, .. }) = read(&welcome(
        json!({"role": "operator", "id": "ann", "name": "Ann"}),
        Some("ann"),
    )) else {
        panic!("the welcome did not read");
    };
    let ids: Vec<String> = chats[0].missing.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, [GOOD]);

    match read(&message_frame()) {
        Err(FrameError::Malformed(why)) => assert!(why.contains(HUGE_AT), "{why}"),
        other => panic!("{other:?}"),
    }

    let Ok(ServerFrame::Queue { chats }) = read(&queue()) else {
        panic!("the queue did not read");
    };
    let chats: Vec<String> = chats.iter().map(|e| e.chat.to_string()).collect();
    assert_eq!(chats, [CHAT]);

    let Ok(ServerFrame::Inbox { notes }) = read(&inbox()) else {
        panic!("the inbox did not read");
    };
    let notes: Vec<String> = notes.iter().map(|n| n.id.to_string()).collect();
    assert_eq!(notes, [GOOD_NOTE]);
}

#[wasm_bindgen_test]
fn a_visitor_keeps_its_chat_without_the_record() {
    let chat: ChatId = CHAT.parse().unwrap();
    let me = Author {
        role: Role::Visitor,
        id: "v1".into(),
        name: "Ada".into(),
    };
    let (mut session, conn) = session(me, Some(chat));
    feed(
        &mut session,
        conn,
        &[
            welcome(
                json!({"role": "visitor", "id": "v1", "name": "Ada"}),
                Some("ann"),
            ),
            message_frame(),
        ],
    );
    let shown: Vec<String> = session
        .transcript(chat)
        .expect("the chat is kept")
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(shown, [GOOD]);
}

#[cfg(feature = "console")]
mod console {
    use super::*;
    use twinline_widget::console::state;

    fn ann() -> Author {
        Author {
            role: Role::Operator,
            id: "ann".into(),
            name: "Ann".into(),
        }
    }

    #[wasm_bindgen_test]
    fn the_console_state_converts_and_shows_everything_else() {
        let (mut session, conn) = session(ann(), None);
        feed(
            &mut session,
            conn,
            &[
                welcome(
                    json!({"role": "operator", "id": "ann", "name": "Ann"}),
                    Some("ann"),
                ),
                message_frame(),
                queue(),
                inbox(),
            ],
        );
        let built = state::build(&session, Millis(1_764_036_004_000));
        // What `Console.state()` does; it threw "can't be represented as a
        // JavaScript number" with any of these records in the session.
        let state: Value =
            serde_wasm_bindgen::from_value(js::to_js(&built).expect("state() converts")).unwrap();
        assert_eq!(ids(&state["chats"][0]["messages"], "id"), [GOOD]);
        assert_eq!(ids(&state["queue"], "chat"), [CHAT]);
        assert_eq!(ids(&state["inbox"], "id"), [GOOD_NOTE]);
    }
}
