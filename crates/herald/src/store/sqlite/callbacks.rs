//! The callback queue: claimed one per message, oldest first, so a customer never hears SENT
//! after DELIVERED.

use std::time::Duration;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::codec;
use crate::domain::MessageId;
use crate::store::{CallbackAttempt, CallbackJob, CallbackNext, Millis, Result, StoreError};

pub(super) async fn claim(
    conn: &mut SqliteConnection,
    now: Millis,
    limit: usize,
    lease: Duration,
) -> Result<Vec<CallbackJob>> {
    // Only a message's oldest pending callback is eligible: while it waits (leased, or backing
    // off) the later ones wait too. Exhausted ones are no longer pending and block nothing.
    let rows = sqlx::query(
        "SELECT c.id, c.message_id, c.url, c.status, c.stat, c.dlr_mask, c.err, c.attempts
           FROM callbacks c
          WHERE c.state = 'pending' AND c.due_at <= ?1
            AND (c.lease_until IS NULL OR c.lease_until <= ?1)
            AND NOT EXISTS (SELECT 1 FROM callbacks e
                             WHERE e.state = 'pending' AND e.message_id = c.message_id
                               AND e.id < c.id)
          ORDER BY c.due_at, c.id
          LIMIT ?2",
    )
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;

    let jobs = rows.iter().map(callback_job).collect::<Result<Vec<_>>>()?;
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let claimed = serde_json::Value::Array(jobs.iter().map(|job| job.id.into()).collect());
    sqlx::query(
        "UPDATE callbacks SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(now.saturating_add(codec::millis(lease)))
    .bind(claimed.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(jobs)
}

fn callback_job(row: &SqliteRow) -> Result<CallbackJob> {
    let message_id: String = row.try_get("message_id")?;
    Ok(CallbackJob {
        id: row.try_get("id")?,
        message_id: MessageId::parse(&message_id)
            .ok_or_else(|| codec::corrupt(format!("message id {message_id:?}")))?,
        url: row.try_get("url")?,
        report: codec::report(row)?
            .ok_or_else(|| codec::corrupt(format!("callback of {message_id} without report")))?,
        attempts: row.try_get("attempts")?,
    })
}

pub(super) async fn record_attempt(
    conn: &mut SqliteConnection,
    attempt: &CallbackAttempt,
) -> Result<()> {
    let (next, state, retry_at) = match attempt.next {
        CallbackNext::Done => ("done", "done", None),
        CallbackNext::RetryAt(at) => ("retry", "pending", Some(at)),
        CallbackNext::Exhausted => ("exhausted", "exhausted", None),
    };
    let detail = serde_json::json!({
        "callback_id": attempt.job_id,
        "url": attempt.url,
        "http_status": attempt.http_status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "next": next,
        "retry_at": retry_at,
    });
    // One round trip: the event (with the status the callback carried), the job's next state,
    // and whether the job exists at all. Only a pending callback moves: a straggling attempt
    // whose lease had run out must not revive one already delivered or given up.
    let found = sqlx::query(
        "INSERT INTO events (message_id, at, kind, segment, detail)
              SELECT message_id, ?, 'callback', NULL, json_set(?, '$.status', status)
                FROM callbacks WHERE id = ?;
         UPDATE callbacks
            SET state = ?, due_at = COALESCE(?, due_at), attempts = attempts + 1,
                lease_until = NULL
          WHERE id = ? AND state = 'pending';
         SELECT id FROM callbacks WHERE id = ?;",
    )
    .bind(attempt.at)
    .bind(detail.to_string())
    .bind(attempt.job_id)
    .bind(state)
    .bind(retry_at)
    .bind(attempt.job_id)
    .bind(attempt.job_id)
    .fetch_optional(conn)
    .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}
