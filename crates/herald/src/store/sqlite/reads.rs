//! Queries answered from the read-only pool, never waiting for the writer.

use sqlx::{Row, SqlitePool};

use super::codec;
use crate::domain::MessageId;
use crate::store::{Event, MessageCount, MessageView, Millis, Result};

pub(super) async fn message(pool: &SqlitePool, id: &MessageId) -> Result<Option<MessageView>> {
    let row = sqlx::query(
        "SELECT account_id, destination, sender, text, status, stat, dlr_mask, err, carrier,
                segment_count, accepted_at, updated_at, callback_format, omnimessage_id
           FROM messages WHERE id = ?",
    )
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let state = codec::message_state(&row)?;
    Ok(Some(MessageView {
        id: id.clone(),
        account_id: row.try_get("account_id")?,
        destination: row.try_get("destination")?,
        sender: row.try_get("sender")?,
        text: row.try_get("text")?,
        status: state.status,
        report: state.report,
        carrier: row.try_get("carrier")?,
        segment_count: row.try_get("segment_count")?,
        accepted_at: row.try_get("accepted_at")?,
        updated_at: row.try_get("updated_at")?,
        callback_format: codec::callback_format(&row.try_get::<String, _>("callback_format")?)?,
        omnimessage_id: row.try_get("omnimessage_id")?,
    }))
}

pub(super) async fn history(pool: &SqlitePool, id: &MessageId) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT at, kind, segment, detail FROM events WHERE message_id = ? ORDER BY id",
    )
    .bind(id.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(Event {
                at: row.try_get("at")?,
                kind: row.try_get("kind")?,
                segment: row.try_get("segment")?,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| codec::corrupt(format!("event detail: {e}")))?,
            })
        })
        .collect()
}

/// The earliest moment a queue has work. Leased work counts from the end of its lease, and a
/// callback waiting behind an earlier one of its message counts not at all, so a caller that
/// sleeps until this moment does not wake for work it cannot claim.
pub(super) async fn next_due(pool: &SqlitePool) -> Result<Option<Millis>> {
    let due: Option<Millis> = sqlx::query(
        "SELECT min(t) AS due FROM (
             SELECT min(not_before) AS t FROM segments
              WHERE state = 'queued' AND lease_until IS NULL
             UNION ALL
             SELECT min(lease_until) FROM segments
              WHERE state = 'queued' AND lease_until IS NOT NULL
             UNION ALL
             SELECT min(max(c.due_at, coalesce(c.lease_until, c.due_at))) FROM callbacks c
              WHERE c.state = 'pending'
                AND NOT EXISTS (SELECT 1 FROM callbacks e
                                 WHERE e.state = 'pending' AND e.message_id = c.message_id
                                   AND e.id < c.id)
             UNION ALL
             SELECT min(valid_until) FROM messages WHERE status IN ('queued', 'sent')
         )",
    )
    .fetch_one(pool)
    .await?
    .try_get("due")?;
    Ok(due)
}

pub(super) async fn message_counts(pool: &SqlitePool) -> Result<Vec<MessageCount>> {
    let rows = sqlx::query(
        "SELECT carrier, status, COUNT(*) AS n FROM messages GROUP BY carrier, status
          ORDER BY carrier, status",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            Ok(MessageCount {
                carrier: row.try_get("carrier")?,
                status: codec::status(&status)?,
                count: u64::try_from(n).unwrap_or(0),
            })
        })
        .collect()
}
