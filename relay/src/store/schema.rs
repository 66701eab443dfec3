//! Opening the SQLite file: pragmas and the schema.
//!
//! WAL lets the readers run beside the single writer; `synchronous = FULL`
//! makes every commit durable on disk before it returns, which is what an
//! `ack` promises. The writer batches many messages into one commit, so the
//! fsync cost is paid per batch, not per message.

use rusqlite::Connection;
use std::path::Path;

const SCHEMA: &str = "
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
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Creates the tables and bumps the boot epoch; returns the new epoch.
pub fn migrate(conn: &Connection) -> rusqlite::Result<u64> {
    conn.execute_batch(SCHEMA)?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('epoch', '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [],
    )?;
    conn.query_row(
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'epoch'",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|epoch| epoch as u64)
}
