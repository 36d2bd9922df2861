//! Messages entering the store (acceptance) and leaving it on their own clock (expiry).

use std::time::Duration;

use rusqlite::params;

use super::rules::Admission;
use super::{codec, prepared::Db, state};
use crate::domain::{MessageState, Report};
use crate::store::{CallbackFormat, Millis, NewMessage, Result, TextStore};

pub(super) fn accept(conn: &Db<'_>, message: &NewMessage, admission: &Admission) -> Result<()> {
    let valid_until = message
        .not_before
        .saturating_add(codec::millis(message.validity));
    let waiting = if message.not_before > message.accepted_at {
        MessageState::scheduled()
    } else {
        MessageState::queued()
    };
    let rejection = admission.rejection.map(|report| waiting.apply(report));
    let current = rejection.map_or(waiting, |t| t.state);
    let report = current.report.as_ref().map(codec::report_columns);

    // A refused message's segments carry its report too, so folding them agrees with it; they
    // are never submitted.
    let segment_state = if rejection.is_some() {
        "done"
    } else {
        "queued"
    };
    let id = message.id.as_str();
    conn.prepare_cached(
        "INSERT INTO messages (id, account_id, destination, sender, text, dlr_url, carrier, price,
                               status, stat, dlr_mask, err, segment_count, accepted_at,
                               not_before, valid_until, updated_at, price_micros, fingerprint,
                               text_store, priority, callback_format, omnimessage_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        id,
        message.account_id,
        message.destination,
        message.sender,
        message.text,
        message.dlr_url,
        message.carrier,
        message.price,
        current.status.as_str(),
        report.map(|r| r.1),
        report.map(|r| r.2),
        report.map(|r| r.3),
        message.segments.len() as i64,
        message.accepted_at,
        message.not_before,
        valid_until,
        message.accepted_at,
        admission.price_micros,
        admission.fingerprint,
        message.text_store.as_str(),
        message.priority.rank(),
        message.callback_format.as_str(),
        message.omnimessage_id,
    ])?;
    conn.status_moved(message.carrier.as_deref(), None, current.status);
    let mut insert_segment = conn.prepare_cached(
        "INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state, not_before,
                               status, stat, dlr_mask, err, updated_at, priority, route)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    // A message refused at acceptance is final from its first row: if its text is not to be
    // kept, its segments are stored without it (what `state::change_status` does to the
    // segments of a message that becomes final later).
    let forgotten = rejection.is_some() && message.text_store != TextStore::Plaintext;
    for segment in &message.segments {
        let payload: &[u8] = if forgotten { &[] } else { &segment.payload };
        insert_segment.execute(params![
            id,
            segment.seq,
            segment.data_coding,
            segment.esm_class,
            payload,
            segment_state,
            message.not_before,
            report.map(|r| r.0),
            report.map(|r| r.1),
            report.map(|r| r.2),
            report.map(|r| r.3),
            message.accepted_at,
            message.priority.rank(),
            message.carrier,
        ])?;
    }
    // No `accepted` history line is written: the message row says all it would (its
    // time, carrier, not_before, priority, segments and valid_until, none of which change),
    // and the history read shows it from there (`reads::history`).
    if let Some(notice) = rejection.and_then(|t| t.notify) {
        state::announce(
            conn,
            &message.id,
            message.dlr_url.as_deref(),
            message.callback_format == CallbackFormat::Query,
            &notice,
            message.accepted_at,
        )?;
    }
    Ok(())
}

/// Ends the segments of an expired message that have no final report yet (the final statuses
/// compared one by one, as in [`state::SET_SEGMENT_REPORT`]).
pub(super) const END_UNFINISHED_SEGMENTS: &str = "UPDATE segments
    SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = 'done', lease_until = NULL,
        updated_at = ?
  WHERE message_id = ?
    AND (status IS NULL
         OR (status <> 'delivered' AND status <> 'failed' AND status <> 'rejected'))";

/// Fails messages whose validity plus grace has passed without a final report, oldest first.
pub(super) fn expire_overdue(
    conn: &Db<'_>,
    now: Millis,
    grace: Duration,
    limit: usize,
) -> Result<usize> {
    let deadline = now.saturating_sub(codec::millis(grace));
    // Scheduled messages are left alone: their validity only starts once they may be sent.
    let overdue = conn
        .prepare_cached(
            "SELECT id, valid_until FROM messages
              WHERE status IN ('queued', 'sent') AND valid_until <= ?
              ORDER BY valid_until LIMIT ?",
        )?
        .query_map(
            params![deadline, i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| {
                Ok((
                    row.get::<_, String>("id")?,
                    row.get::<_, Millis>("valid_until")?,
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let expired = Report::expired();
    let (status, stat, dlr_mask, err) = codec::report_columns(&expired);
    let mut moved = 0;
    for (id, valid_until) in overdue {
        let id = codec::message_id(&id)?;
        // Unfinished segments end too: a submission still in flight is not resent, and a late
        // receipt for it is recorded without changing anything.
        conn.prepare_cached(END_UNFINISHED_SEGMENTS)?
            .execute(params![status, stat, dlr_mask, err, now, id.as_str()])?;
        let detail =
            serde_json::json!({ "valid_until": valid_until, "grace_ms": codec::millis(grace) });
        state::record_event(conn, &id, now, "expired", None, &detail)?;
        if state::apply_report(conn, &id, expired, now)? {
            moved += 1;
        }
    }
    Ok(moved)
}
