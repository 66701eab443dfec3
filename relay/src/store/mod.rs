//! The deployment's store: records merged by id and stamp, and the change
//! feed replication and the other relay nodes follow.
//!
//! # Layout
//! - [`records`]: what is stored, as Rust values.
//! - [`api_keys`]: API keys as records (hash, site, scopes; a revocation
//!   wins).
//! - [`erasures`]: the tombstones of erased visitors' data, and the
//!   guards that drop whatever of it arrives later.
//! - [`files`]: attached files: their chunks and, once checked, their
//!   records (bytes in the database, on both engines).
//! - [`kinds`]: each kind's merge rule (pure, written once).
//! - [`search`]: history search: the words both engines index, the
//!   bounded filters, the snippets.
//! - [`merge`]: a batch of writes in one transaction, over a backend's
//!   primitives.
//! - [`backend`]: what a storage engine provides ([`backend::Tx`] to
//!   write, [`backend::Reads`] to query).
//! - [`writer`]: the group-commit writer thread.
//! - `read_threads`: the threads reads run on, one per reader connection.
//! - [`sqlite`]: the embedded engine, the default on one machine.
//! - [`postgres`]: PostgreSQL, for a deployment of several relay nodes.
//!
//! A [`Store`] is the same handle on either engine: writes are queued to
//! the writer and answered once durable (committed to SQLite with
//! `synchronous = FULL`, or to PostgreSQL with `synchronous_commit` on), so
//! an `ack` always means durable; reads run on reader connections off the
//! async threads.

pub mod api_keys;
pub mod backend;
pub mod erasures;
pub mod files;
pub mod kinds;
pub mod merge;
pub mod postgres;
mod read_threads;
pub mod reads;
pub mod receipts;
pub mod records;
pub mod search;
pub mod sqlite;
pub mod webhooks;
pub mod writer;

use backend::Reads;
use merge::{Job, Queued};
use records::{Applied, Record};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use tokio::sync::oneshot;
use writer::{JobResult, WriteJob};

pub use sqlite::database_path;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused, or the connection to it failed.
    #[error("database error: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// The engine cannot be reached (PostgreSQL down, a directory that
    /// cannot be made).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The batch this write was in failed to commit; nothing was stored.
    #[error("commit failed: {0}")]
    Commit(String),
    /// Another writer stored a row this batch was about to insert; the
    /// writer runs the batch again (never seen outside the store).
    #[error("another writer stored a row first")]
    Raced,
    /// The writer thread has stopped (shutdown).
    #[error("the store is closed")]
    Closed,
    /// The chat was erased (`erasures.rs`): nothing of it is stored again.
    #[error("chat {0} was erased")]
    Erased(twinline_core::ChatId),
}

impl StoreError {
    /// Whether running the same transaction again can succeed: a race with
    /// another writer, or PostgreSQL's deadlock and serialisation failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Raced => true,
            StoreError::Postgres(error) => error.code().is_some_and(|code| {
                *code == ::postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                    || *code == ::postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == ::postgres::error::SqlState::UNIQUE_VIOLATION
            }),
            _ => false,
        }
    }

    /// Whether the engine itself is gone (every job would fail alike).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Closed => true,
            StoreError::Postgres(error) => error.is_closed() || error.code().is_none(),
            _ => false,
        }
    }
}

/// How often [`Store::watch`] probes the engine.
pub const PROBE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Free space below which an SQLite store reports not ready, before its
/// commits fail: room for the write-ahead log to grow while the moderator
/// moves clients away, and for a restart (SQLite's shared-memory index).
pub const MIN_FREE_BYTES: u64 = 2 * 1024 * 1024;

/// How long a probe may take before the engine counts as unreachable.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a deployment's store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file in this directory (one relay process).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by the deployment's relay nodes.
    Postgres {
        /// `postgres://user:password@host:port/database`
        url: String,
        /// This node's name in the feed (which node wrote each change).
        node: String,
    },
}

impl Location {
    /// What logs show (the URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => format!("sqlite:{}", database_path(dir).display()),
            Location::Postgres { url, .. } => postgres::redacted(url),
        }
    }
}

