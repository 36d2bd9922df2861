//! Durable state: messages, their segments and full event history, accounts, and the work queues
//! (submissions, callbacks) as tables. Only this module speaks SQL.
//!
//! Queues follow the outbox pattern: a job is enqueued in the same transaction as the state change
//! that causes it, and claimed with a short lease so a crashed worker's jobs come back on their
//! own. No transaction is ever held across network I/O: workers claim, do I/O, then record.
//!
//! Status decisions are not made here: every state change goes through
//! [`crate::domain::MessageState::apply`], called inside the transaction.
//!
//! Architecture Invariant: callers see only [`Store`] and the plain types below; a PostgreSQL
//! backend is a second implementation of the trait, not a change to any caller.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{ErrCode, MessageId, Report, Status};
use crate::money::Money;

pub mod sqlite;

/// Milliseconds since the Unix epoch. Every timestamp in the store is one of these, passed in by
/// the caller (tests drive time).
pub type Millis = i64;

pub type SharedStore = Arc<dyn Store>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the store is shutting down")]
    Closed,
    /// The operation succeeded on its own, but the transaction it shared with other writes
    /// could not be committed: nothing of it is stored.
    #[error("shared commit failed: {0}")]
    Commit(Arc<sqlx::Error>),
    #[error("not found")]
    NotFound,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A customer account as configured by the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    pub username: String,
    /// PHC string (argon2).
    pub password_hash: String,
    /// The configured balance, a decimal string in the account currency, e.g. "100.00". It
    /// opens a new account's balance; raising it later tops the account up by the difference.
    /// The live balance is [`Store::balance`].
    pub balance: String,
    pub senders: Vec<String>,
    pub dlr_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: i64,
    pub record: AccountRecord,
}

/// One segment of a message as it will be submitted to the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSegment {
    /// 0-based position in the message.
    pub seq: u32,
    /// `data_coding` and the encoded `short_message` bytes (UDH included when present).
    pub data_coding: u8,
    pub esm_class: u8,
    pub payload: Vec<u8>,
}

/// What the store keeps of a message's text (`send_sms` `text-store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextStore {
    /// The text, for history and queries.
    #[default]
    Plaintext,
    /// Only the SHA-256 of the text (its UTF-8 octets), as lowercase hex.
    Sha256,
    /// Nothing.
    Nostore,
}

impl TextStore {
    /// Stable lowercase name, as the API spells it and the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            TextStore::Plaintext => "plaintext",
            TextStore::Sha256 => "sha256",
            TextStore::Nostore => "nostore",
        }
    }

    /// What to keep of `text` under this setting.
    pub fn kept(self, text: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        match self {
            TextStore::Plaintext => Some(text.to_owned()),
            TextStore::Sha256 => Some(
                Sha256::digest(text.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
            TextStore::Nostore => None,
        }
    }
}

/// How a message's delivery reports reach its callback URL, decided when it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum CallbackFormat {
    /// HTTP GET of the dlr-url with `sms_unique_id`, `status`, `stat`, `dlr-mask`, `err`
    /// appended to its query (the plain-text API).
    #[default]
    Query,
    /// HTTP POST of a signed JSON delivery report (the `/v1` API's webhook).
    Json,
}

impl CallbackFormat {
    /// Stable lowercase name, as the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackFormat::Query => "query",
            CallbackFormat::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [CallbackFormat::Query, CallbackFormat::Json]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// Which of a carrier's due segments are submitted first (`/v1` `priority`): every due `High`
/// segment before any `Regular` one, every `Regular` before any `Low`; oldest first within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    Low,
    /// The plain-text API's messages, and `/v1` messages without `priority`.
    #[default]
    Regular,
    High,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Regular, Priority::High];

    /// Lowercase name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Regular => "regular",
            Priority::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The stored rank: a higher rank is claimed first.
    pub fn rank(self) -> i64 {
        match self {
            Priority::Low => 0,
            Priority::Regular => 1,
            Priority::High => 2,
        }
    }

    pub fn from_rank(rank: i64) -> Option<Self> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

