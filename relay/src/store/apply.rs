//! Applying one [`Record`] inside a write transaction: the merge rules,
//! written once for local writes and replicated changes alike.
//!
//! The store has one writer thread, so whatever can be done before a record
//! reaches it is: a message's or note's JSON is made by the caller
//! ([`Queued::new`]), and what new messages do to their chat's row is
//! gathered over a whole job and written once per chat ([`ChatTouches`]).
//! Both matter most for replication catch-up, where a page of 5,000 changes
//! arrives as one job.

use super::records::{Account, Applied, ChatRecord, Record};
use rusqlite::{Connection, OptionalExtension, params};
use std::borrow::Cow;
use std::collections::BTreeMap;
use twinline_core::model::LastWriterWins;
use twinline_core::{ChatId, ChatState, Message, Millis, OfflineNote, Role};

/// Longest preview of a waiting chat shown in operators' queues.
const PREVIEW_CHARS: usize = 120;

/// A record on its way to the writer.
#[derive(Clone, Debug)]
pub(super) struct Queued {
    pub record: Record,
    /// The deployment where it first happened.
    pub origin: String,
    /// Its JSON, for records stored as they come (messages and notes are
    /// immutable, merged by id); the same text goes into their table and
    /// into the feed. Chats and accounts are stored as merged, so their JSON
    /// is made after the merge.
    body: Option<String>,
}

impl Queued {
    /// Makes what the writer would otherwise make, on the caller's thread.
    pub fn new(record: Record, origin: String) -> Queued {
        let body = match &record {
            Record::Message(_) | Record::Note(_) => Some(body_json(&record)),
            Record::Chat(_) | Record::Account(_) => None,
        };
        Queued {
            record,
            origin,
            body,
        }
    }
}

pub(super) fn apply(
    tx: &Connection,
    queued: &Queued,
    now: Millis,
    touches: &mut ChatTouches,
) -> rusqlite::Result<Applied> {
    // Cloned, not taken: a failed savepoint leaves the job as it was.
    let record = queued.record.clone();
    // Made by the caller for messages and notes (see `Queued::new`).
    let body = queued.body.as_deref();
    let applied = match record {
        Record::Message(message) => apply_message(tx, message, body, touches)?,
        Record::Note(note) => apply_note(tx, note, body)?,
        Record::Chat(chat) => apply_chat(tx, chat)?,
        Record::Account(account) => apply_account(tx, account)?,
    };
    if applied.changed {
        let body: Cow<'_, str> =
            body.map_or_else(|| body_json(&applied.record).into(), Cow::Borrowed);
        tx.prepare_cached(
            "INSERT INTO changes (kind, key, origin, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            applied.record.kind(),
            applied.record.key(),
            queued.origin,
            now.0 as i64,
            body,
        ])?;
    }
    Ok(applied)
}

/// The JSON of a record's value (without the kind tag).
pub(super) fn body_json(record: &Record) -> String {
    let value = match record {
        Record::Message(m) => serde_json::to_string(m),
        Record::Chat(c) => serde_json::to_string(c),
        Record::Note(n) => serde_json::to_string(n),
        Record::Account(a) => serde_json::to_string(a),
    };
    value.unwrap_or_default()
}

/// The JSON the caller made, or made here if it did not.
fn made_or<'a>(made: Option<&'a str>, value: &impl serde::Serialize) -> Cow<'a, str> {
    made.map_or_else(
        || serde_json::to_string(value).unwrap_or_default().into(),
        Cow::Borrowed,
    )
}

fn apply_message(
    tx: &Connection,
    message: Message,
    body: Option<&str>,
    touches: &mut ChatTouches,
) -> rusqlite::Result<Applied> {
    let body = made_or(body, &message);
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (id, chat, lamport, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            message.id.to_string(),
            message.chat.to_string(),
            message.lamport.0 as i64,
            body,
        ])?;
    if inserted == 1 {
        touches.add(&message);
    }
    Ok(Applied {
        changed: inserted == 1,
        record: Record::Message(message),
    })
}

/// What a job's new messages change in their chats' rows: the latest
/// activity and, for a visitor's message, the preview operators see in the
/// queue. Gathered per chat and written by [`ChatTouches::write`] at the end
/// of the job, with the same result as writing after every message.
#[derive(Debug, Default)]
pub(super) struct ChatTouches(BTreeMap<ChatId, Touch>);

#[derive(Debug)]
struct Touch {
    /// The first new message's time: the `created` of a row made for a chat
    /// whose header has not arrived yet.
    first_at: Millis,
    /// The newest new message's time.
    last_at: Millis,
    /// The text of the last new visitor message, in the order applied.
    visitor_text: Option<String>,
}

