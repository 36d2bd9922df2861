//! An in-memory [`Store`] for the unit tests of the API, accounts and callbacks. Only what those
//! modules use does real work (accounts, acceptance, message views, the callback queue); the
//! submission and receipt side answers with empty results.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::callbacks::signature::WebhookSecret;
use crate::domain::{MessageId, MessageState, Report};
use crate::money::Money;
use crate::store::{
    Account, AccountRecord, BlacklistScope, CallbackAttempt, CallbackJob, CallbackNext,
    CancelOutcome, Event, MessageCount, MessageCursor, MessagePage, MessageQuery, MessageView,
    Millis, NewMessage, Overview, OverviewQuery, ReceiptMatch, ReceiptRecord, ReplayOutcome,
    Result, StatusCounts, Store, StoreError, SubmitJob, SubmitResult, WebhookJob,
};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// When set, every write fails (to test how callers report a store failure).
    pub failing: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Inner {
    accounts: Vec<Account>,
    messages: Vec<NewMessage>,
    views: HashMap<MessageId, MessageView>,
    callbacks: Vec<QueuedCallback>,
    /// Callbacks leased to the worker and held for it (`push_handed_off`).
    handed_off: Vec<CallbackJob>,
    attempts: Vec<CallbackAttempt>,
    blacklist: Vec<(BlacklistScope, String)>,
    webhook_secrets: HashMap<i64, String>,
}

#[derive(Debug, Clone)]
pub struct QueuedCallback {
    pub job: CallbackJob,
    pub due: Millis,
    pub leased_until: Millis,
    pub state: CallbackNext,
}

impl MemoryStore {
    pub fn remove_account(&self, username: &str) {
        self.lock()
            .accounts
            .retain(|a| a.record.username != username);
    }

    pub fn accepted(&self) -> Vec<NewMessage> {
        self.lock().messages.clone()
    }

    pub fn attempts(&self) -> Vec<CallbackAttempt> {
        self.lock().attempts.clone()
    }

    pub fn callbacks(&self) -> Vec<QueuedCallback> {
        self.lock().callbacks.clone()
    }

    /// Enqueues a callback due at `due`; returns its job id.
    pub fn push_callback(
        &self,
        message_id: MessageId,
        url: &str,
        report: Report,
        due: Millis,
    ) -> i64 {
        self.push(message_id, url, report, due, None)
    }

    /// Enqueues a callback already leased to this process's worker and held for it, as the
    /// SQLite store hands callbacks off (`Store::callbacks_handed_off`); returns its job id.
    pub fn push_handed_off(&self, message_id: MessageId, url: &str, report: Report) -> i64 {
        let id = self.push(message_id, url, report, 0, None);
        let mut inner = self.lock();
        let queued = inner.callbacks.last_mut().expect("just pushed");
        queued.leased_until = Millis::MAX;
        let job = queued.job.clone();
        inner.handed_off.push(job);
        id
    }

    /// Enqueues a JSON webhook due at `due`; returns its job id.
    pub fn push_webhook(
        &self,
        message_id: MessageId,
        url: &str,
        report: Report,
        due: Millis,
        webhook: WebhookJob,
    ) -> i64 {
        self.push(message_id, url, report, due, Some(webhook))
    }

    fn push(
        &self,
        message_id: MessageId,
        url: &str,
        report: Report,
        due: Millis,
        webhook: Option<WebhookJob>,
    ) -> i64 {
        let mut inner = self.lock();
        let id = inner.callbacks.len() as i64 + 1;
        inner.callbacks.push(QueuedCallback {
            job: CallbackJob {
                id,
                message_id,
                url: url.to_owned(),
                report,
                attempts: 0,
                enqueued_at: due,
                webhook,
            },
            due,
            leased_until: 0,
            state: CallbackNext::RetryAt(due),
        });
        id
    }

