//! The PostgreSQL schema and its migrations, run by the relay when a node
//! starts (`serve`, and every command that opens the store, such as
//! `operator add`), one node at a time under an advisory lock.
//!
//! Each entry of [`MIGRATIONS`] takes the schema one version further and
//! runs in one transaction with the `meta.schema` row that records it, so a
//! node that dies halfway leaves the previous version. Tables mirror the
//! SQLite ones (same names, same columns, JSON bodies as text); keys compare
//! bytewise (`COLLATE "C"`), as SQLite's do, so both order alike.

use crate::store::StoreError;
use postgres::Client;

/// Held while one node migrates; the others wait for it.
const MIGRATE_LOCK: i64 = 0x7477_6c6e_6d69_6772; // "twlnmigr"

/// Version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE meta (
    key   TEXT COLLATE \"C\" PRIMARY KEY,
    value TEXT NOT NULL
);
-- The deployment's change feed, in commit order (see the backend's docs):
-- replication and the other nodes follow it. `node` is the relay node
-- whose writer committed the change.
CREATE TABLE changes (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind   TEXT NOT NULL,
    key    TEXT COLLATE \"C\" NOT NULL,
    origin TEXT NOT NULL,
    at     BIGINT NOT NULL,
    body   TEXT NOT NULL,
    node   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE chats (
    id         TEXT COLLATE \"C\" PRIMARY KEY,
    site       TEXT NOT NULL,
    visitor    TEXT NOT NULL,
    created    BIGINT NOT NULL,
    state      TEXT NOT NULL,
    operator   TEXT,
    source     TEXT NOT NULL DEFAULT '',
    last_at    BIGINT,
    preview    TEXT,
    visitor_at BIGINT,
    body       TEXT NOT NULL
);
CREATE INDEX chats_by_operator ON chats (operator, state);
CREATE INDEX chats_waiting ON chats (state, site, created);
CREATE TABLE messages (
    id      TEXT COLLATE \"C\" PRIMARY KEY,
    chat    TEXT COLLATE \"C\" NOT NULL,
    lamport BIGINT NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX messages_by_chat ON messages (chat, lamport);
CREATE TABLE notes (
    id   TEXT COLLATE \"C\" PRIMARY KEY,
    site TEXT NOT NULL,
    at   BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX notes_by_time ON notes (at DESC, id);
CREATE TABLE accounts (
    username TEXT COLLATE \"C\" PRIMARY KEY,
    body     TEXT NOT NULL
);
-- How far this deployment has pulled each peer's feed.
CREATE TABLE checkpoints (
    peer TEXT COLLATE \"C\" PRIMARY KEY,
    seq  BIGINT NOT NULL
);
-- Presence per relay node (not replicated, not durable): the operators
-- online there, rewritten every half second; a stale row is a dead node's.
CREATE TABLE nodes (
    node TEXT COLLATE \"C\" PRIMARY KEY,
    seen TIMESTAMPTZ NOT NULL,
    body TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('epoch', '0');
",
    "
-- API keys (store/api_keys.rs): the hash of each secret, never the secret.
CREATE TABLE api_keys (
    id   TEXT COLLATE \"C\" PRIMARY KEY,
    site TEXT NOT NULL,
    body TEXT NOT NULL
);
-- The REST API's chat pages (by site, greatest id first).
CREATE INDEX chats_by_site ON chats (site, id);
",
    "
-- Webhook subscriptions and deliveries (store/webhooks.rs); the signing
-- secret is kept in clear (an HMAC key cannot be a hash).
CREATE TABLE webhooks (
    id   TEXT COLLATE \"C\" PRIMARY KEY,
    site TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    key          TEXT COLLATE \"C\" PRIMARY KEY,
    subscription TEXT NOT NULL,
    state        TEXT NOT NULL,
    next_attempt BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX deliveries_due ON webhook_deliveries (state, next_attempt);
-- An erasure deletes the deliveries about its chats and notes.
CREATE INDEX deliveries_by_subject ON webhook_deliveries (subject);
CREATE INDEX deliveries_by_subscription ON webhook_deliveries (subscription, at);
",
    "
-- Erasures (store/erasures.rs): the replicated tombstones, and the guards
-- they leave (not replicated: each store derives its own).
CREATE TABLE erasures (
    id      TEXT COLLATE \"C\" PRIMARY KEY,
    site    TEXT NOT NULL,
    visitor TEXT,
    email   TEXT,
    at      BIGINT NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX erasures_by_site ON erasures (site, id);
CREATE TABLE erased (
    key  TEXT COLLATE \"C\" PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE INDEX chats_by_visitor ON chats (site, visitor);
",
    super::search::MIGRATION,
    "
-- Attached files (store/files.rs): the bytes in chunks of 64 KiB, as
-- base64 in each chunk's body, and a file's record once checked. (IF NOT
-- EXISTS: a store taken back to an earlier version runs it again.)
CREATE TABLE IF NOT EXISTS files (
    id   TEXT COLLATE \"C\" PRIMARY KEY,
    chat TEXT COLLATE \"C\" NOT NULL,
    site TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_chat ON files (chat, id);
CREATE TABLE IF NOT EXISTS file_chunks (
    key   TEXT COLLATE \"C\" PRIMARY KEY,
    file  TEXT COLLATE \"C\" NOT NULL,
    chat  TEXT COLLATE \"C\" NOT NULL,
    bytes BIGINT NOT NULL,
    body  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS file_chunks_by_file ON file_chunks (file, key);
CREATE INDEX IF NOT EXISTS file_chunks_by_chat ON file_chunks (chat, file);
",
    "
-- Read receipts (store/receipts.rs): one per chat and side. IF NOT
-- EXISTS: a test that takes a database back to an older schema by hand
-- leaves this table, and the migrations run again from there.
CREATE TABLE IF NOT EXISTS receipts (
    key  TEXT COLLATE \"C\" PRIMARY KEY,
    chat TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_by_chat ON receipts (chat);
",
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Brings the database to [`SCHEMA_VERSION`] and counts this start in the
/// epoch; returns the new epoch.
pub fn migrate(client: &mut Client) -> Result<u64, StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])?;
    let result = migrate_locked(client);
    // Released even when a migration failed (the session may end anyway).
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]);
    result
}

fn migrate_locked(client: &mut Client) -> Result<u64, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?
        .get(0);
    let mut version: usize = if exists {
        client
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])?
            .and_then(|row| row.get::<_, String>(0).parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {version}, newer than this relay's \
             {SCHEMA_VERSION}: upgrade the relay"
        )));
    }
    while version < SCHEMA_VERSION {
        let mut tx = client.transaction()?;
        tx.batch_execute(MIGRATIONS[version])?;
        version += 1;
        if MIGRATIONS[version - 1] == super::search::MIGRATION {
            super::search::fill_words(&mut tx)?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema', $1)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&version.to_string()],
        )?;
        tx.commit()?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    let epoch: String = client
        .query_one(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'epoch' RETURNING value",
            &[],
        )?
        .get(0);
    Ok(epoch.parse().unwrap_or(0))
}
