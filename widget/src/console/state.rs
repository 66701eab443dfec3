//! What the console page renders, as plain data built from the session.
//!
//! The page never sees the core's types: [`ConsoleState`] is serialised to a
//! plain JS object (`Console.state()`), with ids as strings, times as
//! milliseconds and states as lowercase words. Building it is pure (a
//! session and the wall-clock time, for wait times), so native tests check
//! it. Who is typing is the session's (`Session::typing_in`); when a chat
//! counts as seen (a read receipt) is [`to_mark_seen`]. A message's file
//! is shown as [`FileView`] says (a preview or a named download); the
//! operator's own uploads are `super::upload`'s.

use super::presence::presence_text;
use serde::Serialize;
use twinline_core::files::FileMeta;
use twinline_core::model::{ChatState, Role};
use twinline_core::protocol::DeploymentRole;
use twinline_core::session::{Delivery, LinkState, Session};
use twinline_core::{ChatId, Millis};

/// Everything the console page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleState {
    /// The operator logged in, if any.
    pub me: Option<Me>,
    /// True when the page must ask for the password (never logged in here,
    /// or the relay refused the stored token).
    pub needs_login: bool,
    /// The link to the deployments.
    pub connection: Connection,
    /// The availability the operator chose (online takes chats).
    pub online: bool,
    /// Waiting chats, longest waiting first, then active ones.
    pub queue: Vec<QueueItem>,
    /// Chats held by this console, oldest first.
    pub chats: Vec<ChatView>,
    /// Usernames of online operators (this one included).
    pub operators: Vec<String>,
    /// How many operators are online.
    pub operators_online: u32,
    /// Offline notes, oldest first.
    pub inbox: Vec<NoteView>,
    /// The last error a relay reported, for a small notice.
    pub error: Option<ErrorView>,
    /// Files this operator is uploading (or whose upload was refused),
    /// oldest first.
    pub uploads: Vec<super::upload::UploadView>,
}

/// An error a relay reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorView {
    /// The stable code, e.g. `Forbidden`.
    pub code: String,
    /// The relay's explanation.
    pub message: String,
    /// When it arrived, ms (tells a new error from the one shown).
    pub at: u64,
}

/// The operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Me {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
}

/// Connection state and which deployment it is with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// `connecting`, `connected`, `reconnecting` or `offline`.
    pub state: &'static str,
    /// `primary` or `redundant`: connected to, or last connected to.
    pub deployment: Option<&'static str>,
    /// The deployment's name.
    pub name: Option<String>,
}

impl Default for Connection {
    fn default() -> Connection {
        Connection {
            state: "offline",
            deployment: None,
            name: None,
        }
    }
}

/// One chat in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    /// Chat id.
    pub chat: String,
    /// `waiting`, `active` or `closed`.
    pub state: &'static str,
    /// The operator handling it, if any.
    pub operator: Option<String>,
    /// Visitor's name (may be empty).
    pub name: String,
    /// Visitor's email (may be empty).
    pub email: String,
    /// The page the visitor is on.
    pub page: String,
    /// "Visitor online" or "Visitor left 3 min ago" (`presence`).
    pub presence: String,
    /// When the chat started, ms.
    pub since: u64,
    /// How long it has waited so far, ms.
    pub wait_ms: u64,
    /// The latest message, for a preview.
    pub preview: String,
}

/// One chat this console holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    /// Chat id.
    pub chat: String,
    /// `waiting`, `active` or `closed`.
    pub state: &'static str,
    /// The operator handling it.
    pub operator: Option<String>,
    /// True while this operator handles it (it may write).
    pub mine: bool,
    /// Visitor's name, email and page.
    pub visitor: VisitorView,
    /// Who is typing in it (a visitor's name, or "visitor"), if anyone.
    pub typing: Option<String>,
    /// Messages in display order.
    pub messages: Vec<MessageView>,
    /// Messages written here and not yet stored by a relay.
    pub pending: usize,
    /// The visitor's rating, once given.
    pub rating: Option<RatingView>,
    /// The id of the operators' newest message the visitor has seen (a
    /// read receipt): the console shows "Seen" under it.
    pub seen: Option<String>,
}

/// The visitor's rating of a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RatingView {
    /// `good` or `bad`.
    pub score: &'static str,
    /// The comment, possibly empty (shown as text).
    pub comment: String,
}

/// What the visitor told us.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VisitorView {
    /// Name (may be empty).
    pub name: String,
    /// Email (may be empty).
    pub email: String,
    /// Page.
    pub page: String,
    /// "Visitor online" or "Visitor left 3 min ago" (`presence`).
    pub presence: String,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// Message id.
    pub id: String,
    /// `visitor`, `operator` or `system`.
    pub author: &'static str,
    /// The author's id (visitor id or operator username).
    pub author_id: String,
    /// The author's display name.
    pub name: String,
    /// The text, to be shown as text.
    pub text: String,
    /// When it was written, ms.
    pub at: u64,
    /// True if this operator wrote it.
    pub own: bool,
    /// `sending`, `sent`, `failed` (own messages) or `received`.
    pub status: &'static str,
    /// Continues the group of the message before it (same author, same
    /// minute: `crate::view::continues`, the widget's rule): its author
    /// and time are not shown again.
    pub cont: bool,
    /// The file it carries, if any.
    pub file: Option<FileView>,
}

/// A message's file as the page shows it: an image as a preview, anything
/// else as a download link named by its name (text, never markup or a
/// path). The bytes come from `GET /v1/files/{id}` with the session's
/// token (`Console.download`); the relay serves them with its own type and
/// headers, whatever the message says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileView {
    /// The file's id (for the download).
    pub id: String,
    /// Its name, shown as text.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The media type the relay decided from its first bytes.
    pub mime: &'static str,
    /// `preview` (an image) or `download` (anything else).
    pub show: &'static str,
}

