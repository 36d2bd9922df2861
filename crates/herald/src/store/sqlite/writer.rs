//! Group commit: one thread owns the only write connection and commits every write that is
//! waiting in one transaction.
//!
//! Each commit costs an fsync of the write-ahead log, which bounds commits per second; sharing a
//! commit among everything that queued up meanwhile is what lets durable acceptance scale. That
//! fsync runs on a thread of its own (`wal_sync`): callers are answered there, once their batch
//! is on disk, while this thread already runs the next batch. A transaction also takes in what
//! arrived while its operations ran ([`take_more`]): the pages a commit writes to the log are
//! mostly shared by all its operations. It waits for nothing that has not arrived.
//!
//! A failing operation is rolled back alone and gets its own error, while the others still
//! commit. Operations rarely fail, and a SAVEPOINT around each one costs a statement journal
//! on every page it touches; so a batch first runs plainly, and only when one of its operations
//! fails is the whole batch rolled back and run again with a savepoint per operation. That is
//! why an operation's work may run twice: it must depend only on its inputs and the database.
//!
//! The writer is a plain thread calling SQLite directly: a statement costs microseconds, and
//! handing each one to a driver's worker thread and back (two wake-ups) cost more than running
//! it. Callers only wait on a channel for their batch's commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpoints;
use super::failure::database_error;
use super::handoff::{HandOff, Handed};
use super::history;
use super::prepared::Db;
use super::tally::{StatusMove, Tally};
use super::wal_sync::{self, Durability, Ended, Failure};
use crate::store::{Result, StoreError};

/// Most operations one transaction takes: bounds the latency a batch adds to its last caller.
const MAX_BATCH: usize = 512;
/// Operations waiting for the writer before callers are made to wait (backpressure).
const QUEUE_DEPTH: usize = 4 * MAX_BATCH;

/// The work of one write operation, given the writer's connection inside the open transaction.
/// It may run more than once (see the module notes); only the last run's effects are committed.
pub(super) type Work<T> = Box<dyn Fn(&Db<'_>) -> Result<T> + Send>;

/// Counters of the writer, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// Operations those transactions carried (failed operations included).
    pub operations: u64,
    /// The most operations one commit carried.
    pub largest_batch: u64,
    /// Groups of committed batches the sync thread made durable at once: one fsync of the
    /// write-ahead log each, shared by the commits made while the previous one ran (when SQLite
    /// syncs inside COMMIT instead, groups answered together).
    pub syncs: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    operations: AtomicU64,
    largest_batch: AtomicU64,
    syncs: AtomicU64,
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
            syncs: self.syncs.load(Ordering::Relaxed),
        }
    }
}

/// Handle to the writer thread. The thread ends when the last handle is dropped.
pub(super) struct Writer {
    ops: mpsc::Sender<Box<dyn Queued>>,
    counters: Arc<Counters>,
    tally: Arc<Tally>,
    handoff: Arc<HandOff>,
}

impl Writer {
    /// Starts the writer on `conn`, whose `synchronous` setting suits `durability`
    /// ([`wal_sync::synchronous_pragma`]); committed status changes go to `tally`, and
    /// committed callbacks written leased to the worker to `handoff`.
    /// `checkpoints`: the write-ahead log's checkpoints, when the database is in WAL mode.
    pub(super) fn start(
        conn: Connection,
        durability: Durability,
        checkpoints: Option<Checkpoints>,
        tally: Arc<Tally>,
        handoff: Arc<HandOff>,
    ) -> std::io::Result<Self> {
        let (ops, queue) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let failure = Failure::default();
        let syncs = Arc::clone(&counters);
        let ended = wal_sync::start_for(durability, failure.clone(), move || {
            syncs.syncs.fetch_add(1, Ordering::Relaxed);
        })?;
        let shared = Arc::clone(&counters);
        let handing = Arc::clone(&handoff);
        std::thread::Builder::new()
            .name("herald-store-writer".into())
            .spawn(move || run(conn, checkpoints, handing, queue, ended, failure, shared))?;
        Ok(Self {
            ops,
            counters,
            tally,
            handoff,
        })
    }

    /// Runs `work` in the next batch and returns its result once that batch is committed and
    /// on disk.
    ///
    /// If the caller stops waiting, the operation still runs: it was handed over.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Db<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Operation {
            work: Box::new(work),
            outcome: None,
            reply,
            moves: Vec::new(),
            tally: Arc::clone(&self.tally),
            handed: Vec::new(),
            left_to_claim: false,
            handoff: Arc::clone(&self.handoff),
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

