//! What the API answers with: plain JSON shapes, documented in
//! docs/API.md and the OpenAPI document. The stored records carry more
//! (merge stamps, the keyed source address of a chat) than a site's
//! systems should depend on.

use crate::store::kinds::state_text;
use crate::store::records::ChatRecord;
use serde::Serialize;
use twinline_core::{Message, OfflineNote, Role};

/// A chat.
#[derive(Debug, Serialize)]
pub struct ChatView {
    /// The chat's id.
    pub id: String,
    /// The visitor's id.
    pub visitor: String,
    /// When this deployment first saw it, ms since the epoch.
    pub created: u64,
    /// waiting, active or closed.
    pub state: &'static str,
    /// The operator holding it, if any.
    pub operator: Option<String>,
    /// The visitor's name from the pre-chat form ("" if none).
    pub name: String,
    /// The visitor's email ("" if none).
    pub email: String,
    /// The page the visitor is on.
    pub page: String,
    /// A history search's snippet: where its words are (plain text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

impl ChatView {
    /// A chat a history search found, with its snippet.
    pub fn found(found: &crate::store::search::Found) -> ChatView {
        ChatView {
            snippet: Some(found.snippet.clone()),
            ..ChatView::from(&found.chat)
        }
    }
}

impl From<&ChatRecord> for ChatView {
    fn from(chat: &ChatRecord) -> ChatView {
        ChatView {
            id: chat.id.to_string(),
            visitor: chat.visitor.to_string(),
            created: chat.created.0,
            state: state_text(chat.status.state),
            operator: chat.status.operator.clone(),
            name: chat.info.name.clone(),
            email: chat.info.email.clone(),
            page: chat.info.page.clone(),
            snippet: None,
        }
    }
}

/// A message.
#[derive(Debug, Serialize)]
pub struct MessageView {
    /// The message's id.
    pub id: String,
    /// The chat's id.
    pub chat: String,
    /// visitor, operator or system.
    pub role: &'static str,
    /// The visitor's id, the operator's username, or `api:<key id>`.
    pub author: String,
    /// The name shown beside it.
    pub name: String,
    /// The text (plain text, never HTML).
    pub text: String,
    /// When the first relay received it, ms since the epoch.
    pub at: u64,
}

impl From<&Message> for MessageView {
    fn from(msg: &Message) -> MessageView {
        MessageView {
            id: msg.id.to_string(),
            chat: msg.chat.to_string(),
            role: match msg.author.role {
                Role::Visitor => "visitor",
                Role::Operator => "operator",
                Role::System => "system",
            },
            author: msg.author.id.clone(),
            name: msg.author.name.clone(),
            text: msg.text.clone(),
            at: msg.at.0,
        }
    }
}

/// An offline note.
#[derive(Debug, Serialize)]
pub struct NoteView {
    /// The note's id.
    pub id: String,
    /// The visitor's name.
    pub name: String,
    /// The visitor's email.
    pub email: String,
    /// The text.
    pub text: String,
    /// When the first relay received it, ms since the epoch.
    pub at: u64,
}

impl From<&OfflineNote> for NoteView {
    fn from(note: &OfflineNote) -> NoteView {
        NoteView {
            id: note.id.to_string(),
            name: note.name.clone(),
            email: note.email.clone(),
            text: note.text.clone(),
            at: note.at.0,
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}
