//! Messages entering the store (acceptance) and leaving it on their own clock (expiry).

use std::time::Duration;

use sqlx::{Row, SqliteConnection};

use super::rules::Admission;
use super::{codec, state};
use crate::domain::{MessageId, MessageState, Report};
use crate::store::{Millis, NewMessage, Result};

pub(super) async fn accept(
    conn: &mut SqliteConnection,
    message: &NewMessage,
    admission: &Admission,
) -> Result<()> {
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

    // A refused message's segments carry its report too, so folding them agrees with it; they
    // are never submitted.
    let segment_state = if rejection.is_some() {
        "done"
    } else {
        "queued"
    };
    // Segments travel as one JSON array so the whole acceptance is one round trip to SQLite
    // whatever the number of parts: acceptance is the hot path.
    let segments = serde_json::Value::Array(
        message
            .segments
            .iter()
            .map(|s| serde_json::json!([s.seq, s.data_coding, s.esm_class, hex(&s.payload)]))
            .collect(),
    );
    let accepted = serde_json::json!({
        "segments": message.segments.len(),
        "carrier": message.carrier,
        "not_before": message.not_before,
        "valid_until": valid_until,
    });
    let id = message.id.as_str();
    sqlx::query(
        "INSERT INTO messages (id, account_id, destination, sender, text, dlr_url, carrier, price,
                               status, stat, dlr_mask, err, segment_count, accepted_at,
                               not_before, valid_until, updated_at, price_micros, fingerprint,
                               text_store)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
         INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state, not_before,
                               status, stat, dlr_mask, err, updated_at)
              SELECT ?, value ->> 0, value ->> 1, value ->> 2, unhex(value ->> 3), ?, ?,
                     ?, ?, ?, ?, ?
                FROM json_each(?);
         INSERT INTO events (message_id, at, kind, segment, detail)
              VALUES (?, ?, 'accepted', NULL, ?);",
    )
    // the message
    .bind(id)
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
    .bind(message.accepted_at)
    .bind(admission.price_micros)
    .bind(admission.fingerprint)
    .bind(message.text_store.as_str())
    // its segments
    .bind(id)
    .bind(segment_state)
    .bind(message.not_before)
    .bind(report.map(|r| r.0))
    .bind(report.map(|r| r.1))
    .bind(report.map(|r| r.2))
    .bind(report.map(|r| r.3))
    .bind(message.accepted_at)
    .bind(segments.to_string())
    // the history
    .bind(id)
    .bind(message.accepted_at)
    .bind(accepted.to_string())
    .execute(&mut *conn)
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

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
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
