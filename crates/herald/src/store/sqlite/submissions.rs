//! The submission queue: segments claimed with a lease, and what the carrier answered.

use std::time::Duration;

use herald_smpp::ids::IdKeys;
use rusqlite::{OptionalExtension, params};

use super::{charges, codec, detail, prepared::Db, receipts, state};
use crate::domain::{MessageId, Report, Status};
use crate::store::{Millis, Priority, Result, StoreError, SubmitJob, SubmitOutcome, SubmitResult};

/// A carrier's due segments of one priority, oldest first, that no lease holds: parameters
/// now, limit, carrier, priority. Each is one range of `segments_queued_by_route` (migration
/// 0013), in its order.
pub(super) const CLAIM_DUE_SEGMENTS: &str =
    "SELECT s.seq, s.data_coding, s.esm_class, s.payload, s.attempts,
            m.carrier, m.destination, m.sender, m.valid_until, m.segment_count,
            s.message_id, m.status = 'scheduled' AS scheduled,
            m.account_id, m.charge_micros IS NULL AS uncharged, m.price_micros,
            a.balance_micros
       FROM segments s JOIN messages m ON m.id = s.message_id
            JOIN accounts a ON a.id = m.account_id
      WHERE s.route = ?3 AND s.priority = ?4 AND s.state = 'queued' AND s.not_before <= ?1
        AND (s.lease_until IS NULL OR s.lease_until <= ?1)
      ORDER BY s.not_before, s.message_id, s.seq
      LIMIT ?2";

pub(super) fn claim(
    conn: &Db<'_>,
    carrier: &str,
    now: Millis,
    limit: usize,
    lease: Duration,
) -> Result<Vec<SubmitJob>> {
    // Highest priority first, each priority one index range of due segments (no walk over the
    // segments of other carriers, or scheduled for later).
    let mut jobs = Vec::new();
    let mut statement = conn.prepare_cached(CLAIM_DUE_SEGMENTS)?;
    for priority in Priority::ALL.into_iter().rev() {
        let left = limit.saturating_sub(jobs.len());
        if left == 0 {
            break;
        }
        let rows = statement.query_map(
            params![
                now,
                i64::try_from(left).unwrap_or(i64::MAX),
                carrier,
                priority.rank()
            ],
            |row| {
                let columns =
                    SubmitJobColumns::read(&codec::Named::new(row, SubmitJobColumns::NAMES))?;
                // The columns after those `read` takes.
                let after = SubmitJobColumns::NAMES.len();
                let id: String = row.get(after)?;
                let scheduled: bool = row.get(after + 1)?;
                let bill = charges::Bill {
                    account_id: row.get(after + 2)?,
                    uncharged: row.get(after + 3)?,
                    price_micros: row.get(after + 4)?,
                    balance_micros: row.get(after + 5)?,
                };
                Ok((id, columns, scheduled, bill))
            },
        )?;
        for row in rows {
            jobs.push(row?);
        }
    }
    // Only a scheduled message changes status when its time comes: the others are not looked
    // up again for it.
    let mut due: Vec<MessageId> = Vec::new();
    let jobs = jobs
        .into_iter()
        .map(|(id, columns, scheduled, bill)| {
            let job = columns.into_job(codec::message_id(&id)?);
            if scheduled && !due.contains(&job.message_id) {
                due.push(job.message_id.clone());
            }
            Ok((job, bill))
        })
        .collect::<Result<Vec<_>>>()?;

    let jobs = charges::charge_claimed(conn, jobs, now)?;

    let lease_until = now.saturating_add(codec::millis(lease));
    let mut lease_segment = conn
        .prepare_cached("UPDATE segments SET lease_until = ? WHERE message_id = ? AND seq = ?")?;
    // A scheduled message whose time has come is now simply queued (no report, no callback).
    let mut wake_message = conn.prepare_cached(
        "UPDATE messages SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'scheduled'",
    )?;
    for job in &jobs {
        lease_segment.execute(params![lease_until, job.message_id.as_str(), job.segment])?;
    }
    // A message refused by `charge_claimed` was Rejected there and is not woken.
    for job in jobs.iter().filter(|job| due.contains(&job.message_id)) {
        if wake_message.execute(params![now, job.message_id.as_str()])? > 0 {
            conn.status_moved(Some(&job.carrier), Some(Status::Scheduled), Status::Queued);
            // No status event marks this (customers are told nothing), but the history shows
            // when a scheduled message's time came and it went to the carrier's queue.
            state::record_event(
                conn,
                &job.message_id,
                now,
                "due",
                None,
                &serde_json::json!({ "status": "queued" }),
            )?;
        }
    }
    Ok(jobs)
}

