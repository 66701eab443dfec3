//! The queries on SQLite. They run on the reader connections (WAL lets them
//! proceed while the writer commits).

use crate::store::StoreError;
use crate::store::api_keys::ApiKey;
use crate::store::backend::{ChatSummary, NodeChange, Reads, VisitorRows, Who};
use crate::store::erasures::Erasure;
use crate::store::reads::parse_ids;
use crate::store::records::{Account, Change, ChangesPage, ChatRecord, Record};
use crate::store::webhooks::{Delivery, Subscription};
use rusqlite::{Connection, OptionalExtension, params};
use twinline_core::protocol::QueueEntry;
use twinline_core::{ChatId, Message, Millis, OfflineId, OfflineNote, Receipt};

/// A JSON column's value, or the error saying which column.
pub(super) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    index: usize,
) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

/// A text column's value, borrowed from the row.
fn text<'row>(row: &'row rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'row str> {
    row.get_ref(index)?.as_str().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

pub(super) fn bodies<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| row.get::<_, String>(0))?;
    Ok(rows
        .map(|body| json(&body?, 0))
        .collect::<rusqlite::Result<_>>()?)
}

/// `site IN (?2, ?3, ...)` for a filter, or nothing.
fn site_filter(sites: Option<&[String]>, joiner: &str) -> String {
    match sites {
        None => String::new(),
        Some(sites) => format!(
            " {joiner} site IN ({})",
            (0..sites.len())
                .map(|i| format!("?{}", i + 2))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn with_sites<'a>(first: &'a i64, sites: Option<&'a [String]>) -> Vec<&'a dyn rusqlite::ToSql> {
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![first];
    if let Some(sites) = sites {
        params.extend(sites.iter().map(|s| s as &dyn rusqlite::ToSql));
    }
    params
}

impl Reads for Connection {
    fn files(&mut self) -> &mut dyn crate::store::files::FileReads {
        self
    }

    fn chat(&mut self, chat: ChatId) -> Result<Option<ChatRecord>, StoreError> {
        let body: Option<String> = self
            .prepare_cached("SELECT body FROM chats WHERE id = ?1")?
            .query_row([chat.to_string()], |row| row.get(0))
            .optional()?;
        Ok(body.map(|body| json(&body, 0)).transpose()?)
    }

    fn receipts(&mut self, chat: ChatId) -> Result<Vec<Receipt>, StoreError> {
        bodies(
            self,
            "SELECT body FROM receipts WHERE chat = ?1 ORDER BY key",
            [chat.to_string()],
        )
    }

    fn messages(&mut self, chat: ChatId) -> Result<Vec<Message>, StoreError> {
        bodies(
            self,
            "SELECT body FROM messages WHERE chat = ?1 ORDER BY lamport, id",
            [chat.to_string()],
        )
    }

    fn catch_up(
        &mut self,
        chat: ChatId,
        held: &mut crate::store::reads::Held,
    ) -> Result<Vec<Message>, StoreError> {
        // No ORDER BY: the caller orders the few it keeps, and SQLite reads
        // the chat's rows from its index without a sort.
        let mut stmt = self.prepare_cached("SELECT id, body FROM messages WHERE chat = ?1")?;
        let mut rows = stmt.query([chat.to_string()])?;
        let mut missing = Vec::new();
        while let Some(row) = rows.next()? {
            if !held.holds(text(row, 0)?) {
                missing.push(json(text(row, 1)?, 1)?);
            }
        }
        Ok(missing)
    }

    fn chats_of_operator(&mut self, username: &str) -> Result<Vec<ChatRecord>, StoreError> {
        bodies(
            self,
            "SELECT body FROM chats WHERE operator = ?1 AND state = 'active' ORDER BY created",
            [username],
        )
    }

    fn queue(
        &mut self,
        limit: usize,
        sites: Option<&[String]>,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let mut stmt = self.prepare_cached(&format!(
            "SELECT body, preview FROM (
                 SELECT *, ROW_NUMBER() OVER (PARTITION BY source ORDER BY created, id) AS turn
                 FROM chats
                 WHERE state = 'waiting' AND visitor_at IS NOT NULL AND site != ''{})
             ORDER BY turn, created, id LIMIT ?1",
            site_filter(sites, "AND")
        ))?;
        let limit = limit as i64;
        let entries = stmt
            .query_map(with_sites(&limit, sites).as_slice(), |row| {
                let chat: ChatRecord = json(&row.get::<_, String>(0)?, 0)?;
                Ok(QueueEntry {
                    chat: chat.id,
                    status: chat.status,
                    visitor: chat.info,
                    since: chat.created,
                    preview: row.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(entries)
    }

    fn notes(
        &mut self,
        limit: usize,
        sites: Option<&[String]>,
    ) -> Result<Vec<OfflineNote>, StoreError> {
        let sql = format!(
            "SELECT body FROM notes{} ORDER BY at DESC, id LIMIT ?1",
            site_filter(sites, "WHERE")
        );
        let limit = limit as i64;
        bodies(self, &sql, with_sites(&limit, sites).as_slice())
    }

    fn account(&mut self, username: &str) -> Result<Option<Account>, StoreError> {
        let body: Option<String> = self
            .prepare_cached("SELECT body FROM accounts WHERE username = ?1")?
            .query_row([username], |row| row.get(0))
            .optional()?;
        Ok(body.map(|body| json(&body, 0)).transpose()?)
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        bodies(self, "SELECT body FROM accounts ORDER BY username", [])
    }

    fn api_key(&mut self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(bodies(self, "SELECT body FROM api_keys WHERE id = ?1", [id])?.pop())
    }

    fn api_keys(&mut self) -> Result<Vec<ApiKey>, StoreError> {
        bodies(self, "SELECT body FROM api_keys ORDER BY site, id", [])
    }

    fn webhooks(&mut self, site: Option<&str>) -> Result<Vec<Subscription>, StoreError> {
        match site {
            Some(site) => bodies(
                self,
                "SELECT body FROM webhooks WHERE site = ?1 ORDER BY site, id",
                [site],
            ),
            None => bodies(self, "SELECT body FROM webhooks ORDER BY site, id", []),
        }
    }

    fn webhook(&mut self, id: &str) -> Result<Option<Subscription>, StoreError> {
        Ok(bodies(self, "SELECT body FROM webhooks WHERE id = ?1", [id])?.pop())
    }

    fn deliveries(
        &mut self,
        subscription: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        bodies(
            self,
            "SELECT body FROM webhook_deliveries WHERE subscription = ?1
             ORDER BY at DESC, key DESC LIMIT ?2",
            rusqlite::params![subscription, limit as i64],
        )
    }

    fn pending_deliveries(&mut self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        bodies(
            self,
            "SELECT body FROM webhook_deliveries WHERE state = 'pending'
             ORDER BY next_attempt, key LIMIT ?1",
            [limit as i64],
        )
    }

    fn search_chats(
        &mut self,
        query: &crate::store::search::Query,
    ) -> Result<Vec<ChatRecord>, StoreError> {
        super::search::search_chats(self, query)
    }

    fn site_chats(
        &mut self,
        site: &str,
        state: Option<&str>,
        before: Option<ChatId>,
        limit: usize,
    ) -> Result<Vec<ChatRecord>, StoreError> {
        bodies(
            self,
            "SELECT body FROM chats WHERE site = ?1 AND (?2 IS NULL OR state = ?2)
             AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4",
            params![site, state, before.map(|id| id.to_string()), limit as i64],
        )
    }

    fn head(&mut self) -> Result<u64, StoreError> {
        Ok(head(self)?)
    }

    fn checkpoint(&mut self, peer: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .prepare_cached("SELECT seq FROM checkpoints WHERE peer = ?1")?
            .query_row([peer], |row| row.get(0))
            .optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn changes_since(
        &mut self,
        after: u64,
        limit: usize,
        exclude_origin: &str,
    ) -> Result<ChangesPage, StoreError> {
        let (scanned, next) = scan(self, after, limit)?;
        let changes = scanned
            .into_iter()
            .map(|c| c.change)
            .filter(|c| c.origin != exclude_origin)
            .collect();
        Ok(ChangesPage {
            changes,
            next,
            head: head(self)?.max(next),
        })
    }

    fn node_changes(&mut self, after: u64, limit: usize) -> Result<Vec<NodeChange>, StoreError> {
        Ok(scan(self, after, limit)?.0)
    }

    fn counts(&mut self) -> Result<(u64, u64, u64, u64), StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT (SELECT COUNT(*) FROM chats), (SELECT COUNT(*) FROM messages),
                    (SELECT COUNT(*) FROM notes), (SELECT COUNT(*) FROM accounts)",
            )?
            .query_row([], |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    row.get::<_, i64>(1)? as u64,
                    row.get::<_, i64>(2)? as u64,
                    row.get::<_, i64>(3)? as u64,
                ))
            })?)
    }

    fn message_ids(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.prepare_cached("SELECT id FROM messages ORDER BY id")?;
        let ids = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn summaries(&mut self) -> Result<Vec<ChatSummary>, StoreError> {
        let mut stmt = self.prepare_cached(
            "SELECT id, site, created, state, last_at, preview, visitor_at FROM chats ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |row| {
                Ok(ChatSummary {
                    chat: parse(&row.get::<_, String>(0)?, 0)?,
                    site: row.get(1)?,
                    created: Millis(row.get::<_, i64>(2)? as u64),
                    state: row.get(3)?,
                    last_at: row.get::<_, Option<i64>>(4)?.map(|at| Millis(at as u64)),
                    preview: row.get(5)?,
                    visitor_at: row.get::<_, Option<i64>>(6)?.map(|at| Millis(at as u64)),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?;
        Ok(())
    }

    fn visitor_rows(&mut self, who: &Who) -> Result<VisitorRows, StoreError> {
        visitor_rows(self, who)
    }

    fn erasures(&mut self, site: &str) -> Result<Vec<Erasure>, StoreError> {
        erasures(self, site)
    }

    fn expired(
        &mut self,
        site: &str,
        before: Millis,
        limit: usize,
    ) -> Result<(Vec<ChatId>, Vec<OfflineId>), StoreError> {
        let ids = |conn: &Connection, sql: &str| -> Result<Vec<String>, StoreError> {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params![site, before.0 as i64, limit as i64], |row| {
                row.get::<_, String>(0)
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let chats = ids(
            self,
            &format!("SELECT id FROM chats WHERE {EXPIRED_CHATS} ORDER BY id LIMIT ?3"),
        )?;
        let notes = ids(
            self,
            &format!("SELECT id FROM notes WHERE {EXPIRED_NOTES} ORDER BY at, id LIMIT ?3"),
        )?;
        Ok((parse_ids(chats)?, parse_ids(notes)?))
    }

    fn expired_counts(&mut self, site: &str, before: Millis) -> Result<(u64, u64), StoreError> {
        let count = |conn: &Connection, sql: &str| -> Result<u64, StoreError> {
            let n: i64 = conn
                .prepare_cached(sql)?
                .query_row(params![site, before.0 as i64], |row| row.get(0))?;
            Ok(n.max(0) as u64)
        };
        Ok((
            count(
                self,
                &format!("SELECT count(*) FROM chats WHERE {EXPIRED_CHATS}"),
            )?,
            count(
                self,
                &format!("SELECT count(*) FROM notes WHERE {EXPIRED_NOTES}"),
            )?,
        ))
    }

    fn erased_chats(&mut self, chats: &[ChatId]) -> Result<Vec<ChatId>, StoreError> {
        let mut stmt = self.prepare_cached("SELECT 1 FROM erased WHERE key = ?1")?;
        let mut erased = Vec::new();
        for &chat in chats {
            let key = crate::store::erasures::chat_guard(chat);
            if stmt.query_row([key], |_| Ok(())).optional()?.is_some() {
                erased.push(chat);
            }
        }
        Ok(erased)
    }
}

/// Up to `limit` feed rows after `after`, and the last position scanned
/// (a row of a kind this version does not know is passed over, not
/// stopped at).
fn scan(conn: &Connection, after: u64, limit: usize) -> Result<(Vec<NodeChange>, u64), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, origin, at, body FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![after as i64, limit as i64])?;
    let mut changes = Vec::new();
    let mut next = after;
    while let Some(row) = rows.next()? {
        let seq = row.get::<_, i64>(0)? as u64;
        next = seq;
        let kind: String = row.get(1)?;
        let body: String = row.get(4)?;
        let record = Record::from_feed(&kind, &body).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, error.into())
        })?;
        let Some(record) = record else { continue };
        changes.push(NodeChange {
            node: String::new(),
            change: Change {
                seq,
                origin: row.get(2)?,
                at: Millis(row.get::<_, i64>(3)? as u64),
                record,
            },
        });
    }
    Ok((changes, next))
}

pub(super) fn parse<T: std::str::FromStr>(text: &str, index: usize) -> rusqlite::Result<T>
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

/// The feed's newest position.
pub(super) fn head(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM changes")?
        .query_row([], |row| row.get::<_, i64>(0))
        .map(|seq| seq as u64)
}

/// The rows that may be `who`'s (see [`VisitorRows`]); the writer and the
/// readers ask the same.
pub(super) fn visitor_rows(conn: &Connection, who: &Who) -> Result<VisitorRows, StoreError> {
    let pairs = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<Vec<_>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    Ok(VisitorRows {
        chats: pairs(
            "SELECT id, body FROM chats WHERE site = ?1 AND site != ''
             AND ((?2 != '' AND visitor = ?2)
                  OR (?3 != '' AND lower(json_extract(body, '$.info.email')) = ?3))
             ORDER BY id",
            params![who.site, who.visitor, who.email],
        )?,
        notes: pairs(
            "SELECT id, body FROM notes WHERE site = ?1 AND ?2 != ''
             AND lower(json_extract(body, '$.email')) = ?2 ORDER BY id",
            params![who.site, who.email],
        )?,
    })
}

/// Every erasure of a site, oldest first.
pub(super) fn erasures(conn: &Connection, site: &str) -> Result<Vec<Erasure>, StoreError> {
    bodies(
        conn,
        "SELECT body FROM erasures WHERE site = ?1 ORDER BY id",
        [site],
    )
}

/// Closed chats of site `?1` last active before `?2`.
const EXPIRED_CHATS: &str = "site = ?1 AND state = 'closed' AND COALESCE(last_at, created) < ?2";
/// Notes of site `?1` left before `?2`.
const EXPIRED_NOTES: &str = "site = ?1 AND at < ?2";