/// A message the API accepted, with everything the pipeline needs to submit it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: MessageId,
    pub account_id: i64,
    /// E.164 digits without `+`.
    pub destination: String,
    pub sender: String,
    /// What is kept of the text, as `text_store` says: the text, its SHA-256 (lowercase hex),
    /// or nothing (also nothing for binary `data`).
    pub text: Option<String>,
    /// What the customer asked Herald to keep of the text. Beyond `plaintext`, the encoded
    /// segments are also forgotten once the message is final (nothing more will be sent).
    pub text_store: TextStore,
    pub dlr_url: Option<String>,
    /// How its callbacks are delivered: [`CallbackFormat::Query`] for the plain-text API,
    /// [`CallbackFormat::Json`] (signed webhooks) for `/v1`.
    pub callback_format: CallbackFormat,
    /// The omnimessage it belongs to, when it was sent as part of one (`/v1`); reported in its
    /// JSON webhooks.
    pub omnimessage_id: Option<String>,
    /// Carrier chosen by the route table; None when the message is rejected at acceptance.
    pub carrier: Option<String>,
    /// Price per segment, decimal string.
    pub price: Option<String>,
    pub validity: Duration,
    /// When it may be submitted (Scheduled while in the future).
    pub not_before: Millis,
    pub segments: Vec<NewSegment>,
    /// Set when a rule already refused it: stored as Rejected, its callback enqueued.
    pub rejection: Option<Report>,
    pub accepted_at: Millis,
    /// Claim order among the carrier's due segments.
    pub priority: Priority,
}

/// A segment claimed for submission.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitJob {
    pub message_id: MessageId,
    pub segment: u32,
    pub segment_count: u32,
    pub carrier: String,
    pub destination: String,
    pub sender: String,
    pub data_coding: u8,
    pub esm_class: u8,
    pub payload: Vec<u8>,
    /// Absolute end of the message's validity, for `validity_period`.
    pub valid_until: Millis,
    /// Submissions already tried (temporary errors so far).
    pub attempts: u32,
}

/// What happened to one submission.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    /// `submit_sm_resp` OK with the carrier's id (raw, as received).
    Accepted { carrier_message_id: String },
    /// Permanent error status: the message is Rejected (NACK).
    Rejected { command_status: u32 },
    /// Temporary error status: retry at `retry_at`, or give up when `retry_at` is None.
    Temporary {
        command_status: u32,
        retry_at: Option<Millis>,
    },
    /// No response (timeout or link lost with the request in flight): we do not know whether the
    /// carrier has it. Not resent blindly; the own expiry decides if no receipt ever comes.
    Unknown { reason: String },
    /// Never written to the carrier (no bind up): back to the queue at `retry_at`, no attempt
    /// counted.
    NotSent { retry_at: Millis },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubmitResult {
    pub message_id: MessageId,
    pub segment: u32,
    pub carrier: String,
    pub outcome: SubmitOutcome,
    pub at: Millis,
}

/// A receipt as the store keeps it: evidence first, interpretation second.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRecord {
    pub carrier: String,
    /// The id as the carrier wrote it.
    pub carrier_message_id: String,
    pub outcome: crate::domain::ReceiptOutcome,
    /// `stat:` word or message_state name as received.
    pub stat_word: Option<String>,
    /// The carrier's `err:` value as received.
    pub carrier_err: Option<String>,
    pub raw_text: String,
    /// TLVs as (tag, hex value).
    pub tlvs: Vec<(u16, String)>,
    pub received_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptMatch {
    /// Matched a segment; `changed` says whether the message's status moved.
    Matched {
        message_id: MessageId,
        changed: bool,
    },
    /// No submit with that id yet: kept, and applied when the `submit_sm_resp` arrives.
    Pending,
}

/// A callback claimed for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackJob {
    pub id: i64,
    pub message_id: MessageId,
    pub url: String,
    pub report: Report,
    pub attempts: u32,
    /// When the status change it tells was committed (a receipt's callback: when the receipt
    /// was recorded).
    pub enqueued_at: Millis,
    /// Set for a message accepted with [`CallbackFormat::Json`]: what its JSON webhook says
    /// beyond the report. None: the query-string GET.
    pub webhook: Option<WebhookJob>,
}

/// What a JSON webhook needs beyond the report, read with the claim.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookJob {
    /// `webhook-id`: the same on every retry of this status change.
    pub id: String,
    pub omnimessage_id: Option<String>,
    /// E.164 digits without `+` (or what the customer wrote, when it was no number).
    pub destination: String,
    pub sender: String,
    /// The route's price per part, decimal string; None when no route served it.
    pub part_price: Option<String>,
    pub parts_count: u32,
    /// When the status changed.
    pub changed_at: Millis,
    /// The account's secret at the time of the claim.
    pub secret: crate::callbacks::signature::WebhookSecret,
}

