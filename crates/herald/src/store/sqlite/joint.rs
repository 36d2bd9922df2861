//! Joint submissions: all segments of a message in one `submit_sm`, for carriers that take a
//! long message whole in `message_payload` (`concatenation = "payload"`).
//!
//! The segments stay the unit of charging and of reports (status-model §5 folds them as for any
//! multipart message); what changes is that they move together. They are claimed together (a
//! claim's limit never cuts a message in half), they get the one carrier id together, and any
//! other outcome (a retry, an unknown outcome) applies to each of them in the same transaction.

use herald_smpp::ids::IdKeys;
use rusqlite::params;

use super::{codec, prepared::Db, receipts, state, submissions};
use crate::domain::MessageId;
use crate::store::{Millis, Result, StoreError, SubmitJob, SubmitOutcome, SubmitResult};

/// A claim of whole messages: the ordinary claim, then the rest of every message it reached
/// (its limit counts segments, and may stop inside a message), leased with it. Jobs come back
/// grouped by message, each message's in segment order.
pub(super) fn claim(
    conn: &Db<'_>,
    carrier: &str,
    now: Millis,
    limit: usize,
    lease: std::time::Duration,
) -> Result<Vec<SubmitJob>> {
    let claimed = submissions::claim(conn, carrier, now, limit, lease)?;
    let mut messages: Vec<MessageId> = Vec::new();
    for job in &claimed {
        if !messages.contains(&job.message_id) {
            messages.push(job.message_id.clone());
        }
    }
    let lease_until = now.saturating_add(codec::millis(lease));
    let mut jobs = claimed;
    for id in &messages {
        // The segments just claimed are leased until `lease_until` now, so only the rest match.
        let rest = due_segments(conn, id, now)?;
        let mut lease_segment = conn.prepare_cached(
            "UPDATE segments SET lease_until = ? WHERE message_id = ? AND seq = ?",
        )?;
        for job in &rest {
            lease_segment.execute(params![lease_until, id.as_str(), job.segment])?;
        }
        jobs.extend(rest);
    }
    jobs.sort_by_key(|job| {
        let message = messages.iter().position(|m| *m == job.message_id);
        (message, job.segment)
    });
    Ok(jobs)
}

/// The segments of message `id` that are due and free to claim at `now`.
fn due_segments(conn: &Db<'_>, id: &MessageId, now: Millis) -> Result<Vec<SubmitJob>> {
    let rows = conn
        .prepare_cached(
            "SELECT s.seq, s.data_coding, s.esm_class, s.payload, s.attempts,
                    m.carrier, m.destination, m.sender, m.valid_until, m.segment_count
               FROM segments s JOIN messages m ON m.id = s.message_id
              WHERE s.message_id = ?1 AND s.state = 'queued' AND s.not_before <= ?2
                AND (s.lease_until IS NULL OR s.lease_until <= ?2)
              ORDER BY s.seq",
        )?
        .query_map(params![id.as_str(), now], |row| {
            let row = &codec::Named::new(row, submissions::SubmitJobColumns::NAMES);
            Ok(submissions::SubmitJobColumns::read(row)?.into_job(id.clone()))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Records the outcome of one `submit_sm` that carried the segments of `results` (one result
/// each, all of one message, with one outcome).
pub(super) fn record(conn: &Db<'_>, results: &[SubmitResult]) -> Result<()> {
    let Some(first) = results.first() else {
        return Ok(());
    };
    if results.iter().any(|r| {
        r.message_id != first.message_id || r.carrier != first.carrier || r.outcome != first.outcome
    }) {
        return Err(codec::corrupt(format!(
            "a joint submission of message {} mixes messages, carriers or outcomes",
            first.message_id
        )));
    }
    let SubmitOutcome::Accepted { carrier_message_id } = &first.outcome else {
        // A retry requeues each at the same time, an unknown outcome marks each, a refusal
        // rejects each: the message moves once, as its segments fold.
        return results
            .iter()
            .try_for_each(|r| submissions::record_refused(conn, r));
    };
    let keys = IdKeys::of(carrier_message_id);
    for result in results {
        submissions::mark_accepted(conn, result, carrier_message_id, &keys)?;
    }
    let inputs = state::FoldInputs::read(conn, &first.message_id)?;
    let Some(mut inputs) = inputs.filter(|i| results.iter().all(|r| i.has_segment(r.segment)))
    else {
        return Err(StoreError::NotFound);
    };
    state::settle(conn, &first.message_id, &mut inputs, first.at)?;
    let segments: Vec<u32> = results.iter().map(|r| r.segment).collect();
    receipts::apply_pending(
        conn,
        &first.message_id,
        &segments,
        &first.carrier,
        &keys,
        first.at,
    )
}
