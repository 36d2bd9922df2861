//! The one place a message's status is written: history events, segment folding, and the
//! callback each status change enqueues (in the same transaction: an outbox).

use sqlx::{Row, SqliteConnection};

use super::codec;
use crate::domain::{MessageId, Report, fold_segments};
use crate::store::{Millis, Result, StoreError};

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

/// Tells the customer about a status change: a "status" event, and a callback job when the
/// message has a dlr-url.
pub(super) async fn announce(
    conn: &mut SqliteConnection,
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
        codec::report_json(report),
    )
    .await?;
    let Some(url) = dlr_url else { return Ok(()) };
    let (status, stat, dlr_mask, err) = codec::report_columns(report);
    sqlx::query(
        "INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state, due_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
    )
    .bind(message_id.as_str())
    .bind(url)
    .bind(status)
    .bind(stat)
    .bind(dlr_mask)
    .bind(err)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
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
    let (status, stat, dlr_mask, err) = codec::report_columns(&notice);
    sqlx::query(
        "UPDATE messages SET status = ?, stat = ?, dlr_mask = ?, err = ?, updated_at = ? WHERE id = ?",
    )
    .bind(status)
    .bind(stat)
    .bind(dlr_mask)
    .bind(err)
    .bind(at)
    .bind(message_id.as_str())
    .execute(&mut *conn)
    .await?;
    announce(conn, message_id, dlr_url.as_deref(), &notice, at).await?;
    Ok(true)
}

/// Recomputes the message's report from its segments' reports (multipart rule) and applies it.
pub(super) async fn refold(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    at: Millis,
) -> Result<bool> {
    let rows = sqlx::query(
        "SELECT status, stat, dlr_mask, err FROM segments WHERE message_id = ? ORDER BY seq",
    )
    .bind(message_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let reports = rows.iter().map(codec::report).collect::<Result<Vec<_>>>()?;
    match fold_segments(&reports) {
        Some(report) => apply_report(conn, message_id, report, at).await,
        None => Ok(false),
    }
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
