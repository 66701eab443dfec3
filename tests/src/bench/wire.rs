//! One client connection to a server under test, whichever protocol it
//! speaks: Twinline's JSON frames (docs/PROTOCOL.md) or Socket.IO events
//! ([`super::socketio`]). The scenarios only see [`Conn`] and [`Event`], so
//! each runs unchanged against a relay and against the peer.
//!
//! Both protocols go through the same tokio-tungstenite socket with the
//! same small buffers, and a message is serialised and parsed by the same
//! serde code either way: the load generator does the same work per message
//! for both, and only the framing differs. Acks are recognised without a
//! full JSON parse on both sides, because the throughput scenario reads
//! tens of thousands a second.
//!
//! Socket.IO's Engine.IO pings (every 25 s by default) are answered inside
//! [`Conn::next`]; Twinline's relay pings with WebSocket pings, which
//! tungstenite answers by itself.

use super::socketio::{self, Packet};
use crate::client::{ConnectError, Socket, WsClient};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::time::Duration;
use thiserror::Error;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use twinline_core::protocol::{ChatResume, ChatSync, ClientFrame, PROTOCOL_VERSION, ServerFrame};
use twinline_core::{ChatId, Message, MessageId, Role};

/// How long a connection may take from the TCP connect to its welcome.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// The wire protocol of a server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Twinline's frames, as a relay speaks them.
    Twinline,
    /// Socket.IO v5 over Engine.IO v4, WebSocket transport only.
    SocketIo,
}

/// Why a connection could not be made or used.
#[derive(Debug, Error)]
pub enum WireError {
    /// The WebSocket could not be opened.
    #[error("connecting: {0}")]
    Connect(String),
    /// The connection closed or failed.
    #[error("the connection closed")]
    Closed,
    /// No welcome within [`HANDSHAKE_TIMEOUT`].
    #[error("no welcome within {HANDSHAKE_TIMEOUT:?}")]
    Timeout,
    /// The server said something the handshake did not expect.
    #[error("unexpected during the handshake: {0}")]
    Handshake(String),
}

impl From<ConnectError> for WireError {
    fn from(error: ConnectError) -> WireError {
        WireError::Connect(error.message)
    }
}

/// Who a connection is, and what it already holds (the resume).
#[derive(Clone, Debug)]
pub enum Hello<'a> {
    /// A visitor of one chat.
    Visitor {
        /// The visitor's id.
        visitor: &'a str,
        /// Its chat.
        chat: ChatId,
        /// Twinline's visitor token (the peer takes none).
        token: &'a str,
        /// The ids it holds of its chat.
        have: &'a [MessageId],
    },
    /// An operator.
    Operator {
        /// The operator's user name.
        username: &'a str,
        /// Twinline's session token (the peer takes none).
        token: &'a str,
        /// The chats it handles, with the ids it holds of each.
        have: &'a [(ChatId, Vec<MessageId>)],
    },
}

/// What a server sent, as the scenarios need it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// This message of ours is durably stored (or, in memory, stored).
    Ack(MessageId),
    /// The server refused something; the id says which message, if known.
    Refused {
        /// The message refused.
        id: Option<MessageId>,
        /// The server's error code.
        code: String,
    },
    /// Someone else's message in one of our chats.
    Message(Message),
    /// An `accept` of ours took effect: the chat is ours now.
    Accepted(ChatId),
    /// Anything else (presence, status, queue, pongs).
    Other,
}

/// One open, welcomed connection.
pub struct Conn {
    socket: Socket,
    protocol: Protocol,
    next_ack_id: u64,
    pong_due: bool,
}

#[derive(Deserialize)]
struct PeerWelcome {
    chats: Vec<ChatSync>,
}

