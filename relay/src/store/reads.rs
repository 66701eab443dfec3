//! Queries. They run on the reader connection (WAL lets them proceed while
//! the writer commits), except [`chat_in`], which the writer uses inside its
//! transaction.

use super::records::{Account, Change, ChangesPage, ChatRecord, Record};
use rusqlite::{Connection, OptionalExtension, params};
use twinline_core::protocol::QueueEntry;
use twinline_core::{ChatId, Message, Millis, OfflineNote};

fn json<T: serde::de::DeserializeOwned>(text: &str, index: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn parse<T: std::str::FromStr>(text: &str, index: usize) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

const CHAT_COLUMNS: &str = "id, site, visitor, created, status, info, source";

fn chat_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChatRecord> {
    let visitor: String = row.get(2)?;
    Ok(ChatRecord {
        id: parse(&row.get::<_, String>(0)?, 0)?,
        site: row.get(1)?,
        visitor: if visitor.is_empty() {
            twinline_core::VisitorId::default()
        } else {
            parse(&visitor, 2)?
        },
        created: Millis(row.get::<_, i64>(3)? as u64),
        status: json(&row.get::<_, String>(4)?, 4)?,
        info: json(&row.get::<_, String>(5)?, 5)?,
        source: row.get(6)?,
    })
}

/// One chat's header.
pub fn chat_in(conn: &Connection, chat: ChatId) -> rusqlite::Result<Option<ChatRecord>> {
    conn.query_row(
        &format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?1"),
        [chat.to_string()],
        chat_row,
    )
    .optional()
}

/// Every message of a chat.
pub fn messages(conn: &Connection, chat: ChatId) -> rusqlite::Result<Vec<Message>> {
    let mut stmt =
        conn.prepare_cached("SELECT body FROM messages WHERE chat = ?1 ORDER BY lamport, id")?;
    let rows = stmt.query_map([chat.to_string()], |row| row.get::<_, String>(0))?;
    rows.map(|body| json(&body?, 0)).collect()
}

/// Chats an operator holds open (active and assigned to them).
pub fn chats_of_operator(conn: &Connection, username: &str) -> rusqlite::Result<Vec<ChatRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CHAT_COLUMNS} FROM chats WHERE operator = ?1 AND state = 'active' ORDER BY created"
    ))?;
    stmt.query_map([username], chat_row)?.collect()
}

/// Waiting chats in which the visitor has written, of the given sites (all
/// when `None`), in fair order: the oldest chat of each source first, then
/// each source's second oldest, and so on. A source is the network a
/// visitor came from ([`ChatRecord::source`]), so one address that opens
/// two hundred chats fills the queue's later turns, not its first page,
/// while visitors sharing one address (an office, a mobile carrier) still
/// all wait in it.
pub fn queue(
    conn: &Connection,
    limit: usize,
    sites: Option<&[String]>,
) -> rusqlite::Result<Vec<QueueEntry>> {
    let site_filter = match sites {
        None => String::new(),
        Some(sites) => format!(
            " AND site IN ({})",
            (0..sites.len())
                .map(|i| format!("?{}", i + 2))
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CHAT_COLUMNS}, preview FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY source ORDER BY created, id) AS turn
             FROM chats
             WHERE state = 'waiting' AND visitor_at IS NOT NULL AND site != ''{site_filter})
         ORDER BY turn, created, id LIMIT ?1"
    ))?;
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![];
    let limit = limit as i64;
    params.push(&limit);
    if let Some(sites) = sites {
        params.extend(sites.iter().map(|s| s as &dyn rusqlite::ToSql));
    }
    stmt.query_map(params.as_slice(), |row| {
        let chat = chat_row(row)?;
        Ok(QueueEntry {
            chat: chat.id,
            status: chat.status,
            visitor: chat.info,
            since: chat.created,
            preview: row.get(7)?,
        })
    })?
    .collect()
}