impl FileView {
    /// How the page shows `file`.
    pub fn of(file: &FileMeta) -> FileView {
        FileView {
            id: file.id.to_string(),
            name: file.name.clone(),
            size: file.size,
            mime: file.kind.mime(),
            show: if file.kind.is_image() {
                "preview"
            } else {
                "download"
            },
        }
    }
}

/// One offline note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoteView {
    /// Note id.
    pub id: String,
    /// Site it was left on.
    pub site: String,
    /// Visitor's name.
    pub name: String,
    /// Visitor's email.
    pub email: String,
    /// What they wrote.
    pub text: String,
    /// When, ms.
    pub at: u64,
}

/// Builds the state from a running session; `now` is the wall clock (the
/// queue's wait times are against the relays' clocks).
pub fn build(session: &Session, now: Millis) -> ConsoleState {
    let me = &session.identity().author;
    let status = session.status();
    let mut queue: Vec<QueueItem> = session
        .queue()
        .iter()
        .map(|entry| QueueItem {
            chat: entry.chat.to_string(),
            state: state_name(entry.status.state),
            operator: entry.status.operator.clone(),
            name: entry.visitor.name.clone(),
            email: entry.visitor.email.clone(),
            page: entry.visitor.page.clone(),
            presence: presence_text(&entry.visitor, now),
            since: entry.since.0,
            wait_ms: now.since(entry.since),
            preview: entry.preview.clone(),
        })
        .collect();
    queue.sort_by_key(|item| (item.state != "waiting", item.since));
    let chats = session
        .chats()
        .filter_map(|chat| chat_view(session, chat, now))
        .collect();
    ConsoleState {
        me: Some(Me {
            username: me.id.clone(),
            name: me.name.clone(),
        }),
        needs_login: false,
        connection: Connection {
            state: match status.state {
                LinkState::Connecting => "connecting",
                LinkState::Connected => "connected",
                LinkState::Reconnecting => "reconnecting",
                LinkState::Offline => "offline",
            },
            deployment: status.deployment.map(|role| match role {
                DeploymentRole::Primary => "primary",
                DeploymentRole::Redundant => "redundant",
            }),
            name: status.name.clone(),
        },
        online: true,
        queue,
        chats,
        operators: session.operators().to_vec(),
        operators_online: session.operators_online(),
        inbox: session
            .inbox()
            .iter()
            .map(|note| NoteView {
                id: note.id.to_string(),
                site: note.site.clone(),
                name: note.name.clone(),
                email: note.email.clone(),
                text: note.text.clone(),
                at: note.at.0,
            })
            .collect(),
        error: None,
        uploads: Vec::new(),
    }
}

fn chat_view(session: &Session, chat: ChatId, now: Millis) -> Option<ChatView> {
    let me = &session.identity().author;
    let local = session.chat(chat)?;
    let mut pending = 0;
    let mut before = None;
    let messages = local
        .transcript
        .iter()
        .map(|m| {
            let key = (role_name(m.author.role), m.author.id.as_str(), m.at.0);
            let cont = crate::view::continues(before, key);
            before = Some(key);
            let own = m.author.role == me.role && m.author.id == me.id;
            let status = match (own, session.delivery(m.id)) {
                (false, _) => "received",
                (true, Delivery::Pending) => {
                    pending += 1;
                    "sending"
                }
                (true, Delivery::Acked) => "sent",
                (true, Delivery::Refused) => "failed",
            };
            MessageView {
                id: m.id.to_string(),
                author: role_name(m.author.role),
                author_id: m.author.id.clone(),
                name: m.author.name.clone(),
                text: m.text.clone(),
                at: m.at.0,
                own,
                status,
                cont,
                file: m.file.as_ref().map(FileView::of),
            }
        })
        .collect();
    let typing = session.typing_in(chat).map(|who| {
        if who.name.is_empty() {
            role_name(who.role).to_string()
        } else {
            who.name.clone()
        }
    });
    Some(ChatView {
        chat: chat.to_string(),
        state: state_name(local.status.state),
        operator: local.status.operator.clone(),
        mine: local.status.state != ChatState::Closed
            && local.status.operator.as_deref() == Some(me.id.as_str()),
        visitor: VisitorView {
            name: local.visitor.name.clone(),
            email: local.visitor.email.clone(),
            page: local.visitor.page.clone(),
            presence: presence_text(&local.visitor, now),
        },
        typing,
        messages,
        pending,
        rating: local.rating.as_ref().map(|r| RatingView {
            score: r.score.as_str(),
            comment: r.comment.clone(),
        }),
        seen: crate::view::seen_under(
            local.transcript.iter(),
            |m| m.author.role == Role::Operator,
            session.seen_by_other(chat),
        )
        .map(|id| id.to_string()),
    })
}

/// The chat to give a read receipt for, if any: the one the page shows
/// (`on_screen`, the chat open in the console) while the page is
/// visible, if this session holds it. The engine asks after every change
/// (new messages in it included) and the session sends `read` only when
/// that says something new.
pub fn to_mark_seen(session: &Session, on_screen: Option<ChatId>, visible: bool) -> Option<ChatId> {
    let chat = on_screen.filter(|_| visible)?;
    session.chat(chat).map(|_| chat)
}

fn state_name(state: ChatState) -> &'static str {
    match state {
        ChatState::Waiting => "waiting",
        ChatState::Active => "active",
        ChatState::Closed => "closed",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Visitor => "visitor",
        Role::Operator => "operator",
        Role::System => "system",
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
