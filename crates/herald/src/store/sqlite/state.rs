//! The one place a message's status is written: history events, segment folding, and the
//! callback each status change enqueues (in the same transaction: an outbox).

use rusqlite::{OptionalExtension, params};

use super::{charges, codec, detail, prepared::Db};
use crate::domain::{MessageId, MessageState, Report, Status, fold_segments};
use crate::store::{Millis, Result, StoreError};

/// What folding needs of one message: its segments' reports in order, its state and what a
/// status change needs to know of it.
pub(super) struct FoldInputs {
    /// (seq, report) per segment, by seq.
    segments: Vec<(u32, Option<Report>)>,
    state: MessageState,
    message: Announced,
}

/// What moving a message's status needs besides the report: where its callbacks go, and
/// whether it keeps its text (`text-store` plaintext); if not, a final status forgets the
/// segments' payloads.
#[derive(Debug, Clone)]
pub(super) struct Announced {
    pub dlr_url: Option<String>,
    pub keeps_text: bool,
    /// The carrier it is routed to, for the tally of statuses (`tally.rs`).
    pub carrier: Option<String>,
}

impl Announced {
    /// From a row that selects the message's `dlr_url`, `keeps_text` and `carrier` under those
    /// names.
    pub(super) fn read(row: &codec::Named<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            dlr_url: row.get("dlr_url")?,
            keeps_text: row.get("keeps_text")?,
            carrier: row.get("carrier")?,
        })
    }
}

impl FoldInputs {
    /// Reads them; None when the message has no segments (or does not exist).
    pub(super) fn read(conn: &Db<'_>, message_id: &MessageId) -> Result<Option<Self>> {
        let mut statement = conn.prepare_cached(
            "SELECT s.seq, s.status, s.stat, s.dlr_mask, s.err,
                    m.status AS m_status, m.stat AS m_stat, m.dlr_mask AS m_dlr_mask,
                    m.err AS m_err, m.dlr_url, m.text_store = 'plaintext' AS keeps_text,
                    m.carrier
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
            "keeps_text",
            "carrier",
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
                        message: Announced::read(row)?,
                    })
                }
            }
        }
        Ok(inputs)
    }

    /// From what the caller already read: every segment of the message, by seq.
    pub(super) fn new(
        segments: Vec<(u32, Option<Report>)>,
        state: MessageState,
        message: Announced,
    ) -> Self {
        Self {
            segments,
            state,
            message,
        }
    }

    pub(super) fn has_segment(&self, seq: u32) -> bool {
        self.segments.iter().any(|(s, _)| *s == seq)
    }

    /// Segment `seq` now has `report` (it was just written to its row).
    pub(super) fn set_report(&mut self, seq: u32, report: Report) {
        if let Some((_, r)) = self.segments.iter_mut().find(|(s, _)| *s == seq) {
            *r = Some(report);
        }
    }
}

/// The message's report columns, as joins with segments name them.
pub(super) const MESSAGE_REPORT: codec::ReportColumns =
    ["m_status", "m_stat", "m_dlr_mask", "m_err"];

/// Appends one line to a message's history.
pub(super) fn record_event(
    conn: &Db<'_>,
    message_id: &MessageId,
    at: Millis,
    kind: &str,
    segment: Option<u32>,
    detail: &impl serde::Serialize,
) -> Result<()> {
    record_event_json(conn, message_id, at, kind, segment, &detail_json(detail)?)
}

/// A history line's detail as the events table stores it.
pub(super) fn detail_json(detail: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(detail).map_err(|e| codec::corrupt(format!("history detail: {e}")))
}

/// [`record_event`] with the detail already written as JSON ([`detail_json`]): a caller that
/// can, writes it before handing its work to the writer thread.
pub(super) fn record_event_json(
    conn: &Db<'_>,
    message_id: &MessageId,
    at: Millis,
    kind: &str,
    segment: Option<u32>,
    detail: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (message_id, at, kind, segment, detail) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![message_id.as_str(), at, kind, segment, detail])?;
    Ok(())
}

/// What [`enqueue_callback`] runs: parameters message id, url, status, stat, dlr_mask, err,
/// due and created time. No `RETURNING`: it makes SQLite build an ephemeral table each time.
const ENQUEUE_CALLBACK: &str =
    "INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state, due_at,
                            created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6,
             CASE WHEN EXISTS (SELECT 1 FROM callbacks
                                WHERE message_id = ?1 AND (state = 'pending' OR state = 'waiting'))
                  THEN 'waiting' ELSE 'pending' END,
             ?7, ?8)";

