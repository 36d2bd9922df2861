//! Checkpoints of the write-ahead log, mostly off the writer thread.
//!
//! A checkpoint copies the newest version of every page in the log back into the database file
//! and syncs it; only once all of the log is copied does the next write start the log again
//! from its beginning. SQLite's automatic checkpoint runs inside the COMMIT that pushes the log
//! past its limit, on the connection that committed: the writer thread, which every write waits
//! for. With the log at ~40 MiB (10,000 pages) that was a commit of ~19 ms every few thousand
//! messages (8 of ~2,000 commits on `e2e_bench throughput 20000 256`, 154 ms together, timed
//! in a build instrumented for it; the carriers' windows and every caller waited meanwhile),
//! most of it the copy and the database's fsync.
//!
//! Here the writer's connection has no automatic checkpoint. Its write-ahead-log hook notes how
//! many pages the log holds after each commit; past [`PAGES_BEFORE_CHECKPOINT`], a thread of
//! its own with a connection of its own copies them (a `PASSIVE` checkpoint, which never stops
//! the writer: SQLite copies only what every reader and the writer's commits allow), again while
//! the log grew by more than [`WRITER_COPIES_AT_MOST`] meanwhile. The last few pages, those
//! committed during its last round, the writer copies itself between two transactions: a
//! checkpoint only completes while nothing is committed, and the log only starts over once one
//! has. Should the log reach [`PAGES_AT_MOST_FACTOR`] times that all the same (that thread
//! gone, or never catching up), the writer checkpoints all of it, as SQLite would have.
//!
//! Durability is untouched: a checkpoint syncs the log before it copies and the database after
//! (the checkpoint connection's `synchronous` is SQLite's default, `FULL`), and the log starts
//! over only after a checkpoint that copied all of it.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Pages in the log before a checkpoint starts (~40 MiB with 4 KiB pages): a page rewritten by
/// many commits meanwhile is copied to the database once.
const PAGES_BEFORE_CHECKPOINT: i64 = 10_000;

/// Pages left to copy that the writer copies itself to complete a checkpoint.
const WRITER_COPIES_AT_MOST: i64 = 250;

/// How many times [`PAGES_BEFORE_CHECKPOINT`] the log may reach before the writer checkpoints
/// whatever is left itself.
const PAGES_AT_MOST_FACTOR: i64 = 4;

/// How long the checkpoint thread rests after a round that copied nothing new (a reader still
/// reads pages the copy would overwrite), before the writer may start it again.
const REST_AFTER_NO_PROGRESS: Duration = Duration::from_millis(100);

thread_local! {
    /// Pages in the log after the last commit on this thread's connection (the writer's).
    static LOG_PAGES: Cell<i64> = const { Cell::new(0) };
}

/// SQLite calls this after each commit of the writer's connection, on the writer's thread.
fn note_log_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(i64::from(pages));
    Ok(())
}

/// What the checkpoint thread and the writer share.
#[derive(Default)]
struct Shared {
    /// The checkpoint thread is copying. Set by the writer when it starts it, cleared by the
    /// thread when it is done.
    running: AtomicBool,
    /// The thread's last checkpoint left at most [`WRITER_COPIES_AT_MOST`] pages uncopied. Set
    /// only while `running`, taken by the writer only while not.
    caught_up: AtomicBool,
    /// Checkpoints the thread ran.
    rounds: AtomicU64,
}

/// The writer's side: decides after each commit whether a checkpoint is due, and where it runs.
pub(super) struct Checkpoints {
    shared: Arc<Shared>,
    start: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Pages in the log after the previous commit: fewer now means the log started over.
    last_pages: i64,
    /// Pages in the log that start a checkpoint.
    pages_before: i64,
    /// Checkpoints the writer ran itself, and times the log started over.
    writer_rounds: u64,
    restarts: u64,
}

impl Checkpoints {
    /// Takes over checkpointing from SQLite on `writer` (the connection to the database at
    /// `path`, in WAL mode) and starts the checkpoint thread.
    pub(super) fn start(writer: &Connection, path: &Path) -> std::io::Result<Self> {
        Self::start_at(writer, path, PAGES_BEFORE_CHECKPOINT)
    }

