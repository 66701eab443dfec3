//! What every tab shows: the chat as plain data.
//!
//! The tab that holds the connection (the leader, see `tabs`) builds a
//! [`View`] from its core session after every change and broadcasts it; the
//! other tabs render the copy they receive. One render path for both, and the
//! JS API (`Twinline.transcript()`, `status()`, the events) reads the same
//! data in every tab.
//!
//! A tab's own messages that the leader has not taken yet ([`Unsent`]) are
//! laid over the view as "sending", so a message shows the moment it is
//! written, in any tab, even while no deployment answers.
//!
//! Also here, as plain data too: what the panel shows besides the view
//! ([`Shown`]), what the visitor does in it ([`UiEvent`]), and (browser
//! only) the JS shapes `window.Twinline` hands the page: [`message_object`]
//! and [`status_value`].

use serde::{Deserialize, Serialize};
use twinline_core::Score;

/// Something the visitor did in the panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UiEvent {
    /// Clicked the launcher.
    Open,
    /// Clicked close or pressed Escape.
    Close,
    /// Submitted a (checked) message.
    Send(String),
    /// Typed in the composer.
    Typing,
    /// Submitted the pre-chat form.
    Prechat {
        /// Name, possibly empty.
        name: String,
        /// Email, possibly empty.
        email: String,
    },
    /// Submitted the offline form.
    Offline {
        /// Name, possibly empty.
        name: String,
        /// Email.
        email: String,
        /// The message.
        text: String,
    },
    /// Asked for a new chat after the last one was closed.
    NewChat,
    /// Asked for the transcript by email at this (checked) address.
    EmailTranscript(String),
    /// Rated the closed chat.
    Rate {
        /// Good or bad.
        score: Score,
        /// The comment, possibly empty (checked).
        comment: String,
    },
}

/// What the panel shows: the view, and what only this tab decides.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a> {
    /// The chat.
    pub view: &'a View,
    /// Unread messages (badge).
    pub unread: usize,
    /// While the panel is closed, the start of the newest unread message,
    /// shown beside the launcher (see `app::state::PREVIEW_CHARS`).
    pub preview: Option<&'a str>,
    /// Show the pre-chat form instead of the composer.
    pub prechat: bool,
    /// Say that the chat is reconnecting (the link has been down long
    /// enough for it to matter; see `app::state`).
    pub banner: bool,
}

/// Delivery state of a message as the visitor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Own message not yet stored by a relay.
    Sending,
    /// Own message stored by a relay (acked).
    Sent,
    /// Own message a relay refused for good (it is kept, shown as not sent).
    Failed,
    /// Someone else's message.
    Received,
}

impl Status {
    /// The name used in the JS API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Received => "received",
        }
    }
}

/// One message as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewMessage {
    /// Message id (26 characters).
    pub id: String,
    /// "visitor", "operator" or "system".
    pub author: String,
    /// Author's display name (may be empty).
    pub name: String,
    /// The text, always rendered as text.
    pub text: String,
    /// Author's wall clock, ms since the epoch.
    pub at: u64,
    /// Delivery state.
    pub status: Status,
}

impl ViewMessage {
    /// True for the visitor's own messages.
    pub fn is_own(&self) -> bool {
        self.author == "visitor"
    }
}

/// Whether a message continues the group of the one shown before it: the
/// same author (`author`: role, `who`: name or id) in the same minute of
/// the wall clock (`at`, ms), and neither from the system. The panel and
/// the console show a group's author and time once, on its first message
/// (the one rule for both; the time format is one too: hours and minutes,
/// two digits each, in the interface's language).
pub fn continues(before: Option<(&str, &str, u64)>, this: (&str, &str, u64)) -> bool {
    const MINUTE_MS: u64 = 60_000;
    let Some((author, who, at)) = before else {
        return false;
    };
    author != "system" && author == this.0 && who == this.1 && at / MINUTE_MS == this.2 / MINUTE_MS
}

/// The message "Seen" goes under: the last (in display order) of `own`
/// messages whose id is at most `up_to`, what the other side has seen
/// ("seen up to X" covers every message with an id up to X). The one rule
/// for the panel and the console.
pub fn seen_under<'a>(
    messages: impl DoubleEndedIterator<Item = &'a twinline_core::Message>,
    own: impl Fn(&twinline_core::Message) -> bool,
    up_to: Option<twinline_core::MessageId>,
) -> Option<twinline_core::MessageId> {
    let up_to = up_to?;
    messages
        .rev()
        .find(|m| own(m) && m.id <= up_to)
        .map(|m| m.id)
}

