//! What tabs say to each other (JSON text over a BroadcastChannel, or over
//! localStorage `storage` events where there is no BroadcastChannel).

use crate::view::View;
use serde::{Deserialize, Serialize};

/// One message between the tabs of a site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
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
}