    /// As [`Checkpoints::start`], a checkpoint starting at `pages_before` pages in the log.
    fn start_at(writer: &Connection, path: &Path, pages_before: i64) -> std::io::Result<Self> {
        let conn = thread_connection(path).map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared::default());
        let (start, started) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("herald-store-checkpoint".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(conn, started, shared)
            })?;
        // Replaces SQLite's automatic checkpoint, which is itself a write-ahead-log hook.
        writer.wal_hook(Some(note_log_pages));
        Ok(Self {
            shared,
            start: Some(start),
            thread: Some(thread),
            last_pages: 0,
            pages_before,
            writer_rounds: 0,
            restarts: 0,
        })
    }

    /// After a commit of the writer's connection (`writer`, outside any transaction): starts the
    /// checkpoint thread, completes its checkpoint, or checkpoints the whole log, as due.
    pub(super) fn after_commit(&mut self, writer: &Connection) {
        let pages = LOG_PAGES.get();
        if pages < self.last_pages {
            // The log started over (after a checkpoint that copied all of it).
            self.restarts += 1;
            self.shared.caught_up.store(false, Ordering::Relaxed);
        }
        self.last_pages = pages;
        if pages < self.pages_before {
            return;
        }
        if pages >= PAGES_AT_MOST_FACTOR * self.pages_before {
            // Whatever the thread is doing (if it copies right now, this copies nothing).
            self.writer_checkpoint(writer);
            return;
        }
        if self.shared.running.load(Ordering::Acquire) {
            return;
        }
        if self.shared.caught_up.swap(false, Ordering::Relaxed) {
            // Only what was committed during the thread's last round is left: with nothing
            // committed while this runs, it copies all of it (unless a reader still needs a
            // page where it is), and the next write starts the log over.
            self.writer_checkpoint(writer);
        } else if let Some(start) = &self.start {
            self.shared.running.store(true, Ordering::Release);
            if start.try_send(()).is_err() {
                // Its thread is gone: the writer copies all at PAGES_AT_MOST_FACTOR times the
                // start.
                self.shared.running.store(false, Ordering::Release);
            }
        }
    }

    fn writer_checkpoint(&mut self, writer: &Connection) {
        self.writer_rounds += 1;
        if let Err(error) = checkpoint(writer) {
            tracing::warn!(%error, "checkpoint of the write-ahead log failed");
        }
    }
}

impl Drop for Checkpoints {
    /// Lets the checkpoint thread finish what it copies and end, so the database's files are
    /// left to the writer's connection alone.
    fn drop(&mut self) {
        self.start = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The checkpoint thread's connection to the database at `path`. Its `synchronous` stays
/// SQLite's default, `FULL`: a checkpoint syncs the log before it copies and the database after
/// only when that is not `OFF`.
fn thread_connection(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open(path)
}

/// A `PASSIVE` checkpoint on `conn`: (pages in the log, pages of it copied to the database).
/// Logged at debug level with its time, on whichever thread ran it.
fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let started = std::time::Instant::now();
    // Its row: (1 if it could not copy everything, pages in the log, pages copied).
    let (log, copied) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })?;
    tracing::debug!(
        thread = std::thread::current().name().unwrap_or_default(),
        log_pages = log,
        copied_pages = copied,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "checkpoint"
    );
    Ok((log, copied))
}

/// What the checkpoint thread does after a round.
#[derive(Debug, PartialEq, Eq)]
enum AfterRound {
    /// Another round: this one had more to copy than the writer would copy itself.
    Again,
    /// Done; the writer copies what was committed during this round.
    CaughtUp,
    /// Done for now: nothing more could be copied although the log holds more (a reader still
    /// reads pages the copy would overwrite).
    NoProgress,
}

/// After a round that left `copied` of the `log`'s pages copied, the previous round of the same
/// request having left `before` (None: this was the first).
fn after_round(before: Option<i64>, log: i64, copied: i64) -> AfterRound {
    match before {
        // A round copies what the log held when it began, so what it copied beyond the last
        // one is what the writer committed during the last one.
        Some(before) if copied >= before && copied - before <= WRITER_COPIES_AT_MOST => {
            if copied == before && copied < log {
                AfterRound::NoProgress
            } else {
                AfterRound::CaughtUp
            }
        }
        // The first round, a round with much to copy, or one on a log that started over in
        // between (fewer pages copied than before): measured again from here.
        _ => AfterRound::Again,
    }
}

