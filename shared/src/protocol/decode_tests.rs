//! The tag-first decoder ([`ServerFrame::decode`]) must read exactly what
//! the derived `Deserialize` ([`ServerFrame::parse`]) reads: compared on
//! every documented example, on each example with a field dropped, retyped
//! or added, on broken text, and on generated frames.

use super::*;
use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, MessageId, OfflineId, Ulid};
use crate::model::{Author, ChatState, ChatStatus, Message, OfflineNote, Role, VisitorInfo};
use crate::time::Millis;
use proptest::prelude::*;
use serde_json::{Map, Value};

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

/// The body of every ```json server block in docs/PROTOCOL.md.
fn server_examples() -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = DOC.lines();
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

/// Both readers agree on `text`: the same frame, or errors of the same
/// kind (the derive's malformed-message wording may differ in position).
fn agree(text: &str) -> Result<ServerFrame, FrameError> {
    let derived = ServerFrame::parse(text);
    let decoded = ServerFrame::decode(text);
    match (&derived, &decoded) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
        (Err(FrameError::Malformed(_)), Err(FrameError::Malformed(_))) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "{text}"),
        _ => panic!("derive {derived:?} but decoder {decoded:?} for {text}"),
    }
    decoded
}

fn object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        other => panic!("example is not an object: {other:?}"),
    }
}

#[test]
fn every_documented_server_frame_decodes_as_the_derive_does() {
    let examples = server_examples();
    let mut types: Vec<String> = Vec::new();
    for text in &examples {
        let frame = agree(text).unwrap_or_else(|e| panic!("{e} for {text}"));
        assert_eq!(ServerFrame::decode(&frame.to_json()), Ok(frame));
        types.push(object(text)["type"].as_str().unwrap().to_string());
    }
    types.sort();
    types.dedup();
    let mut known: Vec<String> = ServerFrame::TYPES.iter().map(|t| t.to_string()).collect();
    known.sort();
    assert_eq!(types, known, "an example for every server frame type");
}

#[test]
fn altered_examples_are_judged_as_the_derive_does() {
    let odd_values = [
        Value::Null,
        Value::Bool(true),
        Value::from(-1),
        Value::from(1.5),
        Value::from(u64::MAX),
        Value::from("x"),
        Value::from("01JDQ5Z8K6V3N2M4P7R9S0T1W2"),
        Value::Array(vec![]),
        Value::Object(Map::new()),
    ];
    let mut cases = 0;
    for text in server_examples() {
        let map = object(&text);
        for key in map.keys() {
            let mut dropped = map.clone();
            dropped.remove(key);
            let _ = agree(&Value::Object(dropped).to_string());
            for value in &odd_values {
                let mut retyped = map.clone();
                retyped.insert(key.clone(), value.clone());
                let _ = agree(&Value::Object(retyped).to_string());
                cases += 1;
            }
        }
        let mut extra = map.clone();
        extra.insert("future".into(), Value::from(vec![1, 2]));
        assert!(agree(&Value::Object(extra).to_string()).is_ok());
        let mut unknown = map.clone();
        unknown.insert("type".into(), Value::from("teleport"));
        assert_eq!(
            agree(&Value::Object(unknown).to_string()),
            Err(FrameError::UnknownType("teleport".into()))
        );
    }
    assert!(cases > 100, "only {cases} altered frames");
}

#[test]
fn broken_text_is_malformed_never_a_panic() {
    for text in [
        "",
        "{",
        "[]",
        "null",
        "5",
        "\"welcome\"",
        r#"{"type":"pong"}"#,
        r#"{"type":5,"nonce":1}"#,
        r#"{"no_type":1}"#,
        r#"{"type":"pong","nonce":1}x"#,
        r#"{"type":"pong","nonce":1,"nonce":2}"#,
    ] {
        assert!(
            matches!(ServerFrame::decode(text), Err(FrameError::Malformed(_))),
            "{text:?}"
        );
        let _ = agree(text);
    }
    // Every prefix of every example: cut mid-token, mid-string, mid-object.
    for text in server_examples() {
        for end in (0..text.len()).filter(|&end| text.is_char_boundary(end)) {
            let _ = agree(&text[..end]);
        }
    }
}

