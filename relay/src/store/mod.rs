//! The deployment's SQLite store.
//!
//! One writer thread owns the only write connection and commits in batches
//! (group commit): whatever requests queued up while the previous commit was
//! on disk go into the next transaction, so under load one fsync covers many
//! messages and an idle relay still commits each message at once. A request
//! is answered only after its batch committed, which is what lets the relay
//! send `ack` only for durable messages. Each request runs in its own
//! savepoint, so one bad request cannot roll back its neighbours.
//!
//! The WAL is copied back into the database file by a thread of its own
//! ([`checkpointer`]), so the writer never waits for that either.
//!
//! Reads use a few separate connections ([`READERS`]); WAL lets them run
//! beside each other and during a commit, so a burst of clients reconnecting
//! after a failover is not served one welcome at a time.

mod apply;
mod checkpointer;
mod cleanup;
pub mod reads;
pub mod records;
mod schema;

use apply::{ChatTouches, Queued};
use records::{Applied, Record};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use tokio::sync::oneshot;
use twinline_core::Millis;

pub use schema::database_path;

/// Most requests folded into one transaction.
const MAX_BATCH: usize = 8192;

/// Read connections: enough for both cores and a blocked reader or two.
const READERS: usize = 4;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread has stopped (shutdown).
    #[error("the store is closed")]
    Closed,
}

/// A batch of records to apply atomically, from one origin.
struct WriteJob {
    records: Vec<Queued>,
    checkpoint: Option<(String, u64)>,
    now: Millis,
    reply: oneshot::Sender<JobResult>,
}

/// Figures the writer keeps, for /metrics.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Commits done.
    pub commits: std::sync::atomic::AtomicU64,
    /// Requests committed.
    pub requests: std::sync::atomic::AtomicU64,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: mpsc::Sender<WriteJob>,
    readers: Arc<Readers>,
    epoch: u64,
    stats: Arc<WriterStats>,
    head: tokio::sync::watch::Receiver<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("epoch", &self.epoch).finish()
    }
}

/// Joins the writer thread when the last handle goes: pending writes are
/// committed before [`Store::close`] returns.
pub struct WriterThread {
    writer: std::thread::JoinHandle<()>,
    checkpointer: std::thread::JoinHandle<()>,
}

impl WriterThread {
    /// Waits until every queued write has been committed and the file closed.
    pub fn join(self) {
        let _ = self.writer.join();
        // It ends with the writer, after a last checkpoint.
        let _ = self.checkpointer.join();
    }
}

