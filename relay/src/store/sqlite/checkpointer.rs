//! Copying the write-ahead log back into the database file, off the
//! writer's path.
//!
//! SQLite checkpoints (copies the WAL into the main file and fsyncs it)
//! whenever a commit leaves the WAL over 1,000 pages, and it does so on the
//! committing connection: here, the single writer thread, which then cannot
//! take the next batch until the copy is on disk. Under load, a replication
//! catch-up committing 5,000 changes at a time say, that is nearly every
//! commit. So the writer's automatic checkpoints are off, and this thread,
//! with a connection of its own, runs a `PASSIVE` checkpoint after commits
//! (never blocking the writer or the readers; it copies what no reader
//! still needs, and the next one copies the rest). Commits that come while
//! a checkpoint runs fold into the next one.
//!
//! Durability does not change: a commit is on disk once its WAL frames are
//! fsynced, checkpointed or not, and SQLite replays the WAL on open.
//!
//! After a commit that erased rows (store/erasures.rs), the old images of
//! the pages it zeroed are still frames of the WAL, readable in the file
//! until later commits happen to overwrite them. So such a commit asks for
//! a scrub: a `TRUNCATE` checkpoint, which copies every frame and empties
//! the log file. It waits (the busy timeout) for readers on older
//! snapshots and holds off the writer while it copies; erasures are rare,
//! so that pause is too. A scrub that could not finish stays asked for and
//! is tried again after the next commit, and at close.

use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Least time between two checkpoints: under a stream of commits, one
/// checkpoint copies many of them.
const PAUSE: Duration = Duration::from_millis(100);

/// The writer's side: tells the checkpointer a commit happened.
pub(super) struct CommitSignal {
    commits: SyncSender<()>,
    scrub: Arc<AtomicBool>,
}

impl CommitSignal {
    /// Never blocks: a signal already waiting covers this commit too (and
    /// a stopped checkpointer leaves SQLite's own on close).
    pub fn committed(&self) {
        let _ = self.commits.try_send(());
    }

    /// A committed transaction erased rows: the next checkpoint empties
    /// the log (see the module's docs). Call before [`Self::committed`].
    pub fn scrub(&self) {
        self.scrub.store(true, Ordering::Release);
    }
}

/// Turns off the writer's own checkpoints and starts the thread that does
/// them instead. The thread ends when the [`CommitSignal`] is dropped, after
/// one last checkpoint.
pub(super) fn start(
    writer: &Connection,
    path: &Path,
) -> rusqlite::Result<(CommitSignal, JoinHandle<()>)> {
    let conn = super::schema::open(path)?;
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    let (signal, commits) = mpsc::sync_channel(1);
    let scrub = Arc::new(AtomicBool::new(false));
    let asked = scrub.clone();
    let handle = std::thread::Builder::new()
        .name("store-checkpointer".into())
        .spawn(move || run(&conn, &commits, &asked))
        .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
    Ok((
        CommitSignal {
            commits: signal,
            scrub,
        },
        handle,
    ))
}

fn run(conn: &Connection, commits: &Receiver<()>, scrub: &AtomicBool) {
    while commits.recv().is_ok() {
        checkpoint(conn, scrub);
        std::thread::sleep(PAUSE);
    }
    checkpoint(conn, scrub);
}

fn checkpoint(conn: &Connection, scrub: &AtomicBool) {
    if scrub.swap(false, Ordering::AcqRel) {
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        }) {
            Ok(0) => {
                tracing::debug!("WAL emptied after an erasure");
                return;
            }
            Ok(_) => tracing::debug!("WAL scrub busy; the next commit retries"),
            Err(error) => tracing::warn!(%error, "WAL scrub failed; the next commit retries"),
        }
        scrub.store(true, Ordering::Release);
    }
    // (busy, WAL frames, frames copied); busy is 1 only for the blocking
    // modes, so an error is all there is to report.
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match result {
        Ok((frames, copied)) => tracing::trace!(frames, copied, "checkpoint"),
        Err(error) => tracing::warn!(%error, "WAL checkpoint failed; the next commit retries"),
    }
}
