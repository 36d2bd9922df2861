//! Durability off the writer thread: the write-ahead log's fsync runs on a thread of its own,
//! and a batch's callers are answered only once a sync that began after their commit returned.
//!
//! With `synchronous=FULL`, SQLite fsyncs the log inside every COMMIT, and the writer thread can
//! do nothing else meanwhile (~0.5 ms per commit, measured, plus the kernel's CPU for it on that
//! thread). Here the writer's connection runs `synchronous=NORMAL`: a COMMIT writes the log
//! without syncing it, the writer goes straight on to its next batch, and this thread syncs the
//! log for every batch committed meanwhile at once. What stays true:
//!
//! - Nobody outside hears of a write before it is on disk: callers wait for their answer, and
//!   everything Herald tells a customer or a carrier follows an answer.
//! - The log is only appended to, and SQLite recovers it in order up to its first missing frame,
//!   so a sync covers every commit before it. SQLite rewrites the log from its start only after a
//!   checkpoint has copied all of it into the database; with `NORMAL` that checkpoint syncs the
//!   log before it copies and the database after.
//! - Other connections (status reads, the dashboard) may see a commit up to one sync before it
//!   is durable. After a power cut, such a change can be missing again; it was never told.
//! - After a failed sync nothing is known to be on disk: that batch's callers and every later
//!   one get an error, and the writer stops writing until Herald is restarted.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

/// An error every later caller gets once one sync failed.
pub(super) type Failure = Arc<OnceLock<Arc<sqlx::Error>>>;

/// The write-ahead log file of a database, opened to sync it.
pub(super) struct WalFile {
    path: PathBuf,
    file: File,
    /// (device, inode) of the file opened, to notice the path naming another file.
    identity: (u64, u64),
}

impl WalFile {
    /// Opens the log of the database at `database`; the writer's connection has created it
    /// already (it exists while any connection is open).
    pub(super) fn open(database: &Path) -> std::io::Result<Self> {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        Self::open_path(PathBuf::from(path))
    }

    fn open_path(path: PathBuf) -> std::io::Result<Self> {
        let file = File::open(&path)?;
        let meta = file.metadata()?;
        // A new file's name is durable once its directory is synced; SQLite would do this on its
        // first sync of the log, which `NORMAL` leaves to the first checkpoint.
        if let Some(directory) = path.parent() {
            let directory = if directory.as_os_str().is_empty() {
                Path::new(".")
            } else {
                directory
            };
            File::open(directory)?.sync_all()?;
        }
        Ok(Self {
            identity: (meta.dev(), meta.ino()),
            path,
            file,
        })
    }

    /// Makes everything written to the log so far durable.
    pub(super) fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        // SQLite deletes the log only when its last connection closes, and the writer's stays
        // open; should the path name another file all the same, that one is SQLite's log now.
        let meta = std::fs::metadata(&self.path)?;
        if (meta.dev(), meta.ino()) != self.identity {
            *self = Self::open_path(self.path.clone())?;
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// How a committed batch is made durable.
pub(super) enum Durability {
    /// SQLite synced the log inside COMMIT (`synchronous=FULL`): nothing left to do.
    InCommit,
    /// The log is synced here (`synchronous=NORMAL` on the writer's connection).
    Log(WalFile),
}

impl Durability {
    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Durability::InCommit => Ok(()),
            Durability::Log(wal) => wal.sync(),
        }
    }
}

/// The `synchronous` setting the writer's connection needs with this durability.
pub(super) fn synchronous_pragma(durability: &Durability) -> &'static str {
    match durability {
        Durability::InCommit => "PRAGMA synchronous = FULL",
        Durability::Log(_) => "PRAGMA synchronous = NORMAL",
    }
}

/// One batch as the writer ended it: its callers, still to be answered.
pub(super) struct Ended<A> {
    pub answers: Vec<A>,
    /// Set when the batch was not committed: nothing to sync for it.
    pub commit_error: Option<Arc<sqlx::Error>>,
}

/// Something that answers one caller, given the error of its batch if there is one.
pub(super) trait Answer: Send + 'static {
    fn answer(self, error: Option<&Arc<sqlx::Error>>);
}

/// Starts the thread that syncs and answers; it ends when the returned sender is dropped, after
/// answering everything sent to it.
pub(super) fn start<A: Answer>(
    mut durability: impl FnMut() -> std::io::Result<()> + Send + 'static,
    failure: Failure,
    syncs: impl Fn() + Send + 'static,
) -> std::io::Result<mpsc::Sender<Ended<A>>> {
    let (ended, queue) = mpsc::channel::<Ended<A>>();
    std::thread::Builder::new()
        .name("herald-store-sync".into())
        .spawn(move || {
            while let Ok(first) = queue.recv() {
                // Everything committed while the last sync ran shares this one.
                let mut group = vec![first];
                group.extend(queue.try_iter());
                let committed = group.iter().any(|batch| batch.commit_error.is_none());
                if committed && failure.get().is_none() {
                    syncs();
                    if let Err(error) = durability() {
                        tracing::error!(%error, "write-ahead log sync failed; the store stops writing");
                        let _ = failure.set(Arc::new(sqlx::Error::Io(error)));
                    }
                }
                for batch in group {
                    let error = batch.commit_error.as_ref().or(failure.get());
                    for answer in batch.answers {
                        answer.answer(error);
                    }
                }
            }
        })?;
    Ok(ended)
}

