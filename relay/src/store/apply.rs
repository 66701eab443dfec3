//! Applying one [`Record`] inside a write transaction: the merge rules,
//! written once for local writes and replicated changes alike.
//!
//! The store has one writer thread, so whatever can be done before a record
//! reaches it is: a message's or note's JSON is made by the caller
//! ([`Queued::new`]), and what new messages do to their chat's row is
//! gathered over a whole job and written once per chat ([`ChatTouches`]).
//! Both matter most for replication catch-up, where a page of 5,000 changes
//! arrives as one job.

use super::records::{Account, Applied, ChatRecord, Record, Refusal};
use rusqlite::{Connection, OptionalExtension, params};
use std::borrow::Cow;
use std::collections::BTreeMap;
use twinline_core::model::LastWriterWins;
use twinline_core::{ChatId, ChatState, Lamport, Message, Millis, OfflineNote, Role};

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

/// A message is stored once per id. Before that: its numbers must be in
/// range and its Lamport clock within [`MAX_LAMPORT_STEP`] of its chat's
/// highest here (whoever sent it; see `twinline_core::model`). A message
/// whose id is already stored is the same message again if it differs at
/// most in `at` (each relay stamps its own receive time): a duplicate,
/// after which the stored copy has the earlier time, the rule every
/// transcript merges by, so both deployments settle on the first receipt.
/// Anything else under that id is another message, refused.
///
/// [`MAX_LAMPORT_STEP`]: twinline_core::model::MAX_LAMPORT_STEP
fn apply_message(
    tx: &Connection,
    message: Message,
    body: Option<&str>,
    touches: &mut ChatTouches,
) -> rusqlite::Result<Applied> {
    let highest = touches.highest(tx, message.chat)?;
    if let Err(error) = message
        .check()
        .and_then(|()| message.check_lamport_after(highest))
    {
        return Ok(refused(Record::Message(message), Refusal::Invalid(error)));
    }
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
        return Ok(Applied {
            changed: true,
            record: Record::Message(message),
            refused: None,
        });
    }
    let stored: Message = json(
        &tx.prepare_cached("SELECT body FROM messages WHERE id = ?1")?
            .query_row([message.id.to_string()], |row| row.get::<_, String>(0))?,
    )?;
    if !stored.same_as(&message) {
        return Ok(refused(
            Record::Message(message),
            Refusal::IdTaken("message"),
        ));
    }
    // The earlier time is kept without a new feed entry: the copy that
    // carried it came from the peer, which has it, and the feed already
    // holds this message once.
    let kept = if message.at < stored.at {
        tx.prepare_cached("UPDATE messages SET body = ?2 WHERE id = ?1")?
            .execute(params![message.id.to_string(), body])?;
        message
    } else {
        stored
    };
    Ok(Applied {
        changed: false,
        record: Record::Message(kept),
        refused: None,
    })
}