#[test]
fn unknown_type_and_oversize_are_reported_as_before() {
    assert_eq!(
        ServerFrame::decode(r#"{"type":"teleport","to":"mars"}"#),
        Err(FrameError::UnknownType("teleport".into()))
    );
    let text = format!(
        r#"{{"type":"pong","nonce":1,"pad":"{}"}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    assert_eq!(
        ServerFrame::decode(&text),
        Err(FrameError::TooLarge(text.len()))
    );
}

fn ulid() -> impl Strategy<Value = Ulid> {
    any::<u128>().prop_map(Ulid)
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, control characters and non-ASCII included.
    "[a-z\"\\\\\n\u{1}é😀 ]{0,8}"
}

fn hlc() -> impl Strategy<Value = Hlc> {
    (any::<u64>(), any::<u32>(), any::<u64>()).prop_map(|(wall, counter, node)| Hlc {
        wall: Millis(wall),
        counter,
        node,
    })
}

fn author() -> impl Strategy<Value = Author> {
    (
        prop_oneof![
            Just(Role::Visitor),
            Just(Role::Operator),
            Just(Role::System)
        ],
        text(),
        text(),
    )
        .prop_map(|(role, id, name)| Author { role, id, name })
}

fn message() -> impl Strategy<Value = Message> {
    (any::<u64>(), author(), ulid(), ulid(), text(), any::<u64>()).prop_map(
        |(lamport, author, id, chat, text, at)| Message {
            lamport: Lamport(lamport),
            author,
            id: MessageId(id),
            chat: ChatId(chat),
            text,
            at: Millis(at),
        },
    )
}

fn status() -> impl Strategy<Value = ChatStatus> {
    (
        prop_oneof![
            Just(ChatState::Waiting),
            Just(ChatState::Active),
            Just(ChatState::Closed)
        ],
        proptest::option::of(text()),
        hlc(),
    )
        .prop_map(|(state, operator, stamp)| ChatStatus {
            state,
            operator,
            stamp,
        })
}

fn visitor() -> impl Strategy<Value = VisitorInfo> {
    (text(), text(), text(), hlc()).prop_map(|(name, email, page, stamp)| VisitorInfo {
        name,
        email,
        page,
        stamp,
    })
}

fn note() -> impl Strategy<Value = OfflineNote> {
    (ulid(), text(), text(), text(), text(), any::<u64>()).prop_map(
        |(id, site, name, email, text, at)| OfflineNote {
            id: OfflineId(id),
            site,
            name,
            email,
            text,
            at: Millis(at),
        },
    )
}

fn sync() -> impl Strategy<Value = ChatSync> {
    (
        ulid(),
        status(),
        visitor(),
        prop::collection::vec(message(), 0..3),
        prop::collection::vec(ulid().prop_map(MessageId), 0..3),
    )
        .prop_map(|(chat, status, visitor, missing, lacking)| ChatSync {
            chat: ChatId(chat),
            status,
            visitor,
            missing,
            lacking,
        })
}

fn queue_entry() -> impl Strategy<Value = QueueEntry> {
    (ulid(), status(), visitor(), any::<u64>(), text()).prop_map(
        |(chat, status, visitor, since, preview)| QueueEntry {
            chat: ChatId(chat),
            status,
            visitor,
            since: Millis(since),
            preview,
        },
    )
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(vec![
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::TooLarge,
        ErrorCode::BadText,
        ErrorCode::BadToken,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::Version,
        ErrorCode::HelloFirst,
        ErrorCode::Unavailable,
    ])
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let chat = || ulid().prop_map(ChatId);
    prop_oneof![
        (
            any::<u32>(),
            text(),
            any::<bool>(),
            any::<u64>(),
            author(),
            prop::collection::vec(sync(), 0..3),
            any::<u32>(),
        )
            .prop_map(
                |(v, deployment, primary, epoch, you, chats, operators_online)| {
                    ServerFrame::Welcome {
                        v,
                        deployment,
                        role: if primary {
                            DeploymentRole::Primary
                        } else {
                            DeploymentRole::Redundant
                        },
                        epoch,
                        you,
                        chats,
                        operators_online,
                    }
                }
            ),
        sync().prop_map(|sync| ServerFrame::Chat { sync }),
        message().prop_map(|msg| ServerFrame::Message { msg }),
        ulid().prop_map(|id| ServerFrame::Ack { id: MessageId(id) }),
        ulid().prop_map(|id| ServerFrame::OfflineAck { id: OfflineId(id) }),
        (chat(), author(), any::<bool>()).prop_map(|(chat, who, on)| ServerFrame::Typing {
            chat,
            who,
            on
        }),
        (chat(), status()).prop_map(|(chat, status)| ServerFrame::Status { chat, status }),
        (chat(), visitor()).prop_map(|(chat, info)| ServerFrame::Visitor { chat, info }),
        prop::collection::vec(queue_entry(), 0..3).prop_map(|chats| ServerFrame::Queue { chats }),
        (any::<u32>(), prop::collection::vec(text(), 0..3)).prop_map(
            |(operators_online, operators)| ServerFrame::Presence {
                operators_online,
                operators,
            }
        ),
        prop::collection::vec(note(), 0..3).prop_map(|notes| ServerFrame::Inbox { notes }),
        (text(), text()).prop_map(|(to, reason)| ServerFrame::Migrate { to, reason }),
        any::<u64>().prop_map(|nonce| ServerFrame::Pong { nonce }),
        (
            error_code(),
            text(),
            proptest::option::of(ulid().prop_map(MessageId))
        )
            .prop_map(|(code, message, id)| ServerFrame::Error { code, message, id }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_frames_round_trip_through_the_decoder(frame in server_frame()) {
        let text = frame.to_json();
        prop_assert_eq!(ServerFrame::decode(&text), Ok(frame.clone()));
        prop_assert_eq!(agree(&text), Ok(frame));
    }

    #[test]
    fn generated_frames_with_the_tag_last_decode_too(frame in server_frame()) {
        // serde_json's map sorts keys, which moves `type` behind most
        // fields: the tag need not come first.
        let text = Value::Object(object(&frame.to_json())).to_string();
        prop_assert_eq!(agree(&text), Ok(frame));
    }
}
