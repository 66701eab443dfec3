//! Applying one [`Record`] inside a write transaction: the merge rules,
//! written once for local writes and replicated changes alike.

use super::records::{Account, Applied, ChatRecord, Record};
use rusqlite::{Connection, OptionalExtension, params};
use twinline_core::model::LastWriterWins;
use twinline_core::{ChatState, Message, Millis, OfflineNote, Role};

/// Longest preview of a waiting chat shown in operators' queues.
const PREVIEW_CHARS: usize = 120;

pub(super) fn apply(
    tx: &Connection,
    record: Record,
    origin: &str,
    now: Millis,
) -> rusqlite::Result<Applied> {
    // A message's JSON is the same in its table and in the feed: made once.
    let (applied, body) = match record {
        Record::Message(message) => apply_message(tx, message)?,
        Record::Chat(chat) => (apply_chat(tx, chat)?, None),
        Record::Note(note) => (apply_note(tx, note)?, None),
        Record::Account(account) => (apply_account(tx, account)?, None),
    };
    if applied.changed {
        let body = body.unwrap_or_else(|| body_json(&applied.record));
        tx.prepare_cached(
            "INSERT INTO changes (kind, key, origin, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            applied.record.kind(),
            applied.record.key(),
            origin,
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

fn apply_message(tx: &Connection, message: Message) -> rusqlite::Result<(Applied, Option<String>)> {
    let body = serde_json::to_string(&message).unwrap_or_default();
    let chat = message.chat.to_string();
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (id, chat, lamport, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            message.id.to_string(),
            chat,
            message.lamport.0 as i64,
            body,
        ])?;
    if inserted == 1 {
        let at = message.at.0 as i64;
        let updated = if message.author.role == Role::Visitor {
            let preview: String = message.text.chars().take(PREVIEW_CHARS).collect();
            tx.prepare_cached(
                "UPDATE chats SET last_at = MAX(COALESCE(last_at, 0), ?2), preview = ?3 WHERE id = ?1",
            )?
            .execute(params![chat, at, preview])?
        } else {
            tx.prepare_cached(
                "UPDATE chats SET last_at = MAX(COALESCE(last_at, 0), ?2) WHERE id = ?1",
            )?
            .execute(params![chat, at])?
        };
        if updated == 0 {
            // A message can arrive by replication before its chat header;
            // the header row is created empty and filled when it arrives.
            let preview: String = if message.author.role == Role::Visitor {
                message.text.chars().take(PREVIEW_CHARS).collect()
            } else {
                String::new()
            };
            tx.prepare_cached(
                "INSERT OR IGNORE INTO chats
                     (id, site, visitor, created, state, status, info, last_at, preview)
                 VALUES (?1, '', '', ?2, 'waiting', ?3, ?4, ?2, ?5)",
            )?
            .execute(params![
                chat,
                at,
                serde_json::to_string(&twinline_core::ChatStatus::default()).unwrap_or_default(),
                serde_json::to_string(&twinline_core::VisitorInfo::default()).unwrap_or_default(),
                preview,
            ])?;
        }
    }
    Ok((
        Applied {
            changed: inserted == 1,
            record: Record::Message(message),
        },
        (inserted == 1).then_some(body),
    ))
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

fn apply_note(tx: &Connection, note: OfflineNote) -> rusqlite::Result<Applied> {
    let inserted = tx
        .prepare_cached("INSERT OR IGNORE INTO notes (id, site, at, body) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            note.id.to_string(),
            note.site,
            note.at.0 as i64,
            serde_json::to_string(&note).unwrap_or_default(),
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
