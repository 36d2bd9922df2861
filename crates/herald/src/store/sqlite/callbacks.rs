//! The callback queue: claimed one per message, oldest first, so a customer never hears SENT
//! after DELIVERED.

use std::time::Duration;

use sqlx::{Row, SqliteConnection};

use super::{codec, state};
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

    let lease_until = now.saturating_add(codec::millis(lease));
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let message_id: String = row.try_get("message_id")?;
        let job = CallbackJob {
            id: row.try_get("id")?,
            message_id: MessageId::parse(&message_id)
                .ok_or_else(|| codec::corrupt(format!("message id {message_id:?}")))?,
            url: row.try_get("url")?,
            report: codec::report(&row)?
                .ok_or_else(|| codec::corrupt(format!("callback {} without report", message_id)))?,
            attempts: row.try_get("attempts")?,
        };
        sqlx::query("UPDATE callbacks SET lease_until = ? WHERE id = ?")
            .bind(lease_until)
            .bind(job.id)
            .execute(&mut *conn)
            .await?;
        jobs.push(job);
    }
    Ok(jobs)
}

pub(super) async fn record_attempt(
    conn: &mut SqliteConnection,
    attempt: &CallbackAttempt,
) -> Result<()> {
    let row = sqlx::query("SELECT message_id, status FROM callbacks WHERE id = ?")
        .bind(attempt.job_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let message_id: String = row.try_get("message_id")?;
    let message_id = MessageId::parse(&message_id)
        .ok_or_else(|| codec::corrupt(format!("message id {message_id:?}")))?;
    let status: String = row.try_get("status")?;

    let (next, retry_at) = match attempt.next {
        CallbackNext::Done => ("done", None),
        CallbackNext::RetryAt(at) => ("retry", Some(at)),
        CallbackNext::Exhausted => ("exhausted", None),
    };
    let detail = serde_json::json!({
        "callback_id": attempt.job_id,
        "status": status,
        "url": attempt.url,
        "http_status": attempt.http_status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "next": next,
        "retry_at": retry_at,
    });
    state::record_event(conn, &message_id, attempt.at, "callback", None, detail).await?;

    let (state, due_at) = match attempt.next {
        CallbackNext::Done => ("done", None),
        CallbackNext::RetryAt(at) => ("pending", Some(at)),
        CallbackNext::Exhausted => ("exhausted", None),
    };
    // Only a pending callback moves: a straggling attempt whose lease had run out must not
    // revive one already delivered or given up.
    sqlx::query(
        "UPDATE callbacks
            SET state = ?, due_at = COALESCE(?, due_at), attempts = attempts + 1,
                lease_until = NULL
          WHERE id = ? AND state = 'pending'",
    )
    .bind(state)
    .bind(due_at)
    .bind(attempt.job_id)
    .execute(conn)
    .await?;
    Ok(())
}
