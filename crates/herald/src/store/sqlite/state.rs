//! The one place a message's status is written: history events, segment folding, and the
//! callback each status change enqueues (in the same transaction: an outbox).
//!
//! Statements that always run together are sent as one multi-statement query: every round trip
//! to SQLite's thread costs more than the statements themselves, and the writer is one thread.
//! Such queries use only anonymous `?` parameters, bound in order of appearance: sqlx binds
//! numbered parameters across statements unreliably (a statement skipping numbers can leave
//! later ones NULL).

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::codec;
use crate::domain::{MessageId, Report, fold_segments};
use crate::store::{Millis, Result, StoreError};

/// The inputs of [`settle`] for one message (its id the one parameter): one row per segment, in
/// order, with the message's state alongside. Appended to a segment change so both take one
/// round trip.
macro_rules! fold_inputs_sql {
    () => {
        "SELECT s.seq, s.status, s.stat, s.dlr_mask, s.err,
                m.status AS m_status, m.stat AS m_stat, m.dlr_mask AS m_dlr_mask, m.err AS m_err,
                m.dlr_url
           FROM segments s JOIN messages m ON m.id = s.message_id
          WHERE s.message_id = ?
          ORDER BY s.seq"
    };
}
pub(super) use fold_inputs_sql;

const MESSAGE_REPORT: codec::ReportColumns = ["m_status", "m_stat", "m_dlr_mask", "m_err"];

/// Appends one line to a message's history.
pub(super) async fn record_event(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    at: Millis,
    kind: &str,
    segment: Option<u32>,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (message_id, at, kind, segment, detail) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(message_id.as_str())
    .bind(at)
    .bind(kind)
    .bind(segment)
    .bind(detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// The history event and callback job of a status change; bound by [`bind_announcement`].
macro_rules! announce_sql {
    () => {
        "INSERT INTO events (message_id, at, kind, segment, detail) VALUES (?, ?, 'status', NULL, ?);
         INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state, due_at, created_at)
              SELECT ?, ?, ?, ?, ?, ?, 'pending', ?, ? WHERE ? IS NOT NULL;"
    };
}

/// Tells the customer about a status change the message row already shows: a "status" event,
/// and a callback job when the message has a dlr-url.
pub(super) async fn announce(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    dlr_url: Option<&str>,
    report: &Report,
    at: Millis,
) -> Result<()> {
    bind_announcement(
        sqlx::query(announce_sql!()),
        message_id,
        dlr_url,
        report,
        at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the message to `report` and announces it, in one round trip.
async fn change_status(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    dlr_url: Option<&str>,
    report: &Report,
    at: Millis,
) -> Result<()> {
    let sql = concat!(
        announce_sql!(),
        "UPDATE messages SET status = ?, stat = ?, dlr_mask = ?, err = ?, updated_at = ?
          WHERE id = ?"
    );
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    bind_announcement(sqlx::query(sql), message_id, dlr_url, report, at)
        .bind(status)
        .bind(stat)
        .bind(dlr_mask)
        .bind(err)
        .bind(at)
        .bind(message_id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_announcement<'q>(
    query: Query<'q>,
    message_id: &MessageId,
    dlr_url: Option<&str>,
    report: &Report,
    at: Millis,
) -> Query<'q> {
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    query
        // the event
        .bind(message_id.as_str())
        .bind(at)
        .bind(codec::report_json(report).to_string())
        // the callback, when there is a dlr-url
        .bind(message_id.as_str())
        .bind(dlr_url)
        .bind(status)
        .bind(stat)
        .bind(dlr_mask)
        .bind(err)
        .bind(at)
        .bind(at)
        .bind(dlr_url)
}

/// Moves the message by `report` through [`crate::domain::MessageState::apply`]; returns
/// whether its status changed.
pub(super) async fn apply_report(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    report: Report,
    at: Millis,
) -> Result<bool> {
    let row = sqlx::query("SELECT status, stat, dlr_mask, err, dlr_url FROM messages WHERE id = ?")
        .bind(message_id.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let current = codec::message_state(&row)?;
    let dlr_url: Option<String> = row.try_get("dlr_url")?;
    let Some(notice) = current.apply(report).notify else {
        return Ok(false);
    };
    change_status(conn, message_id, dlr_url.as_deref(), &notice, at).await?;
    Ok(true)
}

/// Recomputes the message's report from its segments' reports (multipart rule) and applies it.
pub(super) async fn refold(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    at: Millis,
) -> Result<bool> {
    let rows = sqlx::query(fold_inputs_sql!())
        .bind(message_id.as_str())
        .fetch_all(&mut *conn)
        .await?;
    settle(conn, message_id, &rows, at).await
}

/// Folds the segment reports in `rows` (from [`fold_inputs_sql`]) into the message's report and
/// applies it. Folding again after nothing changed changes nothing, so callers may settle
/// after any segment change, including one that was refused as late.
pub(super) async fn settle(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    rows: &[SqliteRow],
    at: Millis,
) -> Result<bool> {
    let Some(first) = rows.first() else {
        return Err(StoreError::NotFound);
    };
    let reports = rows.iter().map(codec::report).collect::<Result<Vec<_>>>()?;
    let Some(report) = fold_segments(&reports) else {
        return Ok(false);
    };
    let current = codec::message_state_in(first, MESSAGE_REPORT)?;
    let Some(notice) = current.apply(report).notify else {
        return Ok(false);
    };
    let dlr_url: Option<String> = first.try_get("dlr_url")?;
    change_status(conn, message_id, dlr_url.as_deref(), &notice, at).await?;
    Ok(true)
}

/// Whether `rows` (from [`fold_inputs_sql`]) include segment `seq`.
pub(super) fn has_segment(rows: &[SqliteRow], seq: u32) -> Result<bool> {
    for row in rows {
        if row.try_get::<u32, _>("seq")? == seq {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Sets a segment's report. A final segment report is never replaced (a late or duplicate
/// event is history, not a change); returns whether it was set.
pub(super) async fn set_segment_report(
    conn: &mut SqliteConnection,
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
    let updated = sqlx::query(
        "UPDATE segments
            SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = ?, lease_until = NULL,
                updated_at = ?
          WHERE message_id = ? AND seq = ?
            AND (status IS NULL OR status NOT IN ('delivered', 'failed', 'rejected'))",
    )
    .bind(status)
    .bind(stat)
    .bind(dlr_mask)
    .bind(err)
    .bind(next_state)
    .bind(at)
    .bind(message_id.as_str())
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() > 0)
}
