//! History search on PostgreSQL: a GIN index over the messages' `words`
//! as a tsvector of those words exactly (`array_to_tsvector`, no parser
//! or dictionary), queried with prefix lexemes (`'w':*`). See
//! [`crate::store::search`] for why both engines index the words made in
//! Rust. The index is an expression over a column, so every insert,
//! replicated or local, and every delete (erasure, retention) keeps it in
//! step with no code of its own.

use super::Conn;
use crate::store::StoreError;
use crate::store::records::ChatRecord;
use crate::store::search::{Query, StateFilter, words};

/// Schema version 5's statements; [`fill_words`] runs after them.
pub(super) const MIGRATION: &str = "
-- History search (store/search.rs): the words of each message, made by
-- the relay, and the index over them.
ALTER TABLE messages ADD COLUMN words TEXT;
CREATE INDEX messages_words ON messages
    USING gin (array_to_tsvector(string_to_array(words, ' ')));
CREATE INDEX chats_by_state_id ON chats (state, id);
";

/// Fills `words` of the messages stored before [`MIGRATION`] (run in its
/// transaction).
pub(super) fn fill_words(tx: &mut postgres::Transaction<'_>) -> Result<(), StoreError> {
    let rows = tx.query("SELECT id, body FROM messages WHERE words IS NULL", &[])?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut texts = Vec::with_capacity(rows.len());
    for row in rows {
        let body: &str = row.get(1);
        let text = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(words))
            .unwrap_or_default();
        ids.push(row.get::<_, String>(0));
        texts.push(text);
    }
    tx.execute(
        "UPDATE messages AS m SET words = u.words
         FROM unnest($1::text[], $2::text[]) AS u(id, words) WHERE m.id = u.id",
        &[&ids, &texts],
    )?;
    Ok(())
}

/// The chats `query` finds, greatest id first.
pub(super) fn search_chats(conn: &mut Conn, query: &Query) -> Result<Vec<ChatRecord>, StoreError> {
    let sites: Vec<String> = query.sites.clone().unwrap_or_default();
    let all_sites = query.sites.is_none();
    let state = query.state.and_then(StateFilter::column);
    let open = query.state == Some(StateFilter::Open);
    let id_from = query.id_from.map(|id| id.to_string());
    let id_below = query.id_below.map(|id| id.to_string());
    let closed_from = query.closed_from.map(|v| v.min(i64::MAX as u64) as i64);
    let closed_to = query.closed_to.map(|v| v.min(i64::MAX as u64) as i64);
    let limit = query.limit as i64;
    let tsquery = query.tsquery();
    // The words' condition only when there are words (see SQLite's).
    let words = if tsquery.is_some() {
        "AND id IN (SELECT chat FROM messages
             WHERE array_to_tsvector(string_to_array(words, ' ')) @@ $13::text::tsquery)"
    } else {
        "AND $13::text IS NULL"
    };
    // ASCII case only, as SQLite's lower(): both engines fold alike.
    let fold = |column: &str| {
        format!("translate({column}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
    };
    let sql = format!(
        "SELECT body FROM chats
         WHERE site != ''
           AND ($1 OR site = ANY($2::text[]))
           AND ($3::text IS NULL OR state = $3)
           AND (NOT $4 OR state != 'closed')
           AND ($5::text IS NULL OR operator = $5)
           AND ($6::text IS NULL OR visitor = $6
                OR {email} = $7::text
                OR strpos({name}, $7::text) > 0)
           AND ($8::text IS NULL OR id >= $8)
           AND ($9::text IS NULL OR id < $9)
           AND ($10::bigint IS NULL OR (body::jsonb #>> '{{status,stamp,wall}}')::bigint >= $10)
           AND ($11::bigint IS NULL OR (body::jsonb #>> '{{status,stamp,wall}}')::bigint < $11)
           {words}
         ORDER BY id DESC LIMIT $12",
        email = fold("body::jsonb #>> '{info,email}'"),
        name = fold("body::jsonb #>> '{info,name}'"),
    );
    let rows = conn.rows(
        &sql,
        &[
            &all_sites,
            &sites,
            &state,
            &open,
            &query.operator,
            &query.visitor,
            &query.visitor_lower,
            &id_from,
            &id_below,
            &closed_from,
            &closed_to,
            &limit,
            &tsquery,
        ],
    )?;
    rows.iter()
        .map(|row| {
            serde_json::from_str(row.get(0)).map_err(|error| {
                StoreError::Unavailable(format!("a stored record does not parse: {error}"))
            })
        })
        .collect()
}
