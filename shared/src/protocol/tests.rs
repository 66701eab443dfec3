use super::*;
use crate::id::{ChatId, MessageId, Ulid};

#[test]
fn unknown_type_is_reported_as_such() {
    assert_eq!(
        ClientFrame::parse(r#"{"type":"teleport","to":"mars"}"#),
        Err(FrameError::UnknownType("teleport".into()))
    );
}

#[test]
fn malformed_json_is_malformed() {
    for text in [
        "",
        "{",
        "[]",
        "null",
        r#"{"type":"send"}"#,
        r#"{"no_type":1}"#,
    ] {
        assert!(
            matches!(ClientFrame::parse(text), Err(FrameError::Malformed(_))),
            "{text:?}"
        );
    }
}

#[test]
fn oversize_is_refused_before_parsing() {
    let text = format!(
        r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    assert_eq!(
        ClientFrame::parse(&text),
        Err(FrameError::TooLarge(text.len()))
    );
}

#[test]
fn unknown_fields_are_ignored() {
    assert_eq!(
        ClientFrame::parse(r#"{"type":"ping","nonce":7,"future":"field"}"#),
        Ok(ClientFrame::Ping { nonce: 7 })
    );
}

#[test]
fn frames_round_trip() {
    let chat = ChatId(Ulid(1));
    let frames = [
        ClientFrame::Typing { chat, on: true },
        ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role: crate::model::Role::Visitor,
            site: "demo".into(),
            token: "t".into(),
            resume: vec![ChatResume {
                chat,
                have: vec![MessageId(Ulid(2))],
            }],
        },
    ];
    for frame in frames {
        assert_eq!(ClientFrame::parse(&frame.to_json()), Ok(frame));
    }
    let ack = ServerFrame::Ack {
        id: MessageId(Ulid(3)),
    };
    assert_eq!(ServerFrame::parse(&ack.to_json()), Ok(ack));
}

#[test]
fn a_ping_nonce_may_be_any_64_bit_number() {
    // Sessions draw their nonces at random; the pong goes back only to the
    // client that made it.
    assert_eq!(
        ClientFrame::parse(r#"{"type":"ping","nonce":18446744073709551615}"#),
        Ok(ClientFrame::Ping { nonce: u64::MAX })
    );
}
