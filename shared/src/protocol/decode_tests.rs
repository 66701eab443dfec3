//! The tag-first decoder ([`ServerFrame::decode`]) must read exactly what
//! the derived `Deserialize` ([`ServerFrame::parse`]) reads: compared on
//! every documented example, on each example with a field dropped, retyped
//! or added, on broken text, and on generated frames. The differences:
//! records with integers beyond 2^53 - 1 are left out and reported, checked
//! against a reference filter on generated frames with hostile numbers; and
//! a struct written as an array, which the derive reads by position, is
//! refused ([`array_for_struct`] says when that is the case).

use super::reference::{array_for_struct, server_examples};
use super::*;
use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, MessageId, OfflineId, Ulid};
use crate::model::{Author, ChatState, ChatStatus, Message, OfflineNote, Role, VisitorInfo};
use crate::time::Millis;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Both readers agree on `text`: the same frame, or errors of the same
/// kind (the derive's malformed-message wording may differ in position),
/// or the derive read a struct from an array, which the decoder refuses.
fn agree(text: &str) -> Result<ServerFrame, FrameError> {
    let derived = ServerFrame::parse(text);
    let decoded = ServerFrame::decode(text);
    match (&derived, &decoded) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
        (Ok(a), Err(FrameError::Malformed(_)))
            if array_for_struct(
                &serde_json::from_str(text).unwrap(),
                &serde_json::from_str(&a.to_json()).unwrap(),
            ) => {}
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

/// The integers of records: in range, or also beyond what readers hold.
type Numbers = fn() -> BoxedStrategy<u64>;

fn readable() -> BoxedStrategy<u64> {
    (0..=MAX_SAFE_INTEGER).boxed()
}

fn hostile() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => 0..=MAX_SAFE_INTEGER,
        1 => Just(MAX_SAFE_INTEGER),
        1 => Just(MAX_SAFE_INTEGER + 1),
        1 => Just(MAX_SAFE_INTEGER + 2),
        1 => Just(u64::MAX),
        1 => MAX_SAFE_INTEGER + 1..=u64::MAX,
    ]
    .boxed()
}