/// Queues a callback telling `report` at `url`, due at `at`; returns its id. It is `pending`
/// (claimable) when it is the message's only undelivered one, otherwise `waiting` behind the
/// others until [`promote_next_callback`] moves it up. Claims thus see one callback per
/// message, so a customer never hears SENT after DELIVERED, and a backlog behind a receiver
/// that is down costs the claims nothing (migration 0012).
pub(super) fn enqueue_callback(
    conn: &Db<'_>,
    message_id: &MessageId,
    url: &str,
    report: &Report,
    at: Millis,
) -> Result<i64> {
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    conn.prepare_cached(ENQUEUE_CALLBACK)?.execute(params![
        message_id.as_str(),
        url,
        status,
        stat,
        dlr_mask,
        err,
        at,
        at
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Once a message's callback is delivered or given up, its oldest waiting one (if any) becomes
/// claimable. Nothing moves while another of its callbacks is still pending.
pub(super) fn promote_next_callback(conn: &Db<'_>, message_id: &MessageId) -> Result<()> {
    conn.prepare_cached(
        "UPDATE callbacks SET state = 'pending'
          WHERE state = 'waiting'
            AND id = (SELECT id FROM callbacks
                       WHERE message_id = ? AND (state = 'pending' OR state = 'waiting')
                       ORDER BY id LIMIT 1)",
    )?
    .execute([message_id.as_str()])?;
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
    if let Some(url) = dlr_url {
        enqueue_callback(conn, message_id, url, report, at)?;
    }
    Ok(())
}

/// Moves the message from status `from` to `report` and announces it.
fn change_status(
    conn: &Db<'_>,
    message_id: &MessageId,
    message: &Announced,
    from: Status,
    report: &Report,
    at: Millis,
) -> Result<()> {
    announce(conn, message_id, message.dlr_url.as_deref(), report, at)?;
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
    conn.status_moved(message.carrier.as_deref(), Some(from), report.status);
    // The rules of a final status (until migration 0010, triggers; see there). `apply` never
    // moves a final message, so each runs once per message.
    if report.status.is_final() && !message.keeps_text {
        // The segments' payloads are the last copy of a text that is not to be kept.
        conn.prepare_cached("UPDATE segments SET payload = x'' WHERE message_id = ?")?
            .execute([message_id.as_str()])?;
    }
    if report.status == Status::Rejected {
        charges::refund(conn, message_id, at)?;
    }
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
        .prepare_cached(
            "SELECT status, stat, dlr_mask, err, dlr_url, text_store = 'plaintext' AS keeps_text,
                    carrier
               FROM messages WHERE id = ?",
        )?
        .query_row([message_id.as_str()], |row| {
            const COLUMNS: &[&str] = &[
                "status",
                "stat",
                "dlr_mask",
                "err",
                "dlr_url",
                "keeps_text",
                "carrier",
            ];
            let row = &codec::Named::new(row, COLUMNS);
            Ok((codec::message_state(row), Announced::read(row)?))
        })
        .optional()?;
    let (current, message) = found.ok_or(StoreError::NotFound)?;
    let current = current?;
    let Some(notice) = current.apply(report).notify else {
        return Ok(false);
    };
    change_status(conn, message_id, &message, current.status, &notice, at)?;
    Ok(true)
}

/// Recomputes the message's report from its segments' reports (multipart rule) and applies it.
pub(super) fn refold(conn: &Db<'_>, message_id: &MessageId, at: Millis) -> Result<bool> {
    let mut inputs = FoldInputs::read(conn, message_id)?.ok_or(StoreError::NotFound)?;
    settle(conn, message_id, &mut inputs, at)
}

/// Folds the segment reports in `inputs` into the message's report and applies it; `inputs`
/// then holds the message's new state, so a caller that changes another segment can settle
/// again without reading. Folding again after nothing changed changes nothing, so callers may
/// settle after any segment change, including one that was refused as late.
pub(super) fn settle(
    conn: &Db<'_>,
    message_id: &MessageId,
    inputs: &mut FoldInputs,
    at: Millis,
) -> Result<bool> {
    let reports = inputs.segments.iter().map(|(_, r)| *r).collect::<Vec<_>>();
    let Some(report) = fold_segments(&reports) else {
        return Ok(false);
    };
    let transition = inputs.state.apply(report);
    let Some(notice) = transition.notify else {
        return Ok(false);
    };
    change_status(
        conn,
        message_id,
        &inputs.message,
        inputs.state.status,
        &notice,
        at,
    )?;
    inputs.state = transition.state;
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
