//! The embedded backend: one SQLite file in WAL with `synchronous = FULL`,
//! the default for a deployment on one machine.
//!
//! One writer connection (the store's writer thread owns it), a few reader
//! connections ([`READERS`]; WAL lets them run beside each other and during
//! a commit, so a burst of clients reconnecting after a failover is not
//! served one welcome at a time), and a thread that copies the WAL back
//! into the database file ([`checkpointer`]), so the writer never waits for
//! that either. With one writer there is nobody to race: [`Tx::load`] needs
//! no locks, and the primitives are plain keyed statements, prepared once.
//!
//! Every statement of the hot path, transaction control included, comes
//! from the connection's statement cache ([`STATEMENT_CACHE`] of them): at
//! everyday load, where most messages commit alone, compiling SQL text
//! again for each commit was a fifth of the relay's instructions. And the
//! writer, the only one who appends to the feed, knows the feed's head
//! from its own appends instead of asking for `MAX(seq)` after each commit.

mod checkpointer;
mod cleanup;
mod files;
mod reads;
mod schema;
mod search;

use super::StoreError;
use super::backend::{Backend, Cell, NewChange, Reads, Row, Table, Touch, Tx, VisitorRows, Who};
use super::erasures::{ERASED, ErasedRows};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use twinline_core::{ChatId, Lamport};

#[cfg(test)]
pub(crate) use schema::SCHEMA as SCHEMA_V1;
pub use schema::{Epoch, database_path};

/// Read connections: enough for both cores and a blocked reader or two.
pub const READERS: usize = 4;

/// Prepared statements each connection keeps: more than the writer's hot
/// path uses (a load, an insert and an update for each table, the
/// touches, the feed, transaction control), so none is evicted and
/// compiled again; rusqlite's default of 16 is fewer.
pub const STATEMENT_CACHE: usize = 64;

/// What [`open`] gives the store.
pub struct Opened {
    /// The writer's side.
    pub backend: Sqlite,
    /// The readers.
    pub readers: Readers,
    /// The boot epoch (not stored yet if the disk was full).
    pub epoch: schema::Epoch,
    /// The feed's newest position.
    pub head: u64,
    /// The checkpointer thread (ends with the writer).
    pub checkpointer: std::thread::JoinHandle<()>,
}

/// Opens (creating and migrating) the store in `data_dir`.
pub fn open(data_dir: &Path) -> Result<Opened, StoreError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|error| StoreError::Unavailable(format!("{}: {error}", data_dir.display())))?;
    let path = database_path(data_dir);
    let conn = schema::open(&path)?;
    let epoch = schema::migrate(&conn)?;
    let (commits, checkpointer) = checkpointer::start(&conn, &path)?;
    // The writer walks the indexes of every table it appends to; a cache of
    // 64 MB (instead of 2) keeps them in memory instead of reading pages
    // back from the file during a long catch-up.
    conn.pragma_update(None, "cache_size", -65536)?;
    // An erasure deletes rows; with secure_delete the content they held is
    // overwritten with zeros in the file (pages that fall free included),
    // not only unlinked, at no cost to the hot path, which never deletes.
    // No VACUUM: it rewrites the whole file under the write lock, and the
    // zeroed pages are reused anyway.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let connections = (0..READERS)
        .map(|_| schema::open(&path).map(Mutex::new))
        .collect::<Result<Vec<_>, _>>()?;
    let head = reads::head(&conn)?;
    Ok(Opened {
        backend: Sqlite {
            conn,
            commits,
            head,
        },
        readers: Readers {
            connections,
            next: AtomicUsize::new(0),
        },
        epoch,
        head,
        checkpointer,
    })
}

/// One reader of an existing store, opened read-only (the CLI's `list`
/// commands): no migration, no epoch bump, no WAL checkpoint, so nothing
/// competes with a live relay's writer for the database lock.
pub fn open_read_only(data_dir: &Path) -> Result<Readers, StoreError> {
    let conn = schema::open_read_only(&database_path(data_dir))?;
    Ok(Readers {
        connections: vec![Mutex::new(conn)],
        next: AtomicUsize::new(0),
    })
}

/// The write connection.
pub struct Sqlite {
    conn: Connection,
    commits: checkpointer::CommitSignal,
    /// The feed's newest position: read at open, then moved by this
    /// writer's own committed appends (nobody else writes the file).
    head: u64,
}

/// Runs one statement of transaction control from the cache.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

