//! Frames a client (visitor widget or operator console) sends to a relay.

use super::{FrameError, parse_frame, to_json};
use crate::id::{ChatId, MessageId, RatingId, TranscriptId};
use crate::model::{Message, OfflineNote, Role};
use crate::rating::Score;
use serde::{Deserialize, Serialize};

/// What a client already holds of one chat, so the relay can send exactly
/// what is missing and name what it lacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatResume {
    /// The chat.
    pub chat: ChatId,
    /// Ids of every message of the chat the client holds.
    #[serde(default)]
    pub have: Vec<MessageId>,
}

/// A frame from a client to a relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame on every connection: who the client is and what it holds.
    /// Sent again on every reconnect (which makes it a resume).
    Hello {
        /// Protocol version, [`super::PROTOCOL_VERSION`].
        v: u32,
        /// Visitor or operator.
        role: Role,
        /// Site id the client belongs to.
        site: String,
        /// Signed visitor token or operator session token.
        token: String,
        /// Chats the client holds, with the ids it has of each.
        #[serde(default)]
        resume: Vec<ChatResume>,
    },
    /// A new message, or a replay of one the relay may lack. Acked by id.
    Send {
        /// The message, with its client-made id.
        msg: Message,
    },
    /// The user started or stopped typing.
    Typing {
        /// The chat.
        chat: ChatId,
        /// True while typing.
        on: bool,
    },
    /// Visitor: the pre-chat form or `Twinline.setVisitor`.
    SetVisitor {
        /// The chat.
        chat: ChatId,
        /// Name, possibly empty.
        #[serde(default)]
        name: String,
        /// Email, possibly empty.
        #[serde(default)]
        email: String,
        /// The page the visitor is on.
        #[serde(default)]
        page: String,
    },
    /// Visitor: a message left while no operator is online. Acked by id.
    Offline {
        /// The note, with its client-made id.
        note: OfflineNote,
    },
    /// Visitor: rate the chat (a new id each time the visitor changes
    /// it). Answered by a `rating` frame once stored.
    Rate {
        /// The chat.
        chat: ChatId,
        /// Client-made id of this rating.
        id: RatingId,
        /// Good or bad.
        score: Score,
        /// An optional comment, at most `MAX_COMMENT_CHARS` characters.
        #[serde(default)]
        comment: String,
    },
    /// Visitor: send the chat's transcript to this address once the chat
    /// is closed (at once if it is). Answered by `transcript_ack` once
    /// stored; refused with `forbidden` where the deployment sends no
    /// email, `bad_text` for an address out of shape, `rate_limited` past
    /// `MAX_PER_CHAT` requests.
    EmailTranscript {
        /// The chat.
        chat: ChatId,
        /// Client-made id of this request.
        id: TranscriptId,
        /// The address, at most `MAX_ADDRESS_BYTES` bytes.
        to: String,
    },
    /// Visitor or operator: this side has seen `chat` up to the message
    /// `up_to` (a read receipt). Answered by a `receipt` frame once stored.
    Read {
        /// The chat.
        chat: ChatId,
        /// The newest message seen.
        up_to: MessageId,
    },
    /// Operator: online (takes chats) or away.
    SetAvailability {
        /// True when taking chats.
        online: bool,
    },
    /// Operator: take a waiting chat.
    Accept {
        /// The chat.
        chat: ChatId,
    },
    /// Operator or visitor: end the chat.
    Close {
        /// The chat.
        chat: ChatId,
    },
    /// Operator: hand the chat to another online operator.
    Transfer {
        /// The chat.
        chat: ChatId,
        /// Username of the operator taking over.
        to: String,
    },
    /// Heartbeat; the relay answers with `pong` carrying the same nonce.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
}

impl ClientFrame {
    /// Every frame `type` this enum knows, for docs and tests.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "send",
        "typing",
        "set_visitor",
        "offline",
        "rate",
        "email_transcript",
        "read",
        "set_availability",
        "accept",
        "close",
        "transfer",
        "ping",
    ];
}

impl ClientFrame {
    /// Parses a text frame; never panics. (A message's numbers are checked
    /// where it is stored, which can name it in the refusal. A ping's
    /// nonce is not bounded: its pong goes back only to the client that
    /// made it, which holds it already.)
    pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
        parse_frame(text, Self::TYPES)
    }

    /// The JSON text of this frame.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// The id a relay acks this frame with, if it is acked.
    pub fn ack_id(&self) -> Option<MessageId> {
        match self {
            ClientFrame::Send { msg } => Some(msg.id),
            _ => None,
        }
    }
}