fn refused(record: Record, refusal: Refusal) -> Applied {
    Applied {
        changed: false,
        record,
        refused: Some(refusal),
    }
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

/// What a job's new messages change in their chats' rows: the latest
/// activity and, for a visitor's message, the preview operators see in the
/// queue. Gathered per chat and written by [`ChatTouches::write`] at the end
/// of the job, with the same result as writing after every message.
#[derive(Debug, Default)]
pub(super) struct ChatTouches {
    touched: BTreeMap<ChatId, Touch>,
    /// The highest Lamport clock of each chat a message of this job went
    /// to, read once per chat per job and kept up to date as it stores.
    highest: BTreeMap<ChatId, Lamport>,
}

#[derive(Debug)]
struct Touch {
    /// The first new message's time: the `created` of a row made for a chat
    /// whose header has not arrived yet.
    first_at: Millis,
    /// The newest new message's time.
    last_at: Millis,
    /// The text of the last new visitor message, in the order applied.
    visitor_text: Option<String>,
    /// The newest new visitor message's time: the chat waits from then.
    visitor_at: Option<Millis>,
}

impl ChatTouches {
    /// The highest Lamport clock of the chat's stored messages.
    fn highest(&mut self, tx: &Connection, chat: ChatId) -> rusqlite::Result<Lamport> {
        if let Some(highest) = self.highest.get(&chat) {
            return Ok(*highest);
        }
        // Lamports out of range were never stored (or were cleaned up at
        // start); MAX skips what an older version stored as negative.
        let highest: Option<i64> = tx
            .prepare_cached("SELECT MAX(lamport) FROM messages WHERE chat = ?1 AND lamport >= 0")?
            .query_row([chat.to_string()], |row| row.get(0))?;
        let highest = Lamport(highest.unwrap_or(0) as u64);
        self.highest.insert(chat, highest);
        Ok(highest)
    }

    fn add(&mut self, message: &Message) {
        let highest = self.highest.entry(message.chat).or_default();
        *highest = (*highest).max(message.lamport);
        let touch = self.touched.entry(message.chat).or_insert(Touch {
            first_at: message.at,
            last_at: message.at,
            visitor_text: None,
            visitor_at: None,
        });
        touch.last_at = touch.last_at.max(message.at);
        if message.author.role == Role::Visitor {
            touch.visitor_text = Some(message.text.clone());
            touch.visitor_at = Some(touch.visitor_at.unwrap_or(message.at).max(message.at));
        }
    }

    /// Writes what was gathered, once per chat.
    pub fn write(self, tx: &Connection) -> rusqlite::Result<()> {
        for (chat, touch) in self.touched {
            let chat = chat.to_string();
            let at = touch.last_at.0 as i64;
            let preview = touch
                .visitor_text
                .map(|text| text.chars().take(PREVIEW_CHARS).collect::<String>());
            let visitor_at = touch.visitor_at.map(|at| at.0 as i64);
            let updated = tx
                .prepare_cached(
                    "UPDATE chats SET last_at = MAX(COALESCE(last_at, 0), ?2),
                         preview = COALESCE(?3, preview),
                         visitor_at = CASE WHEN ?4 IS NULL THEN visitor_at
                             ELSE MAX(COALESCE(visitor_at, 0), ?4) END
                     WHERE id = ?1",
                )?
                .execute(params![chat, at, preview, visitor_at])?;
            if updated == 0 {
                // A message can arrive by replication before its chat header;
                // the header row is created empty and filled when it arrives.
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO chats
                         (id, site, visitor, created, state, status, info, last_at, preview,
                          visitor_at)
                     VALUES (?1, '', '', ?2, 'waiting', ?3, ?4, ?5, ?6, ?7)",
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
                    visitor_at,
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
                current.source = incoming.source.clone();
                changed = true;
            }
            changed |= current.status.merge_from(&incoming.status);
            changed |= current.info.merge_from(&incoming.info);
            (current, changed)
        }
    };
    if changed {
        tx.prepare_cached(
            "INSERT INTO chats (id, site, visitor, created, state, operator, status, info, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET site = ?2, visitor = ?3, created = ?4, state = ?5,
                 operator = ?6, status = ?7, info = ?8, source = ?9",
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
            merged.source,
        ])?;
    }
    Ok(Applied {
        changed,
        record: Record::Chat(merged),
        refused: None,
    })
}

/// Notes are stored once per id, like messages: the same note again keeps
/// the earlier time, another note under a taken id is refused.
fn apply_note(tx: &Connection, note: OfflineNote, body: Option<&str>) -> rusqlite::Result<Applied> {
    if let Err(error) = note.check() {
        return Ok(refused(Record::Note(note), Refusal::Invalid(error)));
    }
    let body = made_or(body, &note);
    let inserted = tx
        .prepare_cached("INSERT OR IGNORE INTO notes (id, site, at, body) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            note.id.to_string(),
            note.site,
            note.at.0 as i64,
            body,
        ])?;
    if inserted == 1 {
        return Ok(Applied {
            changed: true,
            record: Record::Note(note),
            refused: None,
        });
    }
    let stored: OfflineNote = json(
        &tx.prepare_cached("SELECT body FROM notes WHERE id = ?1")?
            .query_row([note.id.to_string()], |row| row.get::<_, String>(0))?,
    )?;
    let same = stored.site == note.site
        && stored.name == note.name
        && stored.email == note.email
        && stored.text == note.text;
    if !same {
        return Ok(refused(Record::Note(note), Refusal::IdTaken("note")));
    }
    let kept = if note.at < stored.at {
        tx.prepare_cached("UPDATE notes SET at = ?2, body = ?3 WHERE id = ?1")?
            .execute(params![note.id.to_string(), note.at.0 as i64, body])?;
        note
    } else {
        stored
    };
    Ok(Applied {
        changed: false,
        record: Record::Note(kept),
        refused: None,
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
        refused: None,
    })
}
