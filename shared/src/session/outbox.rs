//! Requests that are not messages but must survive a failover: offline
//! notes (acked by id), the visitor's details and ratings, and an
//! operator's accept / close / transfer and availability.
//!
//! Only messages and notes have acks, so the others are kept until the
//! client sees their effect (the chat's status or visitor register says
//! so) and are sent again after every welcome until then. Sending one twice
//! is harmless: each is idempotent on the relay.

use crate::id::{ChatId, OfflineId};
use crate::model::{ChatState, ChatStatus, OfflineNote, VisitorInfo};
use crate::protocol::{ClientFrame, VariantText};
use serde::{Deserialize, Serialize};

/// An operator's (or visitor's) request about a chat's status.
///
/// Stored in snapshots as `{"do": "transfer", "chat": ..., "to": ...}`.
/// Written by the derive; read through `IntentRecord`, which takes the
/// same objects without serde's buffering of tagged enums (that buffering
/// is a large part of the browser bundle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", try_from = "IntentRecord")]
pub enum Intent {
    /// Take the chat.
    Accept {
        /// The chat.
        chat: ChatId,
    },
    /// End the chat.
    Close {
        /// The chat.
        chat: ChatId,
    },
    /// Hand it to another operator.
    Transfer {
        /// The chat.
        chat: ChatId,
        /// Their username.
        to: String,
    },
}

/// An [`Intent`] as stored, every variant's fields in one struct.
#[derive(Deserialize)]
struct IntentRecord {
    #[serde(rename = "do")]
    kind: String,
    chat: ChatId,
    #[serde(default)]
    to: VariantText,
}

impl TryFrom<IntentRecord> for Intent {
    type Error = String;

    /// The derive's checks and wording: a known `do`, and `to` for a transfer.
    fn try_from(record: IntentRecord) -> Result<Intent, String> {
        let IntentRecord {
            kind,
            chat,
            to: VariantText(to),
        } = record;
        match (kind.as_str(), to) {
            ("accept", _) => Ok(Intent::Accept { chat }),
            ("close", _) => Ok(Intent::Close { chat }),
            ("transfer", Some(to)) => Ok(Intent::Transfer { chat, to }),
            ("transfer", None) => Err("missing field `to`".into()),
            _ => Err(format!(
                "unknown variant `{kind}`, expected one of `accept`, `close`, `transfer`"
            )),
        }
    }
}

impl Intent {
    pub(crate) fn chat(&self) -> ChatId {
        match self {
            Intent::Accept { chat } | Intent::Close { chat } | Intent::Transfer { chat, .. } => {
                *chat
            }
        }
    }

    pub(crate) fn frame(&self) -> ClientFrame {
        match self.clone() {
            Intent::Accept { chat } => ClientFrame::Accept { chat },
            Intent::Close { chat } => ClientFrame::Close { chat },
            Intent::Transfer { chat, to } => ClientFrame::Transfer { chat, to },
        }
    }

    /// True once `status` shows the request took effect (or can no longer).
    fn settled_by(&self, status: &ChatStatus, me: &str) -> bool {
        let operator = status.operator.as_deref();
        match self {
            Intent::Accept { .. } => {
                status.state == ChatState::Closed
                    || (status.state == ChatState::Active && operator.is_some())
                    || operator.is_some_and(|o| o != me)
            }
            Intent::Close { .. } => status.state == ChatState::Closed,
            Intent::Transfer { to, .. } => {
                status.state == ChatState::Closed || operator == Some(to.as_str())
            }
        }
    }
}

/// The visitor's details as last set here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorUpdate {
    /// The chat.
    pub chat: ChatId,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Page.
    pub page: String,
}

impl VisitorUpdate {
    fn frame(&self) -> ClientFrame {
        ClientFrame::SetVisitor {
            chat: self.chat,
            name: self.name.clone(),
            email: self.email.clone(),
            page: self.page.clone(),
        }
    }

    fn shown_in(&self, info: &VisitorInfo) -> bool {
        info.name == self.name && info.email == self.email && info.page == self.page
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) notes: Vec<OfflineNote>,
    pub(crate) intents: Vec<Intent>,
    pub(crate) visitor: Option<VisitorUpdate>,
    pub(crate) online: Option<bool>,
    pub(crate) ratings: Vec<super::rating::RatingRequest>,
    /// Transcript requests, acked ones too (replayed where lacking).
    pub(crate) emails: Vec<super::transcript_email::EmailRequest>,
}

impl Outbox {
    /// Everything to (re)send on a fresh connection.
    pub(crate) fn frames(&self) -> Vec<ClientFrame> {
        let mut frames = Vec::new();
        if let Some(online) = self.online {
            frames.push(ClientFrame::SetAvailability { online });
        }
        frames.extend(self.visitor.iter().map(VisitorUpdate::frame));
        frames.extend(self.intents.iter().map(Intent::frame));
        // After the intents: a chat is closed before it is rated.
        frames.extend(self.ratings.iter().map(super::rating::RatingRequest::frame));
        frames.extend(
            self.emails
                .iter()
                .filter(|request| !request.stored)
                .map(super::transcript_email::EmailRequest::frame),
        );
        frames.extend(
            self.notes
                .iter()
                .map(|note| ClientFrame::Offline { note: note.clone() }),
        );
        frames
    }

