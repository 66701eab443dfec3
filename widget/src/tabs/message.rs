//! What tabs say to each other (JSON text over a BroadcastChannel, or over
//! localStorage `storage` events where there is no BroadcastChannel).

use crate::view::View;
use serde::{Deserialize, Serialize};
use twinline_core::protocol::VariantText;

/// One message between the tabs of a site.
///
/// Written by the derive (`{"t": "view", "from": ..., ...}`); read through
/// `TabRecord`, which takes the same objects without serde's buffering of
/// tagged enums (a large part of the bundle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", try_from = "TabRecord")]
pub enum TabMessage {
    /// Leader → all: the chat as it stands.
    View {
        /// Sender tab id.
        from: String,
        /// The view.
        view: View,
    },
    /// A tab that has no view yet asks the leader for one.
    Hello {
        /// Sender tab id.
        from: String,
    },
    /// A tab wrote messages into its `unsent` key: leader, take them.
    Unsent {
        /// Sender tab id.
        from: String,
    },
    /// The visitor typed in a follower tab.
    Typing {
        /// Sender tab id.
        from: String,
    },
    /// Name and email from a follower tab (pre-chat form or API).
    Visitor {
        /// Sender tab id.
        from: String,
        /// Name.
        name: String,
        /// Email.
        email: String,
        /// Page the visitor is on.
        page: String,
    },
    /// An offline note written in a follower tab.
    Offline {
        /// Sender tab id.
        from: String,
        /// Name.
        name: String,
        /// Email.
        email: String,
        /// The note.
        text: String,
    },
    /// A follower tab asks for a new chat after the old one closed.
    NewChat {
        /// Sender tab id.
        from: String,
    },
    /// The leader is going away (tab closing): claim the lease now.
    Bye {
        /// Sender tab id.
        from: String,
    },
    /// A follower tab shows the chat (its panel open on a visible page):
    /// leader, give a read receipt.
    Seen {
        /// Sender tab id.
        from: String,
    },
    /// The visitor rated the chat in a follower tab.
    Rate {
        /// Sender tab id.
        from: String,
        /// `good` or `bad`.
        score: String,
        /// The comment.
        comment: String,
    },
    /// The visitor asked for the transcript by email in a follower tab.
    EmailTranscript {
        /// Sender tab id.
        from: String,
        /// The address (checked by the follower, again by the leader).
        email: String,
    },
}

/// A [`TabMessage`] as sent, every variant's fields in one struct. Fields a
/// variant does not have are skipped whatever they hold, as the derive
/// skips them, except `view`, which must be a view where present.
#[derive(Deserialize)]
struct TabRecord {
    t: String,
    from: String,
    #[serde(default)]
    view: Option<View>,
    #[serde(default)]
    name: VariantText,
    #[serde(default)]
    email: VariantText,
    #[serde(default)]
    page: VariantText,
    #[serde(default)]
    text: VariantText,
    #[serde(default)]
    score: VariantText,
    #[serde(default)]
    comment: VariantText,
}

impl TryFrom<TabRecord> for TabMessage {
    type Error = String;

    fn try_from(record: TabRecord) -> Result<TabMessage, String> {
        let TabRecord { t, from, view, .. } = record;
        let field = |value: VariantText, name: &str| {
            value.0.ok_or_else(|| format!("missing field `{name}`"))
        };
        Ok(match t.as_str() {
            "view" => TabMessage::View {
                from,
                view: view.ok_or("missing field `view`")?,
            },
            "hello" => TabMessage::Hello { from },
            "unsent" => TabMessage::Unsent { from },
            "typing" => TabMessage::Typing { from },
            "seen" => TabMessage::Seen { from },
            "visitor" => TabMessage::Visitor {
                from,
                name: field(record.name, "name")?,
                email: field(record.email, "email")?,
                page: field(record.page, "page")?,
            },
            "offline" => TabMessage::Offline {
                from,
                name: field(record.name, "name")?,
                email: field(record.email, "email")?,
                text: field(record.text, "text")?,
            },
            "new_chat" => TabMessage::NewChat { from },
            "bye" => TabMessage::Bye { from },
            "rate" => TabMessage::Rate {
                from,
                score: field(record.score, "score")?,
                comment: field(record.comment, "comment")?,
            },
            "email_transcript" => TabMessage::EmailTranscript {
                from,
                email: field(record.email, "email")?,
            },
            _ => return Err(format!("unknown tab message `{t}`")),
        })
    }
}

impl TabMessage {
    /// The sending tab.
    pub fn from(&self) -> &str {
        match self {
            TabMessage::View { from, .. }
            | TabMessage::Hello { from }
            | TabMessage::Unsent { from }
            | TabMessage::Typing { from }
            | TabMessage::Visitor { from, .. }
            | TabMessage::Offline { from, .. }
            | TabMessage::NewChat { from }
            | TabMessage::Rate { from, .. }
            | TabMessage::EmailTranscript { from, .. }
            | TabMessage::Seen { from }
            | TabMessage::Bye { from } => from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let message = TabMessage::Unsent { from: "t1".into() };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(json, r#"{"t":"unsent","from":"t1"}"#);
        assert_eq!(serde_json::from_str::<TabMessage>(&json).unwrap(), message);
        assert_eq!(message.from(), "t1");
    }

    #[test]
    fn every_message_reads_back_and_odd_ones_are_refused() {
        let from = || String::from("t1");
        let messages = [
            TabMessage::View {
                from: from(),
                view: View::default(),
            },
            TabMessage::Hello { from: from() },
            TabMessage::Unsent { from: from() },
            TabMessage::Typing { from: from() },
            TabMessage::Visitor {
                from: from(),
                name: "Ann".into(),
                email: "a@b.c".into(),
                page: "/".into(),
            },
            TabMessage::Offline {
                from: from(),
                name: "Ann".into(),
                email: "a@b.c".into(),
                text: "hi".into(),
            },
            TabMessage::NewChat { from: from() },
            TabMessage::Bye { from: from() },
            TabMessage::Rate {
                from: from(),
                score: "good".into(),
                comment: "thanks".into(),
            },
            TabMessage::EmailTranscript {
                from: from(),
                email: "ada@example.com".into(),
            },
        ];
        for message in messages {
            let json = serde_json::to_string(&message).unwrap();
            assert_eq!(serde_json::from_str::<TabMessage>(&json).unwrap(), message);
        }
        // Fields another variant has are skipped, whatever they hold.
        assert_eq!(
            serde_json::from_str::<TabMessage>(r#"{"t":"hello","from":"t1","name":5}"#).unwrap(),
            TabMessage::Hello { from: from() }
        );
        for text in [
            r#"{"t":"visitor","from":"t1","name":"Ann","email":"a@b.c"}"#,
            r#"{"t":"visitor","from":"t1","name":5,"email":"a@b.c","page":"/"}"#,
            r#"{"t":"view","from":"t1"}"#,
            r#"{"t":"teleport","from":"t1"}"#,
            r#"{"t":"hello"}"#,
            r#"{"from":"t1"}"#,
            "[]",
        ] {
            assert!(serde_json::from_str::<TabMessage>(text).is_err(), "{text}");
        }
    }
}
