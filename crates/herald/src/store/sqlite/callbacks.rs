//! The callback queue: claimed one per message, oldest first, so a customer never hears SENT
//! after DELIVERED.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{codec, state};
use crate::store::{CallbackAttempt, CallbackJob, CallbackNext, Millis, Result, StoreError};

pub(super) fn claim(
    conn: &Connection,
    now: Millis,
    limit: usize,
    lease: Duration,
) -> Result<Vec<CallbackJob>> {
    // Only a message's oldest pending callback is eligible: while it waits (leased, or backing
    // off) the later ones wait too. Exhausted ones are no longer pending and block nothing.
    let mut statement = conn.prepare_cached(
        "SELECT c.id, c.message_id, c.url, c.status, c.stat, c.dlr_mask, c.err, c.attempts
           FROM callbacks c
          WHERE c.state = 'pending' AND c.due_at <= ?1
            AND (c.lease_until IS NULL OR c.lease_until <= ?1)
            AND NOT EXISTS (SELECT 1 FROM callbacks e
                             WHERE e.state = 'pending' AND e.message_id = c.message_id
                               AND e.id < c.id)
          ORDER BY c.due_at, c.id
          LIMIT ?2",
    )?;
    let mut rows = statement.query(params![now, i64::try_from(limit).unwrap_or(i64::MAX)])?;
    let mut jobs = Vec::new();
    while let Some(row) = rows.next()? {
        let message_id: String = row.get("message_id")?;
        jobs.push(CallbackJob {
            id: row.get("id")?,
            message_id: codec::message_id(&message_id)?,
            url: row.get("url")?,
            report: codec::report(row)?.ok_or_else(|| {
                codec::corrupt(format!("callback of {message_id} without report"))
            })?,
            attempts: row.get("attempts")?,
        });
    }
    drop(rows);
    let lease_until = now.saturating_add(codec::millis(lease));
    let mut lease_job = conn.prepare_cached("UPDATE callbacks SET lease_until = ? WHERE id = ?")?;
    for job in &jobs {
        lease_job.execute(params![lease_until, job.id])?;
    }
    Ok(jobs)
}

pub(super) fn record_attempt(conn: &Connection, attempt: &CallbackAttempt) -> Result<()> {
    let (next, state, retry_at) = match attempt.next {
        CallbackNext::Done => ("done", "done", None),
        CallbackNext::RetryAt(at) => ("retry", "pending", Some(at)),
        CallbackNext::Exhausted => ("exhausted", "exhausted", None),
    };
    // Only a pending callback moves: a straggling attempt whose lease had run out must not
    // revive one already delivered or given up. The row tells which message and status the
    // event is about; a straggler's is read separately (rare).
    let moved: Option<(String, String)> = conn
        .prepare_cached(
            "UPDATE callbacks
                SET state = ?, due_at = COALESCE(?, due_at), attempts = attempts + 1,
                    lease_until = NULL
              WHERE id = ? AND state = 'pending'
             RETURNING message_id, status",
        )?
        .query_row(params![state, retry_at, attempt.job_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let (message_id, status) = match moved {
        Some(row) => row,
        None => conn
            .prepare_cached("SELECT message_id, status FROM callbacks WHERE id = ?")?
            .query_row([attempt.job_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?
            .ok_or(StoreError::NotFound)?,
    };
    let detail = serde_json::json!({
        "callback_id": attempt.job_id,
        "url": attempt.url,
        "http_status": attempt.http_status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "next": next,
        "retry_at": retry_at,
        "status": status,
    });
    let message_id = codec::message_id(&message_id)?;
    // The event carries the status the callback told.
    state::record_event(conn, &message_id, attempt.at, "callback", None, &detail)?;
    Ok(())
}