impl ChatTouches {
    fn add(&mut self, message: &Message) {
        let touch = self.0.entry(message.chat).or_insert(Touch {
            first_at: message.at,
            last_at: message.at,
            visitor_text: None,
        });
        touch.last_at = touch.last_at.max(message.at);
        if message.author.role == Role::Visitor {
            touch.visitor_text = Some(message.text.clone());
        }
    }

    /// Writes what was gathered, once per chat.
    pub fn write(self, tx: &Connection) -> rusqlite::Result<()> {
        for (chat, touch) in self.0 {
            let chat = chat.to_string();
            let at = touch.last_at.0 as i64;
            let preview = touch
                .visitor_text
                .map(|text| text.chars().take(PREVIEW_CHARS).collect::<String>());
            let updated = tx
                .prepare_cached(
                    "UPDATE chats SET last_at = MAX(COALESCE(last_at, 0), ?2),
                         preview = COALESCE(?3, preview) WHERE id = ?1",
                )?
                .execute(params![chat, at, preview])?;
            if updated == 0 {
                // A message can arrive by replication before its chat header;
                // the header row is created empty and filled when it arrives.
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO chats
                         (id, site, visitor, created, state, status, info, last_at, preview)
                     VALUES (?1, '', '', ?2, 'waiting', ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    chat,
                    touch.first_at.0 as i64,
                    serde_json::to_string(&twinline_core::ChatStatus::default())
                        .unwrap_or_default(),
                    serde_json::to_string(&twinline_core::VisitorInfo::default())
                        .unwrap_or_default(),
                    at,
                    preview.unwrap_or_default(),
                ])?;
            }
        }
        Ok(())
    }
}

fn state_text(state: ChatState) -> &'static str {
    match state {
        ChatState::Waiting => "waiting",
        ChatState::Active => "active",
        ChatState::Closed => "closed",
    }
}

fn apply_chat(tx: &Connection, incoming: ChatRecord) -> rusqlite::Result<Applied> {
    let existing = super::reads::chat_in(tx, incoming.id)?;
    let (merged, changed) = match existing {
        None => (incoming, true),
        Some(mut current) => {
            let mut changed = false;
            if current.site.is_empty() && !incoming.site.is_empty() {
                current.site = incoming.site.clone();
                current.visitor = incoming.visitor;
                current.created = incoming.created;
                changed = true;
            }
            changed |= current.status.merge_from(&incoming.status);
            changed |= current.info.merge_from(&incoming.info);
            (current, changed)
        }
    };
    if changed {
        tx.prepare_cached(
            "INSERT INTO chats (id, site, visitor, created, state, operator, status, info)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET site = ?2, visitor = ?3, created = ?4, state = ?5,
                 operator = ?6, status = ?7, info = ?8",
        )?
        .execute(params![
            merged.id.to_string(),
            merged.site,
            if merged.site.is_empty() {
                String::new()
            } else {
                merged.visitor.to_string()
            },
            merged.created.0 as i64,
            state_text(merged.status.state),
            merged.status.operator,
            serde_json::to_string(&merged.status).unwrap_or_default(),
            serde_json::to_string(&merged.info).unwrap_or_default(),
        ])?;
    }
    Ok(Applied {
        changed,
        record: Record::Chat(merged),
    })
}

fn apply_note(tx: &Connection, note: OfflineNote, body: Option<&str>) -> rusqlite::Result<Applied> {
    let body = made_or(body, &note);
    let inserted = tx
        .prepare_cached("INSERT OR IGNORE INTO notes (id, site, at, body) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            note.id.to_string(),
            note.site,
            note.at.0 as i64,
            body,
        ])?;
    Ok(Applied {
        changed: inserted == 1,
        record: Record::Note(note),
    })
}

fn apply_account(tx: &Connection, account: Account) -> rusqlite::Result<Applied> {
    let current: Option<String> = tx
        .query_row(
            "SELECT body FROM accounts WHERE username = ?1",
            [&account.username],
            |row| row.get(0),
        )
        .optional()?;
    let current: Option<Account> = current.and_then(|body| serde_json::from_str(&body).ok());
    let wins = current.as_ref().is_none_or(|c| account.stamp > c.stamp);
    if wins {
        tx.prepare_cached(
            "INSERT INTO accounts (username, body) VALUES (?1, ?2)
             ON CONFLICT (username) DO UPDATE SET body = ?2",
        )?
        .execute(params![
            account.username,
            serde_json::to_string(&account).unwrap_or_default()
        ])?;
    }
    Ok(Applied {
        changed: wins,
        record: Record::Account(match (wins, current) {
            (false, Some(current)) => current,
            _ => account,
        }),
    })
}