impl Backend for Sqlite {
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // IMMEDIATE: the write lock is taken here, where the busy timeout
        // waits for another connection's write (the CLI's), instead of at
        // the first write, where SQLite answers "database is locked" at
        // once rather than risk a deadlock.
        control(&self.conn, "BEGIN IMMEDIATE")?;
        let mut tx = SqliteTx {
            conn: &self.conn,
            appended: None,
            erased: false,
        };
        let outcome = work(&mut tx).and_then(|()| Ok(control(&self.conn, "COMMIT")?));
        let (appended, erased) = (tx.appended, tx.erased);
        match outcome {
            Ok(()) => {
                if let Some(seq) = appended {
                    self.head = self.head.max(seq);
                }
                if erased {
                    self.commits.scrub();
                }
                Ok(())
            }
            Err(error) => {
                // A failed COMMIT (a full disk) can leave the transaction
                // open: roll it back so the next batch starts clean.
                if !self.conn.is_autocommit()
                    && let Err(rollback) = control(&self.conn, "ROLLBACK")
                {
                    tracing::warn!(%rollback, "rolling back a failed batch failed");
                }
                Err(error)
            }
        }
    }

    fn head(&mut self) -> Result<u64, StoreError> {
        Ok(self.head)
    }

    fn committed(&mut self) {
        self.commits.committed();
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    /// The feed position of this transaction's last append.
    appended: Option<u64>,
    /// Whether it deleted rows for an erasure (the WAL is then scrubbed).
    erased: bool,
}

fn value(cell: &Cell) -> Value {
    match cell {
        Cell::Text(Some(text)) => Value::Text(text.clone()),
        Cell::Int(Some(int)) => Value::Integer(*int),
        Cell::Text(None) | Cell::Int(None) => Value::Null,
    }
}

fn row_values(row: &Row) -> Vec<Value> {
    let mut values = Vec::with_capacity(row.cells.len() + 2);
    values.push(Value::Text(row.key.clone()));
    values.extend(row.cells.iter().map(value));
    values.push(Value::Text(row.body.clone()));
    values
}

