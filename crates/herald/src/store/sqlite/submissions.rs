//! The submission queue: segments claimed with a lease, and what the carrier answered.

use std::time::Duration;

use herald_smpp::ids::IdKeys;
use sqlx::{Row, SqliteConnection};

use super::{charges, codec, receipts, state};
use crate::domain::{MessageId, Report};
use crate::store::{Millis, Result, StoreError, SubmitJob, SubmitOutcome, SubmitResult};

pub(super) async fn claim(
    conn: &mut SqliteConnection,
    carrier: &str,
    now: Millis,
    limit: usize,
    lease: Duration,
) -> Result<Vec<SubmitJob>> {
    let rows = sqlx::query(
        "SELECT s.message_id, s.seq, s.data_coding, s.esm_class, s.payload, s.attempts,
                m.carrier, m.destination, m.sender, m.valid_until, m.segment_count
           FROM segments s JOIN messages m ON m.id = s.message_id
          WHERE s.state = 'queued' AND s.not_before <= ?1
            AND (s.lease_until IS NULL OR s.lease_until <= ?1)
            AND m.carrier = ?3
          ORDER BY s.not_before, s.message_id, s.seq
          LIMIT ?2",
    )
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind(carrier)
    .fetch_all(&mut *conn)
    .await?;

    let jobs = rows.iter().map(submit_job).collect::<Result<Vec<_>>>()?;
    let jobs = charges::charge_claimed(conn, jobs, now).await?;
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let claimed = serde_json::Value::Array(
        jobs.iter()
            .map(|job| serde_json::json!([job.message_id.as_str(), job.segment]))
            .collect(),
    );
    // One round trip for the whole claim. A scheduled message whose time has come is now simply
    // queued (no report, no callback).
    sqlx::query(
        "UPDATE segments SET lease_until = ?
          WHERE (message_id, seq) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                                        FROM json_each(?));
         UPDATE messages SET status = 'queued', updated_at = ?
          WHERE status = 'scheduled'
            AND id IN (SELECT json_extract(value, '$[0]') FROM json_each(?));",
    )
    .bind(now.saturating_add(codec::millis(lease)))
    .bind(claimed.to_string())
    .bind(now)
    .bind(claimed.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(jobs)
}

fn submit_job(row: &sqlx::sqlite::SqliteRow) -> Result<SubmitJob> {
    let id: String = row.try_get("message_id")?;
    Ok(SubmitJob {
        message_id: MessageId::parse(&id)
            .ok_or_else(|| codec::corrupt(format!("message id {id:?}")))?,
        segment: row.try_get("seq")?,
        segment_count: row.try_get("segment_count")?,
        carrier: row.try_get("carrier")?,
        destination: row.try_get("destination")?,
        sender: row.try_get("sender")?,
        data_coding: row.try_get("data_coding")?,
        esm_class: row.try_get("esm_class")?,
        payload: row.try_get("payload")?,
        valid_until: row.try_get("valid_until")?,
        attempts: row.try_get("attempts")?,
    })
}

pub(super) async fn record(conn: &mut SqliteConnection, result: &SubmitResult) -> Result<()> {
    match &result.outcome {
        SubmitOutcome::Accepted { carrier_message_id } => {
            record_accepted(conn, result, carrier_message_id).await
        }
        _ => record_refused(conn, result).await,
    }
}

/// The common path, kept to few round trips: event, segment and fold inputs in one.
async fn record_accepted(
    conn: &mut SqliteConnection,
    result: &SubmitResult,
    carrier_message_id: &str,
) -> Result<()> {
    let keys = IdKeys::of(carrier_message_id);
    let (status, stat, dlr_mask, err) = codec::report_columns(&Report::accepted_by_carrier());
    // A segment already done (the message expired while this submission was in flight) keeps
    // its report; the carrier id is stored anyway so a late receipt is matched and recorded.
    let sql = concat!(
        "INSERT INTO events (message_id, at, kind, segment, detail) VALUES (?, ?, 'submit', ?, ?);
         UPDATE segments
            SET lease_until = NULL, carrier = ?, carrier_message_id = ?, cid_exact = ?,
                cid_dec = ?, cid_hex = ?, submitted_at = ?, updated_at = ?,
                status   = CASE WHEN state = 'done' THEN status   ELSE ? END,
                stat     = CASE WHEN state = 'done' THEN stat     ELSE ? END,
                dlr_mask = CASE WHEN state = 'done' THEN dlr_mask ELSE ? END,
                err      = CASE WHEN state = 'done' THEN err      ELSE ? END,
                state    = CASE WHEN state = 'done' THEN 'done'   ELSE 'sent' END
          WHERE message_id = ? AND seq = ?;",
        state::fold_inputs_sql!()
    );
    let id = result.message_id.as_str();
    let rows = sqlx::query(sql)
        .bind(id)
        .bind(result.at)
        .bind(result.segment)
        .bind(submit_detail(&result.carrier, &result.outcome).to_string())
        .bind(&result.carrier)
        .bind(carrier_message_id)
        .bind(&keys.exact)
        .bind(keys.as_decimal.as_deref())
        .bind(keys.as_hex.as_deref())
        .bind(result.at)
        .bind(result.at)
        .bind(status)
        .bind(stat)
        .bind(dlr_mask)
        .bind(err)
        .bind(id)
        .bind(result.segment)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    if !state::has_segment(&rows, result.segment)? {
        return Err(StoreError::NotFound);
    }
    state::settle(conn, &result.message_id, &rows, result.at).await?;
    receipts::apply_pending(
        conn,
        &result.message_id,
        result.segment,
        &result.carrier,
        &keys,
        result.at,
    )
    .await
}

