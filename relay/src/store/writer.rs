//! The writer: one thread per store (per relay node) that owns the write
//! connection and commits in batches (group commit).
//!
//! Whatever requests queued up while the previous commit was on disk go
//! into the next transaction, so under load one commit (one fsync) covers
//! many messages and an idle relay still commits each message at once. A
//! request is answered only after its batch committed, which is what lets
//! the relay send `ack` only for durable messages.
//!
//! A batch that fails as a whole is retried: at once when another writer
//! raced it ([`StoreError::is_retryable`]), and job by job otherwise, so one
//! bad request cannot fail its neighbours (a value the engine refuses, say);
//! when the engine itself is gone, every job gets the error and nothing is
//! acked.

use super::backend::Backend;
use super::merge::{self, Job};
use super::records::Applied;
use super::{StoreError, WriterStats};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most requests folded into one transaction.
pub const MAX_BATCH: usize = 8192;

/// Attempts of one batch that lost races before it is given up.
const MAX_ATTEMPTS: usize = 8;

/// What each job gets back.
pub type JobResult = Result<Vec<Applied>, StoreError>;

/// A job and where its answer goes.
pub struct WriteJob {
    /// The work.
    pub job: Job,
    /// The answer, sent after the commit.
    pub reply: oneshot::Sender<JobResult>,
}

/// Moves the head watch forward (never back: the writer and the cross-node
/// follower both report positions).
pub fn advance(head: &tokio::sync::watch::Sender<u64>, seq: u64) {
    head.send_if_modified(|current| {
        let moved = seq > *current;
        if moved {
            *current = seq;
        }
        moved
    });
}

/// Runs until every store handle is dropped.
pub fn run<B: Backend>(
    mut backend: B,
    jobs: mpsc::Receiver<WriteJob>,
    stats: &WriterStats,
    head: &tokio::sync::watch::Sender<u64>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let work: Vec<&Job> = batch.iter().map(|w| &w.job).collect();
        let results: Vec<JobResult> = match commit(&mut backend, &work) {
            Ok(per_job) => per_job.into_iter().map(Ok).collect(),
            Err(error) if batch.len() > 1 && !error.is_unavailable() => {
                tracing::warn!(%error, jobs = batch.len(), "batch refused; committing its jobs one by one");
                work.iter()
                    .map(|job| commit(&mut backend, &[job]).map(|mut one| one.remove(0)))
                    .collect()
            }
            Err(error) => {
                tracing::error!(%error, "commit failed; the batch is refused and nothing is acked");
                let message = error.to_string();
                work.iter()
                    .map(|_| Err(StoreError::Commit(message.clone())))
                    .collect()
            }
        };
        drop(work);
        finish(&mut backend, stats, head, batch, results);
    }
    tracing::debug!("store writer stopped: every handle dropped");
}

fn finish<B: Backend>(
    backend: &mut B,
    stats: &WriterStats,
    head: &tokio::sync::watch::Sender<u64>,
    batch: Vec<WriteJob>,
    results: Vec<JobResult>,
) {
    let committed = results.iter().any(Result::is_ok);
    stats.commits.fetch_add(1, Relaxed);
    stats.requests.fetch_add(batch.len() as u64, Relaxed);
    // Health reads this: a store that cannot commit is not ready.
    stats.failing.store(!committed, Relaxed);
    if committed {
        backend.committed();
    }
    let grew = results
        .iter()
        .any(|r| r.as_ref().is_ok_and(|a| a.iter().any(|a| a.changed)));
    if grew && let Ok(seq) = backend.head() {
        advance(head, seq);
    }
    for (job, result) in batch.into_iter().zip(results) {
        let _ = job.reply.send(result);
    }
}

/// One transaction for `jobs`, run again while it loses races.
fn commit<B: Backend>(backend: &mut B, jobs: &[&Job]) -> Result<Vec<Vec<Applied>>, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut results = None;
        let outcome = backend.transaction(&mut |tx| {
            results = Some(merge::apply(tx, jobs)?);
            Ok(())
        });
        match outcome {
            Ok(()) => return Ok(results.unwrap_or_default()),
            Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                tracing::debug!(%error, attempt, "batch raced another writer; running it again");
            }
            Err(error) => return Err(error),
        }
    }
}
