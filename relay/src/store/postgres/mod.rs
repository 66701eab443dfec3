//! The PostgreSQL backend: a deployment's state in one database that any
//! number of relay nodes share.
//!
//! Each node keeps the store's shape: one writer thread with one
//! connection, committing group batches (many acks per commit, with
//! `synchronous_commit` on, so an ack still means durable), and a few
//! reader connections. The client is `postgres`, the blocking face of
//! `tokio-postgres`: the writer is a thread and the readers run on
//! blocking threads, exactly as with SQLite, so both backends implement one
//! synchronous [`Tx`]/[`Reads`] interface and share every merge rule. (The
//! cross-node fan-out's LISTEN and the replication lease use
//! `tokio-postgres` itself, in tasks.)
//!
//! What changes with several writers:
//! - rows a merge reads are locked (`SELECT ... FOR UPDATE`, keys in
//!   order) until its transaction ends, and every writer takes its locks in
//!   one order of tables and keys, so two nodes merging into one chat wait
//!   for each other instead of overwriting each other's merge, and cannot
//!   deadlock (if PostgreSQL still finds one, the batch runs again);
//! - a row another node inserted first makes the batch run again
//!   ([`StoreError::Raced`]), and the second run merges against it;
//! - the feed's positions are handed out in commit order: each writer
//!   takes one transaction-scoped advisory lock ([`FEED_LOCK`]) just before
//!   it appends, and holds it through its commit. A reader that has seen
//!   position N can therefore never later find a smaller position commit
//!   (which a plain sequence allows: a transaction that drew its number
//!   first can commit last), so a cursor over the feed never skips a change.
//!   The cost is that appends of different nodes commit one after another;
//!   group commit makes each of them carry a whole batch.
//! - after appending, a commit notifies [`FEED_CHANNEL`] once (not once per
//!   message: NOTIFY takes a global lock at commit): a wake-up for the other
//!   nodes, which then read the feed from their own position.

pub mod cluster;
mod files;
mod reads;
mod schema;
mod search;

use super::StoreError;
use super::backend::{Backend, Cell, NewChange, Reads, Row, Table, Touch, Tx, VisitorRows, Who};
use super::erasures::ErasedRows;
use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use twinline_core::{ChatId, Lamport};

/// The advisory lock a writer holds from its first feed append to its
/// commit, so positions are handed out in commit order.
pub const FEED_LOCK: i64 = 0x7477_6c6e_6665_6564; // "twlnfeed"

/// Taken shared by every transaction that checks records against the
/// erasure guards, exclusively by one that applies an erasure (see
/// [`Tx::load_guards`]): a record and an erasure of it committing at once
/// on two nodes cannot both miss each other.
pub const ERASE_LOCK: i64 = 0x7477_6c6e_6572_6173; // "twlneras"

/// The channel a commit that appended to the feed notifies; the payload is
/// the writing node's name.
pub const FEED_CHANNEL: &str = "twinline_feed";

/// Read connections per node.
pub const READERS: usize = 4;

/// How long connecting may take before the database counts as down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The URL for logs: the password replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
#[test]
fn passwords_stay_out_of_logs() {
    assert_eq!(
        redacted("postgres://ada:secret@db:5432/twinline"),
        "postgres://ada:***@db:5432/twinline"
    );
    assert_eq!(redacted("postgres://ada@db/t"), "postgres://ada@db/t");
}

/// Connection settings for this node.
pub fn config(url: &str, node: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|error| StoreError::Unavailable(format!("{}: {error}", redacted(url))))?;
    if config.get_application_name().is_none() {
        config.application_name(format!("twinline-relay {node}"));
    }
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3)
        // An ack means durable: never let a database default say otherwise.
        .options("-c synchronous_commit=on");
    Ok(config)
}

/// A connection with its prepared statements (each query is prepared once
/// per connection: a query by text costs an extra round trip).
pub struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    fn connect(config: &tokio_postgres::Config) -> Result<Conn, StoreError> {
        let client = ::postgres::Config::from(config.clone())
            .connect(NoTls)
            .map_err(unavailable)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        prepared(&mut self.client, &mut self.statements, sql)
    }
}

fn prepared(
    client: &mut impl ::postgres::GenericClient,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, StoreError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements.insert(sql.to_string(), statement.clone());
    Ok(statement)
}

/// Whether `error` means the connection it came on is of no more use: the
/// client saw it close, the error is the engine's absence, or the server
/// said it is ending the session (class 57P, operator intervention: a
/// restart or a terminated backend; class 08, connection exception). The
/// first query after a restart of PostgreSQL gets such an error on a
/// connection that still looks open.
fn connection_lost(error: &StoreError, client: &Client) -> bool {
    if client.is_closed() || error.is_unavailable() {
        return true;
    }
    match error {
        StoreError::Postgres(error) => error.code().is_some_and(ends_session),
        _ => false,
    }
}