/// Every outcome but acceptance: rarer, so written for clarity over round trips.
async fn record_refused(conn: &mut SqliteConnection, result: &SubmitResult) -> Result<()> {
    let SubmitResult {
        message_id,
        segment,
        carrier,
        outcome,
        at,
    } = result;
    let (segment, at) = (*segment, *at);
    let row = sqlx::query(
        "SELECT status, stat, dlr_mask, err FROM segments WHERE message_id = ? AND seq = ?",
    )
    .bind(message_id.as_str())
    .bind(segment)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    // A segment already final (the message expired while this submission was in flight) keeps
    // its report and is not requeued; the outcome is still history.
    let already_final = codec::report(&row)?.is_some_and(|r| r.status.is_final());

    let detail = submit_detail(carrier, outcome);
    state::record_event(conn, message_id, at, "submit", Some(segment), detail).await?;

    match outcome {
        _ if already_final => release(conn, message_id, segment, at).await?,
        // Handled by `record_accepted`; nothing to add here.
        SubmitOutcome::Accepted { .. } => {}
        SubmitOutcome::Rejected { command_status } => {
            let report = Report::carrier_nack(*command_status);
            state::set_segment_report(conn, message_id, segment, &report, at).await?;
            state::refold(conn, message_id, at).await?;
        }
        SubmitOutcome::Temporary {
            retry_at: Some(retry_at),
            ..
        } => requeue(conn, message_id, segment, *retry_at, 1, at).await?,
        SubmitOutcome::Temporary { retry_at: None, .. } => {
            sqlx::query(
                "UPDATE segments SET attempts = attempts + 1 WHERE message_id = ? AND seq = ?",
            )
            .bind(message_id.as_str())
            .bind(segment)
            .execute(&mut *conn)
            .await?;
            state::set_segment_report(
                conn,
                message_id,
                segment,
                &Report::temporary_exhausted(),
                at,
            )
            .await?;
            state::refold(conn, message_id, at).await?;
        }
        SubmitOutcome::Unknown { .. } => {
            // Not resent blindly: the carrier may have it. A receipt or the expiry decides.
            sqlx::query(
                "UPDATE segments SET state = 'unknown', lease_until = NULL, updated_at = ?
                  WHERE message_id = ? AND seq = ?",
            )
            .bind(at)
            .bind(message_id.as_str())
            .bind(segment)
            .execute(&mut *conn)
            .await?;
        }
        SubmitOutcome::NotSent { retry_at } => {
            requeue(conn, message_id, segment, *retry_at, 0, at).await?
        }
    }
    Ok(())
}

/// Back to the queue at `retry_at`, counting `attempts` more tries.
async fn requeue(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    segment: u32,
    retry_at: Millis,
    attempts: i64,
    at: Millis,
) -> Result<()> {
    sqlx::query(
        "UPDATE segments
            SET state = 'queued', not_before = ?, attempts = attempts + ?, lease_until = NULL,
                updated_at = ?
          WHERE message_id = ? AND seq = ?",
    )
    .bind(retry_at)
    .bind(attempts)
    .bind(at)
    .bind(message_id.as_str())
    .bind(segment)
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops the lease of a segment that needs nothing more.
async fn release(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    segment: u32,
    at: Millis,
) -> Result<()> {
    sqlx::query(
        "UPDATE segments SET lease_until = NULL, updated_at = ? WHERE message_id = ? AND seq = ?",
    )
    .bind(at)
    .bind(message_id.as_str())
    .bind(segment)
    .execute(conn)
    .await?;
    Ok(())
}

fn submit_detail(carrier: &str, outcome: &SubmitOutcome) -> serde_json::Value {
    use serde_json::json;
    match outcome {
        SubmitOutcome::Accepted { carrier_message_id } => json!({
            "carrier": carrier, "outcome": "accepted", "carrier_message_id": carrier_message_id,
        }),
        SubmitOutcome::Rejected { command_status } => json!({
            "carrier": carrier, "outcome": "rejected", "command_status": command_status,
        }),
        SubmitOutcome::Temporary {
            command_status,
            retry_at,
        } => json!({
            "carrier": carrier, "outcome": "temporary", "command_status": command_status,
            "retry_at": retry_at,
        }),
        SubmitOutcome::Unknown { reason } => json!({
            "carrier": carrier, "outcome": "unknown", "reason": reason,
        }),
        SubmitOutcome::NotSent { retry_at } => json!({
            "carrier": carrier, "outcome": "not_sent", "retry_at": retry_at,
        }),
    }
}