/// The checkpoint thread: a checkpoint each time the writer asks, then another while the last
/// one had more to copy than the writer would copy itself ([`after_round`]).
fn run(conn: Connection, started: mpsc::Receiver<()>, shared: Arc<Shared>) {
    while started.recv().is_ok() {
        let mut copied_before = None;
        loop {
            shared.rounds.fetch_add(1, Ordering::Relaxed);
            match checkpoint(&conn) {
                Ok((log, copied)) => match after_round(copied_before, log, copied) {
                    AfterRound::Again => {
                        copied_before = Some(copied);
                        continue;
                    }
                    AfterRound::CaughtUp => shared.caught_up.store(true, Ordering::Relaxed),
                    AfterRound::NoProgress => std::thread::sleep(REST_AFTER_NO_PROGRESS),
                },
                Err(error) => {
                    tracing::warn!(%error, "checkpoint of the write-ahead log failed");
                    std::thread::sleep(REST_AFTER_NO_PROGRESS);
                }
            }
            break;
        }
        shared.running.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in WAL mode with a table to write to, and the writer's connection to it.
    fn database(dir: &Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("herald.db");
        let writer = Connection::open(&path).unwrap();
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        writer
            .execute_batch(
                "PRAGMA synchronous = NORMAL;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
            )
            .unwrap();
        (path, writer)
    }

    /// `rows` commits of one ~6 KiB row each (about two pages), `checkpoints` told after each,
    /// `pause` between them.
    fn commit_rows(writer: &Connection, checkpoints: &mut Checkpoints, rows: i64, pause: Duration) {
        let value = vec![7u8; 6 * 1024];
        for i in 0..rows {
            writer
                .execute("INSERT INTO t (id, v) VALUES (?, ?)", (i, &value))
                .unwrap();
            checkpoints.after_commit(writer);
            std::thread::sleep(pause);
        }
    }

    fn wal_pages(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len() / 4096).unwrap_or(0)
    }

    #[test]
    fn the_log_starts_over_under_steady_commits_copied_mostly_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = database(dir.path());
        let mut checkpoints = Checkpoints::start_at(&writer, &path, 200).unwrap();
        // 3,000 commits of two pages: ~30 times the start. A commit every ~100 µs or more, as
        // the writer's (a transaction does real work); one that outpaces the copying reaches
        // the limit, where the writer copies all itself.
        commit_rows(&writer, &mut checkpoints, 3_000, Duration::from_micros(100));
        let rounds = checkpoints.shared.rounds.load(Ordering::Relaxed);
        assert!(
            checkpoints.restarts >= 5,
            "restarts {}",
            checkpoints.restarts
        );
        assert!(
            checkpoints.writer_rounds < rounds,
            "writer {} thread {rounds}",
            checkpoints.writer_rounds
        );
        // The file holds what the log grew to at most before it started over.
        assert!(
            wal_pages(&path) < 4 * 200 + 100,
            "{} pages",
            wal_pages(&path)
        );
        drop(checkpoints);
        let rows: i64 = writer
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 3_000);
        let check: String = writer
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn the_thread_goes_on_until_a_round_has_little_to_copy() {
        assert_eq!(after_round(None, 10_000, 10_000), AfterRound::Again);
        assert_eq!(after_round(Some(10_000), 11_000, 11_000), AfterRound::Again);
        assert_eq!(
            after_round(Some(11_000), 11_200, 11_200),
            AfterRound::CaughtUp
        );
        // Nothing committed during the last round: all is copied.
        assert_eq!(
            after_round(Some(11_200), 11_200, 11_200),
            AfterRound::CaughtUp
        );
        // A reader holds pages back.
        assert_eq!(
            after_round(Some(9_000), 11_200, 9_000),
            AfterRound::NoProgress
        );
        // The log started over between two rounds: not caught up, measured again.
        assert_eq!(after_round(Some(11_200), 120, 120), AfterRound::Again);
    }

    /// A checkpoint syncs the log before it copies and the database after only when its
    /// connection's `synchronous` is not `OFF`; the thread's connection keeps the default.
    #[test]
    fn the_checkpoint_connection_syncs_what_it_copies() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _writer) = database(dir.path());
        let conn = thread_connection(&path).unwrap();
        let synchronous: i64 = conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
    }

    #[test]
    fn without_its_thread_the_writer_copies_everything_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (path, writer) = database(dir.path());
        let mut checkpoints = Checkpoints::start_at(&writer, &path, 100).unwrap();
        // As if the thread had ended: nothing starts it any more.
        checkpoints.start = None;
        commit_rows(&writer, &mut checkpoints, 1_000, Duration::ZERO);
        assert_eq!(checkpoints.shared.rounds.load(Ordering::Relaxed), 0);
        assert!(checkpoints.writer_rounds > 0);
        assert!(checkpoints.restarts > 0);
        assert!(
            wal_pages(&path) < 4 * 100 + 100,
            "{} pages",
            wal_pages(&path)
        );
    }
}