fn message(n: Numbers) -> impl Strategy<Value = Message> {
    (n(), author(), ulid(), ulid(), text(), n()).prop_map(
        |(lamport, author, id, chat, text, at)| Message {
            lamport: Lamport(lamport),
            author,
            id: MessageId(id),
            chat: ChatId(chat),
            text,
            at: Millis(at),
            file: None,
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
    (
        text(),
        text(),
        text(),
        proptest::option::of(0..=MAX_SAFE_INTEGER),
        hlc(),
    )
        .prop_map(|(name, email, page, left, stamp)| VisitorInfo {
            name,
            email,
            page,
            left: left.map(Millis),
            stamp,
        })
}

fn note(n: Numbers) -> impl Strategy<Value = OfflineNote> {
    (ulid(), text(), text(), text(), text(), n()).prop_map(|(id, site, name, email, text, at)| {
        OfflineNote {
            id: OfflineId(id),
            site,
            name,
            email,
            text,
            at: Millis(at),
        }
    })
}

fn rating() -> impl Strategy<Value = crate::rating::Rating> {
    use crate::rating::{Rating, Score};
    (ulid(), any::<bool>(), text(), hlc()).prop_map(|(id, good, comment, stamp)| Rating {
        id: crate::id::RatingId(id),
        score: if good { Score::Good } else { Score::Bad },
        comment,
        stamp,
    })
}

fn sync(n: Numbers) -> impl Strategy<Value = ChatSync> {
    (
        ulid(),
        status(),
        visitor(),
        prop::collection::vec(message(n), 0..3),
        prop::collection::vec(ulid().prop_map(MessageId), 0..3),
        proptest::option::of(rating()),
        seen(),
    )
        .prop_map(
            |(chat, status, visitor, missing, lacking, rating, seen)| ChatSync {
                chat: ChatId(chat),
                status,
                visitor,
                missing,
                lacking,
                rating: rating.map(Box::new),
                transcripts: vec![],
                seen: seen.map(Box::new),
            },
        )
}

fn side() -> impl Strategy<Value = crate::receipt::Side> {
    use crate::receipt::Side;
    prop_oneof![Just(Side::Visitor), Just(Side::Operator)]
}

fn seen() -> impl Strategy<Value = Option<crate::receipt::Seen>> {
    let id = || proptest::option::of(ulid().prop_map(MessageId));
    proptest::option::of(
        (id(), id()).prop_map(|(visitor, operator)| crate::receipt::Seen { visitor, operator }),
    )
}

fn queue_entry(n: Numbers) -> impl Strategy<Value = QueueEntry> {
    (ulid(), status(), visitor(), n(), text()).prop_map(
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

fn server_frame(n: Numbers) -> impl Strategy<Value = ServerFrame> {
    let chat = || ulid().prop_map(ChatId);
    prop_oneof![
        (
            any::<u32>(),
            text(),
            any::<bool>(),
            any::<u64>(),
            author(),
            prop::collection::vec(sync(n), 0..3),
            any::<u32>(),
            any::<bool>(),
        )
            .prop_map(
                |(v, deployment, primary, epoch, you, chats, operators_online, mail)| {
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
                        mail,
                    }
                }
            ),
        sync(n).prop_map(|sync| ServerFrame::Chat { sync }),
        message(n).prop_map(|msg| ServerFrame::Message { msg }),
        ulid().prop_map(|id| ServerFrame::Ack { id: MessageId(id) }),
        ulid().prop_map(|id| ServerFrame::OfflineAck { id: OfflineId(id) }),
        (chat(), author(), any::<bool>()).prop_map(|(chat, who, on)| ServerFrame::Typing {
            chat,
            who,
            on
        }),
        (chat(), status()).prop_map(|(chat, status)| ServerFrame::Status { chat, status }),
        (chat(), visitor()).prop_map(|(chat, info)| ServerFrame::Visitor { chat, info }),
        (chat(), rating()).prop_map(|(chat, rating)| ServerFrame::Rating { chat, rating }),
        (chat(), ulid()).prop_map(|(chat, id)| ServerFrame::TranscriptAck {
            chat,
            id: crate::id::TranscriptId(id)
        }),
        (chat(), side(), ulid().prop_map(MessageId))
            .prop_map(|(chat, side, up_to)| { ServerFrame::Receipt { chat, side, up_to } }),
        prop::collection::vec(queue_entry(n), 0..3).prop_map(|chats| ServerFrame::Queue { chats }),
        (any::<u32>(), prop::collection::vec(text(), 0..3)).prop_map(
            |(operators_online, operators)| ServerFrame::Presence {
                operators_online,
                operators,
            }
        ),
        prop::collection::vec(note(n), 0..3).prop_map(|notes| ServerFrame::Inbox { notes }),
        (text(), text()).prop_map(|(to, reason)| ServerFrame::Migrate { to, reason }),
        chat().prop_map(|chat| ServerFrame::Erased { chat }),
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
    fn generated_frames_round_trip_through_the_decoder(frame in server_frame(readable)) {
        let text = frame.to_json();
        prop_assert_eq!(ServerFrame::decode(&text), Ok(frame.clone()));
        prop_assert_eq!(agree(&text), Ok(frame));
    }

    #[test]
    fn generated_frames_with_the_tag_last_decode_too(frame in server_frame(readable)) {
        // serde_json's map sorts keys, which moves `type` behind most
        // fields: the tag need not come first.
        let text = Value::Object(object(&frame.to_json())).to_string();
        prop_assert_eq!(agree(&text), Ok(frame));
    }
}

/// The decoded frame and the records it reported as left out.
fn decode_recording(text: &str) -> (Result<ServerFrame, FrameError>, Vec<Unreadable>) {
    let mut skipped = Vec::new();
    let value = strict_value(text).unwrap();
    let frame = decode_server_frame(&&value, |record| skipped.push(record));
    (frame, skipped)
}

/// The example of `kind` in docs/PROTOCOL.md, as a JSON object.
fn example(kind: &str) -> Map<String, Value> {
    server_examples()
        .iter()
        .map(|text| object(text))
        .find(|map| map["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} example"))
}

const BEYOND: u64 = MAX_SAFE_INTEGER + 1;

#[test]
fn a_welcome_keeps_every_message_but_the_one_no_reader_can_show() {
    // The issue's frame: lamport 2^64 - 1 in one message, `at` 2^53 in
    // another, 2^53 - 1 (the largest readable) in a third.
    let mut welcome = example("welcome");
    let chats = welcome["chats"].as_array_mut().unwrap();
    let missing = chats[0]["missing"].as_array_mut().unwrap();
    let good = missing[0].clone();
    let with = |id: &str, field: &str, value: u64| {
        let mut m = good.clone();
        m["id"] = Value::from(id);
        m[field] = Value::from(value);
        m
    };
    missing.push(with("01JDQ62AAAAAAAAAAAAAAAAAA1", "lamport", u64::MAX));
    missing.push(with("01JDQ62AAAAAAAAAAAAAAAAAA2", "at", BEYOND));
    missing.push(with("01JDQ62AAAAAAAAAAAAAAAAAA3", "at", MAX_SAFE_INTEGER));
    let text = Value::Object(welcome).to_string();
    let (frame, skipped) = decode_recording(&text);
    let Ok(ServerFrame::Welcome { chats, .. }) = frame else {
        panic!("{frame:?}");
    };
    let ids: Vec<String> = chats[0].missing.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(
        ids,
        [good["id"].as_str().unwrap(), "01JDQ62AAAAAAAAAAAAAAAAAA3"]
    );
    let reported: Vec<String> = skipped.iter().map(Unreadable::to_string).collect();
    assert_eq!(
        reported,
        [
            "message 01JDQ62AAAAAAAAAAAAAAAAAA1 holds an integer beyond 2^53 - 1",
            "message 01JDQ62AAAAAAAAAAAAAAAAAA2 holds an integer beyond 2^53 - 1",
        ]
    );
    // The derive reads it all: the decoder is where readers are protected.
    let Ok(ServerFrame::Welcome { chats, .. }) = ServerFrame::parse(&text) else {
        panic!()
    };
    assert_eq!(chats[0].missing.len(), 4);
}

#[test]
fn a_message_frame_with_such_a_message_is_refused_naming_it() {
    let mut frame = example("message");
    frame["msg"]["at"] = Value::from(u64::MAX);
    let id = frame["msg"]["id"].as_str().unwrap().to_string();
    let (decoded, skipped) = decode_recording(&Value::Object(frame).to_string());
    match decoded {
        Err(FrameError::Malformed(why)) => {
            assert_eq!(
                why,
                format!("message {id} holds an integer beyond 2^53 - 1")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        skipped.is_empty(),
        "refused, not skipped: logged once by the caller"
    );
}

#[test]
fn a_queue_and_an_inbox_keep_their_readable_entries() {
    let mut queue = example("queue");
    let entries = queue["chats"].as_array_mut().unwrap();
    let mut late = entries[0].clone();
    late["chat"] = Value::from("01JDQ62AAAAAAAAAAAAAAAAAA4");
    late["since"] = Value::from(u64::MAX);
    entries.push(late);
    let (decoded, skipped) = decode_recording(&Value::Object(queue).to_string());
    let Ok(ServerFrame::Queue { chats }) = decoded else {
        panic!("{decoded:?}")
    };
    assert_eq!(chats.len(), 1);
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].kind, skipped[0].id.to_string().as_str()),
        ("queue entry", "01JDQ62AAAAAAAAAAAAAAAAAA4")
    );

    // The issue's note: `at` 2^53 + 1.
    let mut inbox = example("inbox");
    let notes = inbox["notes"].as_array_mut().unwrap();
    let mut odd = notes[0].clone();
    odd["id"] = Value::from("01JDQ62AAAAAAAAAAAAAAAAAA5");
    odd["at"] = Value::from(MAX_SAFE_INTEGER + 2);
    notes.insert(0, odd);
    let (decoded, skipped) = decode_recording(&Value::Object(inbox).to_string());
    let Ok(ServerFrame::Inbox { notes }) = decoded else {
        panic!("{decoded:?}")
    };
    assert_eq!(notes.len(), 1);
    assert_ne!(notes[0].id.to_string(), "01JDQ62AAAAAAAAAAAAAAAAAA5");
    assert_eq!(
        skipped[0].to_string(),
        "note 01JDQ62AAAAAAAAAAAAAAAAAA5 holds an integer beyond 2^53 - 1"
    );
}

fn fits(values: &[u64]) -> bool {
    values.iter().all(|&v| v <= MAX_SAFE_INTEGER)
}

/// The records whose integer (`id_and_value`) fits; the others' ids go to `gone`.
fn keep<T>(records: Vec<T>, id_and_value: fn(&T) -> (Ulid, u64), gone: &mut Vec<Ulid>) -> Vec<T> {
    let (kept, left): (Vec<T>, Vec<T>) = records
        .into_iter()
        .partition(|r| fits(&[id_and_value(r).1]));
    gone.extend(left.iter().map(|r| id_and_value(r).0));
    kept
}

/// The reference: `frame` as the derive read it, without the records a
/// reader cannot show, and the ids of those, in frame order; `None` where
/// the whole frame is refused.
fn reference(frame: ServerFrame) -> Option<(ServerFrame, Vec<Ulid>)> {
    let mut gone = Vec::new();
    let messages = |list: &mut Vec<Message>, gone: &mut Vec<Ulid>| {
        list.retain(|m| {
            let ok = fits(&[m.lamport.0, m.at.0]);
            if !ok {
                gone.push(m.id.0);
            }
            ok
        })
    };
    let frame = match frame {
        ServerFrame::Message { msg } if !fits(&[msg.lamport.0, msg.at.0]) => return None,
        ServerFrame::Welcome {
            v,
            deployment,
            role,
            epoch,
            you,
            mut chats,
            operators_online,
            mail,
        } => {
            for sync in &mut chats {
                messages(&mut sync.missing, &mut gone);
            }
            ServerFrame::Welcome {
                v,
                deployment,
                role,
                epoch,
                you,
                chats,
                operators_online,
                mail,
            }
        }
        ServerFrame::Chat { mut sync } => {
            messages(&mut sync.missing, &mut gone);
            ServerFrame::Chat { sync }
        }
        ServerFrame::Queue { chats } => ServerFrame::Queue {
            chats: keep(chats, |e| (e.chat.0, e.since.0), &mut gone),
        },
        ServerFrame::Inbox { notes } => ServerFrame::Inbox {
            notes: keep(notes, |n| (n.id.0, n.at.0), &mut gone),
        },
        other => other,
    };
    Some((frame, gone))
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_numbers_lose_exactly_the_records_no_reader_can_show(frame in server_frame(hostile)) {
        let text = frame.to_json();
        // The derive still reads everything: the filter is the decoder's.
        prop_assert_eq!(ServerFrame::parse(&text), Ok(frame.clone()));
        let (decoded, skipped) = decode_recording(&text);
        match reference(frame) {
            Some((expected, gone)) => {
                prop_assert_eq!(decoded, Ok(expected));
                prop_assert_eq!(skipped.iter().map(|r| r.id).collect::<Vec<_>>(), gone);
            }
            None => {
                prop_assert!(matches!(decoded, Err(FrameError::Malformed(_))), "{:?}", decoded);
                prop_assert!(skipped.is_empty());
            }
        }
    }
}
