//! The callback queue: claimed one per message, oldest first, so a customer never hears SENT
//! after DELIVERED. One queue for both formats: a claimed callback of a JSON-webhook message
//! comes with what its body and signature need.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::{accounts, codec, detail, history, prepared::Db, state};
use crate::callbacks::signature::WebhookSecret;
use crate::callbacks::webhook::webhook_id;
use crate::domain::MessageId;
use crate::store::{
    CallbackAttempt, CallbackFormat, CallbackJob, CallbackNext, Millis, ReplayOutcome, Result,
    StoreError, WebhookJob,
};

pub(super) fn claim(
    conn: &Db<'_>,
    now: Millis,
    limit: usize,
    lease: Duration,
) -> Result<Vec<CallbackJob>> {
    // Only a message's oldest undelivered callback is pending; the later ones are waiting
    // (`state::enqueue_callback`), so while it is leased or backing off they wait too. A lease
    // moves `due_at` to its end, so the index yields due work first.
    let mut statement = conn.prepare_cached(
        "SELECT c.id, c.message_id, c.url, c.status, c.stat, c.dlr_mask, c.err, c.attempts,
                c.created_at, m.callback_format, m.omnimessage_id, m.destination, m.sender,
                m.price, m.segment_count, m.account_id, a.webhook_secret
           FROM callbacks c
           JOIN messages m ON m.id = c.message_id
           JOIN accounts a ON a.id = m.account_id
          WHERE c.state = 'pending' AND c.due_at <= ?1
            AND (c.lease_until IS NULL OR c.lease_until <= ?1)
          ORDER BY c.due_at, c.id
          LIMIT ?2",
    )?;
    const COLUMNS: &[&str] = &[
        "id",
        "message_id",
        "url",
        "status",
        "stat",
        "dlr_mask",
        "err",
        "attempts",
        "created_at",
        "callback_format",
        "omnimessage_id",
        "destination",
        "sender",
        "price",
        "segment_count",
        "account_id",
        "webhook_secret",
    ];
    let mut rows = statement.query(params![now, i64::try_from(limit).unwrap_or(i64::MAX)])?;
    // Secrets are resolved after the query: an account without one gets it written then, and
    // writing to a table a running query reads is best avoided.
    let mut claimed: Vec<(CallbackJob, Option<Json>)> = Vec::new();
    while let Some(row) = rows.next()? {
        let row = &codec::Named::new(row, COLUMNS);
        let message_id: String = row.get("message_id")?;
        let id: i64 = row.get("id")?;
        let message_id = codec::message_id(&message_id)?;
        let format = codec::callback_format(&row.get::<String>("callback_format")?)?;
        let json = match format {
            CallbackFormat::Query => None,
            CallbackFormat::Json => Some(Json {
                account_id: row.get("account_id")?,
                secret: row.get("webhook_secret")?,
                id: webhook_id(&message_id, id),
                omnimessage_id: row.get("omnimessage_id")?,
                destination: row.get("destination")?,
                sender: row.get("sender")?,
                part_price: row.get("price")?,
                parts_count: row.get("segment_count")?,
                changed_at: row.get("created_at")?,
            }),
        };
        claimed.push((job_of(row, message_id)?, json));
    }
    drop(rows);
    let mut jobs = Vec::with_capacity(claimed.len());
    for (mut job, json) in claimed {
        if let Some(json) = json {
            let secret = match json.secret {
                Some(secret) => secret,
                // An account the configuration never gave one gets its secret now, kept like
                // any other.
                None => accounts::webhook_secret(
                    conn,
                    json.account_id,
                    WebhookSecret::generate().as_str(),
                )?,
            };
            job.webhook = Some(WebhookJob {
                id: json.id,
                omnimessage_id: json.omnimessage_id,
                destination: json.destination,
                sender: json.sender,
                part_price: json.part_price,
                parts_count: json.parts_count,
                changed_at: json.changed_at,
                secret: WebhookSecret::parse(&secret)
                    .map_err(|e| codec::corrupt(format!("webhook secret: {e}")))?,
            });
        }
        jobs.push(job);
    }
    let lease_until = now.saturating_add(codec::millis(lease));
    // Due again when the lease runs out, should the attempt never be recorded.
    let mut lease_job =
        conn.prepare_cached("UPDATE callbacks SET lease_until = ?1, due_at = ?1 WHERE id = ?2")?;
    for job in &jobs {
        lease_job.execute(params![lease_until, job.id])?;
    }
    Ok(jobs)
}

/// The job of message `message_id`'s callback in `row`, which selects its `id`, `url`, report
/// columns, `attempts` and `created_at`: a query-string one (a webhook's is added by the claim).
pub(super) fn job_of(row: &codec::Named<'_, '_>, message_id: MessageId) -> Result<CallbackJob> {
    Ok(CallbackJob {
        id: row.get("id")?,
        report: codec::report(row)?
            .ok_or_else(|| codec::corrupt(format!("callback of {message_id} without report")))?,
        message_id,
        url: row.get("url")?,
        attempts: row.get("attempts")?,
        enqueued_at: row.get("created_at")?,
        webhook: None,
    })
}

