//! Opening the SQLite file: pragmas and the schema.
//!
//! WAL lets the readers run beside the single writer; `synchronous = FULL`
//! makes every commit durable on disk before it returns, which is what an
//! `ack` promises. The writer batches many messages into one commit, so the
//! fsync cost is paid per batch, not per message.

use crate::store::StoreError;
use crate::store::records::ChatRecord;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;
use twinline_core::{Millis, VisitorId};

/// Version 1 of the schema; [`migrate`] takes it from there.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Every change this deployment made or learned, in the order it did: the
-- replication feed. `origin` is the deployment where the change first
-- happened, so a peer never gets its own changes back.
CREATE TABLE IF NOT EXISTS changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind   TEXT NOT NULL,
    key    TEXT NOT NULL,
    origin TEXT NOT NULL,
    at     INTEGER NOT NULL,
    body   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chats (
    id       TEXT PRIMARY KEY,
    site     TEXT NOT NULL,
    visitor  TEXT NOT NULL,
    created  INTEGER NOT NULL,
    state    TEXT NOT NULL,
    operator TEXT,
    status   TEXT NOT NULL,
    info     TEXT NOT NULL,
    last_at  INTEGER,
    preview  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chats_by_state ON chats (state, created);
CREATE INDEX IF NOT EXISTS chats_by_operator ON chats (operator, state);
CREATE TABLE IF NOT EXISTS messages (
    id      TEXT PRIMARY KEY,
    chat    TEXT NOT NULL,
    lamport INTEGER NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (chat, lamport);
CREATE TABLE IF NOT EXISTS notes (
    id   TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    at   INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY,
    body     TEXT NOT NULL
);
-- API keys (store/api_keys.rs): the hash of each secret, never the secret.
-- Made here on older stores too, where it is simply absent.
CREATE TABLE IF NOT EXISTS api_keys (
    id   TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    body TEXT NOT NULL
);
-- Webhook subscriptions and deliveries (store/webhooks.rs); the signing
-- secret is kept in clear (an HMAC key cannot be a hash).
CREATE TABLE IF NOT EXISTS webhooks (
    id   TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    key          TEXT PRIMARY KEY,
    subscription TEXT NOT NULL,
    state        TEXT NOT NULL,
    next_attempt INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (state, next_attempt);
-- An erasure deletes the deliveries about its chats and notes.
CREATE INDEX IF NOT EXISTS deliveries_by_subject ON webhook_deliveries (subject);
CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON webhook_deliveries (subscription, at);
-- The REST API's chat pages (by site, greatest id first).
CREATE INDEX IF NOT EXISTS chats_by_site ON chats (site, id);
-- Erasures (store/erasures.rs): the replicated tombstones, and the guards
-- they leave (not replicated: each store derives its own). Made here on
-- older stores too, where they are simply absent.
CREATE TABLE IF NOT EXISTS erasures (
    id      TEXT PRIMARY KEY,
    site    TEXT NOT NULL,
    visitor TEXT,
    email   TEXT,
    at      INTEGER NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS erasures_by_site ON erasures (site, id);
CREATE TABLE IF NOT EXISTS erased (
    key  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chats_by_visitor ON chats (site, visitor);
-- Attached files (store/files.rs): the bytes in chunks of 64 KiB, as
-- base64 in each chunk's body, and a file's record once checked. Made here
-- on older stores too, where they are simply absent.
CREATE TABLE IF NOT EXISTS files (
    id   TEXT PRIMARY KEY,
    chat TEXT NOT NULL,
    site TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_chat ON files (chat, id);
CREATE TABLE IF NOT EXISTS file_chunks (
    key   TEXT PRIMARY KEY,
    file  TEXT NOT NULL,
    chat  TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    body  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS file_chunks_by_file ON file_chunks (file, key);
CREATE INDEX IF NOT EXISTS file_chunks_by_chat ON file_chunks (chat, file);
-- Read receipts (store/receipts.rs): one per chat and side. Made here on
-- older stores too, where they are simply absent.
CREATE TABLE IF NOT EXISTS receipts (
    key  TEXT PRIMARY KEY,
    chat TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_by_chat ON receipts (chat);
-- How far this deployment has pulled each peer's feed.
CREATE TABLE IF NOT EXISTS checkpoints (
    peer TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
";

/// The store's file inside a data directory.
pub fn database_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("twinline.sqlite3")
}

/// Opens (creating if needed) a connection with the pragmas every connection
/// needs.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(super::STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Opens an existing store read-only: no file, pragma or row is written.
/// A store at an older schema is refused (the writing relay migrates it at
/// its next start).
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Unavailable(format!(
            "no store at {}",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version = schema_version(&conn)?;
    if version < SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the store at {} has schema {version}, this relay reads {SCHEMA_VERSION}: \
             start the relay (or run a command that writes) once to migrate it",
            path.display()
        )));
    }
    Ok(conn)
}

/// The schema version a store is at (1 had no `meta.schema` row).
fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(1))
}

/// The schema this code writes. Version 1 had no `meta.schema` row.
pub const SCHEMA_VERSION: i64 = 4;

/// The boot epoch after [`migrate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// This start's epoch.
    pub value: u64,
    /// Whether it is stored; false when the disk is full (the store starts
    /// anyway, reads only, and stores it once a commit succeeds again).
    pub stored: bool,
}

/// Creates the tables, brings an older store up to [`SCHEMA_VERSION`] and
/// bumps the boot epoch.
///
/// On a store already at [`SCHEMA_VERSION`] the only write is the epoch
/// bump, and a full disk does not stop the start: the relay comes up,
/// serves reads and reports not ready (issue 19). A migration that must
/// write on a full disk still fails.
pub fn migrate(conn: &Connection) -> rusqlite::Result<Epoch> {
    conn.execute_batch(SCHEMA)?;
    let version = schema_version(conn)?;
    if version < SCHEMA_VERSION {
        let tx = conn.unchecked_transaction()?;
        if version < 2 {
            to_version_2(&tx)?;
            super::cleanup::out_of_range(&tx, crate::clock::now())?.log();
        }
        if version < 3 {
            to_version_3(&tx)?;
        }
        super::search::to_version_4(&tx)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            [SCHEMA_VERSION.to_string()],
        )?;
        tx.commit()?;
    }
    let bumped = conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [],
    );
    let stored: Option<i64> = conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'epoch'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let stored = stored.unwrap_or(0).max(0) as u64;
    match bumped {
        Ok(_) => Ok(Epoch {
            value: stored,
            stored: true,
        }),
        Err(error) if is_disk_full(&error) => {
            tracing::warn!(%error, "disk full at start: serving reads, not ready until a commit succeeds");
            Ok(Epoch {
                value: stored + 1,
                stored: false,
            })
        }
        Err(error) => Err(error),
    }
}

