//! Frames a relay sends to a client.

use super::{FrameError, parse_frame, to_json};
use crate::id::{ChatId, MessageId, OfflineId, TranscriptId};
use crate::model::{Author, ChatStatus, Message, OfflineNote, VisitorInfo};
use crate::protocol::DeploymentRole;
use crate::rating::Rating;
use crate::receipt::{Seen, Side};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// The relay's side of one chat at (re)connection: what the client lacks,
/// and what the relay lacks (the client replays those).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSync {
    /// The chat.
    pub chat: ChatId,
    /// Current status register.
    #[serde(default)]
    pub status: ChatStatus,
    /// Current visitor details register.
    #[serde(default)]
    pub visitor: VisitorInfo,
    /// Messages the relay holds that were not in the client's `have`.
    #[serde(default)]
    pub missing: Vec<Message>,
    /// Ids from the client's `have` that the relay does not hold.
    #[serde(default)]
    pub lacking: Vec<MessageId>,
    /// The visitor's rating of the chat, if any (a register, like the
    /// status). Boxed: most syncs carry none, and every frame and session
    /// input is as large as its largest variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Box<Rating>>,
    /// The ids of the visitor's transcript-by-email requests the relay
    /// holds (the visitor's session sends again those it lacks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcripts: Vec<TranscriptId>,
    /// The read receipts the relay holds (absent while neither side has
    /// seen anything): what a client learns of a (new) relay's receipts.
    /// Boxed, like the rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Box<Seen>>,
}

/// One chat in an operator's queue view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The chat.
    pub chat: ChatId,
    /// Status register (waiting, or active with its operator).
    pub status: ChatStatus,
    /// Who is asking.
    pub visitor: VisitorInfo,
    /// When the chat started (first message or creation).
    pub since: Millis,
    /// The latest message text, for a preview.
    #[serde(default)]
    pub preview: String,
}

/// Stable error codes. Clients branch on these, never on the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON or not the expected shape.
    BadFrame,
    /// A `type` the relay does not know.
    UnknownType,
    /// Over the frame size limit.
    TooLarge,
    /// Text empty or over its limit.
    BadText,
    /// Token missing, malformed, forged or expired.
    BadToken,
    /// Valid token, but not for this chat or action.
    Forbidden,
    /// Too many frames or connections; slow down.
    RateLimited,
    /// Protocol version not spoken here.
    Version,
    /// The first frame was not `hello`.
    HelloFirst,
    /// The relay could not store the frame; retry (nothing was acked).
    Unavailable,
    /// The message's id is taken by another message (another chat or
    /// another text): this one is not stored, and sending it again cannot
    /// change that.
    Conflict,
    /// A number no reader holds exactly (over 2^53 - 1), or a Lamport clock
    /// too far past its chat's: not stored, for good.
    OutOfRange,
}

/// A frame from a relay to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Answer to `hello`.
    Welcome {
        /// Protocol version.
        v: u32,
        /// This deployment's name.
        deployment: String,
        /// Primary or redundant.
        role: DeploymentRole,
        /// The relay's failover epoch (increases when it becomes active).
        epoch: u64,
        /// Who the relay takes the client to be.
        you: Author,
        /// One entry per chat the client may see.
        chats: Vec<ChatSync>,
        /// How many operators are online (visitors see the offline form at 0).
        operators_online: u32,
        /// This deployment sends the transcript by email (`[mail]` is
        /// configured): a visitor's widget offers it only then. Absent
        /// (false) otherwise.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        mail: bool,
    },
    /// Full state of a chat that just became visible to this client (an
    /// operator accepted it or had it transferred to them).
    Chat {
        /// The chat, with `missing` holding its whole transcript.
        sync: ChatSync,
    },
    /// A message from someone else (or replicated from the other deployment).
    Message {
        /// The message.
        msg: Message,
    },
    /// The message with this id is durably stored. Also sent for duplicates.
    Ack {
        /// The acknowledged message id.
        id: MessageId,
    },
    /// The offline note with this id is durably stored.
    OfflineAck {
        /// The acknowledged note id.
        id: OfflineId,
    },
    /// Someone in the chat started or stopped typing.
    Typing {
        /// The chat.
        chat: ChatId,
        /// Who.
        who: Author,
        /// True while typing.
        on: bool,
    },
    /// The chat's status register changed.
    Status {
        /// The chat.
        chat: ChatId,
        /// The winning value.
        status: ChatStatus,
    },
    /// The chat's visitor details changed.
    Visitor {
        /// The chat.
        chat: ChatId,
        /// The winning value.
        info: VisitorInfo,
    },
    /// The chat's rating register changed (also the answer to `rate`: the
    /// rating is stored once a client sees its id here).
    Rating {
        /// The chat.
        chat: ChatId,
        /// The winning rating.
        rating: Rating,
    },
    /// The transcript request with this id is durably stored (also sent
    /// for a replay of one stored already): the email goes out once the
    /// chat is closed.
    TranscriptAck {
        /// The chat.
        chat: ChatId,
        /// The request's id.
        id: TranscriptId,
    },
    /// A read receipt was stored (a `read` here, or replicated): `side`
    /// of `chat` has seen every message up to `up_to`. Also the answer to
    /// `read`.
    Receipt {
        /// The chat.
        chat: ChatId,
        /// Who has seen.
        side: Side,
        /// The newest message seen (after the merge: the larger id).
        up_to: MessageId,
    },
    /// Operators: waiting and active chats.
    Queue {
        /// The queue.
        chats: Vec<QueueEntry>,
    },
    /// Who is online. Visitors get only the count.
    Presence {
        /// Number of operators online.
        operators_online: u32,
        /// Their usernames (operators only; empty for visitors).
        #[serde(default)]
        operators: Vec<String>,
    },
    /// Operators: offline notes.
    Inbox {
        /// Notes, oldest first.
        notes: Vec<OfflineNote>,
    },
    /// Planned switch: reconnect to the named deployment. Nothing is lost:
    /// the client replays on the new connection as after any reconnect.
    Migrate {
        /// Deployment name to move to.
        to: String,
        /// Why, for logs.
        reason: String,
    },
    /// The chat was erased (a data request or retention): the client drops
    /// it, with whatever it still had to send in it, and never sends it
    /// again; the relay refuses it from now on. Sent to its followers when
    /// the erasure is applied, and in answer to a `hello` or a replay that
    /// names it.
    Erased {
        /// The chat.
        chat: ChatId,
    },
    /// Heartbeat answer.
    Pong {
        /// The nonce from `ping`.
        nonce: u64,
    },
    /// Something was refused. The connection stays open unless the code is
    /// `bad_token`, `version` or `hello_first`.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// The message id the error is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
}

impl ServerFrame {
    /// Every frame `type` this enum knows, for docs and tests.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "chat",
        "message",
        "ack",
        "offline_ack",
        "typing",
        "status",
        "visitor",
        "rating",
        "transcript_ack",
        "receipt",
        "queue",
        "presence",
        "inbox",
        "migrate",
        "erased",
        "pong",
        "error",
    ];
}

impl ServerFrame {
    /// Parses a text frame; never panics.
    pub fn parse(text: &str) -> Result<ServerFrame, FrameError> {
        parse_frame(text, Self::TYPES)
    }

    /// The JSON text of this frame.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// An error frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            code,
            message: message.into(),
            id: None,
        }
    }
}