/// Figures the writer keeps, for /metrics and health.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Commits done.
    pub commits: AtomicU64,
    /// Requests committed.
    pub requests: AtomicU64,
    /// The last batch failed to commit (health is not ready until one
    /// commits again).
    pub failing: AtomicBool,
    /// The last probe of the engine ([`Store::watch`]) failed.
    pub unreachable: AtomicBool,
    /// The data directory's filesystem has less than [`MIN_FREE_BYTES`]
    /// free (SQLite).
    pub low_space: AtomicBool,
}

/// Why the store is not ready, as `/v1/health` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreHealth {
    /// Commits succeed.
    Ok,
    /// The engine cannot be reached (PostgreSQL down).
    Unreachable,
    /// Less than [`MIN_FREE_BYTES`] left on the data directory's
    /// filesystem: the next commits are about to fail.
    LowSpace,
    /// The last commit failed (a full disk, say); ready again once the
    /// probe's commit succeeds.
    Failing,
}

impl WriterStats {
    /// What health reports about the store.
    pub fn health(&self) -> StoreHealth {
        if self.unreachable.load(Relaxed) {
            StoreHealth::Unreachable
        } else if self.failing.load(Relaxed) {
            StoreHealth::Failing
        } else if self.low_space.load(Relaxed) {
            StoreHealth::LowSpace
        } else {
            StoreHealth::Ok
        }
    }
}

/// The reader connections of a backend.
pub(crate) trait Pool: Send + Sync {
    /// Runs `read` on a free connection (again on a fresh one if the
    /// connection turns out broken).
    fn run(
        &self,
        read: &mut dyn FnMut(&mut dyn Reads) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// How many reads can run at once (the reader connections).
    fn size(&self) -> usize;
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: mpsc::Sender<WriteJob>,
    readers: Arc<dyn Pool>,
    reads: read_threads::ReadThreads,
    epoch: u64,
    stats: Arc<WriterStats>,
    head: tokio::sync::watch::Receiver<u64>,
    head_tx: Arc<tokio::sync::watch::Sender<u64>>,
    location: Arc<Location>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location.describe())
            .field("epoch", &self.epoch)
            .finish()
    }
}

/// Joins the writer thread when the last handle goes: pending writes are
/// committed before [`WriterThread::join`] returns.
pub struct WriterThread {
    writer: std::thread::JoinHandle<()>,
    helper: Option<std::thread::JoinHandle<()>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl WriterThread {
    /// Waits until every queued write has been committed and the engine
    /// closed.
    pub fn join(self) {
        let _ = self.writer.join();
        // SQLite's checkpointer ends with the writer, after a last copy.
        if let Some(helper) = self.helper {
            let _ = helper.join();
        }
        // The reader threads end with the last store handle, as the writer.
        for reader in self.readers {
            let _ = reader.join();
        }
    }
}

/// The head watch the writer moves, and the writer's queue and thread.
type StartedWriter = (
    Arc<tokio::sync::watch::Sender<u64>>,
    (mpsc::Sender<WriteJob>, std::thread::JoinHandle<()>),
);

/// The writer's head watch, starting at `head`, and the writer thread
/// over `backend`.
fn start_writer<B: backend::Backend>(
    backend: B,
    head: u64,
    stats: &Arc<WriterStats>,
) -> Result<StartedWriter, StoreError> {
    let (head, _) = tokio::sync::watch::channel(head);
    let head = Arc::new(head);
    let (writer, jobs) = mpsc::channel::<WriteJob>();
    let (stats, thread_head) = (stats.clone(), head.clone());
    let handle = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer::run(backend, jobs, &stats, &thread_head))
        .map_err(|error| StoreError::Unavailable(format!("starting the writer: {error}")))?;
    Ok((head, (writer, handle)))
}

impl Store {
    /// Opens (creating) an SQLite store in `data_dir` and starts the writer.
    pub fn open(data_dir: &Path) -> Result<(Store, WriterThread), StoreError> {
        Store::open_at(&Location::Sqlite(data_dir.to_path_buf()))
    }