/// A claimed segment's columns, before its message id is checked.
pub(super) struct SubmitJobColumns {
    segment: u32,
    segment_count: u32,
    carrier: String,
    destination: String,
    sender: String,
    data_coding: u8,
    esm_class: u8,
    payload: Vec<u8>,
    valid_until: Millis,
    attempts: u32,
}

impl SubmitJobColumns {
    /// The columns [`Self::read`] takes, the first of every query it reads, in this order.
    pub(super) const NAMES: &'static [&'static str] = &[
        "seq",
        "data_coding",
        "esm_class",
        "payload",
        "attempts",
        "carrier",
        "destination",
        "sender",
        "valid_until",
        "segment_count",
    ];

    /// Reads a row that has the segment's `seq`, `data_coding`, `esm_class`, `payload`,
    /// `attempts` and the message's `carrier`, `destination`, `sender`, `valid_until`,
    /// `segment_count`, by name.
    pub(super) fn read(row: &codec::Named<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            segment: row.get("seq")?,
            segment_count: row.get("segment_count")?,
            carrier: row.get("carrier")?,
            destination: row.get("destination")?,
            sender: row.get("sender")?,
            data_coding: row.get("data_coding")?,
            esm_class: row.get("esm_class")?,
            payload: row.get("payload")?,
            valid_until: row.get("valid_until")?,
            attempts: row.get("attempts")?,
        })
    }

    pub(super) fn into_job(self, message_id: MessageId) -> SubmitJob {
        SubmitJob {
            message_id,
            segment: self.segment,
            segment_count: self.segment_count,
            carrier: self.carrier,
            destination: self.destination,
            sender: self.sender,
            data_coding: self.data_coding,
            esm_class: self.esm_class,
            payload: self.payload,
            valid_until: self.valid_until,
            attempts: self.attempts,
        }
    }
}

pub(super) fn record(conn: &Db<'_>, result: &SubmitResult) -> Result<()> {
    match &result.outcome {
        SubmitOutcome::Accepted { carrier_message_id } => {
            record_accepted(conn, result, carrier_message_id)
        }
        _ => record_refused(conn, result),
    }
}

/// The common path: the carrier has the segment.
fn record_accepted(conn: &Db<'_>, result: &SubmitResult, carrier_message_id: &str) -> Result<()> {
    let keys = IdKeys::of(carrier_message_id);
    mark_accepted(conn, result, carrier_message_id, &keys)?;
    let inputs = state::FoldInputs::read(conn, &result.message_id)?;
    let Some(mut inputs) = inputs.filter(|i| i.has_segment(result.segment)) else {
        return Err(StoreError::NotFound);
    };
    state::settle(conn, &result.message_id, &mut inputs, result.at)?;
    receipts::apply_pending(
        conn,
        &result.message_id,
        &[result.segment],
        &result.carrier,
        &keys,
        result.at,
    )
}

/// Writes the carrier's id on the segment of `result` and marks it sent, with its history
/// line; the message is folded by the caller.
pub(super) fn mark_accepted(
    conn: &Db<'_>,
    result: &SubmitResult,
    carrier_message_id: &str,
    keys: &IdKeys,
) -> Result<()> {
    let (status, stat, dlr_mask, err) = codec::report_columns(&Report::accepted_by_carrier());
    let id = result.message_id.as_str();
    state::record_event(
        conn,
        &result.message_id,
        result.at,
        "submit",
        Some(result.segment),
        &detail::SubmitAccepted {
            carrier: &result.carrier,
            carrier_message_id,
            outcome: "accepted",
        },
    )?;
    // A segment already done (the message expired while this submission was in flight) keeps
    // its report; the carrier id is stored anyway so a late receipt is matched and recorded.
    conn.prepare_cached(
        "UPDATE segments
            SET lease_until = NULL, carrier = ?, carrier_message_id = ?, cid_exact = ?,
                cid_dec = ?, cid_hex = ?, submitted_at = ?, updated_at = ?,
                status   = CASE WHEN state = 'done' THEN status   ELSE ? END,
                stat     = CASE WHEN state = 'done' THEN stat     ELSE ? END,
                dlr_mask = CASE WHEN state = 'done' THEN dlr_mask ELSE ? END,
                err      = CASE WHEN state = 'done' THEN err      ELSE ? END,
                state    = CASE WHEN state = 'done' THEN 'done'   ELSE 'sent' END
          WHERE message_id = ? AND seq = ?",
    )?
    .execute(params![
        result.carrier,
        carrier_message_id,
        keys.exact,
        keys.as_decimal,
        keys.as_hex,
        result.at,
        result.at,
        status,
        stat,
        dlr_mask,
        err,
        id,
        result.segment,
    ])?;
    Ok(())
}