/// [`start`] for a database's [`Durability`].
pub(super) fn start_for<A: Answer>(
    mut durability: Durability,
    failure: Failure,
    syncs: impl Fn() + Send + 'static,
) -> std::io::Result<mpsc::Sender<Ended<A>>> {
    start(move || durability.sync(), failure, syncs)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Records the answer it was given.
    struct Probe(mpsc::Sender<Option<String>>);

    impl Answer for Probe {
        fn answer(self, error: Option<&Arc<sqlx::Error>>) {
            let _ = self.0.send(error.map(|e| e.to_string()));
        }
    }

    fn probe() -> (Probe, mpsc::Receiver<Option<String>>) {
        let (tx, rx) = mpsc::channel();
        (Probe(tx), rx)
    }

    /// A sync that returns `result` and counts its calls.
    fn counted(
        result: fn() -> std::io::Result<()>,
    ) -> (
        Arc<AtomicUsize>,
        impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        (calls, move || {
            counter.fetch_add(1, Ordering::Relaxed);
            result()
        })
    }

    fn committed(answers: Vec<Probe>) -> Ended<Probe> {
        Ended {
            answers,
            commit_error: None,
        }
    }

    #[test]
    fn a_committed_batch_is_answered_only_after_its_sync() {
        let (release, gate) = mpsc::channel::<()>();
        let (started, syncing) = mpsc::channel::<()>();
        let sync = move || {
            started.send(()).unwrap();
            gate.recv().unwrap();
            Ok(())
        };
        let ended = start(sync, Failure::default(), || {}).unwrap();
        let (probe, answer) = probe();
        ended.send(committed(vec![probe])).unwrap();
        syncing.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(answer.try_recv().is_err(), "answered before the sync ended");
        release.send(()).unwrap();
        assert_eq!(answer.recv().unwrap(), None);
    }

    #[test]
    fn batches_committed_during_a_sync_share_the_next_one() {
        let (release, gate) = mpsc::channel::<()>();
        let (started, syncing) = mpsc::channel::<()>();
        let syncs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&syncs);
        let sync = move || {
            started.send(()).unwrap();
            gate.recv().unwrap();
            Ok(())
        };
        let ended = start(sync, Failure::default(), move || {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        let (first, first_answer) = probe();
        ended.send(committed(vec![first])).unwrap();
        syncing.recv().unwrap();
        let mut later = Vec::new();
        for _ in 0..3 {
            let (probe, answer) = probe();
            ended.send(committed(vec![probe])).unwrap();
            later.push(answer);
        }
        release.send(()).unwrap();
        assert_eq!(first_answer.recv().unwrap(), None);
        syncing.recv().unwrap();
        release.send(()).unwrap();
        for answer in later {
            assert_eq!(answer.recv().unwrap(), None);
        }
        assert_eq!(syncs.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn after_a_failed_sync_every_caller_gets_an_error_and_nothing_is_synced_again() {
        let (calls, sync) = counted(|| Err(std::io::Error::other("disk gone")));
        let failure = Failure::default();
        let ended = start(sync, failure.clone(), || {}).unwrap();
        let (first, first_answer) = probe();
        ended.send(committed(vec![first])).unwrap();
        assert!(first_answer.recv().unwrap().unwrap().contains("disk gone"));
        let (later, later_answer) = probe();
        ended.send(committed(vec![later])).unwrap();
        assert!(later_answer.recv().unwrap().unwrap().contains("disk gone"));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(failure.get().is_some());
    }

    #[test]
    fn a_batch_that_was_not_committed_keeps_its_own_error_and_needs_no_sync() {
        let (calls, sync) = counted(|| Ok(()));
        let ended = start(sync, Failure::default(), || {}).unwrap();
        let (probe, answer) = probe();
        ended
            .send(Ended {
                answers: vec![probe],
                commit_error: Some(Arc::new(sqlx::Error::Protocol("commit refused".into()))),
            })
            .unwrap();
        assert!(answer.recv().unwrap().unwrap().contains("commit refused"));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_log_file_of_a_database_in_wal_mode_is_found_and_synced_and_one_without_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("herald.db");
        let conn = rusqlite::Connection::open(&database).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let mut wal = WalFile::open(&database).unwrap();
        conn.execute_batch("INSERT INTO t VALUES (1)").unwrap();
        wal.sync().unwrap();
        // A database in rollback-journal mode has no log: `open_writer` falls back to FULL.
        let journaled = dir.path().join("journaled.db");
        rusqlite::Connection::open(&journaled)
            .unwrap()
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .unwrap();
        assert!(WalFile::open(&journaled).is_err());
    }
}
