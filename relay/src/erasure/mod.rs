//! Erasing and exporting a visitor's data: what `visitor erase|export` and
//! the REST API's visitor routes do, over the store.
//!
//! An erasure is planned here ([`plan`]: the chats and notes of the visitor
//! or email this deployment holds) and applied as one record; the store
//! does the rest on both deployments (see [`crate::store::erasures`]: the
//! rows go, the tombstone replicates and wins over every late copy). An
//! export ([`export`]) is one JSON document of everything the store holds
//! of a visitor, erasures included, so a data request can be answered and
//! then shown to have been carried out.
//!
//! Files (issue 21) do not exist yet; when they land they join the export
//! here and the rows an erasure deletes in the store's `erase` primitive.

pub mod cli;
#[cfg(test)]
mod property_tests;
pub mod retention;

use crate::state::Shared;
use crate::store::backend::{Reads, VisitorRows, Who};
use crate::store::erasures::{Erasure, MAX_ERASED_ITEMS, Reason, normal_email};
use crate::store::records::{ChatRecord, Record};
use crate::store::{Store, StoreError};
use serde::Serialize;
use twinline_core::model::MAX_SAFE_INTEGER;
use twinline_core::{Hlc, Message, Millis, OfflineNote, Ulid, VisitorId};

/// Whose data: a visitor id, or an email (offline notes and pre-chat
/// forms carry one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A visitor id (the widget's, as the chat headers hold it).
    Visitor(VisitorId),
    /// An email, compared case-blind.
    Email(String),
}

impl Subject {
    /// The store's query for this subject on `site`.
    pub fn who(&self, site: &str) -> Who {
        match self {
            Subject::Visitor(visitor) => Who {
                site: site.to_string(),
                visitor: visitor.to_string(),
                email: String::new(),
            },
            Subject::Email(email) => Who {
                site: site.to_string(),
                visitor: String::new(),
                email: normal_email(email),
            },
        }
    }
}

/// Why data could not be erased or exported.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// More rows than one erasure lists.
    #[error(
        "the visitor has {0} chats and notes here, more than the {MAX_ERASED_ITEMS} one erasure \
         lists; erase again after this one to take the rest"
    )]
    TooMany(usize),
    /// An empty site or email.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The store refused the erasure.
    #[error("the erasure was not stored: {0}")]
    Refused(String),
}

/// The erasure of `subject` on `site` as this deployment's rows (`rows`,
/// from [`crate::store::backend::Reads::visitor_rows`]) make it: the
/// chats and notes the subject's rule covers, at most [`MAX_ERASED_ITEMS`].
pub fn plan(
    site: &str,
    subject: &Subject,
    rows: &VisitorRows,
    now: Millis,
    random: u128,
    node: u64,
    reason: Reason,
) -> Result<Erasure, ErasureError> {
    if site.trim().is_empty() {
        return Err(ErasureError::Empty("site"));
    }
    let now = Millis(now.0.min(MAX_SAFE_INTEGER));
    let mut erasure = Erasure {
        id: Ulid::new(now, random),
        site: site.to_string(),
        visitor: None,
        email: None,
        chats: Vec::new(),
        notes: Vec::new(),
        at: now,
        stamp: Hlc::zero(node & MAX_SAFE_INTEGER).tick(now),
        reason,
    };
    match subject {
        Subject::Visitor(visitor) => erasure.visitor = Some(*visitor),
        Subject::Email(email) => {
            let email = normal_email(email);
            if email.is_empty() {
                return Err(ErasureError::Empty("email"));
            }
            erasure.email = Some(email);
        }
    }
    erasure.chats = parsed::<ChatRecord>(&rows.chats)
        .filter(|chat| erasure.covers_chat(chat))
        .map(|chat| chat.id)
        .collect();
    erasure.notes = parsed::<OfflineNote>(&rows.notes)
        .filter(|note| erasure.covers_note(note))
        .map(|note| note.id)
        .collect();
    let items = erasure.chats.len() + erasure.notes.len();
    if items > MAX_ERASED_ITEMS {
        return Err(ErasureError::TooMany(items));
    }
    Ok(erasure)
}

