//! SQLite backend of the [`super::Store`] trait.
//!
//! Writes go through one writer thread that owns the only write connection and commits whatever
//! is waiting in one transaction (see [`writer`]): every commit needs an fsync of the log, and
//! sharing it is what makes durable acceptance fast; that fsync runs on a thread of its own,
//! which answers the callers once their commit is on disk ([`wal_sync`]). Claims are writes too, so two
//! workers never lease the same job. The writer calls SQLite directly through rusqlite: sqlx runs
//! each connection on a worker thread of its own and every statement was a round trip to it,
//! which cost more than the statements. Reads and migrations use sqlx: a small read-only pool;
//! in WAL mode reads never wait for the writer.
//!
//! # Layout
//! - `writer`: the group-commit thread. `wal_sync`: the log's fsync and the answers after it.
//!   `checkpoint`: copying the log back into the database, mostly on a thread of its own.
//!   `failure`: the writer's errors as `StoreError::Database`.
//! - `messages`: acceptance and expiry. `submissions`, `receipts`, `callbacks`: the three flows.
//!   `joint`: submissions that carry all segments of a message in one `submit_sm`.
//!   `redaction`: receipts of messages whose text is not kept lose the text they repeat.
//! - `cancel`: `cancel_sms`, a message taken out of the queue before any carrier has it.
//! - `rules`: blacklist and duplicate checks at acceptance. `charges`: charging at the first
//!   claim (err 004). `blacklist`: the blacklists themselves.
//! - `state`: the only code that writes a message's status (events, folding, callback outbox).
//! - `accounts`, `reads`: lookups. `overview`: the dashboard's counts. `codec`: columns ↔ domain values. `schema`: migrations.

mod accounts;
mod blacklist;
mod callbacks;
mod cancel;
mod charges;
mod checkpoint;
mod codec;
mod detail;
mod failure;
mod handoff;
mod history;
mod joint;
mod messages;
mod overview;
mod prepared;
mod reads;
mod receipts;
mod redaction;
mod rules;
mod schema;
mod state;
mod submissions;
mod tally;
mod wal_sync;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};

pub use writer::CommitStats;

use super::{
    Account, AccountRecord, BlacklistScope, CallbackAttempt, CallbackJob, CancelOutcome,
    DuplicatePolicy, Event, MessageCount, MessagePage, MessageQuery, MessageView, Millis,
    NewMessage, Overview, OverviewQuery, ReceiptMatch, ReceiptRecord, ReplayOutcome, Result, Store,
    StoreError, SubmitJob, SubmitResult,
};
use crate::callbacks::signature::WebhookSecret;
use crate::domain::MessageId;
use crate::money::Money;
use tally::Tally;
use writer::Writer;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections: reads are short, and SQLite readers do not block each other.
const READ_CONNECTIONS: u32 = 4;

pub struct SqliteStore {
    writer: Writer,
    reads: SqlitePool,
    duplicates: DuplicatePolicy,
    /// Callbacks the writer handed to this process's worker (`handoff`).
    handoff: Arc<handoff::HandOff>,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url`, e.g. `sqlite://herald.db`, and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let mut migrate = options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await?;
        schema::migrator().run(&mut migrate).await?;
        migrate.close().await?;
        let path = options.get_filename().to_owned();
        // Counted before the writer starts, so no change falls between counting and the tally.
        let (write, durability, checkpoints, tally) = tokio::task::spawn_blocking(move || {
            let (write, durability) = open_writer(&path)?;
            // In WAL mode the log's checkpoints run mostly off the writer thread.
            let checkpoints = matches!(durability, wal_sync::Durability::Log(_))
                .then(|| checkpoint::Checkpoints::start(&write, &path))
                .transpose()
                .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            let tally = Tally::load(&write)?;
            Ok::<_, StoreError>((write, durability, checkpoints, tally))
        })
        .await
        .map_err(|e| StoreError::Database(sqlx::Error::Io(std::io::Error::other(e))))??;
        // Opened after the file is in WAL mode (a persistent setting).
        let reads = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        let handoff = Arc::new(handoff::HandOff::default());
        Ok(SqliteStore {
            writer: Writer::start(
                write,
                durability,
                checkpoints,
                Arc::new(tally),
                Arc::clone(&handoff),
            )
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?,
            reads,
            duplicates: DuplicatePolicy::default(),
            handoff,
        })
    }

    /// The duplicate rule acceptance applies (err 006); [`DuplicatePolicy::default`] until set.
    pub fn with_duplicate_policy(mut self, policy: DuplicatePolicy) -> Self {
        self.duplicates = policy;
        self
    }

    /// What the writer has committed so far: shows group commit at work.
    pub fn commit_stats(&self) -> CommitStats {
        self.writer.stats()
    }
}