impl Conn {
    /// Connects to `url` and says hello; returns the connection and, per
    /// chat, what the server sent back (`missing`) and what it lacks of
    /// what the client holds (`lacking`).
    pub async fn open(
        protocol: Protocol,
        url: &str,
        hello: Hello<'_>,
    ) -> Result<(Conn, Vec<ChatSync>), WireError> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, Conn::open_now(protocol, url, hello))
            .await
            .map_err(|_| WireError::Timeout)?
    }

    async fn open_now(
        protocol: Protocol,
        url: &str,
        hello: Hello<'_>,
    ) -> Result<(Conn, Vec<ChatSync>), WireError> {
        let origin = matches!(hello, Hello::Visitor { .. }).then_some(crate::SITE_ORIGIN);
        let ws = WsClient::connect(url, origin).await?;
        let mut conn = Conn {
            socket: ws.into_socket(),
            protocol,
            next_ack_id: 0,
            pong_due: false,
        };
        let chats = match protocol {
            Protocol::Twinline => conn.twinline_hello(hello).await?,
            Protocol::SocketIo => conn.socketio_hello(hello).await?,
        };
        Ok((conn, chats))
    }

    async fn twinline_hello(&mut self, hello: Hello<'_>) -> Result<Vec<ChatSync>, WireError> {
        let frame = match hello {
            Hello::Visitor {
                chat, token, have, ..
            } => ClientFrame::Hello {
                v: PROTOCOL_VERSION,
                role: Role::Visitor,
                site: crate::SITE.into(),
                token: token.into(),
                resume: vec![ChatResume {
                    chat,
                    have: have.to_vec(),
                }],
            },
            Hello::Operator { token, have, .. } => ClientFrame::Hello {
                v: PROTOCOL_VERSION,
                role: Role::Operator,
                site: crate::SITE.into(),
                token: token.into(),
                resume: have
                    .iter()
                    .map(|(chat, have)| ChatResume {
                        chat: *chat,
                        have: have.clone(),
                    })
                    .collect(),
            },
        };
        self.send_text(frame.to_json()).await?;
        loop {
            match ServerFrame::parse(&self.read_text().await?) {
                Ok(ServerFrame::Welcome { chats, .. }) => return Ok(chats),
                Ok(ServerFrame::Error { code, message, .. }) => {
                    return Err(WireError::Handshake(format!("{code:?}: {message}")));
                }
                _ => {}
            }
        }
    }

    async fn socketio_hello(&mut self, hello: Hello<'_>) -> Result<Vec<ChatSync>, WireError> {
        let auth = match hello {
            Hello::Visitor {
                visitor,
                chat,
                have,
                ..
            } => {
                serde_json::json!({ "role": "visitor", "visitor": visitor, "chat": chat, "have": have })
            }
            Hello::Operator { username, have, .. } => {
                let have: serde_json::Map<String, serde_json::Value> = have
                    .iter()
                    .map(|(chat, ids)| (chat.to_string(), serde_json::json!(ids)))
                    .collect();
                serde_json::json!({ "role": "operator", "operator": username, "have": have })
            }
        };
        let mut connected = false;
        loop {
            let text = self.read_text().await?;
            match socketio::parse(&text) {
                Ok(Packet::Open) => {
                    self.send_text(socketio::encode_connect(&auth.to_string()))
                        .await?
                }
                Ok(Packet::Connected) => connected = true,
                Ok(Packet::Ping) => self.send_text(socketio::PONG.into()).await?,
                Ok(Packet::Event {
                    name: "welcome",
                    args,
                    ..
                }) if connected => {
                    let welcome: PeerWelcome = serde_json::from_str(args)
                        .map_err(|e| WireError::Handshake(format!("welcome: {e}")))?;
                    return Ok(welcome.chats);
                }
                Ok(Packet::ConnectError(why)) => return Err(WireError::Handshake(why.into())),
                Ok(Packet::Close | Packet::Disconnect) => return Err(WireError::Closed),
                Ok(_) => {}
                Err(error) => return Err(WireError::Handshake(error.to_string())),
            }
        }
    }

    async fn send_text(&mut self, text: String) -> Result<(), WireError> {
        self.socket
            .send(WsMessage::Text(text.into()))
            .await
            .map_err(|_| WireError::Closed)
    }

    async fn read_text(&mut self) -> Result<String, WireError> {
        loop {
            match self.socket.next().await {
                Some(Ok(WsMessage::Text(text))) => return Ok(text.as_str().to_owned()),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                    return Err(WireError::Closed);
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The frame that sends `msg`.
    fn send_frame(&mut self, msg: &Message) -> String {
        let json = serde_json::to_string(msg).expect("a message serialises");
        match self.protocol {
            Protocol::Twinline => format!(r#"{{"type":"send","msg":{json}}}"#),
            Protocol::SocketIo => {
                self.next_ack_id += 1;
                socketio::encode_event("send", Some(self.next_ack_id), &json)
            }
        }
    }

    /// Queues `msg` for sending without flushing (see [`Conn::flush`]).
    pub async fn feed(&mut self, msg: &Message) -> Result<(), WireError> {
        let frame = self.send_frame(msg);
        self.socket
            .feed(WsMessage::Text(frame.into()))
            .await
            .map_err(|_| WireError::Closed)
    }

    /// Sends what [`Conn::feed`] queued.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        self.socket.flush().await.map_err(|_| WireError::Closed)
    }

    /// Sends `msg`; its ack comes as [`Event::Ack`].
    pub async fn send(&mut self, msg: &Message) -> Result<(), WireError> {
        let frame = self.send_frame(msg);
        self.send_text(frame).await
    }

    /// Operator: takes `chat`; answered by [`Event::Accepted`].
    pub async fn accept(&mut self, chat: ChatId) -> Result<(), WireError> {
        let frame = match self.protocol {
            Protocol::Twinline => ClientFrame::Accept { chat }.to_json(),
            Protocol::SocketIo => {
                self.next_ack_id += 1;
                socketio::encode_event(
                    "accept",
                    Some(self.next_ack_id),
                    &format!(r#"{{"chat":"{chat}"}}"#),
                )
            }
        };
        self.send_text(frame).await
    }

    /// The next event, or None once the connection is closed. Cancel-safe:
    /// a pong owed to the server is sent on the next call if this one is
    /// dropped.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if self.pong_due {
                self.send_text(socketio::PONG.into()).await.ok()?;
                self.pong_due = false;
            }
            let text = match self.socket.next().await? {
                Ok(WsMessage::Text(text)) => text,
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            };
            let event = match self.protocol {
                Protocol::Twinline => twinline_event(text.as_str()),
                Protocol::SocketIo => match socketio::parse(text.as_str()) {
                    Ok(Packet::Ping) => {
                        self.pong_due = true;
                        continue;
                    }
                    Ok(Packet::Close | Packet::Disconnect) => return None,
                    Ok(packet) => socketio_event(packet),
                    Err(_) => Event::Other,
                },
            };
            return Some(event);
        }
    }

    /// Closes the connection (a WebSocket close, then waits briefly).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.close(None)).await;
    }
}

