//! The queries on PostgreSQL: the same answers as SQLite's (the store's
//! test suite runs both), in PostgreSQL's SQL.
//!
//! Each runs in its own statement, outside any transaction, and sees what
//! was committed when it started: a feed page can end before a change that
//! commits a moment later, never skip one (positions are handed out in
//! commit order; see the backend's docs).

use super::Conn;
use crate::store::StoreError;
use crate::store::api_keys::ApiKey;
use crate::store::backend::{ChatSummary, NodeChange, Reads, VisitorRows, Who};
use crate::store::erasures::Erasure;
use crate::store::records::{Account, Change, ChangesPage, ChatRecord, Record};
use crate::store::webhooks::{Delivery, Subscription};
use postgres::types::ToSql;
use twinline_core::protocol::QueueEntry;
use twinline_core::{ChatId, Message, Millis, OfflineId, OfflineNote, Receipt};

fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::Unavailable(format!("a stored record does not parse: {error}"))
    })
}

impl Conn {
    pub(super) fn rows(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    pub(super) fn bodies<T: serde::de::DeserializeOwned>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params)?
            .iter()
            .map(|row| json(row.get(0)))
            .collect()
    }

    /// The feed's newest position.
    pub(super) fn reads_head(&mut self) -> Result<u64, StoreError> {
        let row = self.rows("SELECT COALESCE(max(seq), 0) FROM changes", &[])?;
        Ok(row[0].get::<_, i64>(0) as u64)
    }

    /// Up to `limit` feed rows after `after`, and the last position
    /// scanned.
    fn scan(&mut self, after: u64, limit: usize) -> Result<(Vec<NodeChange>, u64), StoreError> {
        let rows = self.rows(
            "SELECT seq, kind, origin, at, body, node FROM changes
             WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&(after as i64), &(limit as i64)],
        )?;
        let mut next = after;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let seq = row.get::<_, i64>(0) as u64;
            next = seq;
            let record = Record::from_feed(row.get(1), row.get(4))
                .map_err(|error| StoreError::Unavailable(format!("feed row {seq}: {error}")))?;
            // A kind this version does not know keeps its place.
            let Some(record) = record else { continue };
            changes.push(NodeChange {
                change: Change {
                    seq,
                    origin: row.get(2),
                    at: Millis(row.get::<_, i64>(3) as u64),
                    record,
                },
                node: row.get(5),
            });
        }
        Ok((changes, next))
    }
}

fn sites_param(sites: Option<&[String]>) -> Vec<String> {
    sites.map(<[String]>::to_vec).unwrap_or_default()
}

impl Reads for Conn {
    fn files(&mut self) -> &mut dyn crate::store::files::FileReads {
        self
    }

    fn chat(&mut self, chat: ChatId) -> Result<Option<ChatRecord>, StoreError> {
        Ok(self
            .bodies("SELECT body FROM chats WHERE id = $1", &[&chat.to_string()])?
            .pop())
    }

    fn receipts(&mut self, chat: ChatId) -> Result<Vec<Receipt>, StoreError> {
        self.bodies(
            "SELECT body FROM receipts WHERE chat = $1 ORDER BY key",
            &[&chat.to_string()],
        )
    }

    fn messages(&mut self, chat: ChatId) -> Result<Vec<Message>, StoreError> {
        self.bodies(
            "SELECT body FROM messages WHERE chat = $1 ORDER BY lamport, id",
            &[&chat.to_string()],
        )
    }

    fn catch_up(
        &mut self,
        chat: ChatId,
        held: &mut crate::store::reads::Held,
    ) -> Result<Vec<Message>, StoreError> {
        self.rows(
            "SELECT id, body FROM messages WHERE chat = $1",
            &[&chat.to_string()],
        )?
        .iter()
        .filter(|row| !held.holds(row.get(0)))
        .map(|row| json(row.get(1)))
        .collect()
    }

    fn chats_of_operator(&mut self, username: &str) -> Result<Vec<ChatRecord>, StoreError> {
        self.bodies(
            "SELECT body FROM chats WHERE operator = $1 AND state = 'active' ORDER BY created",
            &[&username],
        )
    }

