//! The threads reads run on: one per reader connection, fed by one queue.
//!
//! Reads are blocking calls (rusqlite, the `postgres` client), so they run
//! off the async threads. They used to go through tokio's
//! `spawn_blocking`, whose pool grows a thread for every read that finds
//! no idle one, up to 512. With four reader connections the extra threads
//! only waited for a connection, and each thread that allocated got its
//! own glibc malloc arena, kept after the thread went idle: under the
//! steady benchmark the primary held 55-68 threads and grew some 500 MB an
//! hour. Here a read waits in the queue instead of on a connection's lock,
//! so as many reads run at once as before, on a fixed set of threads.
//!
//! The threads end when the last [`ReadThreads`] (every store handle)
//! is gone, and [`super::WriterThread::join`] waits for them. They hold
//! the connections only while a read runs (a weak handle otherwise), so
//! the connections close where the last store handle drops, before the
//! writer and the checkpointer close theirs: SQLite removes the WAL only
//! when the last connection closes alone, and readers closing beside the
//! checkpointer left it behind.

use super::{Pool, StoreError};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::thread::JoinHandle;

/// One read, run on a reader thread with the pool.
type ReadJob = Box<dyn FnOnce(&dyn Pool) + Send>;

/// The queue to the reader threads; cheap to clone.
#[derive(Clone)]
pub(crate) struct ReadThreads {
    jobs: mpsc::Sender<ReadJob>,
}

impl ReadThreads {
    /// Starts `count` threads running reads on `pool`; returns the queue
    /// and the threads' handles.
    pub(crate) fn start(
        pool: &Arc<dyn Pool>,
        count: usize,
    ) -> Result<(ReadThreads, Vec<JoinHandle<()>>), StoreError> {
        let (jobs, queue) = mpsc::channel::<ReadJob>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..count.max(1))
            .map(|i| {
                let (queue, pool) = (queue.clone(), Arc::downgrade(pool));
                std::thread::Builder::new()
                    .name(format!("store-reader-{i}"))
                    .spawn(move || serve(&queue, &pool))
                    .map_err(|error| {
                        StoreError::Unavailable(format!("starting a reader thread: {error}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((ReadThreads { jobs }, threads))
    }

    /// Queues `job`; false once the threads are gone.
    pub(crate) fn submit(&self, job: impl FnOnce(&dyn Pool) + Send + 'static) -> bool {
        self.jobs.send(Box::new(job)).is_ok()
    }
}

/// A reader thread: takes the next read from the queue and runs it, until
/// every sender is gone. A read that panics loses only its own answer (its
/// caller sees the store closed, as with a panicking blocking task).
fn serve(queue: &Mutex<mpsc::Receiver<ReadJob>>, pool: &Weak<dyn Pool>) {
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(|poison| poison.into_inner());
            queue.recv()
        };
        let Ok(job) = job else { return };
        // Gone only once every store handle is: the job's caller too.
        let Some(pool) = pool.upgrade() else { return };
        if catch_unwind(AssertUnwindSafe(|| job(&*pool))).is_err() {
            tracing::error!("a store read panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Store, StoreError, reads, sqlite};
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn store() -> (Store, crate::store::WriterThread, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "twinline-read-threads-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let (store, writer) = Store::open(&dir).expect("a store");
        (store, writer, dir)
    }

    /// Two hundred reads at once run on the reader threads alone, several
    /// at a time: no thread is made per read (each could hold a malloc
    /// arena), and none waits for another read to finish first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_runs_on_one_thread_per_reader_connection() {
        let (store, writer, dir) = store();
        let threads = Arc::new(Mutex::new(HashSet::new()));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads: Vec<_> = (0..200)
            .map(|_| {
                let (store, threads) = (store.clone(), threads.clone());
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(async move {
                    store
                        .read(move |conn| {
                            threads.lock().unwrap().insert(std::thread::current().id());
                            let now = running.fetch_add(1, SeqCst) + 1;
                            most.fetch_max(now, SeqCst);
                            std::thread::sleep(Duration::from_millis(2));
                            running.fetch_sub(1, SeqCst);
                            reads::head(conn)
                        })
                        .await
                })
            })
            .collect();
        for read in reads {
            assert!(read.await.expect("a task").is_ok());
        }
        let used = threads.lock().unwrap().len();
        assert!(
            used <= sqlite::READERS,
            "{used} threads ran reads for {} connections",
            sqlite::READERS
        );
        assert!(most.load(SeqCst) > 1, "reads ran side by side");
        drop(store);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .expect("the store closes");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A read that panics answers "closed" and takes no reader thread
    /// with it: every later read is still answered.
    #[tokio::test]
    async fn a_panicking_read_costs_only_its_own_answer() {
        let (store, writer, dir) = store();
        for _ in 0..2 * sqlite::READERS {
            let answer: Result<u64, StoreError> = store
                .read(|_| -> Result<u64, StoreError> { panic!("a read that panics") })
                .await;
            assert!(matches!(answer, Err(StoreError::Closed)), "{answer:?}");
        }
        for _ in 0..2 * sqlite::READERS {
            assert!(store.read(reads::head).await.is_ok());
        }
        drop(store);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .expect("the store closes");
        let _ = std::fs::remove_dir_all(dir);
    }
}
