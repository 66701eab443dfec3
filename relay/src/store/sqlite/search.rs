//! History search on SQLite: an FTS5 index over the messages' `words`
//! (see [`crate::store::search`] for what they are and why both engines
//! index the same ones).
//!
//! `message_words` is contentless (`content=''`: the words are stored once,
//! in `messages`) with `contentless_delete=1`, and keyed by the messages'
//! rowid. Triggers on `messages` keep it in step with every write, local or
//! replicated, and with [`Tx::erase`](crate::store::backend::Tx::erase)
//! and retention, which delete messages: nothing is indexed that is not
//! stored. A message's words never change (messages are immutable by id;
//! the one update the merge makes, an earlier receipt time, keeps them).
//! The messages' rowids are stable as long as nobody runs `VACUUM` on the
//! file, which the relay never does (it would renumber them under the
//! index; a contentless index cannot `rebuild` itself, [`reindex`] makes
//! it again from `messages.words`).

use crate::store::StoreError;
use crate::store::records::ChatRecord;
use crate::store::search::{Query, StateFilter, words};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

/// The index and its triggers.
const INDEX: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS message_words USING fts5(
    words, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS message_words_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_words (rowid, words) VALUES (new.rowid, COALESCE(new.words, ''));
END;
CREATE TRIGGER IF NOT EXISTS message_words_delete AFTER DELETE ON messages BEGIN
    DELETE FROM message_words WHERE rowid = old.rowid;
END;
CREATE INDEX IF NOT EXISTS chats_by_id_state ON chats (state, id);
";

/// Version 4 (history search, issue 22): messages gain `words`, filled
/// from their text, and the FTS5 index over them.
pub(super) fn to_version_4(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE messages ADD COLUMN words TEXT")?;
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT rowid, body FROM messages")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare("UPDATE messages SET words = ?2 WHERE rowid = ?1")?;
    for (rowid, body) in rows {
        let text = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(words))
            .unwrap_or_default();
        update.execute(rusqlite::params![rowid, text])?;
    }
    reindex(tx)
}

/// Makes the index again from `messages.words` (the migration, and after
/// a manual `VACUUM`).
pub(super) fn reindex(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DROP TABLE IF EXISTS message_words;
         DROP TRIGGER IF EXISTS message_words_insert;
         DROP TRIGGER IF EXISTS message_words_delete;",
    )?;
    tx.execute_batch(INDEX)?;
    tx.execute_batch(
        "INSERT INTO message_words (rowid, words)
         SELECT rowid, COALESCE(words, '') FROM messages",
    )
}

/// Rewrites the index without the rows an erasure deleted. A contentless
/// index deletes a row by a tombstone and keeps its tokens in the segment
/// blobs (`message_words_data`) until those segments are merged: an erased
/// chat's words would stay readable in the file. `optimize` merges every
/// segment into one without them (the freed pages are zeroed by
/// `secure_delete`, the WAL emptied by the checkpointer's scrub). It
/// rewrites the whole index under the write lock, so it runs once per
/// erasing batch, never on the message path; erasures are rare (a request,
/// or retention's batch).
pub(super) fn forget_erased(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("INSERT INTO message_words (message_words) VALUES ('optimize')")
}

/// The chats `query` finds, greatest id first.
pub(super) fn search_chats(
    conn: &Connection,
    query: &Query,
) -> Result<Vec<ChatRecord>, StoreError> {
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let int = |v: Option<u64>| {
        v.map_or(Value::Null, |v| {
            Value::Integer(v.min(i64::MAX as u64) as i64)
        })
    };
    let sites = query
        .sites
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_default());
    let state = query
        .state
        .and_then(StateFilter::column)
        .map(str::to_string);
    let open = query.state == Some(StateFilter::Open);
    let mut values = vec![
        text(&sites),
        text(&state),
        Value::Integer(open.into()),
        text(&query.operator),
        text(&query.visitor),
        text(&query.visitor_lower),
        text(&query.id_from.map(|id| id.to_string())),
        text(&query.id_below.map(|id| id.to_string())),
        int(query.closed_from),
        int(query.closed_to),
        Value::Integer(query.limit as i64),
    ];
    // The words' condition only when there are words, so a search without
    // them is planned on the chats' indexes alone.
    let words = match query.fts5_match() {
        Some(expression) => {
            values.push(Value::Text(expression));
            "AND id IN (SELECT m.chat FROM messages m WHERE m.rowid IN
                 (SELECT rowid FROM message_words WHERE message_words MATCH ?12))"
        }
        None => "",
    };
    let sql = format!(
        "SELECT body FROM chats
         WHERE site != ''
           AND (?1 IS NULL OR site IN (SELECT value FROM json_each(?1)))
           AND (?2 IS NULL OR state = ?2)
           AND (?3 = 0 OR state != 'closed')
           AND (?4 IS NULL OR operator = ?4)
           AND (?5 IS NULL OR visitor = ?5
                OR lower(json_extract(body, '$.info.email')) = ?6
                OR instr(lower(json_extract(body, '$.info.name')), ?6) > 0)
           AND (?7 IS NULL OR id >= ?7)
           AND (?8 IS NULL OR id < ?8)
           AND (?9 IS NULL OR json_extract(body, '$.status.stamp.wall') >= ?9)
           AND (?10 IS NULL OR json_extract(body, '$.status.stamp.wall') < ?10)
           {words}
         ORDER BY id DESC LIMIT ?11"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), |row| row.get::<_, String>(0))?;
    Ok(rows
        .map(|body| super::reads::json(&body?, 0))
        .collect::<rusqlite::Result<_>>()?)
}