/// The callback an attempt was for, as its claim handed it out: what the attempt's history line
/// says without reading the callback back.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptedJob {
    pub id: i64,
    pub message_id: MessageId,
    /// The status the callback told.
    pub told: Status,
    pub format: CallbackFormat,
}

impl CallbackJob {
    pub fn attempted(&self) -> AttemptedJob {
        AttemptedJob {
            id: self.id,
            message_id: self.message_id.clone(),
            told: self.report.status,
            format: match self.webhook {
                None => CallbackFormat::Query,
                Some(_) => CallbackFormat::Json,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallbackAttempt {
    pub job: AttemptedJob,
    pub at: Millis,
    /// The full URL requested.
    pub url: String,
    /// HTTP status, when a response came.
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// What comes next for this callback.
    pub next: CallbackNext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackNext {
    Done,
    RetryAt(Millis),
    /// The retry schedule is spent: kept visible, replayable.
    Exhausted,
}

/// The customer's view of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    pub id: MessageId,
    pub account_id: i64,
    pub destination: String,
    pub sender: String,
    /// What is kept of the text (see [`TextStore`]).
    pub text: Option<String>,
    pub status: Status,
    pub report: Option<Report>,
    pub carrier: Option<String>,
    pub segment_count: u32,
    pub accepted_at: Millis,
    pub updated_at: Millis,
    /// When it may be submitted (later than `accepted_at` for a scheduled message).
    pub not_before: Millis,
    pub priority: Priority,
    /// Price per segment on its route (decimal string); None when it was never routed.
    pub price: Option<String>,
    /// How its callbacks are delivered.
    pub callback_format: CallbackFormat,
    /// The omnimessage it belongs to, if any.
    pub omnimessage_id: Option<String>,
}

/// Which messages [`Store::list_messages`] returns. Every filter that is set must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageQuery {
    /// One account's messages; `None` lists every account's (the operator's view).
    pub account_id: Option<i64>,
    pub status: Option<Status>,
    /// E.164 digits without `+`, exact.
    pub destination: Option<String>,
    /// Sender name, exact.
    pub sender: Option<String>,
    /// Accepted at or after this moment.
    pub accepted_from: Option<Millis>,
    /// Accepted before this moment.
    pub accepted_until: Option<Millis>,
    /// The report's `err` code (e.g. 8 for blacklisted).
    pub err: Option<u16>,
    /// Continue after this position: the `next` of the previous page.
    pub after: Option<MessageCursor>,
    /// At most this many messages (at least one is always asked for).
    pub limit: u32,
}

/// A position in the listing order (newest accepted first). Messages accepted after a listing
/// began come before its first page, never inside later pages: a client paging with
/// [`MessagePage::next`] sees each message that existed when it started exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCursor(pub i64);

impl MessageCursor {
    /// The opaque token an API client passes back.
    pub fn encode(self) -> String {
        format!("m{}", self.0)
    }

    pub fn decode(token: &str) -> Option<Self> {
        let n: i64 = token.strip_prefix('m')?.parse().ok()?;
        (n > 0).then_some(MessageCursor(n))
    }
}

/// One page of [`Store::list_messages`].
#[derive(Debug, Clone, PartialEq)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<MessageCursor>,
}

/// One line of a message's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Millis,
    /// e.g. "accepted", "submit", "submit_resp", "receipt", "status", "callback", "expired".
    pub kind: String,
    pub segment: Option<u32>,
    /// A JSON object with the event's facts (raw receipt text, TLVs, URL, response code...).
    pub detail: serde_json::Value,
}

/// How many messages are in each status: what the dashboard's overview counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub scheduled: u64,
    pub queued: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub rejected: u64,
}

impl StatusCounts {
    pub fn add(&mut self, status: Status, n: u64) {
        let slot = match status {
            Status::Scheduled => &mut self.scheduled,
            Status::Queued => &mut self.queued,
            Status::Sent => &mut self.sent,
            Status::Delivered => &mut self.delivered,
            Status::Failed => &mut self.failed,
            Status::Rejected => &mut self.rejected,
        };
        *slot += n;
    }

    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Scheduled => self.scheduled,
            Status::Queued => self.queued,
            Status::Sent => self.sent,
            Status::Delivered => self.delivered,
            Status::Failed => self.failed,
            Status::Rejected => self.rejected,
        }
    }

    pub fn total(&self) -> u64 {
        Status::ALL.iter().map(|&s| self.get(s)).sum()
    }

    /// Delivered out of the messages whose outcome is known (Delivered, Failed, Rejected);
    /// `None` while none is final. Messages still on their way do not lower it.
    pub fn delivery_rate(&self) -> Option<f64> {
        let finished = self.delivered + self.failed + self.rejected;
        (finished > 0).then(|| self.delivered as f64 / finished as f64)
    }
}

