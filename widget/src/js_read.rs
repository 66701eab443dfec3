//! [`FromJson`] for the widget's own types that travel as JSON: what tabs
//! tell each other ([`TabMessage`], with the [`View`]) and the messages a
//! tab left for the leader ([`Unsent`]). Each as its serde derive reads it
//! (the derive writes them, and is the reference the browser tests in
//! `tests/json.rs` hold these to); see the core's `decode_json`.

use crate::tabs::message::TabMessage;
use crate::view::{
    ChatPhase, Link, Status, Unsent, View, ViewEmail, ViewMessage, ViewNote, ViewRating,
};
use twinline_core::protocol::{Fields, FromJson, JsonError, JsonView};
use twinline_core::unit_variants_from_json;

unit_variants_from_json!(Status {
    Sending => "sending",
    Sent => "sent",
    Failed => "failed",
    Received => "received",
});

unit_variants_from_json!(Link {
    Connecting => "connecting",
    Connected => "connected",
    Reconnecting => "reconnecting",
    Offline => "offline",
});

unit_variants_from_json!(ChatPhase {
    Waiting => "waiting",
    Active => "active",
    Closed => "closed",
});

impl FromJson for ViewMessage {
    fn from_json<V: JsonView>(value: &V) -> Result<ViewMessage, JsonError> {
        let f = Fields::of(value)?;
        Ok(ViewMessage {
            id: f.get("id")?,
            author: f.get("author")?,
            name: f.get("name")?,
            text: f.get("text")?,
            at: f.get("at")?,
            status: f.get("status")?,
        })
    }
}

impl FromJson for ViewNote {
    fn from_json<V: JsonView>(value: &V) -> Result<ViewNote, JsonError> {
        let f = Fields::of(value)?;
        Ok(ViewNote {
            id: f.get("id")?,
            stored: f.get("stored")?,
        })
    }
}

impl FromJson for ViewRating {
    fn from_json<V: JsonView>(value: &V) -> Result<ViewRating, JsonError> {
        let f = Fields::of(value)?;
        Ok(ViewRating {
            score: f.get("score")?,
            comment: f.get("comment")?,
            stored: f.get("stored")?,
        })
    }
}

impl FromJson for ViewEmail {
    fn from_json<V: JsonView>(value: &V) -> Result<ViewEmail, JsonError> {
        let f = Fields::of(value)?;
        Ok(ViewEmail {
            to: f.get("to")?,
            stored: f.get("stored")?,
        })
    }
}

impl FromJson for View {
    fn from_json<V: JsonView>(value: &V) -> Result<View, JsonError> {
        let f = Fields::of(value)?;
        Ok(View {
            chat: f.get("chat")?,
            messages: f.get("messages")?,
            link: f.get("link")?,
            deployment: f.get("deployment")?,
            operators_online: f.get("operators_online")?,
            phase: f.get("phase")?,
            operator: f.get("operator")?,
            typing: f.get("typing")?,
            visitor_name: f.get("visitor_name")?,
            visitor_email: f.get("visitor_email")?,
            notes: f.get("notes")?,
            rating: f.or_default("rating")?,
            seen: f.or_default("seen")?,
            mail: f.or_default("mail")?,
            email: f.or_default::<Option<ViewEmail>>("email")?.map(Box::new),
        })
    }
}

impl FromJson for Unsent {
    fn from_json<V: JsonView>(value: &V) -> Result<Unsent, JsonError> {
        let f = Fields::of(value)?;
        Ok(Unsent {
            id: f.get("id")?,
            text: f.get("text")?,
            at: f.get("at")?,
        })
    }
}

impl FromJson for TabMessage {
    /// Tagged by `t`; as the derive reads it through `TabRecord`: `from`
    /// always, `view` must be a view wherever it is present, and the text
    /// fields are looked at only by the variants that have them.
    fn from_json<V: JsonView>(value: &V) -> Result<TabMessage, JsonError> {
        let _every_variant_is_read = |x: &TabMessage| match x {
            TabMessage::View { .. }
            | TabMessage::Hello { .. }
            | TabMessage::Unsent { .. }
            | TabMessage::Typing { .. }
            | TabMessage::Visitor { .. }
            | TabMessage::Offline { .. }
            | TabMessage::NewChat { .. }
            | TabMessage::Rate { .. }
            | TabMessage::EmailTranscript { .. }
            | TabMessage::Seen { .. }
            | TabMessage::Bye { .. } => (),
        };
        let f = Fields::of(value)?;
        let (kind, _) = f.tag(
            "t",
            &[
                "view",
                "hello",
                "unsent",
                "typing",
                "visitor",
                "offline",
                "new_chat",
                "bye",
                "rate",
                "seen",
                "email_transcript",
            ],
        )?;
        let from = f.get("from")?;
        let view: Option<View> = f.or_default("view")?;
        let text = |key: &'static str| {
            value
                .member(key)
                .and_then(|member| member.text())
                .ok_or(JsonError::missing(key))
        };
        Ok(match kind {
            0 => TabMessage::View {
                from,
                view: view.ok_or(JsonError::missing("view"))?,
            },
            1 => TabMessage::Hello { from },
            2 => TabMessage::Unsent { from },
            3 => TabMessage::Typing { from },
            4 => TabMessage::Visitor {
                from,
                name: text("name")?,
                email: text("email")?,
                page: text("page")?,
            },
            5 => TabMessage::Offline {
                from,
                name: text("name")?,
                email: text("email")?,
                text: text("text")?,
            },
            6 => TabMessage::NewChat { from },
            7 => TabMessage::Bye { from },
            9 => TabMessage::Seen { from },
            10 => TabMessage::EmailTranscript {
                from,
                email: text("email")?,
            },
            _ => TabMessage::Rate {
                from,
                score: text("score")?,
                comment: text("comment")?,
            },
        })
    }
}
