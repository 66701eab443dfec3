//! The session's edges: what the I/O layer feeds in ([`Input`]) and what it
//! is asked to do ([`Action`]), plus the events a user interface renders.
//!
//! The I/O layer owns sockets and timers; the session only names them. A
//! [`ConnId`] is made by the session and never reused, so an input from a
//! socket the session already gave up on is recognised and ignored.

use crate::id::{ChatId, MessageId, OfflineId};
use crate::model::{Author, TextError};
use crate::protocol::{
    ActiveDeployment, ClientFrame, DeploymentRole, ErrorCode, Health, ServerFrame,
};

/// Names one WebSocket the session asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Something that happened outside the session.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The socket is open.
    Opened {
        /// Which socket.
        conn: ConnId,
    },
    /// The socket closed or failed (the same thing to the session).
    Closed {
        /// Which socket.
        conn: ConnId,
    },
    /// A frame arrived.
    Frame {
        /// Which socket.
        conn: ConnId,
        /// The parsed frame.
        frame: ServerFrame,
    },
    /// A health probe finished; `None` when it failed or timed out.
    Probe {
        /// Which deployment was probed.
        deployment: DeploymentRole,
        /// Its answer.
        health: Option<Health>,
    },
    /// The moderator answered; `None` when it failed or timed out.
    Moderator {
        /// Its answer.
        answer: Option<ActiveDeployment>,
    },
    /// The platform says the network went (`online: false`, the browser's
    /// `offline` event) or came back (`online`). Either way the link is
    /// checked at once; coming back also forgets which deployments failed
    /// meanwhile (the failures were this client's own network) and
    /// reconnects without waiting for the backoff.
    Network {
        /// True when the network came back.
        online: bool,
    },
    /// The page is in front of the user again after its timers may have
    /// been throttled or stopped: shown again (`visibilitychange`),
    /// restored from the back/forward cache (`pageshow`) or resumed after
    /// being frozen. The link is checked at once, the deployments probed
    /// and the moderator asked, and a reconnect does not wait for the
    /// backoff.
    Resumed,
}

/// Something the I/O layer must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open a WebSocket and report `Opened`, `Frame`s and `Closed` for it.
    Connect {
        /// The name for the socket.
        conn: ConnId,
        /// Which deployment it goes to.
        deployment: DeploymentRole,
        /// `ws://…/v1/ws`.
        url: String,
    },
    /// Close this socket; report nothing more for it.
    Disconnect {
        /// Which socket.
        conn: ConnId,
    },
    /// Send a frame on this socket (if it is gone, report `Closed`).
    Send {
        /// Which socket.
        conn: ConnId,
        /// The frame.
        frame: ClientFrame,
    },
    /// GET this health URL and report `Input::Probe`.
    Probe {
        /// Which deployment.
        deployment: DeploymentRole,
        /// `…/v1/health`.
        url: String,
    },
    /// GET the moderator's answer and report `Input::Moderator`.
    AskModerator {
        /// `…/v1/active`.
        url: String,
    },
    /// The snapshot changed: store `Session::snapshot()`.
    Persist,
    /// Something to render.
    Event(SessionEvent),
}

/// A change a user interface may want to show.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    /// A message was added to a chat (new, written here or elsewhere).
    Message {
        /// The chat.
        chat: ChatId,
        /// The message.
        id: MessageId,
    },
    /// A message written here is durably stored by a relay.
    Acked {
        /// The chat.
        chat: ChatId,
        /// The message.
        id: MessageId,
    },
    /// A relay refused a message for good (it stays shown as not sent).
    Refused {
        /// The chat.
        chat: ChatId,
        /// The message.
        id: MessageId,
    },
    /// The link changed state or deployment.
    Connection(ConnectionStatus),
    /// A chat's status register changed.
    ChatStatus {
        /// The chat.
        chat: ChatId,
    },
    /// A chat's visitor details changed.
    Visitor {
        /// The chat.
        chat: ChatId,
    },
    /// Someone started or stopped typing.
    Typing {
        /// The chat.
        chat: ChatId,
        /// Who.
        who: Author,
        /// True while typing.
        on: bool,
    },
    /// A chat's rating changed (stored, or replaced here).
    Rating {
        /// The chat.
        chat: ChatId,
    },
    /// What the other side has seen of a chat moved forward (a read
    /// receipt: [`super::Session::seen_by_other`]).
    Seen {
        /// The chat.
        chat: ChatId,
    },
    /// Operators: the queue changed.
    Queue,
    /// Who is online changed.
    Presence,
    /// Operators: the offline inbox changed.
    Inbox,
    /// A relay said the chat was erased: it is gone from this session
    /// (and its storage) and is never sent again.
    Erased {
        /// The chat.
        chat: ChatId,
    },
    /// An offline note was stored.
    OfflineAcked {
        /// The note.
        id: OfflineId,
    },
    /// A relay reported an error.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Its explanation.
        message: String,
    },
}

/// Where a message written here stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Not yet acknowledged: kept and replayed until it is.
    Pending,
    /// Durably stored by a relay (or written by someone else).
    Acked,
    /// Refused by a relay for a reason resending cannot fix.
    Refused,
}

/// The state of the link as a user would describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Never connected yet.
    Connecting,
    /// Connected and welcomed: messages flow.
    Connected,
    /// Was connected; finding a deployment again (messages are queued).
    Reconnecting,
    /// No deployment answers (both down, or the token was refused).
    Offline,
}

/// Connection state and which deployment it is with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// The state.
    pub state: LinkState,
    /// The deployment connected to (or last connected to while reconnecting).
    pub deployment: Option<DeploymentRole>,
    /// Its name.
    pub name: Option<String>,
}

/// Why a user action was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The text breaks the limits every relay enforces.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The session holds no such chat.
    #[error("no such chat")]
    UnknownChat,
    /// A message with this id already exists with other content.
    #[error("a different message already has this id")]
    IdTaken,
    /// An email address out of shape or over its length (static texts:
    /// the chat bundle links every variant's message).
    #[error("not an email address of at most 254 bytes")]
    Address,
    /// A chat's transcript was asked for as often as a relay allows.
    #[error("the transcript was asked for 3 times already")]
    TooMany,
    /// The session was shut down (`Session::shutdown`); nothing is kept.
    #[error("the session was shut down")]
    ShutDown,
    /// A message's file of another chat, or one out of the file limits
    /// (`Session::send_file_with_id`).
    #[error("the file is of another chat or out of the file limits")]
    File,
}