/// Whether the server sends `state` as it ends the session.
fn ends_session(state: &::postgres::error::SqlState) -> bool {
    state.code().starts_with("57P") || state.code().starts_with("08")
}

#[cfg(test)]
#[test]
fn only_errors_that_end_the_session_drop_a_connection() {
    // The whole path (PostgreSQL restarted under running nodes) is the
    // process test tests/tests/nodes.rs, postgres_stopped_….
    use ::postgres::error::SqlState;
    for (state, lost) in [
        (SqlState::ADMIN_SHUTDOWN, true),
        (SqlState::CRASH_SHUTDOWN, true),
        (SqlState::CONNECTION_FAILURE, true),
        (SqlState::UNIQUE_VIOLATION, false),
        (SqlState::T_R_DEADLOCK_DETECTED, false),
        (SqlState::QUERY_CANCELED, false),
    ] {
        assert_eq!(ends_session(&state), lost, "{state:?}");
    }
}

/// A failure to reach the database, as the store reports it.
fn unavailable(error: ::postgres::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// What [`open`] gives the store.
pub struct Opened {
    /// The writer's side.
    pub backend: Postgres,
    /// The readers.
    pub readers: Readers,
    /// How many times a node has opened this database.
    pub epoch: u64,
    /// The feed's newest position.
    pub head: u64,
}

/// Connects, creates or migrates the schema (one node at a time) and
/// counts this start in the epoch.
pub fn open(url: &str, node: &str) -> Result<Opened, StoreError> {
    let config = config(url, node)?;
    let mut conn = Conn::connect(&config)?;
    let epoch = schema::migrate(&mut conn.client)?;
    let head = conn.reads_head()?;
    Ok(Opened {
        backend: Postgres {
            config: config.clone(),
            node: node.to_string(),
            conn: Some(conn),
            last_seq: head,
        },
        readers: Readers {
            config,
            connections: (0..READERS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        },
        epoch,
        head,
    })
}

/// Readers of a database opened only to read (the CLI's `list`
/// commands): no migration, no epoch, and the server itself refuses any
/// write on these sessions (`default_transaction_read_only`).
pub fn open_read_only(url: &str, node: &str) -> Result<Readers, StoreError> {
    let mut config = config(url, node)?;
    config.options("-c synchronous_commit=on -c default_transaction_read_only=on");
    Ok(Readers {
        config,
        connections: vec![Mutex::new(None)],
        next: AtomicUsize::new(0),
    })
}

/// The node's write connection (reopened after the database went away).
pub struct Postgres {
    config: tokio_postgres::Config,
    node: String,
    conn: Option<Conn>,
    last_seq: u64,
}

impl Backend for Postgres {
    /// Runs `work` in one transaction. A connection found broken by the
    /// transaction (PostgreSQL restarted since the last batch: the first
    /// statement fails on a connection that looked open) is replaced and
    /// the batch runs once more on the new one. Running a batch again is
    /// safe even when the lost connection's commit went through: the
    /// merge is idempotent by id, so the second run stores nothing twice.
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Only a connection that was open can turn out lost; a failed
        // connect is the database's absence, not worth a second wait.
        let mut reusing = self.conn.as_ref().is_some_and(|c| !c.client.is_closed());
        loop {
            match self.transaction_once(work) {
                Err(error) if reusing && self.conn.is_none() => {
                    reusing = false;
                    tracing::debug!(%error, "write connection lost; running the batch on a new one");
                }
                other => return other,
            }
        }
    }

    fn head(&mut self) -> Result<u64, StoreError> {
        Ok(self.last_seq)
    }
}

impl Postgres {
    /// One try of [`Backend::transaction`]; drops the connection when the
    /// error says it is lost (see [`connection_lost`]).
    fn transaction_once(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.conn = None;
            self.conn = Some(Conn::connect(&self.config)?);
        }
        let conn = self.conn.as_mut().expect("just connected");
        let result = (|| {
            let mut tx = conn.client.transaction()?;
            let mut pg = PgTx {
                tx: &mut tx,
                statements: &mut conn.statements,
                node: &self.node,
                last_seq: None,
            };
            work(&mut pg)?;
            let appended = pg.last_seq;
            tx.commit()?;
            Ok(appended)
        })();
        match result {
            Ok(appended) => {
                if let Some(seq) = appended {
                    self.last_seq = self.last_seq.max(seq);
                }
                Ok(())
            }
            Err(error) => {
                if connection_lost(&error, &conn.client) {
                    // Reconnect before the next try.
                    self.conn = None;
                }
                Err(error)
            }
        }
    }
}