/// The writer's connection, with the settings every write relies on, and how its commits are
/// made durable.
fn open_writer(path: &std::path::Path) -> Result<(rusqlite::Connection, wal_sync::Durability)> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Plans never depend on bound values: otherwise a statement whose plan read a parameter
    // (the claims' `LIMIT ?`) is compiled again whenever that value changes, which profiling
    // showed on every claim.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // WAL: set by the migration connection already. Reading the mode opens the log, creating the
    // file if the last connection to close removed it (the migrations' did).
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch(
        "-- References are not checked row by row here (the SQLite built in checks them unless
         -- told not to). The schema declares them and the migrations' and readers' connections
         -- enforce them, but this connection is the only one that writes messages: it writes
         -- every row of a message after the message's own row, in the same transaction or a
         -- later one, and deletes no message. Checking that anyway looked the message up by its
         -- text key once for each of the nine or so rows a message gets in other tables
         -- (callgrind over e2e_bench throughput 3000 64: writer 427k → 408k instructions per
         -- message). The tests check every reference of the database each store and gateway
         -- test leaves behind (PRAGMA foreign_key_check), so a write that broke one fails the
         -- suite instead.
         PRAGMA foreign_keys = OFF;
         -- Savepoint and statement journals stay in memory: a temp file per savepoint cost a
         -- pwrite each. Durability is the WAL's job.
         PRAGMA temp_store = MEMORY;
         -- 4 MiB of page cache (negative: KiB). Bigger costs CPU, not only memory: when a
         -- commit's B-tree balancing renumbered pages, SQLite parks a page at the number of
         -- the page holding byte 1 GiB, and the commit then scans the whole page cache to
         -- drop pages past the file's end. While the file is under 1 GiB that is a scan in
         -- time proportional to the cache on many commits: with 16 MiB it was the writer's
         -- top function in profiles; with 4 MiB the writer's CPU per message fell ~10 %
         -- (README, Benchmarks).
         PRAGMA cache_size = -4096;",
    )?;
    // "Accepted" means durable: no caller hears of a commit before the log holding it is on
    // disk. The writer's own sync thread does that when the database is in WAL mode (it is,
    // unless the file system refused); otherwise SQLite syncs inside every COMMIT.
    let durability = if mode.eq_ignore_ascii_case("wal") {
        wal_sync::WalFile::open(path)
            .map(wal_sync::Durability::Log)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "write-ahead log not opened; SQLite syncs each commit");
                wal_sync::Durability::InCommit
            })
    } else {
        wal_sync::Durability::InCommit
    };
    conn.execute_batch(wal_sync::synchronous_pragma(&durability))?;
    Ok((conn, durability))
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn upsert_account(&self, account: AccountRecord) -> Result<Account> {
        self.writer
            .run(move |conn| accounts::upsert(conn, account.clone()))
            .await
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        accounts::by_username(&self.reads, username).await
    }

    async fn accept(&self, message: NewMessage) -> Result<()> {
        let duplicates = self.duplicates;
        self.writer
            .run(move |conn| {
                // The rules' verdict goes alongside the message rather than into it: a rerun of
                // this work (see `writer`) must decide again from the database alone.
                let admission = rules::admit(conn, &message, &duplicates)?;
                messages::accept(conn, &message, &admission)
            })
            .await
    }

    async fn claim_submissions(
        &self,
        carrier: &str,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<SubmitJob>> {
        let carrier = carrier.to_owned();
        self.writer
            .run(move |conn| submissions::claim(conn, &carrier, now, limit, lease))
            .await
    }

    async fn record_submit(&self, result: SubmitResult) -> Result<()> {
        self.writer
            .run(move |conn| submissions::record(conn, &result))
            .await
    }

    async fn claim_whole_messages(
        &self,
        carrier: &str,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<SubmitJob>> {
        let carrier = carrier.to_owned();
        self.writer
            .run(move |conn| joint::claim(conn, &carrier, now, limit, lease))
            .await
    }

    async fn record_joint_submit(&self, results: Vec<SubmitResult>) -> Result<()> {
        self.writer
            .run(move |conn| joint::record(conn, &results))
            .await
    }

    async fn record_receipt(&self, receipt: ReceiptRecord) -> Result<ReceiptMatch> {
        let precomputed = receipts::Precomputed::of(&receipt);
        self.writer
            .run(move |conn| receipts::record(conn, &receipt, &precomputed))
            .await
    }

    async fn cancel(&self, id: &MessageId, account_id: i64, at: Millis) -> Result<CancelOutcome> {
        let id = id.clone();
        self.writer
            .run(move |conn| cancel::cancel(conn, &id, account_id, at))
            .await
    }

    async fn expire_overdue(&self, now: Millis, grace: Duration, limit: usize) -> Result<usize> {
        self.writer
            .run(move |conn| messages::expire_overdue(conn, now, grace, limit))
            .await
    }

    async fn claim_callbacks(
        &self,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<CallbackJob>> {
        // A worker claims: the writer may hand it callbacks from now on, and those it did come
        // first, with no trip to the writer unless the database is due a look too.
        self.handoff.enable(lease);
        let mut jobs = self.handoff.take(now, limit);
        if self.handoff.claim_database(now, jobs.len(), limit) {
            let left = limit - jobs.len();
            match self
                .writer
                .run(move |conn| callbacks::claim(conn, now, left, lease))
                .await
            {
                Ok(claimed) => {
                    // As many as there was room for: more may be due there (a backlog behind a
                    // receiver that is back), read again by the next claim with room.
                    if claimed.len() == left {
                        self.handoff.database_due();
                    }
                    jobs.extend(claimed)
                }
                Err(e) if jobs.is_empty() => return Err(e),
                // The jobs taken are leased to us alone: attempted now rather than left until
                // their leases run out.
                Err(e) => tracing::warn!(error = %e, "claiming callbacks failed"),
            }
        }
        Ok(jobs)
    }

    fn callbacks_handed_off(&self, now: Millis, limit: usize) -> Vec<CallbackJob> {
        // Asked by a stopping worker: nothing more is handed off. (An operation that wrote its
        // callback leased just before and commits just after this leaves it to a claim once
        // the lease runs out.)
        self.handoff.disable();
        self.handoff.take(now, limit)
    }

    async fn record_callback_attempt(&self, attempt: CallbackAttempt) -> Result<()> {
        // Its history line is written here, not on the writer thread every write waits for.
        let detail = callbacks::attempt_detail(&attempt)?;
        self.writer
            .run(move |conn| callbacks::record_attempt(conn, &attempt, &detail))
            .await
    }

    async fn message(&self, id: &MessageId) -> Result<Option<MessageView>> {
        reads::message(&self.reads, id).await
    }

    async fn history(&self, id: &MessageId) -> Result<Vec<Event>> {
        reads::history(&self.reads, id).await
    }

    async fn list_messages(&self, query: MessageQuery) -> Result<MessagePage> {
        reads::list_messages(&self.reads, &query).await
    }

    async fn next_callback_due(&self) -> Result<Option<Millis>> {
        reads::next_callback_due(&self.reads).await
    }

    async fn message_counts(&self) -> Result<Vec<MessageCount>> {
        Ok(self.writer.message_counts())
    }

    async fn balance(&self, account_id: i64) -> Result<Money> {
        accounts::balance(&self.reads, account_id).await
    }

    async fn blacklist_add(&self, scope: BlacklistScope, number: &str, at: Millis) -> Result<bool> {
        let number = number.to_owned();
        self.writer
            .run(move |conn| blacklist::add(conn, scope, &number, at))
            .await
    }

    async fn blacklist_remove(&self, scope: BlacklistScope, number: &str) -> Result<bool> {
        let number = number.to_owned();
        self.writer
            .run(move |conn| blacklist::remove(conn, scope, &number))
            .await
    }

    async fn blacklist(&self, scope: BlacklistScope) -> Result<Vec<String>> {
        blacklist::list(&self.reads, scope).await
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        accounts::all(&self.reads).await
    }

    async fn overview(&self, query: OverviewQuery) -> Result<Overview> {
        overview::overview(&self.reads, query).await
    }

    async fn replay_callback(
        &self,
        id: &MessageId,
        account: Option<i64>,
        at: Millis,
    ) -> Result<ReplayOutcome> {
        let id = id.clone();
        self.writer
            .run(move |conn| callbacks::replay(conn, &id, account, at))
            .await
    }

    async fn webhook_secret(&self, account_id: i64) -> Result<String> {
        // Drawn once, outside the work: a rerun of the batch keeps the same candidate.
        let candidate = WebhookSecret::generate();
        self.writer
            .run(move |conn| accounts::webhook_secret(conn, account_id, candidate.as_str()))
            .await
    }

    async fn set_webhook_secret(&self, account_id: i64, secret: &str) -> Result<()> {
        let secret = secret.to_owned();
        self.writer
            .run(move |conn| accounts::set_webhook_secret(conn, account_id, &secret))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database file in WAL mode gets its log synced by the writer's sync thread, so the
    /// writer's own connection must not sync inside COMMIT, and the other way round.
    #[test]
    fn the_writer_connection_leaves_the_log_sync_to_the_sync_thread_when_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.db");
        // As `open` leaves it: a schema in WAL mode, its log removed by the migrations'
        // connection, the last to close.
        let migrations = rusqlite::Connection::open(&path).unwrap();
        migrations
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER);")
            .unwrap();
        drop(migrations);
        assert!(!dir.path().join("herald.db-wal").exists());
        let (conn, durability) = open_writer(&path).unwrap();
        assert!(matches!(durability, wal_sync::Durability::Log(_)));
        let synchronous: i64 = conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 1, "NORMAL");
    }
}
