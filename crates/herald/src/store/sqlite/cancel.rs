//! `cancel_sms`: a message taken out of the queue before any carrier has seen it.
//!
//! Runs in the writer's transaction like a claim, so a cancel and a claim of the same message are
//! ordered: either the claim leased a segment first (too late to cancel) or the cancel marked
//! every segment done first (nothing left to claim).

use rusqlite::{OptionalExtension, params};

use super::{codec, prepared::Db, state};
use crate::domain::{MessageId, Report};
use crate::store::{CancelOutcome, Millis, Result};

pub(super) fn cancel(
    conn: &Db<'_>,
    id: &MessageId,
    account_id: i64,
    at: Millis,
) -> Result<CancelOutcome> {
    // A segment counts as handed over once it was ever written to a carrier (a submit answered,
    // a temporary refusal, an unknown outcome) or is leased to a submitter right now.
    let row = conn
        .prepare_cached(
            "SELECT m.account_id, m.status,
                    (SELECT count(*) FROM segments s
                      WHERE s.message_id = m.id
                        AND (s.state <> 'queued' OR s.submitted_at IS NOT NULL OR s.attempts > 0
                             OR (s.lease_until IS NOT NULL AND s.lease_until > ?))) AS handed_over
               FROM messages m WHERE m.id = ?",
        )?
        .query_row(params![at, id.as_str()], |row| {
            Ok((
                row.get::<_, i64>("account_id")?,
                row.get::<_, String>("status")?,
                row.get::<_, i64>("handed_over")?,
            ))
        })
        .optional()?;
    let Some((owner, status, handed_over)) = row else {
        return Ok(CancelOutcome::Unknown);
    };
    if owner != account_id {
        return Ok(CancelOutcome::Unknown);
    }
    if !matches!(status.as_str(), "scheduled" | "queued") || handed_over > 0 {
        return Ok(CancelOutcome::TooLate);
    }

    let report = Report::cancelled();
    let (status, stat, dlr_mask, err) = codec::report_columns(&report);
    // The segments carry the report too, so a later fold agrees with the message; `done` takes
    // them out of the submission queue.
    conn.prepare_cached(
        "UPDATE segments
            SET state = 'done', lease_until = NULL, status = ?, stat = ?, dlr_mask = ?, err = ?,
                updated_at = ?
          WHERE message_id = ?",
    )?
    .execute(params![status, stat, dlr_mask, err, at, id.as_str()])?;
    state::record_event(conn, id, at, "cancelled", None, &serde_json::json!({}))?;
    state::apply_report(conn, id, report, at)?;
    Ok(CancelOutcome::Cancelled)
}