    /// Opens the store at `location` (creating and migrating its schema)
    /// and starts the writer.
    pub fn open_at(location: &Location) -> Result<(Store, WriterThread), StoreError> {
        let stats = Arc::new(WriterStats::default());
        let (readers, epoch, head, writer, helper): (Arc<dyn Pool>, _, _, _, _) = match location {
            Location::Sqlite(dir) => {
                let opened = sqlite::open(dir)?;
                // Started on a full disk: not ready until the probe stores
                // the epoch.
                stats.failing.store(!opened.epoch.stored, Relaxed);
                let (head_tx, writer) = start_writer(opened.backend, opened.head, &stats)?;
                let readers: Arc<dyn Pool> = Arc::new(opened.readers);
                (
                    readers,
                    opened.epoch.value,
                    head_tx,
                    writer,
                    Some(opened.checkpointer),
                )
            }
            Location::Postgres { url, node } => {
                let opened = postgres::open(url, node)?;
                let (head_tx, writer) = start_writer(opened.backend, opened.head, &stats)?;
                let readers: Arc<dyn Pool> = Arc::new(opened.readers);
                (readers, opened.epoch, head_tx, writer, None)
            }
        };
        let (writer, handle) = writer;
        let (reads, reader_threads) = read_threads::ReadThreads::start(&readers, readers.size())?;
        Ok((
            Store {
                writer,
                readers,
                reads,
                epoch,
                stats,
                head: head.subscribe(),
                head_tx: head,
                location: Arc::new(location.clone()),
            },
            WriterThread {
                writer: handle,
                helper,
                readers: reader_threads,
            },
        ))
    }

