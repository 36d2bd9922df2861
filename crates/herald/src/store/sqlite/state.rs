//! The one place a message's status is written: history events, segment folding, and the
//! callback each status change enqueues (in the same transaction: an outbox).

use rusqlite::{OptionalExtension, params};

use super::{codec, detail, prepared::Db};
use crate::domain::{MessageId, MessageState, Report, fold_segments};
use crate::store::{Millis, Result, StoreError};

/// What folding needs of one message: its segments' reports in order, its state and dlr-url.
pub(super) struct FoldInputs {
    /// (seq, report) per segment, by seq.
    segments: Vec<(u32, Option<Report>)>,
    state: MessageState,
    dlr_url: Option<String>,
}

impl FoldInputs {
    /// Reads them; None when the message has no segments (or does not exist).
    pub(super) fn read(conn: &Db<'_>, message_id: &MessageId) -> Result<Option<Self>> {
        let mut statement = conn.prepare_cached(
            "SELECT s.seq, s.status, s.stat, s.dlr_mask, s.err,
                    m.status AS m_status, m.stat AS m_stat, m.dlr_mask AS m_dlr_mask,
                    m.err AS m_err, m.dlr_url
               FROM segments s JOIN messages m ON m.id = s.message_id
              WHERE s.message_id = ?
              ORDER BY s.seq",
        )?;
        const COLUMNS: &[&str] = &[
            "seq",
            "status",
            "stat",
            "dlr_mask",
            "err",
            "m_status",
            "m_stat",
            "m_dlr_mask",
            "m_err",
            "dlr_url",
        ];
        let mut rows = statement.query([message_id.as_str()])?;
        let mut inputs: Option<FoldInputs> = None;
        while let Some(row) = rows.next()? {
            let row = &codec::Named::new(row, COLUMNS);
            let segment = (row.get("seq")?, codec::report(row)?);
            match inputs.as_mut() {
                Some(inputs) => inputs.segments.push(segment),
                None => {
                    inputs = Some(FoldInputs {
                        segments: vec![segment],
                        state: codec::message_state_in(row, MESSAGE_REPORT)?,
                        dlr_url: row.get("dlr_url")?,
                    })
                }
            }
        }
        Ok(inputs)
    }

    pub(super) fn has_segment(&self, seq: u32) -> bool {
        self.segments.iter().any(|(s, _)| *s == seq)
    }
}

const MESSAGE_REPORT: codec::ReportColumns = ["m_status", "m_stat", "m_dlr_mask", "m_err"];

/// Appends one line to a message's history.
pub(super) fn record_event(
    conn: &Db<'_>,
    message_id: &MessageId,
    at: Millis,
    kind: &str,
    segment: Option<u32>,
    detail: &impl serde::Serialize,
) -> Result<()> {
    let detail = serde_json::to_string(detail)
        .map_err(|e| codec::corrupt(format!("history detail: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO events (message_id, at, kind, segment, detail) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![message_id.as_str(), at, kind, segment, detail])?;
    Ok(())
}

/// Tells the customer about a status change the message row already shows: a "status" event,
/// and a callback job when the message has a dlr-url.
pub(super) fn announce(
    conn: &Db<'_>,
    message_id: &MessageId,
    dlr_url: Option<&str>,
    report: &Report,
    at: Millis,
) -> Result<()> {
    record_event(
        conn,
        message_id,
        at,
        "status",
        None,
        &detail::Status::of(report),
    )?;
    let Some(url) = dlr_url else { return Ok(()) };
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    conn.prepare_cached(
        "INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state, due_at,
                                created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
    )?
    .execute(params![
        message_id.as_str(),
        url,
        status,
        stat,
        dlr_mask,
        err,
        at,
        at
    ])?;
    Ok(())
}

/// Moves the message to `report` and announces it.
fn change_status(
    conn: &Db<'_>,
    message_id: &MessageId,
    dlr_url: Option<&str>,
    report: &Report,
    at: Millis,
) -> Result<()> {
    announce(conn, message_id, dlr_url, report, at)?;
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    conn.prepare_cached(
        "UPDATE messages SET status = ?, stat = ?, dlr_mask = ?, err = ?, updated_at = ?
          WHERE id = ?",
    )?
    .execute(params![
        status,
        stat,
        dlr_mask,
        err,
        at,
        message_id.as_str()
    ])?;
    Ok(())
}

/// Moves the message by `report` through [`crate::domain::MessageState::apply`]; returns
/// whether its status changed.
pub(super) fn apply_report(
    conn: &Db<'_>,
    message_id: &MessageId,
    report: Report,
    at: Millis,
) -> Result<bool> {
    let found = conn
        .prepare_cached("SELECT status, stat, dlr_mask, err, dlr_url FROM messages WHERE id = ?")?
        .query_row([message_id.as_str()], |row| {
            Ok((
                codec::message_state(row),
                row.get::<_, Option<String>>("dlr_url")?,
            ))
        })
        .optional()?;
    let (current, dlr_url) = found.ok_or(StoreError::NotFound)?;
    let Some(notice) = current?.apply(report).notify else {
        return Ok(false);
    };
    change_status(conn, message_id, dlr_url.as_deref(), &notice, at)?;
    Ok(true)
}

/// Recomputes the message's report from its segments' reports (multipart rule) and applies it.
pub(super) fn refold(conn: &Db<'_>, message_id: &MessageId, at: Millis) -> Result<bool> {
    let inputs = FoldInputs::read(conn, message_id)?.ok_or(StoreError::NotFound)?;
    settle(conn, message_id, &inputs, at)
}

/// Folds the segment reports in `inputs` into the message's report and applies it. Folding
/// again after nothing changed changes nothing, so callers may settle after any segment change,
/// including one that was refused as late.
pub(super) fn settle(
    conn: &Db<'_>,
    message_id: &MessageId,
    inputs: &FoldInputs,
    at: Millis,
) -> Result<bool> {
    let reports = inputs.segments.iter().map(|(_, r)| *r).collect::<Vec<_>>();
    let Some(report) = fold_segments(&reports) else {
        return Ok(false);
    };
    let Some(notice) = inputs.state.apply(report).notify else {
        return Ok(false);
    };
    change_status(conn, message_id, inputs.dlr_url.as_deref(), &notice, at)?;
    Ok(true)
}

/// What [`set_segment_report`] runs (a refused submit's report). The final statuses are
/// compared one by one: SQLite evaluates `NOT IN` over three or more constants by building an
/// ephemeral b-tree each time the statement runs (migration 0009 says more).
pub(super) const SET_SEGMENT_REPORT: &str = "UPDATE segments
    SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = ?, lease_until = NULL, updated_at = ?
  WHERE message_id = ? AND seq = ?
    AND (status IS NULL
         OR (status <> 'delivered' AND status <> 'failed' AND status <> 'rejected'))";

/// Sets a segment's report. A final segment report is never replaced (a late or duplicate
/// event is history, not a change); returns whether it was set.
pub(super) fn set_segment_report(
    conn: &Db<'_>,
    message_id: &MessageId,
    seq: u32,
    report: &Report,
    at: Millis,
) -> Result<bool> {
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    let next_state = if report.status.is_final() {
        "done"
    } else {
        "sent"
    };
    let updated = conn.prepare_cached(SET_SEGMENT_REPORT)?.execute(params![
        status,
        stat,
        dlr_mask,
        err,
        next_state,
        at,
        message_id.as_str(),
        seq
    ])?;
    Ok(updated > 0)
}
