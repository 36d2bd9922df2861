//! SQLite backend of the [`super::Store`] trait.
//!
//! Writes go through one writer task that owns the only write connection and commits whatever is
//! waiting in one transaction (see [`writer`]): with `synchronous=FULL` every commit is an fsync,
//! and sharing it is what makes durable acceptance fast. Claims are writes too, so two workers
//! never lease the same job. Reads use a small read-only pool; in WAL mode they never wait for the
//! writer.
//!
//! # Layout
//! - `writer`: the group-commit task.
//! - `messages`: acceptance and expiry. `submissions`, `receipts`, `callbacks`: the three flows.
//! - `cancel`: `cancel_sms`, a message taken out of the queue before any carrier has it.
//! - `rules`: blacklist and duplicate checks at acceptance. `charges`: charging at the first
//!   claim (err 004). `blacklist`: the blacklists themselves.
//! - `state`: the only code that writes a message's status (events, folding, callback outbox).
//! - `accounts`, `reads`: lookups. `codec`: columns ↔ domain values. `schema`: migrations.

mod accounts;
mod blacklist;
mod callbacks;
mod cancel;
mod charges;
mod codec;
mod messages;
mod reads;
mod receipts;
mod rules;
mod schema;
mod state;
mod submissions;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use writer::CommitStats;

use super::{
    Account, AccountRecord, BlacklistScope, CallbackAttempt, CallbackJob, CancelOutcome,
    DuplicatePolicy, Event, MessageView, Millis, NewMessage, ReceiptMatch, ReceiptRecord, Result,
    Store, SubmitJob, SubmitResult,
};
use crate::domain::MessageId;
use crate::money::Money;
use writer::Writer;

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections: reads are short, and SQLite readers do not block each other.
const READ_CONNECTIONS: u32 = 4;

pub struct SqliteStore {
    writer: Writer,
    reads: SqlitePool,
    duplicates: DuplicatePolicy,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url`, e.g. `sqlite://herald.db`, and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // FULL: a commit is on disk before `accept` returns; "accepted" means durable.
        let mut write = options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .connect()
            .await?;
        schema::migrator().run(&mut write).await?;
        // Opened after the writer has put the file in WAL mode (a persistent setting).
        let reads = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore {
            writer: Writer::start(write),
            reads,
            duplicates: DuplicatePolicy::default(),
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

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn upsert_account(&self, account: AccountRecord) -> Result<Account> {
        self.writer
            .run(move |conn| Box::pin(accounts::upsert(conn, account)))
            .await
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        accounts::by_username(&self.reads, username).await
    }

    async fn accept(&self, mut message: NewMessage) -> Result<()> {
        let duplicates = self.duplicates;
        self.writer
            .run(move |conn| {
                Box::pin(async move {
                    let admission = rules::admit(conn, &mut message, &duplicates).await?;
                    messages::accept(conn, &message, &admission).await
                })
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
            .run(move |conn| {
                Box::pin(async move { submissions::claim(conn, &carrier, now, limit, lease).await })
            })
            .await
    }

    async fn record_submit(&self, result: SubmitResult) -> Result<()> {
        self.writer
            .run(move |conn| Box::pin(async move { submissions::record(conn, &result).await }))
            .await
    }

    async fn record_receipt(&self, receipt: ReceiptRecord) -> Result<ReceiptMatch> {
        self.writer
            .run(move |conn| Box::pin(async move { receipts::record(conn, &receipt).await }))
            .await
    }

    async fn cancel(&self, id: &MessageId, account_id: i64, at: Millis) -> Result<CancelOutcome> {
        let id = id.clone();
        self.writer
            .run(move |conn| {
                Box::pin(async move { cancel::cancel(conn, &id, account_id, at).await })
            })
            .await
    }

    async fn expire_overdue(&self, now: Millis, grace: Duration, limit: usize) -> Result<usize> {
        self.writer
            .run(move |conn| Box::pin(messages::expire_overdue(conn, now, grace, limit)))
            .await
    }

    async fn claim_callbacks(
        &self,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<CallbackJob>> {
        self.writer
            .run(move |conn| Box::pin(callbacks::claim(conn, now, limit, lease)))
            .await
    }

    async fn record_callback_attempt(&self, attempt: CallbackAttempt) -> Result<()> {
        self.writer
            .run(move |conn| {
                Box::pin(async move { callbacks::record_attempt(conn, &attempt).await })
            })
            .await
    }

    async fn message(&self, id: &MessageId) -> Result<Option<MessageView>> {
        reads::message(&self.reads, id).await
    }

    async fn history(&self, id: &MessageId) -> Result<Vec<Event>> {
        reads::history(&self.reads, id).await
    }

    async fn next_due(&self) -> Result<Option<Millis>> {
        reads::next_due(&self.reads).await
    }

    async fn balance(&self, account_id: i64) -> Result<Money> {
        accounts::balance(&self.reads, account_id).await
    }

    async fn blacklist_add(&self, scope: BlacklistScope, number: &str, at: Millis) -> Result<bool> {
        let number = number.to_owned();
        self.writer
            .run(move |conn| {
                Box::pin(async move { blacklist::add(conn, scope, &number, at).await })
            })
            .await
    }

    async fn blacklist_remove(&self, scope: BlacklistScope, number: &str) -> Result<bool> {
        let number = number.to_owned();
        self.writer
            .run(move |conn| Box::pin(async move { blacklist::remove(conn, scope, &number).await }))
            .await
    }

    async fn blacklist(&self, scope: BlacklistScope) -> Result<Vec<String>> {
        blacklist::list(&self.reads, scope).await
    }
}