/// The connection as the visitor may see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Getting a token or opening the first connection.
    #[default]
    Connecting,
    /// Connected to a deployment.
    Connected,
    /// Lost the connection, trying the deployments again.
    Reconnecting,
    /// Neither deployment answers.
    Offline,
}

impl Link {
    /// The name used in the JS API.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Connected => "connected",
            Link::Reconnecting => "reconnecting",
            Link::Offline => "offline",
        }
    }
}

/// Where the chat stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatPhase {
    /// Waiting for an operator (or no chat yet).
    #[default]
    Waiting,
    /// An operator has it.
    Active,
    /// Closed by someone.
    Closed,
}

/// An offline note and whether a relay stored it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewNote {
    /// Note id.
    pub id: String,
    /// Stored by a relay.
    pub stored: bool,
}

/// The chat's rating as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewRating {
    /// Good or bad.
    pub score: Score,
    /// The comment, possibly empty.
    pub comment: String,
    /// Stored by a relay (false: on its way).
    pub stored: bool,
}

/// The visitor's latest request for the transcript by email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewEmail {
    /// Where it goes.
    pub to: String,
    /// Stored by a relay (`transcript_ack`; false: on its way).
    pub stored: bool,
}

/// The whole visible state of the chat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The chat id, once a token named it.
    pub chat: Option<String>,
    /// Messages in display order.
    pub messages: Vec<ViewMessage>,
    /// Connection state.
    pub link: Link,
    /// Name of the deployment connected to.
    pub deployment: Option<String>,
    /// Operators online; `None` until a relay said.
    pub operators_online: Option<u32>,
    /// Chat state.
    pub phase: ChatPhase,
    /// Display name of the operator handling the chat.
    pub operator: Option<String>,
    /// Display name of whoever is typing on the other side, if anyone
    /// (`Some("")` when the name is unknown).
    pub typing: Option<String>,
    /// Name the visitor gave.
    pub visitor_name: String,
    /// Email the visitor gave.
    pub visitor_email: String,
    /// Offline notes left from this browser.
    pub notes: Vec<ViewNote>,
    /// The visitor's rating of the chat, once given.
    #[serde(default)]
    pub rating: Option<ViewRating>,
    /// The id of the visitor's newest message the operator has seen (a
    /// read receipt): "Seen" is shown under it.
    #[serde(default)]
    pub seen: Option<String>,
    /// The relay connected to (or last connected to) sends the transcript
    /// by email: the closed chat's foot offers it.
    #[serde(default)]
    pub mail: bool,
    /// The visitor's latest request for the transcript by email, if any.
    /// Boxed: most views carry none, and a tab message is as large as its
    /// largest variant, this view.
    #[serde(default)]
    pub email: Option<Box<ViewEmail>>,
}

/// A message written in some tab that the leader's session may not hold yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    /// Client-made id, kept by the session.
    pub id: String,
    /// The text.
    pub text: String,
    /// When it was written, ms since the epoch.
    pub at: u64,
}

impl View {
    /// True if a message with this id is in the view.
    pub fn has(&self, id: &str) -> bool {
        self.messages.iter().any(|m| m.id == id)
    }

    /// The view with `unsent` messages it lacks appended as "sending".
    pub fn with_unsent<'a>(&self, unsent: impl IntoIterator<Item = &'a Unsent>) -> View {
        let mut view = self.clone();
        for entry in unsent {
            if !view.has(&entry.id) {
                view.messages.push(ViewMessage {
                    id: entry.id.clone(),
                    author: "visitor".into(),
                    name: String::new(),
                    text: entry.text.clone(),
                    at: entry.at,
                    status: Status::Sending,
                });
            }
        }
        view
    }

    /// Messages written by the other side (operators, system).
    pub fn incoming(&self) -> usize {
        self.messages.iter().filter(|m| !m.is_own()).count()
    }

    /// Messages in `self` whose id `before` lacks: what to announce.
    pub fn new_since<'a>(&'a self, before: &'a View) -> impl Iterator<Item = &'a ViewMessage> {
        self.messages.iter().filter(move |m| !before.has(&m.id))
    }

    /// True once a relay has stored at least one of our offline notes.
    pub fn note_stored(&self) -> bool {
        self.notes.iter().any(|n| n.stored)
    }

    /// True when the offline form replaces the composer: no operator is
    /// online and no conversation is going on.
    pub fn offline_mode(&self) -> bool {
        self.operators_online == Some(0)
            && self.phase != ChatPhase::Active
            && self.messages.is_empty()
    }
}

