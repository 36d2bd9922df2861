//! Callback delivery: tells customers, at their dlr-url, every status change of their messages
//! (status-model §2).
//!
//! One engine, two formats, chosen per message when it was accepted: the plain-text API's GET
//! with the report in the query string ([`url`]), or a JSON report POSTed and signed with the
//! account's secret ([`webhook`], [`signature`]). Both share the queue, the ordering, the retry
//! schedule, the SSRF guard and the recorded attempts.
//!
//! The store's callback queue is the source of truth. [`CallbackWorker::step`] claims due
//! callbacks with a lease (at most one per message, its oldest, so a message's callbacks arrive
//! in order), requests them concurrently, and records every attempt: a 2xx answer acknowledges;
//! anything else, a timeout or a refused target is retried on the [`RetryPolicy`] schedule, and a
//! callback whose schedule is spent is marked exhausted: visible and replayable, never dropped.
//!
//! A target refused by the SSRF guard follows the retry schedule like any other failed attempt
//! rather than being exhausted at once: what the guard sees can change without the URL changing
//! (the customer's DNS moving back from a temporary private address, the operator adding the
//! network to `allow_networks`), and one rule for all failures keeps the callback's history easy
//! to read. Only a URL that can never be requested (unparseable, not http/https) is exhausted on
//! its first attempt.
//!
//! Redirects are not followed (a redirect to an internal address would sidestep the guard for IP
//! literals) and system proxies are not used (a proxy would resolve the name itself).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::config::CallbacksConfig;
use crate::metrics::{CallbackOutcome, Metrics};
use crate::store::{
    CallbackAttempt, CallbackFormat, CallbackJob, CallbackNext, Millis, SharedStore, StoreError,
};

pub mod client;
pub mod guard;
pub mod policy;
pub mod signature;
pub mod url;
pub mod webhook;

pub use client::CallbackClient;
pub use guard::{AddressPolicy, GuardedResolver};
pub use policy::RetryPolicy;
pub use url::callback_url;

/// How long the worker sleeps at most when nothing says work is due: a safety net for jobs
/// another process enqueued without waking us.
const POLL: Duration = Duration::from_secs(1);

/// The shortest sleep between steps: should the store name a due time the next claim cannot
/// meet after all, the worker still does not spin on it.
const MIN_PAUSE: Duration = Duration::from_millis(20);

pub struct CallbackWorker {
    pub store: SharedStore,
    pub client: CallbackClient,
    pub policy: RetryPolicy,
    /// Callbacks in flight at once (and claimed per step).
    pub concurrency: usize,
    /// Checked for IP-literal hosts, which bypass the resolver.
    pub addresses: AddressPolicy,
    /// How long a claimed callback stays ours; longer than any request may take.
    pub lease: Duration,
    /// Where attempts, exhaustion and receipt-to-callback latency are counted.
    pub metrics: Arc<Metrics>,
}

/// What one attempt came to, before it is recorded.
struct Delivery {
    url: String,
    http_status: Option<u16>,
    error: Option<String>,
    duration_ms: i64,
    /// The request can never work (bad URL): no retry.
    hopeless: bool,
}

impl Delivery {
    /// An attempt that ended before any request was sent; `hopeless` when it never can be.
    fn not_sent(url: String, error: String, hopeless: bool) -> Self {
        Self {
            url,
            http_status: None,
            error: Some(error),
            duration_ms: 0,
            hopeless,
        }
    }
}

impl CallbackWorker {
    pub fn from_config(store: SharedStore, config: &CallbacksConfig) -> Self {
        let addresses = AddressPolicy::new(config.allow_networks.clone());
        let timeout = Duration::from_secs(config.timeout_secs);
        Self {
            store,
            client: CallbackClient::new(addresses.clone(), timeout),
            policy: RetryPolicy::new(config.schedule.clone()),
            concurrency: config.concurrency.max(1),
            addresses,
            lease: timeout * 2 + Duration::from_secs(5),
            metrics: Arc::new(Metrics::new(Vec::new())),
        }
    }

