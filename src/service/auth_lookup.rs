//! The token endpoint's read of a client's authentication record, queued in arrival order.
//!
//! A request joins a queue; a few reader threads, each with its pooled connection, take requests
//! from it in order. On PostgreSQL a reader takes every request waiting and reads them all in one
//! statement (`client_id = ANY($1)`): the server's cost of a statement (the round trip, the start
//! of a five-table join) is paid once for the lot, and a busy server batches more. On SQLite a
//! statement costs no round trip, so a reader takes one request at a time.
//!
//! Nothing is cached: a request is read by a statement that starts after it joined the queue,
//! so a rotation or deactivation committed before the request arrived is always seen, on every
//! replica. The queue is also fair: threads waiting on the pool itself can overtake one another,
//! which under load gave the slowest percent of PostgreSQL requests several times the median
//! latency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::storage::credentials::{AuthRecord, Credential};
use crate::storage::{DbConnection, Pool, StorageError};

/// Most requests one PostgreSQL statement reads.
const MAX_BATCH: usize = 64;

/// How long a reader with nothing to read waits for more before its thread ends.
const IDLE_EXIT: Duration = Duration::from_secs(30);

type Reply = Result<Option<AuthRecord>, StorageError>;

struct Waiting {
    client_id: String,
    now: DateTime<Utc>,
    month: String,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    /// Reader threads alive, and how many of them wait for work.
    readers: usize,
    idle: usize,
}

/// The queue and its readers.
pub struct AuthLookups {
    pool: Pool,
    queue: Mutex<Queue>,
    work: Condvar,
    max_readers: usize,
    batch: usize,
    statements: AtomicU64,
}

impl AuthLookups {
    /// At most `max_readers` readers (and so pooled connections) at once; `batch` requests one
    /// of them reads at a time (1 on SQLite).
    pub fn new(pool: Pool, max_readers: usize, batch: usize) -> Self {
        Self {
            pool,
            queue: Mutex::default(),
            work: Condvar::new(),
            max_readers: max_readers.max(1),
            batch: batch.clamp(1, MAX_BATCH),
            statements: AtomicU64::new(0),
        }
    }

    /// Sized for the backend: one reader per two cores (no more than the pool holds), batches
    /// on PostgreSQL only. A reader mostly waits (for PostgreSQL) or reads for microseconds
    /// (SQLite) while the cores sign; on two cores one reader gave more tokens/s and a shorter
    /// tail than two or four, on both backends (BENCHMARKS.md).
    pub fn for_backend(pool: Pool, postgres: bool, cores: usize) -> Self {
        let max_readers = (cores / 2).min(pool.max_size() as usize);
        Self::new(pool, max_readers, if postgres { MAX_BATCH } else { 1 })
    }

    /// Reads run so far (one per batch), for tests that check the batching.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic elsewhere while holding the lock must not stop token issuance.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record of `client_id` as stored once this request is in the queue, its secrets those
    /// still valid at `now`, its token count that of `month`.
    pub async fn read(
        self: &Arc<Self>,
        client_id: &str,
        now: DateTime<Utc>,
        month: &str,
    ) -> Result<Option<AuthRecord>, StorageError> {
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting {
            client_id: client_id.to_owned(),
            now,
            month: month.to_owned(),
            reply,
        };
        {
            let mut queue = self.lock();
            queue.waiting.push_back(waiting);
            // A busy reader looks at the queue again after each read: only an idle one needs
            // waking, and a thread is started only when no reader is left to do it.
            if queue.idle > 0 {
                self.work.notify_one();
            } else if queue.readers < self.max_readers {
                queue.readers += 1;
                drop(queue);
                self.start_reader();
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(StorageError::Other(
                "the credential read did not complete".to_owned(),
            ))
        })
    }

    fn start_reader(self: &Arc<Self>) {
        let this = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("credential-reader".to_owned())
            .spawn(move || this.serve());
        if let Err(e) = started {
            log::error!("cannot start a credential reader thread: {e}");
            let mut queue = self.lock();
            queue.readers -= 1;
            if queue.readers == 0 {
                let failed = StorageError::Other(format!("no credential reader thread: {e}"));
                for w in queue.waiting.drain(..) {
                    let _ = w.reply.send(Err(failed.clone()));
                }
            }
        }
    }

    /// A reader: answers the queue; holds a pooled connection while there is work, and ends
    /// after [`IDLE_EXIT`] without any.
    fn serve(&self) {
        let _counted_out_on_panic = PanicGuard(self);
        let mut conn = None;
        loop {
            let batch = match self.next_batch() {
                Some(batch) => batch,
                None => {
                    // Nothing queued: give the connection back before waiting.
                    conn = None;
                    match self.wait_for_work() {
                        true => continue,
                        false => return,
                    }
                }
            };
            if conn.is_none() {
                match self.pool.get() {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        // Everyone queued has waited as long as the pool allows, or will have
                        // by the time another try fails: answer them all now.
                        let e = StorageError::from(e);
                        let queued: Vec<_> = self.lock().waiting.drain(..).collect();
                        for w in batch.into_iter().chain(queued) {
                            let _ = w.reply.send(Err(e.clone()));
                        }
                        continue;
                    }
                }
            }
            if let Some(c) = conn.as_mut() {
                self.statements.fetch_add(1, Ordering::Relaxed);
                answer(c, batch);
            }
        }
    }

    /// The next requests to read, oldest first and of one month; `None` when none wait.
    fn next_batch(&self) -> Option<Vec<Waiting>> {
        let mut queue = self.lock();
        let month = queue.waiting.front()?.month.clone();
        let mut batch = Vec::new();
        while batch.len() < self.batch && queue.waiting.front().is_some_and(|w| w.month == month) {
            batch.extend(queue.waiting.pop_front());
        }
        Some(batch)
    }

    /// Waits until a request is queued (`true`), or, after [`IDLE_EXIT`] with none, counts this
    /// reader out (`false`).
    fn wait_for_work(&self) -> bool {
        let mut queue = self.lock();
        queue.idle += 1;
        let deadline = std::time::Instant::now() + IDLE_EXIT;
        while queue.waiting.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                queue.idle -= 1;
                queue.readers -= 1;
                return false;
            }
            queue = self
                .work
                .wait_timeout(queue, left)
                .map_or_else(|p| p.into_inner().0, |(q, _)| q);
        }
        queue.idle -= 1;
        true
    }
}

/// Counts a reader out if it panics, so that the next request starts another.
struct PanicGuard<'a>(&'a AuthLookups);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().readers -= 1;
        }
    }
}

/// Reads the batch in one call and answers each request; a failure answers all of them.
fn answer(conn: &mut DbConnection, batch: Vec<Waiting>) {
    // The earliest `now` keeps every secret some request may still accept; each request then
    // drops those that expired by its own `now`.
    let Some(now) = batch.iter().map(|w| w.now).min() else {
        return;
    };
    let mut ids: Vec<String> = batch.iter().map(|w| w.client_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    match Credential::auth_records(conn, &ids, now, &batch[0].month) {
        Ok(records) => {
            for w in batch {
                let record = records
                    .iter()
                    .find(|r| r.credential.client_id == w.client_id)
                    .map(|r| {
                        let mut r = r.clone();
                        r.secrets.retain(|s| s.expires_at.is_none_or(|e| e > w.now));
                        r
                    });
                let _ = w.reply.send(Ok(record));
            }
        }
        Err(e) => {
            for w in batch {
                let _ = w.reply.send(Err(e.clone()));
            }
        }
    }
}