/// What the overview asks for: whose messages (`None`: every account's), accepted in
/// `[from, to)`, with the series cut into `buckets` equal intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverviewQuery {
    pub account: Option<i64>,
    pub from: Millis,
    pub to: Millis,
    pub buckets: u32,
}

/// Messages accepted in a period, counted by status, over time and by carrier, country and err.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    pub totals: StatusCounts,
    /// One entry per bucket, oldest first: the bucket's start and its counts.
    pub series: Vec<(Millis, StatusCounts)>,
    /// Carrier name (`None`: never routed), most messages first.
    pub by_carrier: Vec<(Option<String>, StatusCounts)>,
    /// [`crate::number::country_label`] of the destination, most messages first.
    pub by_country: Vec<(String, StatusCounts)>,
    /// Messages per non-zero `err` code, most first.
    pub by_err: Vec<(ErrCode, StatusCounts)>,
}

/// What [`Store::replay_callback`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// A new callback with the message's current report is queued.
    Queued { callback_id: i64 },
    /// No such message (or another account's).
    Unknown,
    /// The message has no report yet: nothing to tell.
    NoReport,
    /// The message has no callback URL.
    NoUrl,
}

/// How many messages routed to `carrier` (None: rejected before routing) are in `status` now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCount {
    pub carrier: Option<String>,
    pub status: Status,
    pub count: u64,
}

/// What [`Store::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The message is now Rejected (`DELETED`) and its callback is queued.
    Cancelled,
    /// No such message for this account (another account's is not revealed).
    Unknown,
    /// Too late: a segment is with a carrier (or being submitted), or the message is final.
    TooLate,
}

/// Whose blacklist an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlacklistScope {
    /// Every account's messages obey it.
    Global,
    /// One account's own list.
    Account(i64),
}

/// The duplicate rule (err 006): more than `limit` identical messages (same account,
/// destination and content) accepted within `window` reject the next one and block that
/// message to that number for `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicatePolicy {
    pub limit: u32,
    pub window: Duration,
    pub block: Duration,
}

impl Default for DuplicatePolicy {
    fn default() -> Self {
        Self {
            limit: 5,
            window: Duration::from_secs(600),
            block: Duration::from_secs(3600),
        }
    }
}