impl Tx for SqliteTx<'_> {
    fn load(
        &mut self,
        table: &Table,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT body FROM {} WHERE {} = ?1",
            table.name, table.key
        ))?;
        let mut found = Vec::new();
        for key in keys {
            if let Some(body) = stmt
                .query_row([key], |row| row.get::<_, String>(0))
                .optional()?
            {
                found.push((key.clone(), body));
            }
        }
        Ok(found)
    }

    fn insert_new(&mut self, table: &Table, rows: &[Row]) -> Result<Vec<String>, StoreError> {
        let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        let places: Vec<String> = (1..=columns.len() + 2).map(|i| format!("?{i}")).collect();
        let mut stmt = self.conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {} ({}, {}body) VALUES ({})",
            table.name,
            table.key,
            columns.iter().map(|c| format!("{c}, ")).collect::<String>(),
            places.join(", ")
        ))?;
        let mut inserted = Vec::with_capacity(rows.len());
        for row in rows {
            if stmt.execute(params_from_iter(row_values(row)))? == 1 {
                inserted.push(row.key.clone());
            }
        }
        Ok(inserted)
    }

    fn update(&mut self, table: &Table, rows: &[Row]) -> Result<(), StoreError> {
        let sets: String = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| format!("{name} = ?{}, ", i + 2))
            .collect();
        let mut stmt = self.conn.prepare_cached(&format!(
            "UPDATE {} SET {sets}body = ?{} WHERE {} = ?1",
            table.name,
            table.columns.len() + 2,
            table.key
        ))?;
        for row in rows {
            stmt.execute(params_from_iter(row_values(row)))?;
        }
        Ok(())
    }

    fn highest_lamports(&mut self, chats: &[ChatId]) -> Result<Vec<(ChatId, Lamport)>, StoreError> {
        // Lamports out of range were never stored (or were cleaned up at
        // start); the bound skips what an older version stored as negative.
        let mut stmt = self
            .conn
            .prepare_cached("SELECT MAX(lamport) FROM messages WHERE chat = ?1 AND lamport >= 0")?;
        let mut highest = Vec::new();
        for chat in chats {
            let top: Option<i64> = stmt.query_row([chat.to_string()], |row| row.get(0))?;
            if let Some(top) = top {
                highest.push((*chat, Lamport(top as u64)));
            }
        }
        Ok(highest)
    }

    fn touch_chats(&mut self, touches: &[Touch]) -> Result<(), StoreError> {
        let mut update = self.conn.prepare_cached(
            "UPDATE chats SET last_at = MAX(COALESCE(last_at, 0), ?2),
                 preview = COALESCE(?3, preview),
                 visitor_at = CASE WHEN ?4 IS NULL THEN visitor_at
                     ELSE MAX(COALESCE(visitor_at, 0), ?4) END
             WHERE id = ?1",
        )?;
        let mut insert = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO chats
                 (id, site, visitor, created, state, last_at, preview, visitor_at, body)
             VALUES (?1, '', '', ?2, 'waiting', ?3, ?4, ?5, ?6)",
        )?;
        for touch in touches {
            let chat = touch.chat.to_string();
            let last_at = touch.last_at.0 as i64;
            let visitor_at = touch.visitor_at.map(|at| at.0 as i64);
            let updated = update.execute(params![chat, last_at, touch.preview, visitor_at])?;
            if updated == 0 {
                insert.execute(params![
                    chat,
                    touch.first_at.0 as i64,
                    last_at,
                    touch.preview.clone().unwrap_or_default(),
                    visitor_at,
                    touch.placeholder(),
                ])?;
            }
        }
        Ok(())
    }

    fn append(&mut self, changes: &[NewChange]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO changes (kind, key, origin, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for change in changes {
            stmt.execute(params![
                change.kind,
                change.key,
                change.origin,
                change.at.0 as i64,
                change.body
            ])?;
        }
        if !changes.is_empty() {
            // `seq` is the rowid.
            self.appended = Some(self.conn.last_insert_rowid() as u64);
        }
        Ok(())
    }

    fn advance_checkpoint(&mut self, peer: &str, seq: u64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO checkpoints (peer, seq) VALUES (?1, ?2)
             ON CONFLICT (peer) DO UPDATE SET seq = MAX(seq, ?2)",
            )?
            .execute(params![peer, seq as i64])?;
        Ok(())
    }

    fn keep_epoch(&mut self, epoch: u64) -> Result<(), StoreError> {
        // An UPDATE that leaves the value as it was still writes its page.
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('epoch', ?1)
             ON CONFLICT (key) DO UPDATE
                 SET value = CAST(MAX(CAST(value AS INTEGER), ?1) AS TEXT)",
            )?
            .execute(params![epoch as i64])?;
        Ok(())
    }

    fn load_guards(&mut self, keys: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        // One writer: nobody applies an erasure beside this transaction.
        self.load(&ERASED, keys)
    }

    fn lock_for_erasure(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn visitor_rows(&mut self, who: &Who) -> Result<VisitorRows, StoreError> {
        reads::visitor_rows(self.conn, who)
    }

    fn erase(&mut self, rows: &ErasedRows) -> Result<(), StoreError> {
        self.erased = true;
        // One JSON array per kind: each statement scans the feed once
        // (SQLite makes an index of the `IN` list), however many rows.
        let chats = serde_json::to_string(&rows.chats).unwrap_or_default();
        let notes = serde_json::to_string(&rows.notes).unwrap_or_default();
        let subjects =
            serde_json::to_string(&rows.chats.iter().chain(&rows.notes).collect::<Vec<_>>())
                .unwrap_or_default();
        for (sql, list) in [
            (
                "DELETE FROM changes WHERE kind = 'message' AND key IN
                     (SELECT id FROM messages WHERE chat IN (SELECT value FROM json_each(?1)))",
                &chats,
            ),
            (
                "DELETE FROM changes WHERE kind = 'chat' AND key IN (SELECT value FROM json_each(?1))",
                &chats,
            ),
            (
                "DELETE FROM changes WHERE kind = 'webhook_delivery' AND key IN
                     (SELECT key FROM webhook_deliveries WHERE subject IN (SELECT value FROM json_each(?1)))",
                &subjects,
            ),
            (
                "DELETE FROM webhook_deliveries WHERE subject IN (SELECT value FROM json_each(?1))",
                &subjects,
            ),
            (
                "DELETE FROM changes WHERE kind = 'file' AND key IN
                     (SELECT id FROM files WHERE chat IN (SELECT value FROM json_each(?1)))",
                &chats,
            ),
            (
                "DELETE FROM changes WHERE kind = 'file_chunk' AND key IN
                     (SELECT key FROM file_chunks WHERE chat IN (SELECT value FROM json_each(?1)))",
                &chats,
            ),
            (
                "DELETE FROM files WHERE chat IN (SELECT value FROM json_each(?1))",
                &chats,
            ),
            (
                "DELETE FROM file_chunks WHERE chat IN (SELECT value FROM json_each(?1))",
                &chats,
            ),
            (
                "DELETE FROM changes WHERE kind = 'receipt' AND key IN
                     (SELECT key FROM receipts WHERE chat IN (SELECT value FROM json_each(?1)))",
                &chats,
            ),
            (
                "DELETE FROM receipts WHERE chat IN (SELECT value FROM json_each(?1))",
                &chats,
            ),
            (
                "DELETE FROM messages WHERE chat IN (SELECT value FROM json_each(?1))",
                &chats,
            ),
            (
                "DELETE FROM chats WHERE id IN (SELECT value FROM json_each(?1))",
                &chats,
            ),
            (
                "DELETE FROM changes WHERE kind = 'note' AND key IN (SELECT value FROM json_each(?1))",
                &notes,
            ),
            (
                "DELETE FROM notes WHERE id IN (SELECT value FROM json_each(?1))",
                &notes,
            ),
        ] {
            self.conn.prepare_cached(sql)?.execute([list])?;
        }
        if !rows.chats.is_empty() {
            search::forget_erased(self.conn)?;
        }
        Ok(())
    }
}

/// The read connections, handed out round robin.
pub struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    /// A free connection if there is one, else the next in turn (waiting).
    pub fn take(&self) -> MutexGuard<'_, Connection> {
        let count = self.connections.len();
        let start = self.next.fetch_add(1, Relaxed);
        for offset in 0..count {
            if let Ok(conn) = self.connections[(start + offset) % count].try_lock() {
                return conn;
            }
        }
        self.connections[start % count]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl super::Pool for Readers {
    fn run(
        &self,
        read: &mut dyn FnMut(&mut dyn Reads) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = self.take();
        read(&mut *conn)
    }

    fn size(&self) -> usize {
        self.connections.len()
    }
}