/// The newest offline notes of the given sites (all when `None`), newest
/// first.
pub fn notes(
    conn: &Connection,
    limit: usize,
    sites: Option<&[String]>,
) -> rusqlite::Result<Vec<OfflineNote>> {
    let site_filter = match sites {
        None => String::new(),
        Some(sites) => format!(
            " WHERE site IN ({})",
            (0..sites.len())
                .map(|i| format!("?{}", i + 2))
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT body FROM notes{site_filter} ORDER BY at DESC, id LIMIT ?1"
    ))?;
    let limit = limit as i64;
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&limit];
    if let Some(sites) = sites {
        params.extend(sites.iter().map(|s| s as &dyn rusqlite::ToSql));
    }
    let rows = stmt.query_map(params.as_slice(), |row| row.get::<_, String>(0))?;
    rows.map(|body| json(&body?, 0)).collect()
}

/// An operator account.
pub fn account(conn: &Connection, username: &str) -> rusqlite::Result<Option<Account>> {
    conn.query_row(
        "SELECT body FROM accounts WHERE username = ?1",
        [username],
        |row| row.get::<_, String>(0),
    )
    .optional()?
    .map(|body| json(&body, 0))
    .transpose()
}

/// Every account, removed ones too, by username.
pub fn accounts(conn: &Connection) -> rusqlite::Result<Vec<Account>> {
    let mut stmt = conn.prepare_cached("SELECT body FROM accounts ORDER BY username")?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    rows.map(|body| json(&body?, 0)).collect()
}

/// The feed's newest position.
pub fn head(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|seq| seq as u64)
}

/// How far this deployment has pulled `peer`'s feed.
pub fn checkpoint(conn: &Connection, peer: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT seq FROM checkpoints WHERE peer = ?1",
        [peer],
        |row| row.get::<_, i64>(0),
    )
    .optional()
    .map(|seq| seq.unwrap_or(0) as u64)
}

/// Up to `limit` changes after `after`, leaving out those that originated at
/// `exclude_origin` (the asking peer's own changes: no echo).
pub fn changes_since(
    conn: &Connection,
    after: u64,
    limit: usize,
    exclude_origin: &str,
) -> rusqlite::Result<ChangesPage> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, origin, at, body FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after as i64, limit as i64])?;
    let mut page = ChangesPage {
        next: after,
        ..ChangesPage::default()
    };
    while let Some(row) = rows.next()? {
        let seq = row.get::<_, i64>(0)? as u64;
        page.next = seq;
        let origin: String = row.get(2)?;
        if origin == exclude_origin {
            continue;
        }
        let kind: String = row.get(1)?;
        let body: String = row.get(4)?;
        let record = match kind.as_str() {
            "message" => Record::Message(json(&body, 4)?),
            "chat" => Record::Chat(json(&body, 4)?),
            "note" => Record::Note(json(&body, 4)?),
            "account" => Record::Account(json(&body, 4)?),
            _ => continue,
        };
        page.changes.push(Change {
            seq,
            origin,
            at: Millis(row.get::<_, i64>(3)? as u64),
            record,
        });
    }
    page.head = head(conn)?.max(page.next);
    Ok(page)
}

/// Counts, for tests and the replication benchmark: (chats, messages, notes, accounts).
pub fn counts(conn: &Connection) -> rusqlite::Result<(u64, u64, u64, u64)> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM chats), (SELECT COUNT(*) FROM messages),
                (SELECT COUNT(*) FROM notes), (SELECT COUNT(*) FROM accounts)",
        [],
        |row| {
            Ok((
                row.get::<_, i64>(0)? as u64,
                row.get::<_, i64>(1)? as u64,
                row.get::<_, i64>(2)? as u64,
                row.get::<_, i64>(3)? as u64,
            ))
        },
    )
}

/// Every message id of a chat (for digests).
pub fn message_ids(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM messages ORDER BY id")?;
    stmt.query_map([], |row| row.get::<_, String>(0))?.collect()
}