    /// Moves a message to `status` as the pipeline would.
    pub fn set_report(&self, id: &MessageId, report: Report) {
        let mut inner = self.lock();
        if let Some(v) = inner.views.get_mut(id) {
            v.status = report.status;
            v.report = Some(report);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_failing(&self) -> Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(crate::store::StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn upsert_account(&self, record: AccountRecord) -> Result<Account> {
        let mut inner = self.lock();
        if let Some(a) = inner
            .accounts
            .iter_mut()
            .find(|a| a.record.username == record.username)
        {
            a.record = record;
            return Ok(a.clone());
        }
        let account = Account {
            id: inner.accounts.len() as i64 + 1,
            record,
        };
        inner.accounts.push(account.clone());
        Ok(account)
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        Ok(self
            .lock()
            .accounts
            .iter()
            .find(|a| a.record.username == username)
            .cloned())
    }

    async fn accept(&self, message: NewMessage) -> Result<()> {
        self.check_failing()?;
        let state = if message.not_before > message.accepted_at {
            MessageState::scheduled()
        } else {
            MessageState::queued()
        };
        let state = match message.rejection {
            Some(r) => state.apply(r).state,
            None => state,
        };
        let view = MessageView {
            id: message.id.clone(),
            account_id: message.account_id,
            destination: message.destination.clone(),
            sender: message.sender.clone(),
            text: message.text.clone(),
            status: state.status,
            report: state.report,
            carrier: message.carrier.clone(),
            segment_count: message.segments.len() as u32,
            accepted_at: message.accepted_at,
            updated_at: message.accepted_at,
            not_before: message.not_before,
            priority: message.priority,
            price: message.price.clone(),
            callback_format: message.callback_format,
            omnimessage_id: message.omnimessage_id.clone(),
        };
        let mut inner = self.lock();
        inner.views.insert(message.id.clone(), view);
        inner.messages.push(message);
        Ok(())
    }

    async fn claim_submissions(
        &self,
        _: &str,
        _: Millis,
        _: usize,
        _: Duration,
    ) -> Result<Vec<SubmitJob>> {
        Ok(Vec::new())
    }

    async fn record_submit(&self, _: SubmitResult) -> Result<()> {
        Ok(())
    }

    async fn claim_whole_messages(
        &self,
        _: &str,
        _: Millis,
        _: usize,
        _: Duration,
    ) -> Result<Vec<SubmitJob>> {
        Ok(Vec::new())
    }

    async fn record_joint_submit(&self, _: Vec<SubmitResult>) -> Result<()> {
        Ok(())
    }

    async fn record_receipt(&self, _: ReceiptRecord) -> Result<ReceiptMatch> {
        Ok(ReceiptMatch::Pending)
    }

    async fn expire_overdue(&self, _: Millis, _: Duration, _: usize) -> Result<usize> {
        Ok(0)
    }

    /// Nothing is ever submitted here, so every message still waiting can be cancelled.
    async fn cancel(&self, id: &MessageId, account_id: i64, at: Millis) -> Result<CancelOutcome> {
        self.check_failing()?;
        let mut inner = self.lock();
        let Some(view) = inner
            .views
            .get_mut(id)
            .filter(|v| v.account_id == account_id)
        else {
            return Ok(CancelOutcome::Unknown);
        };
        let current = MessageState {
            status: view.status,
            report: view.report,
        };
        if current.status.is_final() {
            return Ok(CancelOutcome::TooLate);
        }
        let moved = current.apply(Report::cancelled()).state;
        view.status = moved.status;
        view.report = moved.report;
        view.updated_at = at;
        Ok(CancelOutcome::Cancelled)
    }

    async fn claim_callbacks(
        &self,
        now: Millis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<CallbackJob>> {
        let mut inner = self.lock();
        let mut claimed = Vec::new();
        let mut seen_messages = Vec::new();
        for cb in inner.callbacks.iter_mut() {
            if !matches!(cb.state, CallbackNext::RetryAt(_)) {
                continue;
            }
            // Only the oldest undelivered callback of a message is eligible: order is kept.
            if seen_messages.contains(&cb.job.message_id) {
                continue;
            }
            seen_messages.push(cb.job.message_id.clone());
            if claimed.len() < limit && cb.due <= now && cb.leased_until <= now {
                cb.leased_until = now + lease.as_millis() as Millis;
                claimed.push(cb.job.clone());
            }
        }
        Ok(claimed)
    }

    fn callbacks_handed_off(&self, _: Millis, limit: usize) -> Vec<CallbackJob> {
        let mut inner = self.lock();
        let taken = limit.min(inner.handed_off.len());
        inner.handed_off.drain(..taken).collect()
    }

    async fn record_callback_attempt(&self, attempt: CallbackAttempt) -> Result<()> {
        let mut inner = self.lock();
        if let Some(cb) = inner
            .callbacks
            .iter_mut()
            .find(|c| c.job.id == attempt.job.id)
        {
            cb.job.attempts += 1;
            cb.leased_until = 0;
            cb.state = attempt.next;
            if let CallbackNext::RetryAt(at) = attempt.next {
                cb.due = at;
            }
        }
        inner.attempts.push(attempt);
        Ok(())
    }

    async fn message(&self, id: &MessageId) -> Result<Option<MessageView>> {
        Ok(self.lock().views.get(id).cloned())
    }

    /// Acceptance order, newest first; the cursor is the 1-based acceptance position.
    async fn list_messages(&self, query: MessageQuery) -> Result<MessagePage> {
        let inner = self.lock();
        let limit = query.limit.max(1) as usize;
        let mut matching = inner
            .messages
            .iter()
            .enumerate()
            .rev()
            .map(|(i, m)| (i as i64 + 1, &inner.views[&m.id]))
            .filter(|(pos, v)| {
                query.after.is_none_or(|c| *pos < c.0)
                    && query.account_id.is_none_or(|a| v.account_id == a)
                    && query.status.is_none_or(|s| v.status == s)
                    && query
                        .destination
                        .as_ref()
                        .is_none_or(|d| &v.destination == d)
                    && query.sender.as_ref().is_none_or(|s| &v.sender == s)
                    && query.accepted_from.is_none_or(|t| v.accepted_at >= t)
                    && query.accepted_until.is_none_or(|t| v.accepted_at < t)
                    && query
                        .err
                        .is_none_or(|e| v.report.is_some_and(|r| r.err.0 == e))
            });
        let page: Vec<_> = matching.by_ref().take(limit).collect();
        let next = match (page.last(), matching.next()) {
            (Some((pos, _)), Some(_)) => Some(MessageCursor(*pos)),
            _ => None,
        };
        Ok(MessagePage {
            messages: page.into_iter().map(|(_, v)| v.clone()).collect(),
            next,
        })
    }

    async fn history(&self, _: &MessageId) -> Result<Vec<Event>> {
        Ok(Vec::new())
    }

    /// The configured balance: nothing is ever charged here.
    async fn balance(&self, account_id: i64) -> Result<Money> {
        let inner = self.lock();
        let account = inner
            .accounts
            .iter()
            .find(|a| a.id == account_id)
            .ok_or(StoreError::NotFound)?;
        Money::parse(&account.record.balance).map_err(|_| StoreError::NotFound)
    }

    async fn blacklist_add(&self, scope: BlacklistScope, number: &str, _: Millis) -> Result<bool> {
        let mut inner = self.lock();
        let entry = (scope, number.to_owned());
        if inner.blacklist.contains(&entry) {
            return Ok(false);
        }
        inner.blacklist.push(entry);
        Ok(true)
    }

    async fn blacklist_remove(&self, scope: BlacklistScope, number: &str) -> Result<bool> {
        let mut inner = self.lock();
        let before = inner.blacklist.len();
        inner
            .blacklist
            .retain(|(s, n)| !(*s == scope && n == number));
        Ok(inner.blacklist.len() < before)
    }

    async fn blacklist(&self, scope: BlacklistScope) -> Result<Vec<String>> {
        let mut numbers: Vec<String> = self
            .lock()
            .blacklist
            .iter()
            .filter(|(s, _)| *s == scope)
            .map(|(_, n)| n.clone())
            .collect();
        numbers.sort();
        Ok(numbers)
    }

    async fn accounts(&self) -> Result<Vec<Account>> {
        let mut accounts = self.lock().accounts.clone();
        accounts.sort_by(|a, b| a.record.username.cmp(&b.record.username));
        Ok(accounts)
    }

    /// Totals and carriers only: the series and the other breakdowns belong to the SQLite
    /// store's tests.
    async fn overview(&self, q: OverviewQuery) -> Result<Overview> {
        let inner = self.lock();
        let mut overview = Overview::default();
        let mut carriers: Vec<(Option<String>, StatusCounts)> = Vec::new();
        for view in inner.views.values().filter(|v| {
            (q.from..q.to).contains(&v.accepted_at) && q.account.is_none_or(|a| a == v.account_id)
        }) {
            overview.totals.add(view.status, 1);
            match carriers.iter_mut().find(|(c, _)| *c == view.carrier) {
                Some((_, counts)) => counts.add(view.status, 1),
                None => {
                    let mut counts = StatusCounts::default();
                    counts.add(view.status, 1);
                    carriers.push((view.carrier.clone(), counts));
                }
            }
        }
        overview.by_carrier = carriers;
        Ok(overview)
    }

    async fn replay_callback(
        &self,
        id: &MessageId,
        account: Option<i64>,
        at: Millis,
    ) -> Result<ReplayOutcome> {
        self.check_failing()?;
        let mut inner = self.lock();
        let Some(view) = inner
            .views
            .get(id)
            .filter(|v| account.is_none_or(|a| a == v.account_id))
            .cloned()
        else {
            return Ok(ReplayOutcome::Unknown);
        };
        let Some(report) = view.report else {
            return Ok(ReplayOutcome::NoReport);
        };
        let url = inner
            .messages
            .iter()
            .find(|m| m.id == *id)
            .and_then(|m| m.dlr_url.clone());
        let Some(url) = url else {
            return Ok(ReplayOutcome::NoUrl);
        };
        let callback_id = inner.callbacks.len() as i64 + 1;
        inner.callbacks.push(QueuedCallback {
            job: CallbackJob {
                id: callback_id,
                message_id: id.clone(),
                url,
                report,
                attempts: 0,
                // The in-memory store keeps no callback format: replays are query GETs.
                webhook: None,
                enqueued_at: at,
            },
            due: at,
            leased_until: 0,
            state: CallbackNext::RetryAt(at),
        });
        Ok(ReplayOutcome::Queued { callback_id })
    }

    async fn message_counts(&self) -> Result<Vec<MessageCount>> {
        let mut counts: Vec<MessageCount> = Vec::new();
        for v in self.lock().views.values() {
            match counts
                .iter_mut()
                .find(|c| c.carrier == v.carrier && c.status == v.status)
            {
                Some(c) => c.count += 1,
                None => counts.push(MessageCount {
                    carrier: v.carrier.clone(),
                    status: v.status,
                    count: 1,
                }),
            }
        }
        Ok(counts)
    }

    async fn webhook_secret(&self, account_id: i64) -> Result<String> {
        let mut inner = self.lock();
        if !inner.accounts.iter().any(|a| a.id == account_id) {
            return Err(StoreError::NotFound);
        }
        Ok(inner
            .webhook_secrets
            .entry(account_id)
            .or_insert_with(|| WebhookSecret::generate().as_str().to_owned())
            .clone())
    }

    async fn set_webhook_secret(&self, account_id: i64, secret: &str) -> Result<()> {
        let mut inner = self.lock();
        if !inner.accounts.iter().any(|a| a.id == account_id) {
            return Err(StoreError::NotFound);
        }
        inner.webhook_secrets.insert(account_id, secret.to_owned());
        Ok(())
    }

    async fn next_callback_due(&self) -> Result<Option<Millis>> {
        Ok(self
            .lock()
            .callbacks
            .iter()
            .filter(|c| matches!(c.state, CallbackNext::RetryAt(_)))
            .map(|c| c.due.max(c.leased_until))
            .min())
    }
}