    /// Messages by carrier and status, as committed so far.
    pub(super) fn message_counts(&self) -> Vec<crate::store::MessageCount> {
        self.tally.counts()
    }
}

/// One operation waiting in the queue, with its result type erased.
trait Queued: Send {
    /// Runs the operation, replacing any earlier outcome; `false` when it failed and its
    /// effects must be rolled back.
    fn execute(&mut self, conn: &Db<'_>) -> bool;

    /// Answers the caller once the batch has ended: `commit_error` is set when the batch as a
    /// whole was not committed.
    fn answer(self: Box<Self>, commit_error: Option<&Arc<sqlx::Error>>);
}

struct Operation<T> {
    work: Work<T>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
    /// The status changes of the last run that succeeded, counted once it is committed.
    moves: Vec<StatusMove>,
    tally: Arc<Tally>,
    /// The callbacks the last run that succeeded handed off, the worker's once committed.
    handed: Vec<Handed>,
    /// The last run that succeeded left a callback to a claim.
    left_to_claim: bool,
    handoff: Arc<HandOff>,
}

impl<T: Send + 'static> Queued for Operation<T> {
    fn execute(&mut self, conn: &Db<'_>) -> bool {
        // The history line the work held back is written before the operation ends, so it is
        // rolled back or committed with the rest (and never joins the next operation's).
        let outcome = (self.work)(conn).and_then(|value| history::flush(conn).map(|()| value));
        if outcome.is_err() {
            conn.held_line().take();
        }
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        // A failed run is rolled back: what it noted never happened.
        let moves = conn.take_moves();
        let handed = conn.take_handed();
        let left_to_claim = conn.take_left_to_claim();
        (self.moves, self.handed, self.left_to_claim) = if ok {
            (moves, handed, left_to_claim)
        } else {
            (Vec::new(), Vec::new(), false)
        };
        ok
    }

    fn answer(self: Box<Self>, commit_error: Option<&Arc<sqlx::Error>>) {
        let result = match (self.outcome, commit_error) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), None) => {
                self.tally.apply(&self.moves);
                self.handoff.deliver(self.handed);
                if self.left_to_claim {
                    self.handoff.database_due();
                }
                Ok(value)
            }
            (_, Some(shared)) => Err(StoreError::Commit(Arc::clone(shared))),
            // Not run although the batch committed: cannot happen, but never claim success.
            (None, None) => Err(StoreError::Closed),
        };
        // The caller may have stopped waiting; the outcome is durable either way.
        let _ = self.reply.send(result);
    }
}

impl wal_sync::Answer for Box<dyn Queued> {
    fn answer(self, error: Option<&Arc<sqlx::Error>>) {
        Queued::answer(self, error);
    }
}

fn run(
    connection: Connection,
    mut checkpoints: Option<Checkpoints>,
    handoff: Arc<HandOff>,
    mut queue: mpsc::Receiver<Box<dyn Queued>>,
    ended: std::sync::mpsc::Sender<Ended<Box<dyn Queued>>>,
    failure: Failure,
    counters: Arc<Counters>,
) {
    let conn = Db::with_handoff(&connection, handoff);
    // Handed to the sync thread whole after each batch, so a fresh one grows each time.
    let mut batch = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        take_more(&mut queue, &mut batch);
        let commit_error = if let Some(failed) = failure.get() {
            // A sync failed: nothing written since is known to reach the disk, so nothing more
            // is written.
            Some(Arc::clone(failed))
        } else {
            let more = |batch: &mut Vec<Box<dyn Queued>>| take_more(&mut queue, batch);
            match run_batch(&conn, &mut batch, more) {
                Ok(()) => {
                    counters.record(batch.len());
                    None
                }
                Err(error) => {
                    tracing::error!(%error, operations = batch.len(), "store batch not committed");
                    // Leave no half-open transaction behind for the next batch; there may be none.
                    let _ = roll_back(&conn);
                    Some(Arc::new(database_error(error)))
                }
            }
        };
        let committed = commit_error.is_none();
        let batch_ended = Ended {
            answers: std::mem::take(&mut batch),
            commit_error,
        };
        if let Err(std::sync::mpsc::SendError(lost)) = ended.send(batch_ended) {
            // The sync thread is gone: these commits may never reach the disk.
            let gone = Arc::new(sqlx::Error::Io(std::io::Error::other(
                "the store's sync thread ended",
            )));
            for op in lost.answers {
                op.answer(Some(&gone));
            }
        }
        // Between transactions, once the batch is with the sync thread: a checkpoint the
        // writer runs itself delays only the next batch. Not after a batch that did not
        // commit (nothing was added to the log), nor once a sync failed (nothing more is
        // written).
        if let Some(checkpoints) = checkpoints.as_mut().filter(|_| committed) {
            checkpoints.after_commit(&connection);
        }
    }
}