fn parsed<'a, T: serde::de::DeserializeOwned>(
    rows: &'a [(String, String)],
) -> impl Iterator<Item = T> + 'a {
    rows.iter()
        .filter_map(|(_, body)| serde_json::from_str(body).ok())
}

/// Erases `subject` on `site` through `store` (as `origin`); returns the
/// erasure stored, which the store has applied and the feed carries to
/// the peer.
pub async fn erase(
    store: &Store,
    origin: &str,
    site: &str,
    subject: &Subject,
    reason: Reason,
) -> Result<Erasure, ErasureError> {
    let who = subject.who(site);
    let rows = store.read(move |conn| conn.visitor_rows(&who)).await?;
    let erasure = plan(
        site,
        subject,
        &rows,
        crate::clock::now(),
        rand::random(),
        rand::random(),
        reason,
    )?;
    let applied = store
        .apply(Record::Erasure(erasure.clone()), origin)
        .await?;
    if let Some(refusal) = applied.refused {
        return Err(ErasureError::Refused(refusal.to_string()));
    }
    Ok(erasure)
}

/// Tells this node's clients about an erasure it applied (made here, or
/// replicated: [`crate::replication::puller::fan_out`]): the erased chats
/// leave the operators' queues and the notes their inboxes.
pub async fn announce(state: &Shared, erasure: &Erasure) {
    tell_followers(state, erasure);
    crate::fanout::queue(state).await;
    crate::fanout::inbox(state).await;
}

/// Tells the followers of each erased chat (the visitor's widget, the
/// consoles that show it) that it is gone: `erased {chat}`, after which
/// they drop it and never send it again (docs/PROTOCOL.md).
pub fn tell_followers(state: &Shared, erasure: &Erasure) {
    for chat in &erasure.chats {
        state.hub.publish_chat(
            *chat,
            &twinline_core::protocol::ServerFrame::Erased { chat: *chat },
            None,
        );
    }
}

/// One chat in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedChat {
    /// The header: site, visitor, state, visitor details, rating.
    #[serde(flatten)]
    pub header: ChatRecord,
    /// Its messages, in Lamport order.
    pub messages: Vec<Message>,
    /// Its complete files, by id, with their bytes.
    pub files: Vec<ExportedFile>,
}

/// A chat's file in an export: what was checked, and the bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedFile {
    /// Name, size, type, SHA-256, site, when stored.
    #[serde(flatten)]
    pub file: crate::store::files::StoredFile,
    /// Its bytes, base64 (standard alphabet, padded).
    pub data: String,
}

/// A chat's complete files with their bytes (chunks of uploads never
/// completed are left out: they are no file yet, and go with the chat).
fn exported_files(
    conn: &mut dyn Reads,
    chat: twinline_core::ChatId,
) -> Result<Vec<ExportedFile>, StoreError> {
    use base64::Engine;
    let mut out = Vec::new();
    for file in conn.files().chat_files(chat)? {
        let mut bytes = Vec::with_capacity(file.meta.size as usize);
        for chunk in conn.files().chunks(file.meta.id)? {
            bytes.extend(chunk.bytes().unwrap_or_default());
        }
        out.push(ExportedFile {
            file,
            data: base64::engine::general_purpose::STANDARD.encode(&bytes),
        });
    }
    Ok(out)
}

/// A visitor's data as one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Export {
    /// The site.
    pub site: String,
    /// The visitor asked for, if by visitor id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitor: Option<VisitorId>,
    /// The email asked for (lowercase), if by email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When this deployment made the document.
    pub exported_at: Millis,
    /// Their chats (with ratings and visitor details in the header).
    pub chats: Vec<ExportedChat>,
    /// Their offline notes (by email).
    pub notes: Vec<OfflineNote>,
    /// The erasures of this visitor or email on the site (what was asked
    /// for and done).
    pub erasures: Vec<Erasure>,
}