#[cfg(target_arch = "wasm32")]
pub use browser::{message_object, read_object, status_value};

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::{Link, ViewMessage};
    use js_sys::{Object, Reflect};
    use wasm_bindgen::JsValue;

    /// The JS shape of one message: `{id, author, name, text, status, at}`.
    pub fn message_object(message: &ViewMessage) -> JsValue {
        let object = Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&object, &k.into(), &v);
        };
        set("id", message.id.as_str().into());
        set("author", message.author.as_str().into());
        set("name", message.name.as_str().into());
        set("text", message.text.as_str().into());
        set("status", message.status.as_str().into());
        set("at", (message.at as f64).into());
        object.into()
    }

    /// The JS shape of a `read` event: `{id}`, the visitor's newest
    /// message the operator has seen.
    pub fn read_object(id: &str) -> JsValue {
        let object = Object::new();
        let _ = Reflect::set(&object, &"id".into(), &id.into());
        object.into()
    }

    /// The JS shape of the connection status: `{deployment, state}`.
    pub fn status_value(deployment: Option<&str>, link: Link) -> JsValue {
        let object = Object::new();
        let deployment = deployment.map_or(JsValue::NULL, JsValue::from);
        let _ = Reflect::set(&object, &"deployment".into(), &deployment);
        let _ = Reflect::set(&object, &"state".into(), &link.as_str().into());
        object.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_continues_a_group_of_the_same_author_in_the_same_minute() {
        let ann = |at| ("operator", "Ann", at);
        assert!(!continues(None, ann(0)), "the first starts one");
        assert!(continues(Some(ann(60_000)), ann(119_999)), "same minute");
        assert!(
            !continues(Some(ann(59_999)), ann(60_000)),
            "the next minute"
        );
        assert!(
            !continues(Some(ann(0)), ("operator", "Bob", 0)),
            "another operator"
        );
        assert!(
            !continues(Some(ann(0)), ("visitor", "Ann", 0)),
            "another side"
        );
        let system = ("system", "", 0);
        assert!(!continues(Some(system), system), "system lines stand alone");
    }

    fn message(id: &str, author: &str, status: Status) -> ViewMessage {
        ViewMessage {
            id: id.into(),
            author: author.into(),
            name: String::new(),
            text: format!("text {id}"),
            at: 1,
            status,
        }
    }

    #[test]
    fn unsent_messages_show_as_sending_once() {
        let view = View {
            messages: vec![message("A", "visitor", Status::Sent)],
            ..View::default()
        };
        let unsent = [
            Unsent {
                id: "A".into(),
                text: "already there".into(),
                at: 1,
            },
            Unsent {
                id: "B".into(),
                text: "new".into(),
                at: 2,
            },
        ];
        let shown = view.with_unsent(&unsent);
        assert_eq!(shown.messages.len(), 2);
        assert_eq!(shown.messages[0].status, Status::Sent);
        assert_eq!(shown.messages[1].id, "B");
        assert_eq!(shown.messages[1].status, Status::Sending);
        assert!(shown.messages[1].is_own());
    }

    #[test]
    fn new_messages_are_those_the_old_view_lacks() {
        let before = View {
            messages: vec![message("A", "visitor", Status::Sending)],
            ..View::default()
        };
        let after = View {
            messages: vec![
                message("A", "visitor", Status::Sent),
                message("B", "operator", Status::Received),
            ],
            ..View::default()
        };
        let ids: Vec<_> = after.new_since(&before).map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["B"]);
        assert_eq!(after.incoming(), 1);
    }

    #[test]
    fn offline_form_only_without_operators_and_without_a_conversation() {
        let mut view = View {
            operators_online: Some(0),
            ..View::default()
        };
        assert!(view.offline_mode());
        view.operators_online = None;
        assert!(!view.offline_mode(), "unknown is not zero");
        view.operators_online = Some(0);
        view.messages.push(message("A", "visitor", Status::Sent));
        assert!(!view.offline_mode(), "a started chat keeps its composer");
    }

    #[test]
    fn view_round_trips_through_json() {
        let view = View {
            chat: Some("C".into()),
            messages: vec![message("A", "operator", Status::Received)],
            link: Link::Connected,
            deployment: Some("primary".into()),
            operators_online: Some(2),
            phase: ChatPhase::Active,
            operator: Some("Alice".into()),
            typing: Some("Alice".into()),
            visitor_name: "Ada".into(),
            visitor_email: "ada@example.com".into(),
            notes: vec![ViewNote {
                id: "N".into(),
                stored: true,
            }],
            rating: Some(ViewRating {
                score: Score::Bad,
                comment: "slow".into(),
                stored: false,
            }),
            seen: Some("A".into()),
            mail: true,
            email: Some(Box::new(ViewEmail {
                to: "ada@example.com".into(),
                stored: true,
            })),
        };
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(serde_json::from_str::<View>(&json).unwrap(), view);
    }
}