    /// Claims the callbacks due at `now`, delivers them concurrently and records each attempt.
    /// Returns how many were attempted (0: nothing was due).
    pub async fn step(&self, now: Millis) -> Result<usize, StoreError> {
        let jobs = self
            .store
            .claim_callbacks(now, self.concurrency, self.lease)
            .await?;
        let count = jobs.len();
        join_all(jobs.into_iter().map(|job| self.attempt(job, now))).await;
        Ok(count)
    }

    /// Attempts `job` and records the attempt; returns whether the callback is due again later
    /// (a retry was scheduled, or recording failed and its lease will run out).
    async fn attempt(&self, job: CallbackJob, now: Millis) -> bool {
        let delivery = self.deliver(&job, now).await;
        let next = if delivery.error.is_none()
            && delivery.http_status.is_some_and(|s| acknowledges(&job, s))
        {
            CallbackNext::Done
        } else if delivery.hopeless {
            CallbackNext::Exhausted
        } else {
            self.policy
                .after_failure(job.attempts, now + delivery.duration_ms, &mut rand::rng())
        };
        tracing::debug!(
            message = %job.message_id,
            attempt = job.attempts + 1,
            http_status = ?delivery.http_status,
            error = ?delivery.error,
            ?next,
            "callback attempt"
        );
        let format = match job.webhook {
            None => CallbackFormat::Query,
            Some(_) => CallbackFormat::Json,
        };
        if next == CallbackNext::Exhausted {
            tracing::warn!(message = %job.message_id, "callback exhausted its retries");
            self.metrics.callback_exhausted(format);
        }
        let outcome = match (next, delivery.http_status) {
            (CallbackNext::Done, _) => {
                let latency = (now_millis() - job.enqueued_at).max(0) as u64;
                self.metrics
                    .receipt_acknowledged(job.report.status, Duration::from_millis(latency));
                CallbackOutcome::Acknowledged
            }
            (_, Some(_)) => CallbackOutcome::Refused,
            (_, None) => CallbackOutcome::Error,
        };
        self.metrics.callback_attempt(format, outcome);
        let attempt = CallbackAttempt {
            job: job.attempted(),
            at: now,
            url: delivery.url,
            http_status: delivery.http_status,
            error: delivery.error,
            duration_ms: delivery.duration_ms,
            next,
        };
        // If this fails the lease runs out and the callback is attempted again: a duplicate
        // callback is better than a lost one.
        if let Err(e) = self.store.record_callback_attempt(attempt).await {
            tracing::error!(error = %e, job = job.id, "recording a callback attempt failed");
            return true;
        }
        matches!(next, CallbackNext::RetryAt(_))
    }

    async fn deliver(&self, job: &CallbackJob, now: Millis) -> Delivery {
        let started = Instant::now();
        let elapsed = || started.elapsed().as_millis() as i64;
        let url = match &job.webhook {
            None => callback_url(&job.url, &job.message_id, &job.report),
            Some(_) => url::target_url(&job.url),
        };
        let url = match url {
            Ok(url) => url,
            Err(e) => return Delivery::not_sent(job.url.clone(), e.to_string(), true),
        };
        let host = url.host_str().unwrap_or_default();
        if let Err(refused) = guard::check_literal_host(host, &self.addresses) {
            return Delivery::not_sent(url.into(), refused.to_string(), false);
        }
        let request = match &job.webhook {
            None => client::get(url.as_str()),
            Some(webhook) => {
                let body = webhook::body(&job.message_id, &job.report, webhook);
                let headers = webhook::headers(&webhook.secret, &webhook.id, now, &body);
                client::post_json(url.as_str(), headers, body)
            }
        };
        let request = match request {
            Ok(request) => request,
            // A URL the WHATWG parser took but `http` cannot send: it never will.
            Err(e) => {
                let error = format!("invalid callback URL: {e}");
                return Delivery::not_sent(url.into(), error, true);
            }
        };
        let (http_status, error) = match self.client.send(request).await {
            Ok(status) => (Some(status), None),
            Err(e) => (None, Some(e)),
        };
        Delivery {
            url: url.into(),
            http_status,
            error,
            duration_ms: elapsed(),
            hopeless: false,
        }
    }

