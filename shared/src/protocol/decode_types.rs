//! [`FromJson`] for the core's types: what relays send (frames' parts,
//! HTTP bodies) and what a session stores ([`Snapshot`]), each as its serde
//! derive reads it (field names, defaults and `Option`s as the derive's
//! attributes say; see `decode_json`). A struct is built by a literal that
//! names every field, so a field added to a type does not compile here
//! until it is read; an enum's names are checked against serde's by the
//! tests.

use super::decode_json::{FromJson, JsonError, JsonView};
use super::{
    ActiveDeployment, ChatSync, DeploymentRole, DeploymentState, ErrorCode, Health, LoginResponse,
    QueueEntry, ReplicationLag, VisitorTokenResponse,
};
use crate::clock::{Hlc, Lamport};
use crate::id::{ChatId, FileId, MessageId, OfflineId, RatingId, TranscriptId, Ulid, VisitorId};
use crate::model::{Author, ChatState, ChatStatus, Message, OfflineNote, Role, VisitorInfo};
use crate::protocol::Fields;
use crate::rating::{Rating, Score};
use crate::receipt::{Seen, Side};
use crate::session::{Identity, Intent, LocalChat, RatingRequest, Snapshot, VisitorUpdate};
use crate::time::Millis;
use crate::transcript::Transcript;

/// Implements [`FromJson`] for an enum of unit variants, each written as its
/// name (serde's `rename_all = "snake_case"`), and [`crate::protocol::UnitVariants`],
/// which lists them for the tests. The match makes a variant missing here
/// a compile error.
#[macro_export]
macro_rules! unit_variants_from_json {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $crate::protocol::UnitVariants for $ty {
            const VARIANTS: &'static [(Self, &'static str)] = &[$((Self::$variant, $name)),+];
        }

        impl $crate::protocol::FromJson for $ty {
            fn from_json<V: $crate::protocol::JsonView>(
                value: &V,
            ) -> Result<Self, $crate::protocol::JsonError> {
                let _every_variant_is_named = |x: Self| match x {
                    $(Self::$variant => ()),+
                };
                <Self as $crate::protocol::UnitVariants>::read(value)
            }
        }
    };
}

unit_variants_from_json!(Role {
    Visitor => "visitor",
    Operator => "operator",
    System => "system",
});

unit_variants_from_json!(ChatState {
    Waiting => "waiting",
    Active => "active",
    Closed => "closed",
});

unit_variants_from_json!(Score {
    Good => "good",
    Bad => "bad",
});

unit_variants_from_json!(Side {
    Visitor => "visitor",
    Operator => "operator",
});

unit_variants_from_json!(DeploymentRole {
    Primary => "primary",
    Redundant => "redundant",
});

unit_variants_from_json!(ErrorCode {
    BadFrame => "bad_frame",
    UnknownType => "unknown_type",
    TooLarge => "too_large",
    BadText => "bad_text",
    BadToken => "bad_token",
    Forbidden => "forbidden",
    RateLimited => "rate_limited",
    Version => "version",
    HelloFirst => "hello_first",
    Unavailable => "unavailable",
    Conflict => "conflict",
    OutOfRange => "out_of_range",
});

impl FromJson for Ulid {
    fn from_json<V: JsonView>(value: &V) -> Result<Ulid, JsonError> {
        let text = value.text().ok_or(JsonError::INVALID)?;
        text.parse().map_err(|_| JsonError::INVALID)
    }
}

/// Newtypes serde reads as their one field (`#[serde(transparent)]`).
macro_rules! transparent {
    ($($ty:ident($inner:ty)),+ $(,)?) => {
        $(impl FromJson for $ty {
            fn from_json<V: JsonView>(value: &V) -> Result<$ty, JsonError> {
                <$inner>::from_json(value).map($ty)
            }
        })+
    };
}

transparent!(
    MessageId(Ulid),
    ChatId(Ulid),
    VisitorId(Ulid),
    OfflineId(Ulid),
    RatingId(Ulid),
    FileId(Ulid),
    TranscriptId(Ulid),
    Millis(u64),
    Lamport(u64),
);

impl FromJson for Hlc {
    fn from_json<V: JsonView>(value: &V) -> Result<Hlc, JsonError> {
        let f = Fields::of(value)?;
        Ok(Hlc {
            wall: f.get("wall")?,
            counter: f.get("counter")?,
            node: f.get("node")?,
        })
    }
}

impl FromJson for Author {
    fn from_json<V: JsonView>(value: &V) -> Result<Author, JsonError> {
        let f = Fields::of(value)?;
        Ok(Author {
            role: f.get("role")?,
            id: f.get("id")?,
            name: f.or_default("name")?,
        })
    }
}

impl FromJson for Message {
    fn from_json<V: JsonView>(value: &V) -> Result<Message, JsonError> {
        let f = Fields::of(value)?;
        Ok(Message {
            lamport: f.get("lamport")?,
            author: f.get("author")?,
            id: f.get("id")?,
            chat: f.get("chat")?,
            text: f.get("text")?,
            at: f.get("at")?,
            file: f.get("file")?,
        })
    }
}

