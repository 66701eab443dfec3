//! The Socket.IO wire format, as far as the benchmarks speak it: Engine.IO
//! v4 packets over a WebSocket (one packet per text frame), carrying
//! Socket.IO v5 packets on the default namespace.
//!
//! Pure functions, no I/O: [`parse`] reads a frame the server sent, the
//! `encode_*` functions make the frames a client sends. Written by hand
//! rather than through a client crate so that both sides of the comparison
//! go through the same WebSocket library (tokio-tungstenite) and the same
//! JSON code (serde_json): the only difference between a Twinline frame and
//! a Socket.IO frame on the load generator is the few bytes of prefix this
//! module adds and strips. See docs/benchmarks.md, "The reference peer".
//!
//! What is left out, because the peer never uses it: HTTP long-polling and
//! the upgrade, binary attachments, namespaces other than `/`.
//!
//! ```text
//! server: 0{"sid":"…","pingInterval":25000,…}   Engine.IO open
//! client: 40{"chat":"…"}                        Socket.IO connect, with auth
//! server: 40{"sid":"…"}                         connected
//! client: 427["send",{…}]                       event "send", ack id 7
//! server: 437[{"id":"…"}]                       ack 7
//! server: 42["message",{…}]                     event "message"
//! server: 2   client: 3                         Engine.IO ping and pong
//! ```

use thiserror::Error;

/// The path a WebSocket-only Engine.IO v4 client connects to.
pub const WS_PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// The Engine.IO pong, the answer to every [`Packet::Ping`].
pub const PONG: &str = "3";

/// A frame the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Engine.IO open (the handshake's JSON is not needed).
    Open,
    /// Engine.IO ping: answer [`PONG`].
    Ping,
    /// Engine.IO close.
    Close,
    /// Socket.IO connect accepted.
    Connected,
    /// Socket.IO connect refused, with the server's JSON.
    ConnectError(&'a str),
    /// Socket.IO disconnect.
    Disconnect,
    /// An event: its name, the ack id the server asks for, and the JSON of
    /// its arguments after the name (one argument in what the peer sends).
    Event {
        /// The event name.
        name: &'a str,
        /// The ack id, if the server wants an answer.
        ack: Option<u64>,
        /// The JSON after the name, e.g. `{"id":"…"}`.
        args: &'a str,
    },
    /// An ack of the client's event `id`, with the JSON of the answer's
    /// arguments (without the enclosing array).
    Ack {
        /// The ack id the client gave the event.
        id: u64,
        /// The JSON inside the array, e.g. `{"id":"…"}`.
        args: &'a str,
    },
    /// Engine.IO pong, noop or upgrade: nothing to do.
    Ignored,
}

/// A frame this module cannot read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SocketIoError {
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// An Engine.IO or Socket.IO packet type this client does not know.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// Binary attachments or a namespace, which the peer never sends.
    #[error("unsupported packet (binary attachment or namespace): {0:?}")]
    Unsupported(String),
    /// Event or ack data that is not a JSON array of the expected shape.
    #[error("malformed packet data: {0:?}")]
    Malformed(String),
}

/// Reads one WebSocket text frame from the server.
pub fn parse(frame: &str) -> Result<Packet<'_>, SocketIoError> {
    let mut chars = frame.chars();
    let engine = chars.next().ok_or(SocketIoError::Empty)?;
    match engine {
        '0' => Ok(Packet::Open),
        '1' => Ok(Packet::Close),
        '2' => Ok(Packet::Ping),
        '3' | '5' | '6' => Ok(Packet::Ignored),
        '4' => parse_socket(&frame[1..]),
        other => Err(SocketIoError::UnknownType(other)),
    }
}

fn parse_socket(packet: &str) -> Result<Packet<'_>, SocketIoError> {
    let kind = packet.chars().next().ok_or(SocketIoError::Empty)?;
    let rest = &packet[kind.len_utf8()..];
    if rest.starts_with('/') {
        // A namespace other than the default one ("/admin,…").
        return Err(SocketIoError::Unsupported(packet.into()));
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, data) = rest.split_at(digits);
    if data.starts_with('-') {
        // "<attachments>-": binary attachments follow as separate frames.
        return Err(SocketIoError::Unsupported(packet.into()));
    }
    let id = if id.is_empty() {
        None
    } else {
        Some(
            id.parse::<u64>()
                .map_err(|_| SocketIoError::Malformed(packet.into()))?,
        )
    };
    match kind {
        '0' => Ok(Packet::Connected),
        '1' => Ok(Packet::Disconnect),
        '4' => Ok(Packet::ConnectError(data)),
        '2' => {
            let inner = array_inner(data).ok_or_else(|| SocketIoError::Malformed(packet.into()))?;
            let name_and_rest = inner
                .strip_prefix('"')
                .ok_or_else(|| SocketIoError::Malformed(packet.into()))?;
            let end = name_and_rest
                .find('"')
                .ok_or_else(|| SocketIoError::Malformed(packet.into()))?;
            let name = &name_and_rest[..end];
            let args = name_and_rest[end + 1..].trim_start();
            let args = args.strip_prefix(',').unwrap_or(args).trim_start();
            Ok(Packet::Event {
                name,
                ack: id,
                args,
            })
        }
        '3' => {
            let id = id.ok_or_else(|| SocketIoError::Malformed(packet.into()))?;
            let args = array_inner(data).ok_or_else(|| SocketIoError::Malformed(packet.into()))?;
            Ok(Packet::Ack { id, args })
        }
        '5' | '6' => Err(SocketIoError::Unsupported(packet.into())),
        other => Err(SocketIoError::UnknownType(other)),
    }
}