/// `{"type":"ack","id":"<26>"}` without a JSON parse; anything else parsed.
fn twinline_event(text: &str) -> Event {
    if let Some(id) = text
        .strip_prefix(r#"{"type":"ack","id":""#)
        .and_then(|rest| rest.strip_suffix(r#""}"#))
        .and_then(|id| id.parse().ok())
    {
        return Event::Ack(id);
    }
    match ServerFrame::parse(text) {
        Ok(ServerFrame::Ack { id }) => Event::Ack(id),
        Ok(ServerFrame::Message { msg }) => Event::Message(msg),
        Ok(ServerFrame::Chat { sync }) => Event::Accepted(sync.chat),
        Ok(ServerFrame::Error { code, id, .. }) => Event::Refused {
            id,
            code: format!("{code:?}"),
        },
        _ => Event::Other,
    }
}

fn socketio_event(packet: Packet<'_>) -> Event {
    match packet {
        Packet::Ack { args, .. } => {
            // The peer answers a send with {"id":"…"} (or {"id":"…","error":"…"})
            // and an accept with {"chat":"…",…}.
            if let Some(id) = args
                .strip_prefix(r#"{"id":""#)
                .and_then(|rest| rest.strip_suffix(r#""}"#))
                .and_then(|id| id.parse().ok())
            {
                return Event::Ack(id);
            }
            #[derive(Deserialize)]
            struct Answer {
                id: Option<MessageId>,
                chat: Option<ChatId>,
                error: Option<String>,
            }
            match serde_json::from_str::<Answer>(args) {
                Ok(Answer {
                    id,
                    error: Some(code),
                    ..
                }) => Event::Refused { id, code },
                Ok(Answer {
                    chat: Some(chat), ..
                }) => Event::Accepted(chat),
                _ => Event::Other,
            }
        }
        Packet::Event {
            name: "message",
            args,
            ..
        } => serde_json::from_str(args).map_or(Event::Other, Event::Message),
        _ => Event::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01JDQ60B2C3D4E5F6G7H8J9KAM";
    const CHAT: &str = "01JDQ5Z8K6V3N2M4P7R9S0T1W2";

    #[test]
    fn acks_read_alike_on_both_wires() {
        let id: MessageId = ID.parse().unwrap();
        assert_eq!(
            twinline_event(&format!(r#"{{"type":"ack","id":"{ID}"}}"#)),
            Event::Ack(id)
        );
        assert_eq!(
            socketio_event(socketio::parse(&format!(r#"4312[{{"id":"{ID}"}}]"#)).unwrap()),
            Event::Ack(id)
        );
    }

    #[test]
    fn refusals_and_accepts_read_alike_on_both_wires() {
        let id: MessageId = ID.parse().unwrap();
        let chat: ChatId = CHAT.parse().unwrap();
        let refused = socketio_event(
            socketio::parse(&format!(r#"433[{{"id":"{ID}","error":"forbidden"}}]"#)).unwrap(),
        );
        assert_eq!(
            refused,
            Event::Refused {
                id: Some(id),
                code: "forbidden".into()
            }
        );
        assert!(matches!(
            twinline_event(&format!(
                r#"{{"type":"error","code":"forbidden","message":"no","id":"{ID}"}}"#
            )),
            Event::Refused { id: Some(i), .. } if i == id
        ));
        assert_eq!(
            socketio_event(
                socketio::parse(&format!(r#"434[{{"chat":"{CHAT}","missing":[]}}]"#)).unwrap()
            ),
            Event::Accepted(chat)
        );
        assert_eq!(
            twinline_event(&format!(
                r#"{{"type":"chat","sync":{{"chat":"{CHAT}","missing":[],"lacking":[]}}}}"#
            )),
            Event::Accepted(chat)
        );
    }

    #[test]
    fn messages_read_alike_on_both_wires() {
        let msg = format!(
            r#"{{"lamport":2,"author":{{"role":"visitor","id":"v","name":""}},"id":"{ID}","chat":"{CHAT}","text":"hi","at":1}}"#
        );
        let twinline = twinline_event(&format!(r#"{{"type":"message","msg":{msg}}}"#));
        let peer = socketio_event(socketio::parse(&format!(r#"42["message",{msg}]"#)).unwrap());
        assert!(matches!(&twinline, Event::Message(m) if m.text == "hi"));
        assert_eq!(twinline, peer);
    }

    #[test]
    fn a_send_frame_is_the_same_json_on_both_wires() {
        let msg: Message = serde_json::from_str(&format!(
            r#"{{"lamport":2,"author":{{"role":"visitor","id":"v","name":""}},"id":"{ID}","chat":"{CHAT}","text":"hi","at":1}}"#
        ))
        .unwrap();
        let twinline = format!(
            r#"{{"type":"send","msg":{}}}"#,
            serde_json::to_string(&msg).unwrap()
        );
        assert_eq!(
            ClientFrame::parse(&twinline).unwrap(),
            ClientFrame::Send { msg: msg.clone() }
        );
        assert_eq!(twinline, ClientFrame::Send { msg }.to_json());
    }
}
