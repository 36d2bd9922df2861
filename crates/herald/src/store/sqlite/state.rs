//! The one place a message's status is written: history events, segment folding, and the
//! callback each status change enqueues (in the same transaction: an outbox).

use rusqlite::{OptionalExtension, params};

use super::handoff::Handed;
use super::{callbacks, charges, codec, detail, history, prepared::Db};
use crate::domain::{MessageId, MessageState, Report, Status, fold_segments};
use crate::store::{CallbackJob, Millis, Result, StoreError};

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
    /// Its callbacks are the query-string GET, which may be handed to the worker as they are
    /// written (`handoff`); a JSON webhook's job is only read by a claim.
    pub plain_callback: bool,
}

impl Announced {
    /// From a row that selects the message's `dlr_url`, `keeps_text`, `carrier` and
    /// `plain_callback` under those names.
    pub(super) fn read(row: &codec::Named<'_, '_>) -> rusqlite::Result<Self> {
        Ok(Self {
            dlr_url: row.get("dlr_url")?,
            keeps_text: row.get("keeps_text")?,
            carrier: row.get("carrier")?,
            plain_callback: row.get("plain_callback")?,
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
                    m.carrier, m.callback_format = 'query' AS plain_callback
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
            "plain_callback",
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
    kind: &'static str,
    segment: Option<u32>,
    detail: &impl serde::Serialize,
) -> Result<()> {
    history::record(conn, message_id, at, kind, segment, &detail_json(detail)?)
}

/// A history line's detail as the events table stores it.
pub(super) fn detail_json(detail: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(detail).map_err(|e| codec::corrupt(format!("history detail: {e}")))
}

/// Whether the message has a callback not yet delivered or given up.
pub(super) const HAS_OPEN_CALLBACK: &str = "SELECT EXISTS (SELECT 1 FROM callbacks
                   WHERE message_id = ? AND (state = 'pending' OR state = 'waiting'))";

/// A callback written with its state and lease given: parameters message id, url, status,
/// stat, dlr_mask, err, state, due, lease end and created time. No `RETURNING`: it makes
/// SQLite build an ephemeral table each time.
const INSERT_CALLBACK: &str =
    "INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state, due_at,
                            lease_until, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Queues a callback telling `report` at `url`, due at `at`; returns its id. It is `pending`
/// (claimable) when it is the message's only undelivered one, otherwise `waiting` behind the
/// others until [`promote_next_callback`] moves it up. Claims thus see one callback per
/// message, so a customer never hears SENT after DELIVERED, and a backlog behind a receiver
/// that is down costs the claims nothing (migration 0012).
///
/// With `hand_off` (a query-string callback) and a worker to take it, a pending one is
/// written leased to the worker and handed to it once committed (`handoff`).
pub(super) fn enqueue_callback(
    conn: &Db<'_>,
    message_id: &MessageId,
    url: &str,
    report: &Report,
    at: Millis,
    hand_off: bool,
) -> Result<i64> {
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    let waits: bool = conn
        .prepare_cached(HAS_OPEN_CALLBACK)?
        .query_row([message_id.as_str()], |row| row.get(0))?;
    let lease = conn.hand_off_lease().filter(|_| hand_off && !waits);
    if lease.is_none() && !waits {
        conn.left_to_claim();
    }
    // Leased as a claim leases: due again when the lease runs out.
    let lease_until = lease.map(|lease| at.saturating_add(lease));
    conn.prepare_cached(INSERT_CALLBACK)?.execute(params![
        message_id.as_str(),
        url,
        status,
        stat,
        dlr_mask,
        err,
        if waits { "waiting" } else { "pending" },
        lease_until.unwrap_or(at),
        lease_until,
        at
    ])?;
    let id = conn.last_insert_rowid();
    if let Some(lease_until) = lease_until {
        conn.handed_off(Handed {
            job: CallbackJob {
                id,
                message_id: message_id.clone(),
                url: url.to_owned(),
                report: *report,
                attempts: 0,
                enqueued_at: at,
                webhook: None,
            },
            lease_until,
        });
    }
    Ok(id)
}

/// The message's oldest callback not yet delivered or given up, with whether it is waiting.
pub(super) const OLDEST_OPEN_CALLBACK: &str =
    "SELECT id, url, status, stat, dlr_mask, err, attempts, created_at,
            state = 'waiting' AS waiting
       FROM callbacks
      WHERE message_id = ? AND (state = 'pending' OR state = 'waiting')
      ORDER BY id LIMIT 1";

/// Once a message's callback is delivered or given up (at `at`), its oldest waiting one (if
/// any) becomes claimable. Nothing moves while another of its callbacks is still pending.
/// With `hand_off` (the message's callbacks are query-string ones) and a worker to take it,
/// the one promoted is leased to the worker and handed to it once committed (`handoff`).
pub(super) fn promote_next_callback(
    conn: &Db<'_>,
    message_id: &MessageId,
    at: Millis,
    hand_off: bool,
) -> Result<()> {
    let next = conn
        .prepare_cached(OLDEST_OPEN_CALLBACK)?
        .query_row([message_id.as_str()], |row| {
            const COLUMNS: &[&str] = &[
                "id",
                "url",
                "status",
                "stat",
                "dlr_mask",
                "err",
                "attempts",
                "created_at",
                "waiting",
            ];
            let row = &codec::Named::new(row, COLUMNS);
            Ok(row
                .get::<bool>("waiting")?
                .then(|| callbacks::job_of(row, message_id.clone())))
        })
        .optional()?
        .flatten()
        .transpose()?;
    let Some(job) = next else {
        return Ok(());
    };
    // Leased as a claim leases (due again when the lease runs out), or left due as it was.
    let lease_until = conn
        .hand_off_lease()
        .filter(|_| hand_off)
        .map(|lease| at.saturating_add(lease));
    conn.prepare_cached(
        "UPDATE callbacks SET state = 'pending', lease_until = ?1,
                              due_at = COALESCE(?1, due_at)
          WHERE id = ?2",
    )?
    .execute(params![lease_until, job.id])?;
    match lease_until {
        Some(lease_until) => conn.handed_off(Handed { job, lease_until }),
        None => conn.left_to_claim(),
    }
    Ok(())
}

/// Tells the customer about a status change the message row already shows: a "status" event,
/// and a callback job when the message has a dlr-url.
/// `plain_callback`: the message's callbacks are query-string ones (see [`enqueue_callback`]).
pub(super) fn announce(
    conn: &Db<'_>,
    message_id: &MessageId,
    dlr_url: Option<&str>,
    plain_callback: bool,
    report: &Report,
    at: Millis,
) -> Result<()> {
    record_event(
        conn,
        message_id,
        at,
        history::STATUS,
        None,
        &detail::Status::of(report),
    )?;
    if let Some(url) = dlr_url {
        enqueue_callback(conn, message_id, url, report, at, plain_callback)?;
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
    announce(
        conn,
        message_id,
        message.dlr_url.as_deref(),
        message.plain_callback,
        report,
        at,
    )?;
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
                    carrier, callback_format = 'query' AS plain_callback
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
                "plain_callback",
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