/// Everything `store` holds of `subject` on `site`.
pub async fn export(store: &Store, site: &str, subject: &Subject) -> Result<Export, StoreError> {
    let (site, subject) = (site.to_string(), subject.clone());
    let now = crate::clock::now();
    store
        .read(move |conn| export_from(conn, &site, &subject, now))
        .await
}

/// Everything a reader connection holds of `subject` on `site` (the CLI
/// reads a store it opened read-only beside a running relay).
pub fn export_from(
    conn: &mut dyn Reads,
    site: &str,
    subject: &Subject,
    now: Millis,
) -> Result<Export, StoreError> {
    let who = subject.who(site);
    let rows = conn.visitor_rows(&who)?;
    let mut chats = Vec::new();
    for header in parsed::<ChatRecord>(&rows.chats) {
        let messages = conn.messages(header.id)?;
        let files = exported_files(conn, header.id)?;
        chats.push(ExportedChat {
            header,
            messages,
            files,
        });
    }
    let (visitor, email) = match subject {
        Subject::Visitor(visitor) => (Some(*visitor), None),
        Subject::Email(_) => (None, Some(who.email.clone())),
    };
    let erasures = conn
        .erasures(site)?
        .into_iter()
        .filter(|erasure| {
            (visitor.is_some() && erasure.visitor == visitor)
                || (email.is_some() && erasure.email == email)
        })
        .collect();
    Ok(Export {
        site: site.to_string(),
        visitor,
        email,
        exported_at: now,
        chats,
        notes: parsed(&rows.notes).collect(),
        erasures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinline_core::{ChatId, OfflineId};

    fn rows() -> VisitorRows {
        let mut old = ChatRecord::empty(ChatId::new(Millis(500), 1), Millis(500));
        old.site = "demo".into();
        old.visitor = VisitorId(Ulid(5));
        let newer = ChatRecord {
            id: ChatId::new(Millis(2_000), 2),
            ..old.clone()
        };
        let note = OfflineNote {
            id: OfflineId(Ulid(3)),
            site: "demo".into(),
            name: "A".into(),
            email: "a@example.org".into(),
            text: "hi".into(),
            at: Millis(900),
        };
        let chat = |chat: &ChatRecord| (chat.id.to_string(), serde_json::to_string(chat).unwrap());
        VisitorRows {
            chats: vec![chat(&old), chat(&newer)],
            notes: vec![(note.id.to_string(), serde_json::to_string(&note).unwrap())],
        }
    }

    #[test]
    fn a_plan_lists_what_the_rule_covers_up_to_now() {
        let subject = Subject::Visitor(VisitorId(Ulid(5)));
        let erasure = plan(
            "demo",
            &subject,
            &rows(),
            Millis(1_000),
            9,
            1,
            Reason::Request,
        )
        .unwrap();
        assert_eq!(erasure.chats, vec![ChatId::new(Millis(500), 1)]);
        assert!(erasure.notes.is_empty(), "notes are found by email");
        assert_eq!(erasure.at, Millis(1_000));
        assert_eq!(erasure.id.millis(), Millis(1_000));
        let by_email = Subject::Email(" A@example.org ".into());
        let erasure = plan(
            "demo",
            &by_email,
            &rows(),
            Millis(1_000),
            9,
            1,
            Reason::Request,
        )
        .unwrap();
        assert_eq!(erasure.email.as_deref(), Some("a@example.org"));
        assert_eq!(erasure.notes, vec![OfflineId(Ulid(3))]);
        assert!(matches!(
            plan(
                "demo",
                &Subject::Email(" ".into()),
                &rows(),
                Millis(1),
                9,
                1,
                Reason::Request
            ),
            Err(ErasureError::Empty("email"))
        ));
        assert!(matches!(
            plan(" ", &subject, &rows(), Millis(1), 9, 1, Reason::Request),
            Err(ErasureError::Empty("site"))
        ));
    }
}
