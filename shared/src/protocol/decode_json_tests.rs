//! [`FromJson`] against the serde derive, on the stored and HTTP types the
//! browser reads: a full sample of each, and the sample altered at every
//! path in it, read both ways ([`reference`]). Frames have their own, on
//! the documented examples (decode_tests).

use super::*;
use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, MessageId, OfflineId, Ulid, VisitorId};
use crate::model::{Author, ChatState, ChatStatus, Message, OfflineNote, Role, VisitorInfo};
use crate::protocol::reference::{self, odd_values};
use crate::protocol::{
    ActiveDeployment, ChatSync, DeploymentRole, DeploymentState, ErrorCode, Health, LoginResponse,
    QueueEntry, ReplicationLag, VisitorTokenResponse,
};
use crate::session::{Identity, Intent, LocalChat, Snapshot, VisitorUpdate};
use crate::time::Millis;
use crate::transcript::Transcript;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// `sample` and every alteration of it judged alike both ways.
fn holds<T>(sample: T)
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    let cases = reference::holds(sample).unwrap_or_else(|error| panic!("{error}"));
    assert!(cases > 20, "only {cases} alterations");
}

/// `value` read both ways, which must agree.
fn agree<T>(value: &Value) -> Option<T>
where
    T: FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    reference::judged_alike(value).unwrap_or_else(|error| panic!("{error}"))
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
        text: "Is the blue one in stock?".into(),
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

fn note() -> OfflineNote {
    OfflineNote {
        id: OfflineId(id(3)),
        site: "demo".into(),
        name: "Grace".into(),
        email: "grace@example.net".into(),
        text: "Call me back".into(),
        at: Millis(5),
    }
}

fn health() -> Health {
    Health {
        deployment: "primary".into(),
        role: DeploymentRole::Primary,
        epoch: 4,
        ready: true,
        draining: true,
        lag: Some(ReplicationLag {
            changes: 12,
            seconds: 0.25,
            connected: true,
        }),
        version: "0.1.0".into(),
    }
}

#[test]
fn a_session_snapshot_reads_as_the_derive_reads_it() {
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
        notes: vec![note()],
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
        online: Some(false),
    });
}

#[test]
fn the_http_bodies_read_as_the_derive_reads_them() {
    holds(health());
    holds(ActiveDeployment {
        epoch: 4,
        active: "primary".into(),
        url: "https://chat-a.example.net".into(),
        held: true,
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
        expires: Millis(1_733_086_400_000),
    });
}

#[test]
fn the_parts_of_frames_read_as_the_derive_reads_them() {
    holds(ChatSync {
        chat: ChatId(id(2)),
        status: status(),
        visitor: visitor(),
        missing: vec![message()],
        lacking: vec![MessageId(id(6))],
    });
    holds(QueueEntry {
        chat: ChatId(id(2)),
        status: status(),
        visitor: visitor(),
        since: Millis(77),
        preview: "hello".into(),
    });
    holds(note());
}

/// Every variant of `T` is named as serde names it, and nothing else reads.
fn named_as_serde_names<T>()
where
    T: UnitVariants + FromJson + DeserializeOwned + Serialize + PartialEq + Debug,
{
    for (variant, name) in T::VARIANTS {
        assert_eq!(serde_json::to_value(variant).unwrap(), json!(name));
        assert_eq!(agree::<T>(&json!(name)), Some(*variant));
    }
    for odd in odd_values() {
        agree::<T>(&odd);
    }
    agree::<T>(&json!("Visitor"));
}

#[test]
fn enums_are_read_by_serdes_names() {
    named_as_serde_names::<Role>();
    named_as_serde_names::<ChatState>();
    named_as_serde_names::<DeploymentRole>();
    named_as_serde_names::<ErrorCode>();
}

#[test]
fn errors_name_the_innermost_field() {
    let mut value = serde_json::to_value(message()).unwrap();
    value["author"]["role"] = json!("robot");
    assert_eq!(
        Message::from_json(&&value).unwrap_err().to_string(),
        "invalid value in field `role`"
    );
    value.as_object_mut().unwrap().remove("author");
    assert_eq!(
        Message::from_json(&&value).unwrap_err().to_string(),
        "missing field `author`"
    );
    assert_eq!(
        Message::from_json(&&json!([])).unwrap_err().to_string(),
        "invalid value"
    );
}

#[test]
fn duplicate_keys_are_refused_like_the_derive_does() {
    assert!(strict_value(r#"{"a":1,"a":2}"#).is_err());
    assert!(strict_value(r#"{"a":{"b":1,"b":1}}"#).is_err());
    assert!(strict_value(r#"[{"a":1},{"a":2}]"#).is_ok());
    assert!(strict_value(r#"{"a":1} x"#).is_err());
    for text in [
        r#"{"a":[1,2.5,-3,"x",null,true,{"b":{}}]}"#,
        "18446744073709551615",
        "-9223372036854775808",
        r#""\u00e9\n""#,
    ] {
        assert_eq!(
            strict_value(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap(),
            "{text}"
        );
    }
}