    /// Delivers until `shutdown`. Attempts run as their own tasks, up to `concurrency` at once,
    /// and a free slot is filled at once: one customer's slow or dead receiver holds one slot
    /// for its timeout, not everyone's callbacks. Between claims the worker sleeps until the
    /// store's next due time, a `wake`, a freed slot or [`POLL`], whichever comes first. On
    /// shutdown, attempts in progress are finished (bounded by the lease) so none is left
    /// half-recorded.
    pub async fn run(self, wake: Arc<Notify>, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.concurrency));
        let freed = Arc::new(Notify::new());
        // An attempt scheduled a later one since the store was last asked when the next is due.
        let retried = Arc::new(AtomicBool::new(false));
        // The store's last answer, and when it was asked. Reused for [`MIN_PAUSE`] (the
        // shortest sleep anyway) unless an attempt of ours was retried meanwhile: while
        // callbacks stream through, the loop runs as each attempt ends, and most of those runs
        // find nothing to claim (a read on the read pool's thread each: that thread alone took
        // 1.23% of the process's samples in `perf record` of `e2e_bench throughput 40000 256`).
        // What else makes a callback due wakes the loop and is claimed, or was due already when
        // the store was asked.
        let mut known_due: Option<(Instant, Option<Millis>)> = None;
        while !shutdown.is_cancelled() {
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = freed.notified() => continue,
                }
            }
            let now = now_millis();
            let pause = match this.store.claim_callbacks(now, free, this.lease).await {
                Ok(jobs) => {
                    let claimed = jobs.len();
                    for job in jobs {
                        let permit = slots
                            .clone()
                            .try_acquire_owned()
                            .expect("claimed no more than the free slots");
                        let (this, freed, retried) = (this.clone(), freed.clone(), retried.clone());
                        let attempt = async move {
                            if this.attempt(job, now).await {
                                retried.store(true, Ordering::Relaxed);
                            }
                            drop(permit);
                            freed.notify_one();
                        };
                        // Boxed (~1.8 KB otherwise moved by value), as the pipeline's
                        // per-message tasks are (see `pipeline::Submitter::run`).
                        tokio::spawn(Box::pin(attempt));
                    }
                    if claimed == free {
                        // Every slot was filled: more may be waiting as soon as one frees.
                        continue;
                    }
                    if claimed > 0 {
                        // The attempts just started each free a slot as they end, and that
                        // wakes this loop: no need to ask the store when the next is due.
                        POLL
                    } else {
                        let stale = retried.swap(false, Ordering::Relaxed)
                            || known_due.is_none_or(|(asked, _)| asked.elapsed() >= MIN_PAUSE);
                        if stale {
                            known_due = match this.store.next_callback_due().await {
                                Ok(due) => Some((Instant::now(), due)),
                                Err(e) => {
                                    tracing::warn!(error = %e, "reading the next due time failed");
                                    None
                                }
                            };
                        }
                        match known_due {
                            Some((_, Some(due))) => {
                                Duration::from_millis((due - now_millis()).max(0) as u64)
                                    .clamp(MIN_PAUSE, POLL)
                            }
                            _ => POLL,
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming callbacks failed");
                    POLL
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wake.notified() => {}
                // A finished attempt may have let the message's next callback out of waiting
                // (the store promotes it with the attempt): claim it now, not at the next poll.
                _ = freed.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        // Callbacks the store already leased to this worker are attempted too, like those in
        // flight, rather than left until their leases run out; all within one lease.
        let finish = async {
            let now = now_millis();
            for job in this.store.callbacks_handed_off(now, usize::MAX) {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let this = this.clone();
                tokio::spawn(Box::pin(async move {
                    this.attempt(job, now).await;
                    drop(permit);
                }));
            }
            slots.acquire_many(this.concurrency as u32).await
        };
        let _ = tokio::time::timeout(this.lease, finish).await;
    }
}

/// Whether the receiver's answer acknowledges the callback: 2xx for the query-string GET (the
/// plain-text API's contract), 2xx or 3xx for a JSON webhook (api.md §2). Redirects are never
/// followed, so a 3xx is the receiver's own answer.
fn acknowledges(job: &CallbackJob, http_status: u16) -> bool {
    match job.webhook {
        None => (200..300).contains(&http_status),
        Some(_) => (200..400).contains(&http_status),
    }
}

/// An error with its causes ("client error (Connect): callback host x resolves to ..."), so the
/// recorded attempt says why, not just that it failed.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests;