/// The text between a JSON array's brackets.
fn array_inner(data: &str) -> Option<&str> {
    data.trim()
        .strip_prefix('[')?
        .strip_suffix(']')
        .map(str::trim)
}

/// The Socket.IO connect packet, with `auth_json` (a JSON object) as the
/// handshake's `auth`.
pub fn encode_connect(auth_json: &str) -> String {
    format!("40{auth_json}")
}

/// An event named `name` with one argument (`arg_json`), asking for an ack
/// with id `ack` if given. `name` must need no JSON escaping.
pub fn encode_event(name: &str, ack: Option<u64>, arg_json: &str) -> String {
    debug_assert!(!name.contains(['"', '\\']), "event names need no escaping");
    let mut out = String::with_capacity(name.len() + arg_json.len() + 16);
    out.push_str("42");
    if let Some(id) = ack {
        out.push_str(&id.to_string());
    }
    out.push_str("[\"");
    out.push_str(name);
    out.push_str("\",");
    out.push_str(arg_json);
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_handshake_and_heartbeat() {
        assert_eq!(
            parse(
                r#"0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
            ),
            Ok(Packet::Open)
        );
        assert_eq!(parse(r#"40{"sid":"b"}"#), Ok(Packet::Connected));
        assert_eq!(parse("2"), Ok(Packet::Ping));
        assert_eq!(parse("3"), Ok(Packet::Ignored));
        assert_eq!(parse("6"), Ok(Packet::Ignored));
        assert_eq!(parse("1"), Ok(Packet::Close));
        assert_eq!(parse("41"), Ok(Packet::Disconnect));
        assert_eq!(
            parse(r#"44{"message":"no chat"}"#),
            Ok(Packet::ConnectError(r#"{"message":"no chat"}"#))
        );
    }

    #[test]
    fn reads_events_and_acks() {
        assert_eq!(
            parse(r#"42["message",{"id":"x","text":"a \"quoted\" [text], 4-2"}]"#),
            Ok(Packet::Event {
                name: "message",
                ack: None,
                args: r#"{"id":"x","text":"a \"quoted\" [text], 4-2"}"#
            })
        );
        assert_eq!(
            parse(r#"4212["ping?",{}]"#),
            Ok(Packet::Event {
                name: "ping?",
                ack: Some(12),
                args: "{}"
            })
        );
        assert_eq!(
            parse(r#"437[{"id":"01JDQ60B2C3D4E5F6G7H8J9KAM"}]"#),
            Ok(Packet::Ack {
                id: 7,
                args: r#"{"id":"01JDQ60B2C3D4E5F6G7H8J9KAM"}"#
            })
        );
        assert_eq!(parse("430[]"), Ok(Packet::Ack { id: 0, args: "" }));
    }

    #[test]
    fn refuses_what_it_does_not_speak() {
        assert_eq!(parse(""), Err(SocketIoError::Empty));
        assert_eq!(parse("9"), Err(SocketIoError::UnknownType('9')));
        assert_eq!(parse("48"), Err(SocketIoError::UnknownType('8')));
        assert!(matches!(
            parse(r#"42/admin,["x",1]"#),
            Err(SocketIoError::Unsupported(_))
        ));
        assert!(matches!(
            parse(r#"451-["x",{"_placeholder":true,"num":0}]"#),
            Err(SocketIoError::Unsupported(_))
        ));
        assert!(matches!(parse("42{}"), Err(SocketIoError::Malformed(_))));
        assert!(matches!(parse("43[1]"), Err(SocketIoError::Malformed(_))));
    }

    #[test]
    fn encodes_what_the_server_expects() {
        assert_eq!(encode_connect(r#"{"chat":"c"}"#), r#"40{"chat":"c"}"#);
        assert_eq!(
            encode_event("send", Some(3), r#"{"id":"x"}"#),
            r#"423["send",{"id":"x"}]"#
        );
        assert_eq!(encode_event("accept", None, "{}"), r#"42["accept",{}]"#);
    }

    proptest! {
        /// Whatever JSON argument a client sends, a server echoing it back
        /// as an event or an ack is read back to the same text.
        #[test]
        fn events_and_acks_round_trip(
            text in any::<String>(),
            ack in proptest::option::of(0u64..1_000_000),
            name in "[a-z_]{1,12}",
        ) {
            let arg = serde_json::json!({ "id": "01JDQ60B2C3D4E5F6G7H8J9KAM", "text": text }).to_string();
            let frame = encode_event(&name, ack, &arg);
            prop_assert_eq!(
                parse(&frame),
                Ok(Packet::Event { name: &name, ack, args: &arg })
            );
            let ack_frame = format!("43{}[{arg}]", ack.unwrap_or(0));
            prop_assert_eq!(parse(&ack_frame), Ok(Packet::Ack { id: ack.unwrap_or(0), args: &arg }));
        }

        /// No frame makes the reader panic.
        #[test]
        fn never_panics(frame in any::<String>()) {
            let _ = parse(&frame);
        }
    }
}