struct PgTx<'a, 'c> {
    tx: &'a mut ::postgres::Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
    node: &'a str,
    /// The last feed position this transaction appended.
    last_seq: Option<u64>,
}

impl PgTx<'_, '_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        prepared(self.tx, self.statements, sql)
    }
}

/// One array parameter per column of `rows` (key, cells, body), for
/// `unnest`.
fn column_arrays(table: &Table, rows: &[Row]) -> Vec<Box<dyn ToSql + Sync>> {
    let mut arrays: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(table.columns.len() + 2);
    arrays.push(Box::new(
        rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
    ));
    for (index, (_, kind)) in table.columns.iter().enumerate() {
        match kind {
            super::backend::ColumnType::Text => arrays.push(Box::new(
                rows.iter()
                    .map(|r| match &r.cells[index] {
                        Cell::Text(text) => text.clone(),
                        Cell::Int(int) => int.map(|i| i.to_string()),
                    })
                    .collect::<Vec<Option<String>>>(),
            )),
            super::backend::ColumnType::Int => arrays.push(Box::new(
                rows.iter()
                    .map(|r| match &r.cells[index] {
                        Cell::Int(int) => *int,
                        Cell::Text(_) => None,
                    })
                    .collect::<Vec<Option<i64>>>(),
            )),
        }
    }
    arrays.push(Box::new(
        rows.iter().map(|r| r.body.clone()).collect::<Vec<_>>(),
    ));
    arrays
}

/// `$1::text[], $2::bigint[], ...` for a table's key, columns and body.
fn array_params(table: &Table) -> String {
    let mut types = vec!["text[]"];
    types.extend(table.columns.iter().map(|(_, kind)| match kind {
        super::backend::ColumnType::Text => "text[]",
        super::backend::ColumnType::Int => "bigint[]",
    }));
    types.push("text[]");
    types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

fn column_names(table: &Table) -> Vec<&'static str> {
    let mut names = vec![table.key];
    names.extend(table.columns.iter().map(|(name, _)| *name));
    names.push("body");
    names
}

