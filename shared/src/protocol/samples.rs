//! A full value of every type the browser reads from JSON (each field set,
//! each `Option` filled, a list of each variant), for the tests that hold
//! its readers to the serde derive ([`super::reference`]), natively and in
//! the browser. The documented frames are in [`super::reference::server_examples`].

use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, MessageId, OfflineId, RatingId, TranscriptId, Ulid, VisitorId};
use crate::model::{Author, ChatState, ChatStatus, Message, OfflineNote, Role, VisitorInfo};
use crate::protocol::{
    ActiveDeployment, ChatSync, DeploymentRole, DeploymentState, Health, LoginResponse, QueueEntry,
    ReplicationLag, VisitorTokenResponse,
};
use crate::rating::{Rating, Score};
use crate::receipt::Seen;
use crate::session::{Identity, Intent, LocalChat, RatingRequest, Snapshot, VisitorUpdate};
use crate::time::Millis;
use crate::transcript::Transcript;

/// A distinct id for each `n`.
pub fn id(n: u128) -> Ulid {
    Ulid(n << 20 | 7)
}

/// The chat every sample is about.
pub fn chat() -> ChatId {
    ChatId(id(2))
}

/// A register's stamp.
pub fn stamp() -> Hlc {
    Hlc {
        wall: Millis(1_733_000_000_000),
        counter: 3,
        node: 42,
    }
}

/// An operator's message, with quotes and a character beyond the BMP.
pub fn message() -> Message {
    Message {
        lamport: Lamport(9),
        author: Author {
            role: Role::Operator,
            id: "ada".into(),
            name: "Ada".into(),
        },
        id: MessageId(id(1)),
        chat: chat(),
        text: "Is the blue one in stock? \"quoted\" \u{1f600}".into(),
        at: Millis(1_733_000_000_500),
        file: None,
    }
}

/// An active chat's status.
pub fn status() -> ChatStatus {
    ChatStatus {
        state: ChatState::Active,
        operator: Some("ada".into()),
        stamp: stamp(),
    }
}

/// A visitor's details.
pub fn visitor() -> VisitorInfo {
    VisitorInfo {
        name: "Grace".into(),
        email: "grace@example.net".into(),
        page: "/shop".into(),
        left: Some(Millis(1_764_036_100_000)),
        stamp: stamp(),
    }
}

/// An offline note.
pub fn note() -> OfflineNote {
    OfflineNote {
        id: OfflineId(id(3)),
        site: "demo".into(),
        name: "Grace".into(),
        email: "grace@example.net".into(),
        text: "Call me back".into(),
        at: Millis(5),
    }
}

/// A chat as a relay syncs it.
pub fn chat_sync() -> ChatSync {
    ChatSync {
        chat: chat(),
        status: status(),
        visitor: visitor(),
        missing: vec![message()],
        lacking: vec![MessageId(id(6))],
        rating: Some(Box::new(rating())),
        transcripts: vec![TranscriptId(id(10))],
        seen: Some(Box::new(Seen {
            visitor: Some(MessageId(id(6))),
            operator: None,
        })),
    }
}

/// A visitor's rating, with a comment.
pub fn rating() -> Rating {
    Rating {
        id: RatingId(id(8)),
        score: Score::Bad,
        comment: "Too slow \"really\" \u{1f622}".into(),
        stamp: stamp(),
    }
}

/// A chat in an operator's queue.
pub fn queue_entry() -> QueueEntry {
    QueueEntry {
        chat: chat(),
        status: status(),
        visitor: visitor(),
        since: Millis(77),
        preview: "hello".into(),
    }
}

/// A relay's `/v1/health`, draining and lagging.
pub fn health() -> Health {
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

/// The moderator's `/v1/active`, one deployment with its health, one down.
pub fn active() -> ActiveDeployment {
    ActiveDeployment {
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
    }
}

/// A visitor token, expiring beyond 2^53 ms (read exactly all the same).
pub fn token() -> VisitorTokenResponse {
    VisitorTokenResponse {
        token: "v1.token".into(),
        visitor: VisitorId(id(5)),
        chat: chat(),
        expires: Millis(u64::MAX),
    }
}

/// An operator's login.
pub fn login() -> LoginResponse {
    LoginResponse {
        token: "o1.token".into(),
        username: "ada".into(),
        name: "Ada".into(),
        expires: Millis(1_733_086_400_000),
    }
}

/// A visitor's session as stored: a chat with a message, one pending and
/// one refused id, a note, an intent of each kind, details being set.
pub fn snapshot() -> Snapshot {
    let chat = chat();
    Snapshot {
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
                rating: Some(rating()),
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
        ratings: vec![RatingRequest {
            chat,
            id: RatingId(id(9)),
            score: Score::Good,
            comment: "Thanks!".into(),
        }],
        emails: vec![crate::session::EmailRequest {
            chat,
            id: TranscriptId(id(11)),
            to: "g@example.net".into(),
            stored: true,
        }],
    }
}
