//! Group commit: one task owns the only write connection and commits every write that is
//! waiting in one transaction.
//!
//! With `synchronous=FULL` each commit costs an fsync, which bounds commits per second; sharing a
//! commit among everything that queued up meanwhile is what lets durable acceptance scale. Each
//! operation runs inside its own SAVEPOINT so a failing one is rolled back alone and gets its own
//! error, while the others still commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::BoxFuture;
use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Result, StoreError};

/// Most operations one transaction takes: bounds the latency a batch adds to its last caller.
const MAX_BATCH: usize = 512;
/// Operations waiting for the writer before callers are made to wait (backpressure).
const QUEUE_DEPTH: usize = 4 * MAX_BATCH;

/// The work of one write operation, given the writer's connection inside the open transaction.
pub(super) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send>;

/// Counters of the writer, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// Operations those transactions carried (failed operations included).
    pub operations: u64,
    /// The most operations one commit carried.
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    operations: AtomicU64,
    largest_batch: AtomicU64,
}

impl Counters {
    fn record(&self, batch: usize) {
        let batch = batch as u64;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.operations.fetch_add(batch, Ordering::Relaxed);
        self.largest_batch.fetch_max(batch, Ordering::Relaxed);
    }

    fn snapshot(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }
}

/// Handle to the writer task. The task ends when the last handle is dropped.
pub(super) struct Writer {
    ops: mpsc::Sender<Box<dyn Queued>>,
    counters: Arc<Counters>,
}

impl Writer {
    pub(super) fn start(conn: SqliteConnection) -> Self {
        let (ops, queue) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(conn, queue, Arc::clone(&counters)));
        Self { ops, counters }
    }

    /// Runs `work` in the next batch and returns its result once that batch is committed.
    ///
    /// If the caller stops waiting, the operation still runs: it was handed over.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Operation {
            work: Some(Box::new(work)),
            outcome: None,
            reply,
        };
        self.ops
            .send(Box::new(op))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) fn stats(&self) -> CommitStats {
        self.counters.snapshot()
    }
}

/// One operation waiting in the queue, with its result type erased.
trait Queued: Send {
    /// Runs the operation; `false` when it failed and its savepoint must be rolled back.
    fn execute<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;

    /// Answers the caller once the batch has ended: `commit_error` is set when the batch as a
    /// whole was not committed.
    fn answer(self: Box<Self>, commit_error: Option<&Arc<sqlx::Error>>);
}

struct Operation<T> {
    work: Option<Work<T>>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T: Send + 'static> Queued for Operation<T> {
    fn execute<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        let work = self.work.take();
        Box::pin(async move {
            let Some(work) = work else { return false };
            let outcome = work(conn).await;
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn answer(self: Box<Self>, commit_error: Option<&Arc<sqlx::Error>>) {
        let result = match (self.outcome, commit_error) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(shared)) => Err(StoreError::Commit(Arc::clone(shared))),
            // Not run although the batch committed: cannot happen, but never claim success.
            (None, None) => Err(StoreError::Closed),
        };
        // The caller may have stopped waiting; the outcome is durable either way.
        let _ = self.reply.send(result);
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Box<dyn Queued>>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let committed = run_batch(&mut conn, &mut batch).await;
        let commit_error = match committed {
            Ok(()) => {
                counters.record(batch.len());
                None
            }
            Err(error) => {
                tracing::error!(%error, operations = batch.len(), "store batch not committed");
                // Leave no half-open transaction behind for the next batch; there may be none.
                let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
                Some(Arc::new(error))
            }
        };
        for op in batch.drain(..) {
            op.answer(commit_error.as_ref());
        }
    }
}

async fn run_batch(
    conn: &mut SqliteConnection,
    batch: &mut [Box<dyn Queued>],
) -> Result<(), sqlx::Error> {
    // IMMEDIATE takes the write lock now, so another process holding it makes us wait
    // (busy_timeout) here instead of failing halfway through the batch. Savepoint statements
    // are sent together with their neighbours: each round trip to SQLite costs more than the
    // statement itself.
    let mut open = "BEGIN IMMEDIATE; SAVEPOINT operation";
    for op in batch.iter_mut() {
        sqlx::query(open).execute(&mut *conn).await?;
        open = "RELEASE operation; SAVEPOINT operation";
        if !op.execute(conn).await {
            sqlx::query("ROLLBACK TO operation")
                .execute(&mut *conn)
                .await?;
        }
    }
    sqlx::query("RELEASE operation; COMMIT")
        .execute(&mut *conn)
        .await?;
    Ok(())
}
