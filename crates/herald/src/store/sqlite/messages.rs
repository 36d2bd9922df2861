//! Messages entering the store (acceptance) and leaving it on their own clock (expiry).

use std::time::Duration;

use sqlx::{Row, SqliteConnection};

use super::{codec, state};
use crate::domain::{MessageId, MessageState, Report};
use crate::store::{Millis, NewMessage, Result};

pub(super) async fn accept(conn: &mut SqliteConnection, message: &NewMessage) -> Result<()> {
    let valid_until = message
        .not_before
        .saturating_add(codec::millis(message.validity));
    let waiting = if message.not_before > message.accepted_at {
        MessageState::scheduled()
    } else {
        MessageState::queued()
    };
    let rejection = message.rejection.map(|report| waiting.apply(report));
    let current = rejection.map_or(waiting, |t| t.state);
    let report = current.report.as_ref().map(codec::report_columns);

    sqlx::query(
        "INSERT INTO messages (id, account_id, destination, sender, text, dlr_url, carrier, price,
                               status, stat, dlr_mask, err, segment_count, accepted_at,
                               not_before, valid_until, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?14)",
    )
    .bind(message.id.as_str())
    .bind(message.account_id)
    .bind(&message.destination)
    .bind(&message.sender)
    .bind(message.text.as_deref())
    .bind(message.dlr_url.as_deref())
    .bind(message.carrier.as_deref())
    .bind(message.price.as_deref())
    .bind(current.status.as_str())
    .bind(report.map(|r| r.1))
    .bind(report.map(|r| r.2))
    .bind(report.map(|r| r.3))
    .bind(message.segments.len() as i64)
    .bind(message.accepted_at)
    .bind(message.not_before)
    .bind(valid_until)
    .execute(&mut *conn)
    .await?;

    // A refused message's segments carry its report too, so folding them agrees with it; they
    // are never submitted.
    let segment_state = if rejection.is_some() {
        "done"
    } else {
        "queued"
    };
    for segment in &message.segments {
        sqlx::query(
            "INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state,
                                   not_before, status, stat, dlr_mask, err, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(message.id.as_str())
        .bind(segment.seq)
        .bind(segment.data_coding)
        .bind(segment.esm_class)
        .bind(segment.payload.as_slice())
        .bind(segment_state)
        .bind(message.not_before)
        .bind(report.map(|r| r.0))
        .bind(report.map(|r| r.1))
        .bind(report.map(|r| r.2))
        .bind(report.map(|r| r.3))
        .bind(message.accepted_at)
        .execute(&mut *conn)
        .await?;
    }

    let detail = serde_json::json!({
        "segments": message.segments.len(),
        "carrier": message.carrier,
        "not_before": message.not_before,
        "valid_until": valid_until,
    });
    state::record_event(
        conn,
        &message.id,
        message.accepted_at,
        "accepted",
        None,
        detail,
    )
    .await?;
    if let Some(notice) = rejection.and_then(|t| t.notify) {
        state::announce(
            conn,
            &message.id,
            message.dlr_url.as_deref(),
            &notice,
            message.accepted_at,
        )
        .await?;
    }
    Ok(())
}

/// Fails messages whose validity plus grace has passed without a final report, oldest first.
pub(super) async fn expire_overdue(
    conn: &mut SqliteConnection,
    now: Millis,
    grace: Duration,
    limit: usize,
) -> Result<usize> {
    let deadline = now.saturating_sub(codec::millis(grace));
    // Scheduled messages are left alone: their validity only starts once they may be sent.
    let overdue = sqlx::query(
        "SELECT id, valid_until FROM messages
          WHERE status IN ('queued', 'sent') AND valid_until <= ?
          ORDER BY valid_until LIMIT ?",
    )
    .bind(deadline)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;

    let expired = Report::expired();
    let (status, stat, dlr_mask, err) = codec::report_columns(&expired);
    let mut moved = 0;
    for row in overdue {
        let id: String = row.try_get("id")?;
        let id =
            MessageId::parse(&id).ok_or_else(|| codec::corrupt(format!("message id {id:?}")))?;
        let valid_until: Millis = row.try_get("valid_until")?;
        // Unfinished segments end too: a submission still in flight is not resent, and a late
        // receipt for it is recorded without changing anything.
        sqlx::query(
            "UPDATE segments
                SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = 'done',
                    lease_until = NULL, updated_at = ?
              WHERE message_id = ?
                AND (status IS NULL OR status NOT IN ('delivered', 'failed', 'rejected'))",
        )
        .bind(status)
        .bind(stat)
        .bind(dlr_mask)
        .bind(err)
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
        let detail =
            serde_json::json!({ "valid_until": valid_until, "grace_ms": codec::millis(grace) });
        state::record_event(conn, &id, now, "expired", None, detail).await?;
        if state::apply_report(conn, &id, expired, now).await? {
            moved += 1;
        }
    }
    Ok(moved)
}