fn refs(params: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

impl Tx for PgTx<'_, '_> {
    fn load(
        &mut self,
        table: &Table,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let statement = self.statement(&format!(
            "SELECT {key}, body FROM {name} WHERE {key} = ANY($1::text[])
             ORDER BY {key} FOR UPDATE",
            key = table.key,
            name = table.name
        ))?;
        let rows = self.tx.query(&statement, &[&keys])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn insert_new(&mut self, table: &Table, rows: &[Row]) -> Result<Vec<String>, StoreError> {
        let names = column_names(table);
        let statement = self.statement(&format!(
            "INSERT INTO {name} ({columns})
             SELECT * FROM unnest({arrays}) AS u({columns}) ORDER BY 1
             ON CONFLICT DO NOTHING RETURNING {key}",
            name = table.name,
            columns = names.join(", "),
            arrays = array_params(table),
            key = table.key,
        ))?;
        let params = column_arrays(table, rows);
        let inserted = self.tx.query(&statement, &refs(&params))?;
        Ok(inserted.iter().map(|row| row.get(0)).collect())
    }

    fn update(&mut self, table: &Table, rows: &[Row]) -> Result<(), StoreError> {
        let names = column_names(table);
        let sets: Vec<String> = names[1..]
            .iter()
            .map(|name| format!("{name} = u.{name}"))
            .collect();
        let statement = self.statement(&format!(
            "UPDATE {name} AS t SET {sets}
             FROM unnest({arrays}) AS u({columns}) WHERE t.{key} = u.{key}",
            name = table.name,
            sets = sets.join(", "),
            arrays = array_params(table),
            columns = names.join(", "),
            key = table.key,
        ))?;
        let params = column_arrays(table, rows);
        self.tx.execute(&statement, &refs(&params))?;
        Ok(())
    }

    fn highest_lamports(&mut self, chats: &[ChatId]) -> Result<Vec<(ChatId, Lamport)>, StoreError> {
        // One index probe per chat (the subquery reads messages_by_chat
        // backwards); lamports out of range were never stored.
        let statement = self.statement(
            "SELECT c, (SELECT max(lamport) FROM messages WHERE chat = c AND lamport >= 0)
             FROM unnest($1::text[]) AS c",
        )?;
        let ids: Vec<String> = chats.iter().map(ToString::to_string).collect();
        let rows = self.tx.query(&statement, &[&ids])?;
        let mut highest = Vec::new();
        for (chat, row) in chats.iter().zip(rows) {
            if let Some(top) = row.get::<_, Option<i64>>(1) {
                highest.push((*chat, Lamport(top as u64)));
            }
        }
        Ok(highest)
    }

    fn touch_chats(&mut self, touches: &[Touch]) -> Result<(), StoreError> {
        let statement = self.statement(
            "INSERT INTO chats (id, site, visitor, created, state, last_at, preview, visitor_at, body)
             SELECT id, '', '', first_at, 'waiting', last_at, preview, visitor_at, placeholder
             FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[])
                 AS t(id, first_at, last_at, preview, visitor_at, placeholder)
             ORDER BY id
             ON CONFLICT (id) DO UPDATE SET
                 last_at = GREATEST(COALESCE(chats.last_at, 0), EXCLUDED.last_at),
                 preview = COALESCE(EXCLUDED.preview, chats.preview),
                 visitor_at = CASE WHEN EXCLUDED.visitor_at IS NULL THEN chats.visitor_at
                     ELSE GREATEST(COALESCE(chats.visitor_at, 0), EXCLUDED.visitor_at) END",
        )?;
        let ids: Vec<String> = touches.iter().map(|t| t.chat.to_string()).collect();
        let first: Vec<i64> = touches.iter().map(|t| t.first_at.0 as i64).collect();
        let last: Vec<i64> = touches.iter().map(|t| t.last_at.0 as i64).collect();
        let previews: Vec<Option<String>> = touches.iter().map(|t| t.preview.clone()).collect();
        let visitor: Vec<Option<i64>> = touches
            .iter()
            .map(|t| t.visitor_at.map(|at| at.0 as i64))
            .collect();
        let bodies: Vec<String> = touches.iter().map(Touch::placeholder).collect();
        self.tx.execute(
            &statement,
            &[&ids, &first, &last, &previews, &visitor, &bodies],
        )?;
        Ok(())
    }

    fn append(&mut self, changes: &[NewChange]) -> Result<(), StoreError> {
        // Held until this transaction ends: the positions drawn below are
        // higher than those of every append committed before, and lower
        // than those of every append that commits after (see the module
        // docs). The notification goes out at commit.
        let lock = self.statement("SELECT pg_advisory_xact_lock($1), pg_notify($2, $3)")?;
        self.tx
            .query(&lock, &[&FEED_LOCK, &FEED_CHANNEL, &self.node])?;
        let statement = self.statement(
            "WITH added AS (
                 INSERT INTO changes (kind, key, origin, at, body, node)
                 SELECT kind, key, origin, at, body, $6
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
                     WITH ORDINALITY AS u(kind, key, origin, at, body, n)
                 ORDER BY n
                 RETURNING seq)
             SELECT max(seq) FROM added",
        )?;
        let kinds: Vec<&str> = changes.iter().map(|c| c.kind).collect();
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        let origins: Vec<&str> = changes.iter().map(|c| c.origin.as_str()).collect();
        let at: Vec<i64> = changes.iter().map(|c| c.at.0 as i64).collect();
        let bodies: Vec<&str> = changes.iter().map(|c| c.body.as_str()).collect();
        let row = self.tx.query_one(
            &statement,
            &[&kinds, &keys, &origins, &at, &bodies, &self.node],
        )?;
        if let Some(seq) = row.get::<_, Option<i64>>(0) {
            self.last_seq = Some(seq as u64);
        }
        Ok(())
    }

    fn advance_checkpoint(&mut self, peer: &str, seq: u64) -> Result<(), StoreError> {
        let statement = self.statement(
            "INSERT INTO checkpoints (peer, seq) VALUES ($1, $2)
             ON CONFLICT (peer) DO UPDATE SET seq = GREATEST(checkpoints.seq, EXCLUDED.seq)",
        )?;
        self.tx.execute(&statement, &[&peer, &(seq as i64)])?;
        Ok(())
    }

    fn keep_epoch(&mut self, epoch: u64) -> Result<(), StoreError> {
        let statement = self.statement(
            "UPDATE meta SET value = GREATEST(value::bigint, $1)::text WHERE key = 'epoch'",
        )?;
        self.tx.execute(&statement, &[&(epoch as i64)])?;
        Ok(())
    }

    fn load_guards(&mut self, keys: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        // The shared lock in a statement of its own: the guards are read
        // by the next one, whose snapshot is taken after the lock is
        // granted, so it sees an erasure that held the lock exclusively.
        let lock = self.statement("SELECT pg_advisory_xact_lock_shared($1)")?;
        self.tx.query(&lock, &[&ERASE_LOCK])?;
        let statement =
            self.statement("SELECT key, body FROM erased WHERE key = ANY($1::text[])")?;
        let rows = self.tx.query(&statement, &[&keys])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn lock_for_erasure(&mut self) -> Result<(), StoreError> {
        let lock = self.statement("SELECT pg_advisory_xact_lock($1)")?;
        self.tx.query(&lock, &[&ERASE_LOCK])?;
        Ok(())
    }

    fn visitor_rows(&mut self, who: &Who) -> Result<VisitorRows, StoreError> {
        reads::visitor_rows(&mut *self.tx, who)
    }

    fn erase(&mut self, rows: &ErasedRows) -> Result<(), StoreError> {
        let chats: Vec<&str> = rows.chats.iter().map(String::as_str).collect();
        let notes: Vec<&str> = rows.notes.iter().map(String::as_str).collect();
        let subjects: Vec<&str> = chats.iter().chain(&notes).copied().collect();
        // Feed entries first: the messages' and deliveries' are found
        // through their rows.
        self.tx.execute(
            "DELETE FROM changes WHERE (kind = 'chat' AND key = ANY($1::text[]))
                 OR (kind = 'note' AND key = ANY($2::text[]))
                 OR (kind = 'message' AND key IN
                     (SELECT id FROM messages WHERE chat = ANY($1::text[])))
                 OR (kind = 'webhook_delivery' AND key IN
                     (SELECT key FROM webhook_deliveries WHERE subject = ANY($3::text[])))
                 OR (kind = 'file' AND key IN
                     (SELECT id FROM files WHERE chat = ANY($1::text[])))
                 OR (kind = 'file_chunk' AND key IN
                     (SELECT key FROM file_chunks WHERE chat = ANY($1::text[])))
                 OR (kind = 'receipt' AND key IN
                     (SELECT key FROM receipts WHERE chat = ANY($1::text[])))",
            &[&chats, &notes, &subjects],
        )?;
        self.tx
            .execute("DELETE FROM files WHERE chat = ANY($1::text[])", &[&chats])?;
        self.tx.execute(
            "DELETE FROM file_chunks WHERE chat = ANY($1::text[])",
            &[&chats],
        )?;
        self.tx.execute(
            "DELETE FROM receipts WHERE chat = ANY($1::text[])",
            &[&chats],
        )?;
        self.tx.execute(
            "DELETE FROM webhook_deliveries WHERE subject = ANY($1::text[])",
            &[&subjects],
        )?;
        self.tx.execute(
            "DELETE FROM messages WHERE chat = ANY($1::text[])",
            &[&chats],
        )?;
        self.tx
            .execute("DELETE FROM chats WHERE id = ANY($1::text[])", &[&chats])?;
        self.tx
            .execute("DELETE FROM notes WHERE id = ANY($1::text[])", &[&notes])?;
        Ok(())
    }
}

/// The node's read connections, opened on first use and again after the
/// database went away.
pub struct Readers {
    config: tokio_postgres::Config,
    connections: Vec<Mutex<Option<Conn>>>,
    next: AtomicUsize,
}

impl Readers {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        let count = self.connections.len();
        let start = self.next.fetch_add(1, Relaxed);
        for offset in 0..count {
            if let Ok(slot) = self.connections[(start + offset) % count].try_lock() {
                return slot;
            }
        }
        self.connections[start % count]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Readers {
    /// A `postgres` client may not be dropped on an async thread (it stops
    /// a runtime of its own), and the last store handle may go anywhere:
    /// the connections are closed on a thread of their own.
    fn drop(&mut self) {
        let connections = std::mem::take(&mut self.connections);
        let _ = std::thread::Builder::new()
            .name("store-readers-close".into())
            .spawn(move || drop(connections));
    }
}

impl super::Pool for Readers {
    fn run(
        &self,
        read: &mut dyn FnMut(&mut dyn Reads) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut slot = self.slot();
        // A connection broken since its last use (the database restarted)
        // fails its next query: then the read runs once more on a new one.
        for attempt in 0..2 {
            if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
                *slot = Some(Conn::connect(&self.config)?);
            }
            let conn = slot.as_mut().expect("just connected");
            match read(conn) {
                Err(error) if attempt == 0 && connection_lost(&error, &conn.client) => {
                    tracing::debug!(%error, "reader connection lost; reconnecting");
                    *slot = None;
                }
                other => return other,
            }
        }
        Err(StoreError::Unavailable(
            "the reader connection keeps failing".into(),
        ))
    }

    fn size(&self) -> usize {
        self.connections.len()
    }
}