/// Moves the operations already waiting into `batch`, up to [`MAX_BATCH`]. Once those in
/// `batch` have run, that is what a transaction takes in before it commits: `false` when
/// nothing was waiting (or the batch is full), and the transaction commits now.
///
/// Each commit writes every page it changed to the log, and most are shared by all its
/// operations: the newest page of each table and index, which every message accepted or moved
/// meanwhile also changes. So a commit of twice the operations writes far fewer than twice the
/// pages. Waiting a moment for more to arrive (up to 2 ms once a transaction held 16) was
/// tried: on `e2e_bench throughput 20000 256` it cost a tenth of the rate (the pipeline's
/// carrier windows wait on each commit) and saved no CPU measurably.
fn take_more(
    queue: &mut mpsc::Receiver<Box<dyn Queued>>,
    batch: &mut Vec<Box<dyn Queued>>,
) -> bool {
    let before = batch.len();
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
    batch.len() > before
}

/// Runs `batch` in one transaction and commits it; `more` may add operations to it once those
/// in it have run ([`take_more`]).
fn run_batch(
    conn: &Db<'_>,
    batch: &mut Vec<Box<dyn Queued>>,
    mut more: impl FnMut(&mut Vec<Box<dyn Queued>>) -> bool,
) -> rusqlite::Result<()> {
    // IMMEDIATE takes the write lock now, so another process holding it makes us wait
    // (busy_timeout) here instead of failing halfway through the batch.
    statement(conn, "BEGIN IMMEDIATE")?;
    let mut failed = false;
    let mut ran = 0;
    'operations: loop {
        for op in &mut batch[ran..] {
            if !op.execute(conn) {
                failed = true;
                break 'operations;
            }
        }
        ran = batch.len();
        if !more(batch) {
            break;
        }
    }
    if failed {
        // The failed operation may have written part of its work: start over, isolating each.
        roll_back(conn)?;
        statement(conn, "BEGIN IMMEDIATE")?;
        for op in batch.iter_mut() {
            statement(conn, "SAVEPOINT operation")?;
            if !op.execute(conn) {
                roll_back_operation(conn)?;
            }
            statement(conn, "RELEASE operation")?;
        }
    }
    statement(conn, "COMMIT")?;
    conn.recheck_pending_receipts();
    Ok(())
}

/// Ends the open transaction without its changes, if one is open (after some errors SQLite has
/// ended it already). Either way, what the connection read inside it of the database's contents
/// (pending receipts) no longer holds.
fn roll_back(conn: &Db<'_>) -> rusqlite::Result<()> {
    let rolled_back = if conn.is_autocommit() {
        Ok(())
    } else {
        statement(conn, "ROLLBACK")
    };
    conn.forget_pending_receipts();
    rolled_back
}

/// Undoes the running operation back to its savepoint; what the connection read of the
/// database's contents meanwhile no longer holds.
fn roll_back_operation(conn: &Db<'_>) -> rusqlite::Result<()> {
    let rolled_back = statement(conn, "ROLLBACK TO operation");
    conn.forget_pending_receipts();
    rolled_back
}