/// Every outcome but acceptance.
pub(super) fn record_refused(conn: &Db<'_>, result: &SubmitResult) -> Result<()> {
    let SubmitResult {
        message_id,
        segment,
        carrier,
        outcome,
        at,
    } = result;
    let (segment, at) = (*segment, *at);
    let report = conn
        .prepare_cached(
            "SELECT status, stat, dlr_mask, err FROM segments WHERE message_id = ? AND seq = ?",
        )?
        .query_row(params![message_id.as_str(), segment], |row| {
            Ok(codec::report(row))
        })
        .optional()?
        .ok_or(StoreError::NotFound)??;
    // A segment already final (the message expired while this submission was in flight) keeps
    // its report and is not requeued; the outcome is still history.
    let already_final = report.is_some_and(|r| r.status.is_final());

    let detail = submit_detail(carrier, outcome);
    state::record_event(conn, message_id, at, "submit", Some(segment), &detail)?;

    match outcome {
        _ if already_final => release(conn, message_id, segment, at)?,
        // Handled by `record_accepted`; nothing to add here.
        SubmitOutcome::Accepted { .. } => {}
        SubmitOutcome::Rejected { command_status } => {
            let report = Report::carrier_nack(*command_status);
            state::set_segment_report(conn, message_id, segment, &report, at)?;
            state::refold(conn, message_id, at)?;
        }
        SubmitOutcome::Temporary {
            retry_at: Some(retry_at),
            ..
        } => requeue(conn, message_id, segment, *retry_at, 1, at)?,
        SubmitOutcome::Temporary { retry_at: None, .. } => {
            conn.prepare_cached(
                "UPDATE segments SET attempts = attempts + 1 WHERE message_id = ? AND seq = ?",
            )?
            .execute(params![message_id.as_str(), segment])?;
            state::set_segment_report(
                conn,
                message_id,
                segment,
                &Report::temporary_exhausted(),
                at,
            )?;
            state::refold(conn, message_id, at)?;
        }
        SubmitOutcome::Unknown { .. } => {
            // Not resent blindly: the carrier may have it. A receipt or the expiry decides.
            conn.prepare_cached(
                "UPDATE segments SET state = 'unknown', lease_until = NULL, updated_at = ?
                  WHERE message_id = ? AND seq = ?",
            )?
            .execute(params![at, message_id.as_str(), segment])?;
        }
        SubmitOutcome::NotSent { retry_at } => {
            requeue(conn, message_id, segment, *retry_at, 0, at)?
        }
    }
    Ok(())
}

/// Back to the queue at `retry_at`, counting `attempts` more tries.
fn requeue(
    conn: &Db<'_>,
    message_id: &MessageId,
    segment: u32,
    retry_at: Millis,
    attempts: i64,
    at: Millis,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE segments
            SET state = 'queued', not_before = ?, attempts = attempts + ?, lease_until = NULL,
                updated_at = ?
          WHERE message_id = ? AND seq = ?",
    )?
    .execute(params![
        retry_at,
        attempts,
        at,
        message_id.as_str(),
        segment
    ])?;
    Ok(())
}

/// Drops the lease of a segment that needs nothing more.
fn release(conn: &Db<'_>, message_id: &MessageId, segment: u32, at: Millis) -> Result<()> {
    conn.prepare_cached(
        "UPDATE segments SET lease_until = NULL, updated_at = ? WHERE message_id = ? AND seq = ?",
    )?
    .execute(params![at, message_id.as_str(), segment])?;
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