    /// Where this store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// How many times this store has been opened (a restart, or another
    /// node starting, bumps it).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The change feed's newest position, updated after every commit that
    /// added to it (and, on PostgreSQL, when another node's commit is
    /// heard of): replication streams wait on this.
    pub fn head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.head.clone()
    }

    /// Moves [`Store::head`] to `seq` if that is further (the cross-node
    /// follower reports other nodes' commits).
    pub fn advance_head(&self, seq: u64) {
        writer::advance(&self.head_tx, seq);
    }

    /// Writer figures.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Whether the store cannot write now (or is about to stop): the last
    /// commit failed, the last probe did not reach the engine, or the disk
    /// is nearly full.
    pub fn failing(&self) -> bool {
        self.stats.health() != StoreHealth::Ok
    }

    /// Probes the engine every [`PROBE_EVERY`], for health: a read, the
    /// free space of an SQLite store's filesystem, and while commits are
    /// failing a one-row commit ([`merge::Job::epoch`]), whose success is
    /// what clears them (PostgreSQL back after an outage, space freed on a
    /// full disk: the node is ready again without a restart, before any
    /// client writes). Runs until aborted.
    pub async fn watch(self) {
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            if let Location::Sqlite(dir) = &*self.location {
                self.check_space(dir);
            }
            // Health does not queue behind the clients' reads (a storm of
            // welcomes fills the reader threads' queue, and a probe that
            // waits out PROBE_TIMEOUT there takes the node out of its
            // balancer): it takes the next free connection on a blocking
            // thread of its own, at most one every PROBE_EVERY.
            let store = self.clone();
            let probe =
                tokio::task::spawn_blocking(move || store.read_blocking(|conn| conn.ping()));
            let read = tokio::time::timeout(PROBE_TIMEOUT, probe).await;
            let reached = matches!(read, Ok(Ok(Ok(()))));
            let was_unreachable = self.stats.unreachable.swap(!reached, Relaxed);
            if was_unreachable == reached {
                if reached {
                    tracing::info!(store = %self.location.describe(), "store reachable again");
                } else {
                    tracing::warn!(store = %self.location.describe(), "store unreachable: not ready");
                }
            }
            if reached && self.stats.failing.load(Relaxed) {
                let _ = tokio::time::timeout(PROBE_TIMEOUT, self.probe_commit()).await;
                if !self.stats.failing.load(Relaxed) {
                    tracing::info!(store = %self.location.describe(), "commits succeed again: ready");
                }
            }
        }
    }

    /// The probe's commit: one row written (the boot epoch, kept if the
    /// stored one is not lower), whose success clears
    /// [`WriterStats::failing`].
    pub async fn probe_commit(&self) -> Result<(), StoreError> {
        queued_answer(self.enqueue(Vec::new(), None, Some(self.epoch))?)
            .await
            .map(drop)
    }

    /// Notes whether `dir`'s filesystem is below [`MIN_FREE_BYTES`].
    fn check_space(&self, dir: &Path) {
        let free = match rustix::fs::statvfs(dir) {
            Ok(stat) => stat.f_bavail.saturating_mul(stat.f_frsize),
            Err(error) => {
                tracing::debug!(%error, dir = %dir.display(), "statvfs failed; free space unknown");
                return;
            }
        };
        let low = free < MIN_FREE_BYTES;
        if self.stats.low_space.swap(low, Relaxed) != low {
            if low {
                tracing::warn!(free, dir = %dir.display(), "disk nearly full: not ready");
            } else {
                tracing::info!(free, dir = %dir.display(), "disk space back");
            }
        }
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
        let queued = self.enqueue(records, checkpoint, None);
        async move { queued_answer(queued?).await }
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

    fn enqueue(
        &self,
        records: Vec<(Record, String)>,
        checkpoint: Option<(String, u64)>,
        epoch: Option<u64>,
    ) -> Result<oneshot::Receiver<JobResult>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let records = records
            .into_iter()
            .map(|(record, origin)| Queued::new(record, origin))
            .collect();
        self.writer
            .send(WriteJob {
                job: Job {
                    records,
                    checkpoint,
                    now: crate::clock::now(),
                    epoch,
                },
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// Runs a read on a reader connection, off the async threads: on one
    /// of the store's reader threads, one per connection (see
    /// `read_threads`), waiting in their queue when all are busy. The
    /// query may run twice (again on a fresh connection when the first one
    /// turned out broken), so it must only read.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Reads) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let queued = self.reads.submit(move |pool| {
            let _ = reply.send(read_on(pool, query));
        });
        if !queued {
            return Err(StoreError::Closed);
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the calling thread (CLI, tests, blocking threads).
    pub fn read_blocking<T>(
        &self,
        query: impl FnMut(&mut dyn Reads) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read_on(&*self.readers, query)
    }

    /// Opens the store at `location` only to read (the CLI's `list`
    /// commands): no writer, no migration, no boot epoch bump. Nothing is
    /// written, so a `list` beside a live relay cannot take the database
    /// lock from its writer and fail one of its commits.
    pub fn open_read_only(location: &Location) -> Result<ReadOnlyStore, StoreError> {
        let readers: Box<dyn Pool> = match location {
            Location::Sqlite(dir) => Box::new(sqlite::open_read_only(dir)?),
            Location::Postgres { url, node } => Box::new(postgres::open_read_only(url, node)?),
        };
        Ok(ReadOnlyStore { readers })
    }
}

/// A store opened with [`Store::open_read_only`].
pub struct ReadOnlyStore {
    readers: Box<dyn Pool>,
}

impl ReadOnlyStore {
    /// Runs `query` on this thread.
    pub fn read<T>(
        &self,
        query: impl FnMut(&mut dyn Reads) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read_on(&*self.readers, query)
    }
}

fn read_on<T>(
    readers: &dyn Pool,
    mut query: impl FnMut(&mut dyn Reads) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut answer = None;
    readers.run(&mut |conn| {
        answer = Some(query(conn)?);
        Ok(())
    })?;
    answer.ok_or(StoreError::Closed)
}

/// What the writer answered a queued job.
async fn queued_answer(answer: oneshot::Receiver<JobResult>) -> Result<Vec<Applied>, StoreError> {
    answer.await.map_err(|_| StoreError::Closed)?
}

#[cfg(test)]
mod tests;