/// What a claimed JSON webhook's row says, before its account's secret is resolved.
struct Json {
    account_id: i64,
    secret: Option<String>,
    id: String,
    omnimessage_id: Option<String>,
    destination: String,
    sender: String,
    part_price: Option<String>,
    parts_count: u32,
    changed_at: Millis,
}

/// The callback row's new state, the attempt's `next` word and when it is due again.
fn outcome(attempt: &CallbackAttempt) -> (&'static str, &'static str, Option<Millis>) {
    match attempt.next {
        CallbackNext::Done => ("done", "done", None),
        CallbackNext::RetryAt(at) => ("retry", "pending", Some(at)),
        CallbackNext::Exhausted => ("exhausted", "exhausted", None),
    }
}

/// The history line of `attempt`, as JSON. It carries the status the callback told, and how
/// it was told, as the claim handed them out (the callback row and its message are not read
/// again), so it is written before the attempt reaches the writer thread.
pub(super) fn attempt_detail(attempt: &CallbackAttempt) -> Result<String> {
    let (next, _, retry_at) = outcome(attempt);
    let job = &attempt.job;
    state::detail_json(&detail::CallbackAttempt {
        callback_id: job.id,
        duration_ms: attempt.duration_ms,
        error: attempt.error.as_deref(),
        format: job.format.as_str(),
        http_status: attempt.http_status,
        next,
        retry_at,
        status: job.told.as_str(),
        url: &attempt.url,
        webhook_id: (job.format == CallbackFormat::Json)
            .then(|| webhook_id(&job.message_id, job.id)),
    })
}

/// Records `attempt`, whose history line `detail` is (from [`attempt_detail`]).
pub(super) fn record_attempt(conn: &Db<'_>, attempt: &CallbackAttempt, detail: &str) -> Result<()> {
    let (_, state, retry_at) = outcome(attempt);
    let job = &attempt.job;
    // Only a pending callback moves: a straggling attempt whose lease had run out must not
    // revive one already delivered or given up.
    let moved = conn
        .prepare_cached(
            "UPDATE callbacks
                SET state = ?, due_at = COALESCE(?, due_at), attempts = attempts + 1,
                    lease_until = NULL
              WHERE id = ? AND state = 'pending'",
        )?
        .execute(params![state, retry_at, job.id])?;
    // A straggler's attempt is still history; only a callback that never existed is not.
    if moved == 0
        && conn
            .prepare_cached("SELECT 1 FROM callbacks WHERE id = ?")?
            .query_row([job.id], |_| Ok(()))
            .optional()?
            .is_none()
    {
        return Err(StoreError::NotFound);
    }
    if moved > 0 && state != "pending" {
        // Handed off from when the attempt ended; a JSON webhook's job is left to a claim.
        let ended = attempt.at.saturating_add(attempt.duration_ms.max(0));
        let plain = job.format == CallbackFormat::Query;
        state::promote_next_callback(conn, &job.message_id, ended, plain)?;
    }
    history::record(conn, &job.message_id, attempt.at, "callback", None, detail)?;
    Ok(())
}

/// Queues the message's current report again as a new callback (an operator or customer asked
/// for it, e.g. after their endpoint was down past the retry schedule). It waits behind any
/// callback of the message still pending, so the order the customer sees still holds.
pub(super) fn replay(
    conn: &Db<'_>,
    id: &MessageId,
    account: Option<i64>,
    at: Millis,
) -> Result<ReplayOutcome> {
    let found = conn
        .prepare_cached(
            "SELECT account_id, dlr_url, status, stat, dlr_mask, err FROM messages WHERE id = ?",
        )?
        .query_row([id.as_str()], |row| {
            Ok((
                row.get::<_, i64>("account_id")?,
                row.get::<_, Option<String>>("dlr_url")?,
                codec::report(row),
            ))
        })
        .optional()?;
    let Some((owner, url, report)) = found else {
        return Ok(ReplayOutcome::Unknown);
    };
    if account.is_some_and(|a| a != owner) {
        return Ok(ReplayOutcome::Unknown);
    }
    let Some(report) = report? else {
        return Ok(ReplayOutcome::NoReport);
    };
    let Some(url) = url else {
        return Ok(ReplayOutcome::NoUrl);
    };
    // Left to a claim: a replay is rare, and the claim reads what a webhook needs.
    let callback_id = state::enqueue_callback(conn, id, &url, &report, at, false)?;
    let mut detail = codec::report_json(&report);
    detail["callback_id"] = callback_id.into();
    detail["url"] = url.into();
    state::record_event(conn, id, at, "replay", None, &detail)?;
    Ok(ReplayOutcome::Queued { callback_id })
}