/// Whether SQLite failed for want of space ("database or disk is full").
pub fn is_disk_full(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Version 3 (one store interface over SQLite and PostgreSQL, issue 18):
/// a chat header is kept as one JSON `body` like every other record, which
/// is what the backend-independent merge rules load and store; its status
/// and visitor-details columns go (the columns queries filter on stay).
fn to_version_3(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE chats ADD COLUMN body TEXT NOT NULL DEFAULT ''")?;
    let rows: Vec<(String, String, String, i64, String, String, String)> = tx
        .prepare("SELECT id, site, visitor, created, status, info, source FROM chats")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, site, visitor, created, status, info, source) in rows {
        let chat = ChatRecord {
            id: super::reads::parse(&id, 0)?,
            site,
            visitor: if visitor.is_empty() {
                VisitorId::default()
            } else {
                super::reads::parse(&visitor, 2)?
            },
            created: Millis(created.max(0) as u64),
            status: super::reads::json(&status, 4)?,
            info: super::reads::json(&info, 5)?,
            source,
            rating: None,
            transcripts: Vec::new(),
        };
        tx.execute(
            "UPDATE chats SET body = ?2 WHERE id = ?1",
            rusqlite::params![id, serde_json::to_string(&chat).unwrap_or_default()],
        )?;
    }
    tx.execute_batch("ALTER TABLE chats DROP COLUMN status; ALTER TABLE chats DROP COLUMN info;")
}

/// Version 2 (hostile input, issue 16): chats remember where their visitor
/// came from (`source`, for the queue's fair order) and when the visitor
/// last wrote (`visitor_at`: a chat waits only once its visitor has
/// written); accounts gain a role and sites. Accounts from before sites
/// existed served every site, so they become admins, with a warning to
/// narrow them; their copies in the feed are rewritten the same way, so a
/// peer catching up from the start gets what this store has.
fn to_version_2(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE chats ADD COLUMN source TEXT NOT NULL DEFAULT '';
         ALTER TABLE chats ADD COLUMN visitor_at INTEGER;
         UPDATE chats SET visitor_at = last_at WHERE preview != '';
         CREATE INDEX IF NOT EXISTS chats_waiting ON chats (state, site, created);",
    )?;
    let mut promoted = Vec::new();
    for table in ["accounts", "changes"] {
        let query = match table {
            "accounts" => "SELECT rowid, body FROM accounts",
            _ => "SELECT rowid, body FROM changes WHERE kind = 'account'",
        };
        let rows: Vec<(i64, String)> = tx
            .prepare(query)?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (rowid, body) in rows {
            let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue;
            };
            let Some(object) = value.as_object_mut() else {
                continue;
            };
            if object.contains_key("role") {
                continue;
            }
            object.insert("role".into(), "admin".into());
            if table == "accounts"
                && let Some(username) = object.get("username").and_then(|u| u.as_str())
            {
                promoted.push(username.to_string());
            }
            tx.execute(
                &format!("UPDATE {table} SET body = ?2 WHERE rowid = ?1"),
                rusqlite::params![rowid, value.to_string()],
            )?;
        }
    }
    for username in promoted {
        tracing::warn!(
            %username,
            "operator account from before sites and roles: it keeps serving every site as an \
             admin; narrow it with `twinline-relay operator add --username {username} --site SITE`"
        );
    }
    Ok(())
}