/// Runs one parameterless statement, prepared once.
fn statement(conn: &Db<'_>, sql: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation<T: Send + 'static>(
        work: impl Fn(&Db<'_>) -> Result<T> + Send + 'static,
    ) -> (Box<dyn Queued>, oneshot::Receiver<Result<T>>) {
        counted_operation(&Arc::default(), work)
    }

    /// An operation whose committed status changes go to `tally`.
    fn counted_operation<T: Send + 'static>(
        tally: &Arc<Tally>,
        work: impl Fn(&Db<'_>) -> Result<T> + Send + 'static,
    ) -> (Box<dyn Queued>, oneshot::Receiver<Result<T>>) {
        let (reply, answer) = oneshot::channel();
        let op = Operation {
            work: Box::new(work),
            outcome: None,
            reply,
            moves: Vec::new(),
            tally: Arc::clone(tally),
            handed: Vec::new(),
            left_to_claim: false,
            handoff: Arc::default(),
        };
        (Box::new(op), answer)
    }

    fn insert(conn: &Connection, value: i64) -> Result<()> {
        conn.execute("INSERT INTO t (v) VALUES (?)", [value])?;
        Ok(())
    }

    fn values(conn: &Connection) -> Vec<i64> {
        let mut statement = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Runs three operations with `run`, which returns them as it ran them in a batch: one
    /// inserting 1; one inserting 2, then failing on a duplicate of 1; one inserting 3. The
    /// failing one is undone alone: neither of its rows stays, and only it gets an error.
    fn one_failing_between_two(
        run: impl FnOnce(&Db<'_>, Vec<Box<dyn Queued>>) -> Vec<Box<dyn Queued>>,
    ) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let (first, first_answer) = operation(|conn| insert(conn, 1));
        let (failing, failing_answer) = operation(|conn| {
            insert(conn, 2)?;
            insert(conn, 1)
        });
        let (last, last_answer) = operation(|conn| insert(conn, 3));

        let batch = run(&Db::new(&conn), vec![first, failing, last]);
        for op in batch {
            op.answer(None);
        }

        assert_eq!(values(&conn), [1, 3]);
        assert!(first_answer.blocking_recv().unwrap().is_ok());
        assert!(matches!(
            failing_answer.blocking_recv().unwrap(),
            Err(StoreError::Database(_))
        ));
        assert!(last_answer.blocking_recv().unwrap().is_ok());
    }

    #[test]
    fn operation_failing_after_a_partial_write_is_undone_alone_in_its_batch() {
        one_failing_between_two(|conn, mut batch| {
            run_batch(conn, &mut batch, |_| false).unwrap();
            batch
        });
    }

    /// Whether a receipt is pending, as the writer's connection knows it, follows what was
    /// committed: a rollback that brings an applied receipt back makes it look again.
    #[test]
    fn what_the_writer_knows_of_pending_receipts_outlives_no_rollback() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE receipts (id INTEGER PRIMARY KEY, carrier TEXT, cid_exact TEXT,
                                    message_id TEXT);
             CREATE INDEX receipts_pending_by_cid_exact ON receipts (carrier, cid_exact)
                 WHERE message_id IS NULL;
             INSERT INTO receipts (carrier, cid_exact) VALUES ('sim', 'a');",
        )
        .unwrap();
        let db = Db::new(&conn);
        let apply = |conn: &Db<'_>| -> Result<bool> {
            conn.execute("UPDATE receipts SET message_id = 'm' WHERE id = 1", [])?;
            Ok(conn.may_have_pending_receipts()?)
        };

        // Applied, seen to be the last pending one, then undone with its failing operation.
        let (failing, failing_answer) = operation(move |conn| {
            assert!(!apply(conn)?);
            Err::<(), _>(StoreError::NotFound)
        });
        let mut batch = vec![failing];
        run_batch(&db, &mut batch, |_| false).unwrap();
        batch.pop().unwrap().answer(None);
        assert!(failing_answer.blocking_recv().unwrap().is_err());
        assert!(
            db.may_have_pending_receipts().unwrap(),
            "the rollback brought it back"
        );

        // Applied and committed: none is pending (what was known before is read again).
        let (applying, answer) = operation(apply);
        let mut batch = vec![applying];
        run_batch(&db, &mut batch, |_| false).unwrap();
        batch.pop().unwrap().answer(None);
        answer.blocking_recv().unwrap().unwrap();
        assert!(!db.may_have_pending_receipts().unwrap());

        // One stored pending again (as `receipts::record` notes it): known to be there.
        let (storing, answer) = operation(|conn| {
            conn.execute(
                "INSERT INTO receipts (carrier, cid_exact) VALUES ('sim', 'b')",
                [],
            )?;
            conn.receipt_left_pending();
            Ok(())
        });
        let mut batch = vec![storing];
        run_batch(&db, &mut batch, |_| false).unwrap();
        batch.pop().unwrap().answer(None);
        answer.blocking_recv().unwrap().unwrap();
        assert!(db.may_have_pending_receipts().unwrap());
    }

    #[test]
    fn batch_without_failures_commits_every_operation() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let mut batch = Vec::new();
        let mut answers = Vec::new();
        for value in 1..=4 {
            let (op, answer) = operation(move |conn| insert(conn, value));
            batch.push(op);
            answers.push(answer);
        }

        run_batch(&Db::new(&conn), &mut batch, |_| false).unwrap();
        for op in batch {
            op.answer(None);
        }

        assert_eq!(values(&conn), [1, 2, 3, 4]);
        for answer in answers {
            assert!(answer.blocking_recv().unwrap().is_ok());
        }
    }

    /// Operations a transaction gathers after its first ones commit with them, and one of them
    /// failing is still undone alone.
    #[test]
    fn operations_gathered_into_a_running_transaction_commit_with_it() {
        one_failing_between_two(|conn, ops| {
            let mut later = ops.into_iter();
            let mut batch = later.next().into_iter().collect();
            run_batch(conn, &mut batch, |batch| {
                let before = batch.len();
                batch.extend(&mut later);
                batch.len() > before
            })
            .unwrap();
            assert_eq!(batch.len(), 3);
            batch
        });
    }

    #[test]
    fn a_transaction_takes_what_arrived_up_to_a_full_batch_and_waits_for_nothing() {
        let (sender, mut queue) = mpsc::channel::<Box<dyn Queued>>(QUEUE_DEPTH);
        let some = |n: usize| (0..n).map(|_| operation(|_| Ok(())).0).collect::<Vec<_>>();
        let send = |n: usize| {
            for op in some(n) {
                sender.try_send(op).map_err(|_| "queue full").unwrap();
            }
        };

        // What arrived joins the transaction, however few it holds.
        send(3);
        let mut batch = some(1);
        assert!(take_more(&mut queue, &mut batch));
        assert_eq!(batch.len(), 4);

        // Nothing waiting: it commits at once.
        assert!(!take_more(&mut queue, &mut batch));
        assert_eq!(batch.len(), 4);

        // Full: it commits, and what is waiting is left for the next transaction.
        let mut batch = some(MAX_BATCH - 1);
        send(2);
        assert!(take_more(&mut queue, &mut batch));
        assert_eq!(batch.len(), MAX_BATCH);
        assert!(!take_more(&mut queue, &mut batch));
        assert!(queue.try_recv().is_ok());
    }

    /// Only operations that succeeded in a committed batch move the tally: a failed one's
    /// notes are dropped with its writes, and a batch whose commit failed moves nothing.
    #[test]
    fn only_committed_status_changes_are_counted() {
        use crate::domain::Status;
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        let tally = Arc::new(Tally::default());
        let queued = |conn: &Db<'_>, value| {
            insert(conn, value)?;
            conn.status_moved(Some("sim"), None, Status::Queued);
            Ok(())
        };
        let (first, _) = counted_operation(&tally, move |conn| queued(conn, 1));
        // Notes a change, then fails on a duplicate of 1.
        let (failing, _) = counted_operation(&tally, move |conn| {
            queued(conn, 2)?;
            insert(conn, 1)
        });
        let (last, _) = counted_operation(&tally, move |conn| {
            queued(conn, 3)?;
            conn.status_moved(Some("sim"), Some(Status::Queued), Status::Sent);
            Ok(())
        });
        let mut batch = vec![first, failing, last];
        run_batch(&Db::new(&conn), &mut batch, |_| false).unwrap();
        for op in batch {
            op.answer(None);
        }
        let counts = |tally: &Tally| {
            tally
                .counts()
                .into_iter()
                .map(|c| (c.status, c.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&tally), [(Status::Queued, 1), (Status::Sent, 1)]);

        let (lost, _) = counted_operation(&tally, move |conn| queued(conn, 4));
        let mut batch = vec![lost];
        run_batch(&Db::new(&conn), &mut batch, |_| false).unwrap();
        let commit_failed = Arc::new(sqlx::Error::Protocol("commit failed".into()));
        for op in batch {
            op.answer(Some(&commit_failed));
        }
        assert_eq!(counts(&tally), [(Status::Queued, 1), (Status::Sent, 1)]);
    }
}