impl Store {
    /// Opens (creating) the store in `data_dir` and starts the writer.
    pub fn open(data_dir: &Path) -> Result<(Store, WriterThread), StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|error| {
            StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
        })?;
        let path = database_path(data_dir);
        let write_conn = schema::open(&path)?;
        let epoch = schema::migrate(&write_conn)?;
        let (commits, checkpointer) = checkpointer::start(&write_conn, &path)?;
        // The writer walks the indexes of every table it appends to; a
        // cache of 64 MB (instead of 2) keeps them in memory instead of
        // reading pages back from the file during a long catch-up.
        write_conn.pragma_update(None, "cache_size", -65536)?;
        let readers = (0..READERS)
            .map(|_| schema::open(&path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let (writer, jobs) = mpsc::channel::<WriteJob>();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let (head_tx, head) = tokio::sync::watch::channel(reads::head(&write_conn)?);
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run_writer(write_conn, jobs, &thread_stats, &head_tx, &commits))
            .map_err(|error| {
                StoreError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
            })?;
        Ok((
            Store {
                writer,
                readers: Arc::new(Readers {
                    connections: readers,
                    next: AtomicUsize::new(0),
                }),
                epoch,
                stats,
                head,
            },
            WriterThread {
                writer: handle,
                checkpointer,
            },
        ))
    }

    /// How many times this store has been opened (a restart bumps it).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The change feed's newest position, updated after every commit that
    /// added to it: replication streams wait on this.
    pub fn head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.head.clone()
    }

    /// Writer figures.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Applies one local record; durable when this returns.
    pub async fn apply(&self, record: Record, origin: &str) -> Result<Applied, StoreError> {
        self.submit(record, origin).await
    }

    /// Queues one local record for the writer now and returns what resolves
    /// once it is durable. Queueing is synchronous, so records submitted one
    /// after another commit in that order (in the same batch or an earlier
    /// one): a connection can submit its next message before the previous
    /// one is on disk and still ack them in order.
    pub fn submit(
        &self,
        record: Record,
        origin: &str,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send + 'static {
        let batch = self.submit_batch(vec![(record, origin.to_string())], None);
        async move { batch.await?.pop().ok_or(StoreError::Closed) }
    }

    /// [`Store::apply_batch`], queued now and awaited later (see
    /// [`Store::submit`]): replication applies one page while it reads the
    /// next.
    pub fn submit_batch(
        &self,
        records: Vec<(Record, String)>,
        checkpoint: Option<(String, u64)>,
    ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send + 'static {
        let queued = self.queue(records, checkpoint);
        async move { queued?.await.map_err(|_| StoreError::Closed)? }
    }

    /// Applies records atomically, optionally moving a peer checkpoint in the
    /// same transaction (replication: the checkpoint never runs ahead of the
    /// data it covers).
    pub async fn apply_batch(
        &self,
        records: Vec<(Record, String)>,
        checkpoint: Option<(String, u64)>,
    ) -> Result<Vec<Applied>, StoreError> {
        self.submit_batch(records, checkpoint).await
    }

    fn queue(
        &self,
        records: Vec<(Record, String)>,
        checkpoint: Option<(String, u64)>,
    ) -> Result<oneshot::Receiver<JobResult>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let records = records
            .into_iter()
            .map(|(record, origin)| Queued::new(record, origin))
            .collect();
        self.writer
            .send(WriteJob {
                records,
                checkpoint,
                now: crate::clock::now(),
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// Runs a read on the reader connection, off the async threads.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take();
            query(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the calling thread (CLI and tests).
    pub fn read_blocking<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.take();
        query(&conn).map_err(StoreError::from)
    }
}

/// The read connections, handed out round robin.
struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    /// A free connection if there is one, else the next in turn (waiting).
    fn take(&self) -> MutexGuard<'_, Connection> {
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

fn run_writer(
    mut conn: Connection,
    jobs: mpsc::Receiver<WriteJob>,
    stats: &WriterStats,
    head: &tokio::sync::watch::Sender<u64>,
    commits: &checkpointer::CommitSignal,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = commit_batch(&mut conn, &batch);
        stats.commits.fetch_add(1, Relaxed);
        stats.requests.fetch_add(batch.len() as u64, Relaxed);
        match results {
            Ok(results) => {
                commits.committed();
                let grew = results
                    .iter()
                    .any(|r| r.as_ref().is_ok_and(|a| a.iter().any(|a| a.changed)));
                if grew && let Ok(seq) = reads::head(&conn) {
                    head.send_replace(seq);
                }
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, "commit failed; the batch is refused and nothing is acked");
                let message = error.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Sqlite(
                        rusqlite::Error::ToSqlConversionFailure(message.clone().into()),
                    )));
                }
            }
        }
    }
    tracing::debug!("store writer stopped: every handle dropped");
}

type JobResult = Result<Vec<Applied>, StoreError>;

fn commit_batch(conn: &mut Connection, batch: &[WriteJob]) -> rusqlite::Result<Vec<JobResult>> {
    let mut tx = conn.transaction()?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut savepoint = tx.savepoint()?;
        let outcome = run_job(&savepoint, job);
        match outcome {
            Ok(applied) => {
                savepoint.commit()?;
                results.push(Ok(applied));
            }
            Err(error) => {
                savepoint.rollback()?;
                drop(savepoint);
                results.push(Err(StoreError::Sqlite(error)));
            }
        }
    }
    tx.set_drop_behavior(rusqlite::DropBehavior::Commit);
    tx.commit()?;
    Ok(results)
}

fn run_job(tx: &Connection, job: &WriteJob) -> rusqlite::Result<Vec<Applied>> {
    let mut applied = Vec::with_capacity(job.records.len());
    let mut touches = ChatTouches::default();
    for queued in &job.records {
        applied.push(apply::apply(tx, queued, job.now, &mut touches)?);
    }
    touches.write(tx)?;
    if let Some((peer, seq)) = &job.checkpoint {
        tx.execute(
            "INSERT INTO checkpoints (peer, seq) VALUES (?1, ?2)
             ON CONFLICT (peer) DO UPDATE SET seq = MAX(seq, ?2)",
            rusqlite::params![peer, *seq as i64],
        )?;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests;