impl FromJson for crate::files::FileMeta {
    fn from_json<V: JsonView>(value: &V) -> Result<crate::files::FileMeta, JsonError> {
        let f = Fields::of(value)?;
        Ok(crate::files::FileMeta {
            id: f.get("id")?,
            chat: f.get("chat")?,
            name: f.get("name")?,
            size: f.get("size")?,
            kind: f.get("type")?,
            sha256: f.get("sha256")?,
        })
    }
}

unit_variants_from_json!(crate::files::FileType {
    Png => "image/png",
    Jpeg => "image/jpeg",
    Gif => "image/gif",
    Webp => "image/webp",
    Pdf => "application/pdf",
    Zip => "application/zip",
});

impl FromJson for ChatStatus {
    fn from_json<V: JsonView>(value: &V) -> Result<ChatStatus, JsonError> {
        let f = Fields::of(value)?;
        Ok(ChatStatus {
            state: f.get("state")?,
            operator: f.get("operator")?,
            stamp: f.get("stamp")?,
        })
    }
}

impl FromJson for VisitorInfo {
    fn from_json<V: JsonView>(value: &V) -> Result<VisitorInfo, JsonError> {
        let f = Fields::of(value)?;
        Ok(VisitorInfo {
            name: f.or_default("name")?,
            email: f.or_default("email")?,
            page: f.or_default("page")?,
            left: f.or_default("left")?,
            stamp: f.or_default("stamp")?,
        })
    }
}

impl FromJson for OfflineNote {
    fn from_json<V: JsonView>(value: &V) -> Result<OfflineNote, JsonError> {
        let f = Fields::of(value)?;
        Ok(OfflineNote {
            id: f.get("id")?,
            site: f.get("site")?,
            name: f.get("name")?,
            email: f.get("email")?,
            text: f.get("text")?,
            at: f.get("at")?,
        })
    }
}

impl FromJson for ChatSync {
    fn from_json<V: JsonView>(value: &V) -> Result<ChatSync, JsonError> {
        let f = Fields::of(value)?;
        Ok(ChatSync {
            chat: f.get("chat")?,
            status: f.or_default("status")?,
            visitor: f.or_default("visitor")?,
            missing: f.or_default("missing")?,
            lacking: f.or_default("lacking")?,
            rating: f.or_default::<Option<Rating>>("rating")?.map(Box::new),
            // Read through `lacking`'s reader (ids of one shape): a reader
            // of its own for these ids cost the chat bundle ~150 B.
            transcripts: f
                .or_default::<Vec<MessageId>>("transcripts")?
                .into_iter()
                .map(|id| crate::id::TranscriptId(id.0))
                .collect(),
            seen: f.or_default::<Option<Seen>>("seen")?.map(Box::new),
        })
    }
}

impl FromJson for Seen {
    fn from_json<V: JsonView>(value: &V) -> Result<Seen, JsonError> {
        let f = Fields::of(value)?;
        Ok(Seen {
            visitor: f.or_default("visitor")?,
            operator: f.or_default("operator")?,
        })
    }
}

impl FromJson for Rating {
    fn from_json<V: JsonView>(value: &V) -> Result<Rating, JsonError> {
        let f = Fields::of(value)?;
        Ok(Rating {
            id: f.get("id")?,
            score: f.get("score")?,
            comment: f.or_default("comment")?,
            stamp: f.get("stamp")?,
        })
    }
}

impl FromJson for QueueEntry {
    fn from_json<V: JsonView>(value: &V) -> Result<QueueEntry, JsonError> {
        let f = Fields::of(value)?;
        Ok(QueueEntry {
            chat: f.get("chat")?,
            status: f.get("status")?,
            visitor: f.get("visitor")?,
            since: f.get("since")?,
            preview: f.or_default("preview")?,
        })
    }
}

impl FromJson for ReplicationLag {
    fn from_json<V: JsonView>(value: &V) -> Result<ReplicationLag, JsonError> {
        let f = Fields::of(value)?;
        Ok(ReplicationLag {
            changes: f.get("changes")?,
            seconds: f.get("seconds")?,
            connected: f.get("connected")?,
        })
    }
}

impl FromJson for Health {
    fn from_json<V: JsonView>(value: &V) -> Result<Health, JsonError> {
        let f = Fields::of(value)?;
        Ok(Health {
            deployment: f.get("deployment")?,
            role: f.get("role")?,
            epoch: f.get("epoch")?,
            ready: f.get("ready")?,
            draining: f.or_default("draining")?,
            lag: f.or_default("lag")?,
            version: f.or_default("version")?,
        })
    }
}

impl FromJson for DeploymentState {
    fn from_json<V: JsonView>(value: &V) -> Result<DeploymentState, JsonError> {
        let f = Fields::of(value)?;
        Ok(DeploymentState {
            name: f.get("name")?,
            role: f.get("role")?,
            url: f.get("url")?,
            up: f.get("up")?,
            health: f.or_default("health")?,
        })
    }
}