    fn queue(
        &mut self,
        limit: usize,
        sites: Option<&[String]>,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let rows = self.rows(
            "SELECT body, COALESCE(preview, '') FROM (
                 SELECT *, ROW_NUMBER() OVER (PARTITION BY source ORDER BY created, id) AS turn
                 FROM chats
                 WHERE state = 'waiting' AND visitor_at IS NOT NULL AND site != ''
                     AND ($2 OR site = ANY($3::text[])))  AS waiting
             ORDER BY turn, created, id LIMIT $1",
            &[&(limit as i64), &sites.is_none(), &sites_param(sites)],
        )?;
        rows.iter()
            .map(|row| {
                let chat: ChatRecord = json(row.get(0))?;
                Ok(QueueEntry {
                    chat: chat.id,
                    status: chat.status,
                    visitor: chat.info,
                    since: chat.created,
                    preview: row.get(1),
                })
            })
            .collect()
    }

    fn notes(
        &mut self,
        limit: usize,
        sites: Option<&[String]>,
    ) -> Result<Vec<OfflineNote>, StoreError> {
        self.bodies(
            "SELECT body FROM notes WHERE ($2 OR site = ANY($3::text[]))
             ORDER BY at DESC, id LIMIT $1",
            &[&(limit as i64), &sites.is_none(), &sites_param(sites)],
        )
    }

    fn account(&mut self, username: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .bodies(
                "SELECT body FROM accounts WHERE username = $1",
                &[&username],
            )?
            .pop())
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        self.bodies("SELECT body FROM accounts ORDER BY username", &[])
    }

    fn api_key(&mut self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .bodies("SELECT body FROM api_keys WHERE id = $1", &[&id])?
            .pop())
    }

    fn api_keys(&mut self) -> Result<Vec<ApiKey>, StoreError> {
        self.bodies("SELECT body FROM api_keys ORDER BY site, id", &[])
    }

    fn webhooks(&mut self, site: Option<&str>) -> Result<Vec<Subscription>, StoreError> {
        match site {
            Some(site) => self.bodies(
                "SELECT body FROM webhooks WHERE site = $1 ORDER BY site, id",
                &[&site],
            ),
            None => self.bodies("SELECT body FROM webhooks ORDER BY site, id", &[]),
        }
    }

    fn webhook(&mut self, id: &str) -> Result<Option<Subscription>, StoreError> {
        Ok(self
            .bodies("SELECT body FROM webhooks WHERE id = $1", &[&id])?
            .pop())
    }

    fn deliveries(
        &mut self,
        subscription: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.bodies(
            "SELECT body FROM webhook_deliveries WHERE subscription = $1
             ORDER BY at DESC, key DESC LIMIT $2",
            &[&subscription, &(limit as i64)],
        )
    }

    fn pending_deliveries(&mut self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        self.bodies(
            "SELECT body FROM webhook_deliveries WHERE state = 'pending'
             ORDER BY next_attempt, key LIMIT $1",
            &[&(limit as i64)],
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
        self.bodies(
            "SELECT body FROM chats WHERE site = $1 AND ($2::text IS NULL OR state = $2)
             AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            &[
                &site,
                &state,
                &before.map(|id| id.to_string()),
                &(limit as i64),
            ],
        )
    }

    fn head(&mut self) -> Result<u64, StoreError> {
        self.reads_head()
    }

    fn checkpoint(&mut self, peer: &str) -> Result<u64, StoreError> {
        let rows = self.rows("SELECT seq FROM checkpoints WHERE peer = $1", &[&peer])?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    fn changes_since(
        &mut self,
        after: u64,
        limit: usize,
        exclude_origin: &str,
    ) -> Result<ChangesPage, StoreError> {
        let (scanned, next) = self.scan(after, limit)?;
        let changes = scanned
            .into_iter()
            .map(|c| c.change)
            .filter(|c| c.origin != exclude_origin)
            .collect();
        let head = self.reads_head()?;
        Ok(ChangesPage {
            changes,
            next,
            head: head.max(next),
        })
    }

    fn node_changes(&mut self, after: u64, limit: usize) -> Result<Vec<NodeChange>, StoreError> {
        Ok(self.scan(after, limit)?.0)
    }

    fn counts(&mut self) -> Result<(u64, u64, u64, u64), StoreError> {
        let rows = self.rows(
            "SELECT (SELECT count(*) FROM chats), (SELECT count(*) FROM messages),
                    (SELECT count(*) FROM notes), (SELECT count(*) FROM accounts)",
            &[],
        )?;
        let row = &rows[0];
        Ok((
            row.get::<_, i64>(0) as u64,
            row.get::<_, i64>(1) as u64,
            row.get::<_, i64>(2) as u64,
            row.get::<_, i64>(3) as u64,
        ))
    }

    fn message_ids(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .rows("SELECT id FROM messages ORDER BY id", &[])?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn summaries(&mut self) -> Result<Vec<ChatSummary>, StoreError> {
        let rows = self.rows(
            "SELECT id, site, created, state, last_at, COALESCE(preview, ''), visitor_at
             FROM chats ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|row| {
                Ok(ChatSummary {
                    chat: row
                        .get::<_, String>(0)
                        .parse()
                        .map_err(|_| StoreError::Unavailable("a chat id does not parse".into()))?,
                    site: row.get(1),
                    created: Millis(row.get::<_, i64>(2) as u64),
                    state: row.get(3),
                    last_at: row.get::<_, Option<i64>>(4).map(|at| Millis(at as u64)),
                    preview: row.get(5),
                    visitor_at: row.get::<_, Option<i64>>(6).map(|at| Millis(at as u64)),
                })
            })
            .collect()
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.rows("SELECT 1", &[])?;
        Ok(())
    }

    fn visitor_rows(&mut self, who: &Who) -> Result<VisitorRows, StoreError> {
        visitor_rows(&mut self.client, who)
    }

    fn expired(
        &mut self,
        site: &str,
        before: Millis,
        limit: usize,
    ) -> Result<(Vec<ChatId>, Vec<OfflineId>), StoreError> {
        let params: [&(dyn ToSql + Sync); 3] = [&site, &(before.0 as i64), &(limit as i64)];
        let chats = self.rows(
            &format!("SELECT id FROM chats WHERE {EXPIRED_CHATS} ORDER BY id LIMIT $3"),
            &params,
        )?;
        let notes = self.rows(
            &format!("SELECT id FROM notes WHERE {EXPIRED_NOTES} ORDER BY at, id LIMIT $3"),
            &params,
        )?;
        Ok((ids(&chats)?, ids(&notes)?))
    }

    fn expired_counts(&mut self, site: &str, before: Millis) -> Result<(u64, u64), StoreError> {
        let params: [&(dyn ToSql + Sync); 2] = [&site, &(before.0 as i64)];
        let chats = self.rows(
            &format!("SELECT count(*) FROM chats WHERE {EXPIRED_CHATS}"),
            &params,
        )?;
        let notes = self.rows(
            &format!("SELECT count(*) FROM notes WHERE {EXPIRED_NOTES}"),
            &params,
        )?;
        Ok((
            chats[0].get::<_, i64>(0) as u64,
            notes[0].get::<_, i64>(0) as u64,
        ))
    }

    fn erased_chats(&mut self, chats: &[ChatId]) -> Result<Vec<ChatId>, StoreError> {
        let keys: Vec<String> = chats
            .iter()
            .map(|&chat| crate::store::erasures::chat_guard(chat))
            .collect();
        let rows = self.rows(
            "SELECT key FROM erased WHERE key = ANY($1::text[])",
            &[&keys],
        )?;
        let found: std::collections::BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(chats
            .iter()
            .copied()
            .filter(|&chat| found.contains(&crate::store::erasures::chat_guard(chat)))
            .collect())
    }

    fn erasures(&mut self, site: &str) -> Result<Vec<Erasure>, StoreError> {
        self.bodies(
            "SELECT body FROM erasures WHERE site = $1 ORDER BY id",
            &[&site],
        )
    }
}

/// The rows that may be `who`'s (see [`VisitorRows`]); the writer and the
/// readers ask the same.
pub(super) fn visitor_rows(
    client: &mut impl postgres::GenericClient,
    who: &Who,
) -> Result<VisitorRows, StoreError> {
    let pairs = |rows: Vec<postgres::Row>| -> Vec<(String, String)> {
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    };
    let chats = client.query(
        "SELECT id, body FROM chats WHERE site = $1 AND site <> ''
         AND (($2 <> '' AND visitor = $2)
              OR ($3 <> '' AND lower(body::jsonb #>> '{info,email}') = $3))
         ORDER BY id",
        &[&who.site, &who.visitor, &who.email],
    )?;
    let notes = client.query(
        "SELECT id, body FROM notes WHERE site = $1 AND $2 <> ''
         AND lower(body::jsonb ->> 'email') = $2 ORDER BY id",
        &[&who.site, &who.email],
    )?;
    Ok(VisitorRows {
        chats: pairs(chats),
        notes: pairs(notes),
    })
}

/// Closed chats of site `$1` last active before `$2`.
const EXPIRED_CHATS: &str = "site = $1 AND state = 'closed' AND COALESCE(last_at, created) < $2";
/// Notes of site `$1` left before `$2`.
const EXPIRED_NOTES: &str = "site = $1 AND at < $2";

fn ids<T: std::str::FromStr>(rows: &[postgres::Row]) -> Result<Vec<T>, StoreError> {
    crate::store::reads::parse_ids(rows.iter().map(|row| row.get::<_, String>(0)))
}