    pub(crate) fn push_intent(&mut self, intent: Intent) {
        let chat = intent.chat();
        self.intents.retain(|i| i.chat() != chat);
        self.intents.push(intent);
    }

    /// Drops requests about `chat` that its new status settles.
    pub(crate) fn settle_status(&mut self, chat: ChatId, status: &ChatStatus, me: &str) -> bool {
        let before = self.intents.len();
        self.intents
            .retain(|i| i.chat() != chat || !i.settled_by(status, me));
        before != self.intents.len()
    }

    pub(crate) fn settle_visitor(&mut self, chat: ChatId, info: &VisitorInfo) -> bool {
        if self
            .visitor
            .as_ref()
            .is_some_and(|v| v.chat == chat && v.shown_in(info))
        {
            self.visitor = None;
            return true;
        }
        false
    }

    pub(crate) fn ack_note(&mut self, id: OfflineId) -> bool {
        let before = self.notes.len();
        self.notes.retain(|n| n.id != id);
        before != self.notes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Hlc;
    use crate::{Millis, Ulid};

    fn chat() -> ChatId {
        ChatId(Ulid::new(Millis(1), 1))
    }

    fn status(state: ChatState, operator: Option<&str>) -> ChatStatus {
        ChatStatus {
            state,
            operator: operator.map(String::from),
            stamp: Hlc::zero(1),
        }
    }

    #[test]
    fn intents_stay_until_the_status_shows_them() {
        let mut out = Outbox::default();
        out.push_intent(Intent::Accept { chat: chat() });
        assert!(!out.settle_status(chat(), &status(ChatState::Waiting, None), "ann"));
        assert_eq!(out.frames(), vec![ClientFrame::Accept { chat: chat() }]);
        assert!(out.settle_status(chat(), &status(ChatState::Active, Some("ann")), "ann"));
        assert!(out.frames().is_empty());

        out.push_intent(Intent::Transfer {
            chat: chat(),
            to: "bob".into(),
        });
        assert!(!out.settle_status(chat(), &status(ChatState::Active, Some("ann")), "ann"));
        assert!(out.settle_status(chat(), &status(ChatState::Active, Some("bob")), "ann"));
    }

    /// The derive `Intent` had before it was read through `IntentRecord`.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(tag = "do", rename_all = "snake_case")]
    enum DerivedIntent {
        Accept { chat: ChatId },
        Close { chat: ChatId },
        Transfer { chat: ChatId, to: String },
    }

    impl From<DerivedIntent> for Intent {
        fn from(intent: DerivedIntent) -> Intent {
            match intent {
                DerivedIntent::Accept { chat } => Intent::Accept { chat },
                DerivedIntent::Close { chat } => Intent::Close { chat },
                DerivedIntent::Transfer { chat, to } => Intent::Transfer { chat, to },
            }
        }
    }

    #[test]
    fn intents_read_back_as_the_derive_read_them() {
        let chat = serde_json::to_string(&chat()).unwrap();
        let written = [
            Intent::Accept { chat: self::chat() },
            Intent::Close { chat: self::chat() },
            Intent::Transfer {
                chat: self::chat(),
                to: "bob".into(),
            },
        ]
        .map(|intent| serde_json::to_string(&intent).unwrap());
        let mut texts: Vec<String> = written.to_vec();
        for kind in ["accept", "close", "transfer", "teleport", "Accept", ""] {
            for rest in [
                format!(r#","chat":{chat}"#),
                format!(r#","chat":{chat},"to":"bob""#),
                format!(r#","chat":{chat},"to":null"#),
                format!(r#","chat":{chat},"to":5"#),
                r#","to":"bob""#.to_string(),
                r#","chat":"nope","to":"bob""#.to_string(),
                format!(r#","chat":{chat},"to":"bob","later":[1]"#),
                String::new(),
            ] {
                texts.push(format!(r#"{{"do":"{kind}"{rest}}}"#));
            }
        }
        texts.extend(["{}", "[]", "null", "{", r#"{"do":5}"#].map(String::from));
        for text in &texts {
            let ours = serde_json::from_str::<Intent>(text).map_err(|e| e.to_string());
            let derived = serde_json::from_str::<DerivedIntent>(text)
                .map(Intent::from)
                .map_err(|e| e.to_string());
            assert_eq!(
                ours.is_ok(),
                derived.is_ok(),
                "{text}: {ours:?} / {derived:?}"
            );
            if ours.is_ok() {
                assert_eq!(ours, derived, "{text}");
            }
        }
        for text in &written {
            assert!(serde_json::from_str::<Intent>(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn a_later_intent_replaces_an_earlier_one_for_the_same_chat() {
        let mut out = Outbox::default();
        out.push_intent(Intent::Accept { chat: chat() });
        out.push_intent(Intent::Close { chat: chat() });
        assert_eq!(out.frames(), vec![ClientFrame::Close { chat: chat() }]);
    }
}