impl FromJson for ActiveDeployment {
    fn from_json<V: JsonView>(value: &V) -> Result<ActiveDeployment, JsonError> {
        let f = Fields::of(value)?;
        Ok(ActiveDeployment {
            epoch: f.get("epoch")?,
            active: f.get("active")?,
            url: f.get("url")?,
            held: f.or_default("held")?,
            deployments: f.get("deployments")?,
        })
    }
}

impl FromJson for VisitorTokenResponse {
    fn from_json<V: JsonView>(value: &V) -> Result<VisitorTokenResponse, JsonError> {
        let f = Fields::of(value)?;
        Ok(VisitorTokenResponse {
            token: f.get("token")?,
            visitor: f.get("visitor")?,
            chat: f.get("chat")?,
            expires: f.get("expires")?,
        })
    }
}

impl FromJson for LoginResponse {
    fn from_json<V: JsonView>(value: &V) -> Result<LoginResponse, JsonError> {
        let f = Fields::of(value)?;
        Ok(LoginResponse {
            token: f.get("token")?,
            username: f.get("username")?,
            name: f.get("name")?,
            expires: f.get("expires")?,
        })
    }
}

impl FromJson for Transcript {
    fn from_json<V: JsonView>(value: &V) -> Result<Transcript, JsonError> {
        // `#[serde(from = "Vec<Message>")]`
        Vec::<Message>::from_json(value).map(Transcript::from)
    }
}

impl FromJson for LocalChat {
    fn from_json<V: JsonView>(value: &V) -> Result<LocalChat, JsonError> {
        let f = Fields::of(value)?;
        Ok(LocalChat {
            transcript: f.get("transcript")?,
            status: f.or_default("status")?,
            visitor: f.or_default("visitor")?,
            rating: f.or_default("rating")?,
        })
    }
}

impl FromJson for RatingRequest {
    fn from_json<V: JsonView>(value: &V) -> Result<RatingRequest, JsonError> {
        let f = Fields::of(value)?;
        Ok(RatingRequest {
            chat: f.get("chat")?,
            id: f.get("id")?,
            score: f.get("score")?,
            comment: f.get("comment")?,
        })
    }
}

impl FromJson for crate::session::EmailRequest {
    fn from_json<V: JsonView>(value: &V) -> Result<crate::session::EmailRequest, JsonError> {
        let f = Fields::of(value)?;
        Ok(crate::session::EmailRequest {
            chat: f.get("chat")?,
            id: f.get("id")?,
            to: f.get("to")?,
            stored: f.or_default("stored")?,
        })
    }
}

impl FromJson for Identity {
    fn from_json<V: JsonView>(value: &V) -> Result<Identity, JsonError> {
        let f = Fields::of(value)?;
        Ok(Identity {
            token: f.get("token")?,
            author: f.get("author")?,
            chat: f.or_default("chat")?,
        })
    }
}

impl FromJson for Intent {
    /// Tagged by `do`; `to` is looked at for a transfer only (the derive
    /// skips what a variant does not name, see `IntentRecord`).
    fn from_json<V: JsonView>(value: &V) -> Result<Intent, JsonError> {
        let _every_variant_is_read = |x: &Intent| match x {
            Intent::Accept { .. } | Intent::Close { .. } | Intent::Transfer { .. } => (),
        };
        let f = Fields::of(value)?;
        let (kind, _) = f.tag("do", &["accept", "close", "transfer"])?;
        let chat = f.get("chat")?;
        Ok(match kind {
            0 => Intent::Accept { chat },
            1 => Intent::Close { chat },
            _ => Intent::Transfer {
                chat,
                to: value
                    .member("to")
                    .and_then(|to| to.text())
                    .ok_or(JsonError::missing("to"))?,
            },
        })
    }
}

impl FromJson for VisitorUpdate {
    fn from_json<V: JsonView>(value: &V) -> Result<VisitorUpdate, JsonError> {
        let f = Fields::of(value)?;
        Ok(VisitorUpdate {
            chat: f.get("chat")?,
            name: f.get("name")?,
            email: f.get("email")?,
            page: f.get("page")?,
        })
    }
}

impl FromJson for Snapshot {
    fn from_json<V: JsonView>(value: &V) -> Result<Snapshot, JsonError> {
        let f = Fields::of(value)?;
        Ok(Snapshot {
            v: f.get("v")?,
            identity: f.get("identity")?,
            chats: f.get("chats")?,
            pending: f.or_default("pending")?,
            refused: f.or_default("refused")?,
            notes: f.or_default("notes")?,
            intents: f.or_default("intents")?,
            visitor: f.or_default("visitor")?,
            online: f.or_default("online")?,
            ratings: f.or_default("ratings")?,
            emails: f.or_default("emails")?,
        })
    }
}