/// Durable state behind every part of Herald.
///
/// The rules that need durable state are decided inside the store's transactions, so they hold
/// under any concurrency: blacklists and duplicate limits when a message is accepted, the
/// balance when it is first claimed for submission (it is charged for all its segments then,
/// and Rejected with err 004 if the balance cannot pay). A message that ends Rejected after it
/// was charged is refunded in the transaction that rejects it.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates the account of that username (operator config is the source of truth).
    async fn upsert_account(&self, account: AccountRecord) -> Result<Account>;
    async fn account_by_username(&self, username: &str) -> Result<Option<Account>>;

    /// Commits a new message with its segments, and either its submission jobs or (when
    /// `rejection` is set, or the blacklist or duplicate rule refuses it) its callback. Returns
    /// only once durable. Concurrent calls share one commit.
    async fn accept(&self, message: NewMessage) -> Result<()>;

    /// Leases up to `limit` due segments routed to `carrier` (queued, `not_before <= now`, lease
    /// free or expired). Per carrier, so a slow carrier's backlog never holds another's leases.
    ///
    /// A message claimed for the first time is charged for all its segments; one the balance
    /// cannot pay is Rejected (err 004, callback enqueued) instead of returned.
    async fn claim_submissions(
        &self,
        carrier: &str,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<SubmitJob>>;

    /// Records a submission's outcome, moves the message, enqueues its callback, and applies any
    /// receipt that arrived before this response.
    async fn record_submit(&self, result: SubmitResult) -> Result<()>;

    /// [`Store::claim_submissions`] for a carrier that takes a long message as one `submit_sm`
    /// (`concatenation = "payload"`): a message is claimed whole, every due segment of it, even
    /// past `limit`, never half of it. Charged as any claim is.
    async fn claim_whole_messages(
        &self,
        carrier: &str,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<SubmitJob>>;

    /// Records the outcome of one `submit_sm` that carried segments of one message together:
    /// one result per segment, all with the same message, carrier, outcome and time, in one
    /// transaction. Accepted, every segment gets the carrier's one id, and a receipt for it
    /// (also one that came before the response) applies to all of them; any other outcome
    /// applies to each, so a retry requeues them together and an unknown outcome marks them all.
    async fn record_joint_submit(&self, results: Vec<SubmitResult>) -> Result<()>;

    /// Records a receipt and applies it to the segment with that (carrier, normalised id).
    async fn record_receipt(&self, receipt: ReceiptRecord) -> Result<ReceiptMatch>;

    /// Cancels `account_id`'s message `id` if none of its segments has been handed to a carrier
    /// (none submitted, none leased for submission at `at`). A cancelled message ends Rejected
    /// with [`Report::cancelled`], its callback enqueued, any charge refunded.
    async fn cancel(&self, id: &MessageId, account_id: i64, at: Millis) -> Result<CancelOutcome>;

    /// Fails (EXPIRED / 002) messages still not final whose validity plus grace has passed.
    /// Returns how many moved.
    async fn expire_overdue(&self, now: Millis, grace: Duration, limit: usize) -> Result<usize>;

    /// Leases up to `limit` due callbacks, at most one per message and always its oldest
    /// undelivered one, so callbacks of a message arrive in order.
    async fn claim_callbacks(
        &self,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<CallbackJob>>;
    async fn record_callback_attempt(&self, attempt: CallbackAttempt) -> Result<()>;
    /// Up to `limit` callbacks the store has already leased to this process's worker and
    /// holds for its next claim, without reading the database: what a stopping worker still
    /// attempts. From then on the store hands nothing more off (until the next claim). A store
    /// that hands none off has none.
    fn callbacks_handed_off(&self, now: Millis, limit: usize) -> Vec<CallbackJob> {
        let _ = (now, limit);
        Vec::new()
    }

    async fn message(&self, id: &MessageId) -> Result<Option<MessageView>>;
    async fn history(&self, id: &MessageId) -> Result<Vec<Event>>;
    /// Messages matching `query`, newest accepted first, one page at a time.
    async fn list_messages(&self, query: MessageQuery) -> Result<MessagePage>;

    /// The earliest time a callback can be claimed (to sleep until then), if any: a leased one
    /// counts from the end of its lease, one waiting behind another of its message not at all.
    async fn next_callback_due(&self) -> Result<Option<Millis>>;

    /// Messages by carrier and current status (for metrics), as committed so far.
    async fn message_counts(&self) -> Result<Vec<MessageCount>>;

    /// The account's live balance.
    async fn balance(&self, account_id: i64) -> Result<Money>;

    /// Adds `number` (E.164 digits) to a blacklist; `false` when it was already there.
    async fn blacklist_add(&self, scope: BlacklistScope, number: &str, at: Millis) -> Result<bool>;
    /// Removes `number` from a blacklist; `false` when it was not there.
    async fn blacklist_remove(&self, scope: BlacklistScope, number: &str) -> Result<bool>;
    /// The numbers on a blacklist, sorted.
    async fn blacklist(&self, scope: BlacklistScope) -> Result<Vec<String>>;

    /// The secret the account's JSON webhooks are signed with (`whsec_` and base64). An account
    /// without one gets a new random secret, kept durably, so it is generated once and survives
    /// restarts; every later call answers the same until it is set.
    async fn webhook_secret(&self, account_id: i64) -> Result<String>;
    /// Sets the account's webhook secret (the operator configured one). The caller checks its
    /// form ([`crate::callbacks::signature::WebhookSecret::parse`]).
    async fn set_webhook_secret(&self, account_id: i64, secret: &str) -> Result<()>;

    /// Every account, by username.
    async fn accounts(&self) -> Result<Vec<Account>>;

    /// The dashboard's overview of the messages `query` selects.
    async fn overview(&self, query: OverviewQuery) -> Result<Overview>;

    /// Queues the message's current report as a new callback to its URL, as if its status had
    /// just changed, and records a `replay` event; the callback then goes like any other (in
    /// order, retried). With `account`, only that account's message is found.
    async fn replay_callback(
        &self,
        id: &MessageId,
        account: Option<i64>,
        at: Millis,
    ) -> Result<ReplayOutcome>;
}

#[cfg(test)]
mod tests {
    use super::TextStore;

    #[test]
    fn text_store_keeps_the_text_its_sha256_hex_or_nothing() {
        assert_eq!(TextStore::Plaintext.kept("abc").as_deref(), Some("abc"));
        assert_eq!(
            TextStore::Sha256.kept("abc").as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(TextStore::Nostore.kept("abc"), None);
    }
}
