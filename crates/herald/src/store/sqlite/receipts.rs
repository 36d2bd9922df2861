//! Receipts: kept as evidence, matched to the segment of the same carrier by normalised id, and
//! applied; or kept pending until the `submit_sm_resp` that carries their id arrives.

use herald_smpp::ids::IdKeys;
use rusqlite::params;

use super::{codec, detail, prepared::Db, redaction, state};
use crate::domain::{MessageId, MessageState, Report};
use crate::store::{Millis, ReceiptMatch, ReceiptRecord, Result, StoreError};

/// Which key matched a receipt to its segment.
#[derive(Debug, Clone, Copy)]
enum MatchedBy {
    Exact,
    /// The receipt's id read as decimal equals the submission's read as hex.
    DecimalAsHex,
    /// The receipt's id read as hex equals the submission's read as decimal.
    HexAsDecimal,
}

impl MatchedBy {
    /// From the rank the matching queries give each key (0 exact, 1, 2 cross).
    fn ranked(rank: i64) -> Self {
        match rank {
            0 => MatchedBy::Exact,
            1 => MatchedBy::DecimalAsHex,
            _ => MatchedBy::HexAsDecimal,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Exact => "exact",
            MatchedBy::DecimalAsHex => "decimal_receipt_hex_submission",
            MatchedBy::HexAsDecimal => "hex_receipt_decimal_submission",
        }
    }
}

/// What recording a receipt needs that depends on the receipt alone: worked out before the
/// receipt reaches the writer thread, which every write waits for.
pub(super) struct Precomputed {
    keys: IdKeys,
    tlvs: serde_json::Value,
    /// `tlvs` as the receipts table stores it (unless redaction changes them).
    tlvs_text: String,
}

impl Precomputed {
    pub(super) fn of(receipt: &ReceiptRecord) -> Self {
        let tlvs = serde_json::Value::Array(
            receipt
                .tlvs
                .iter()
                .map(|(tag, value)| serde_json::json!({ "tag": tag, "value": value }))
                .collect(),
        );
        Self {
            keys: IdKeys::of(&receipt.carrier_message_id),
            tlvs_text: tlvs.to_string(),
            tlvs,
        }
    }
}

pub(super) fn record(
    conn: &Db<'_>,
    receipt: &ReceiptRecord,
    precomputed: &Precomputed,
) -> Result<ReceiptMatch> {
    let keys = &precomputed.keys;
    // Matched before it is stored, so a matched receipt is written once, already linked,
    // and never passes through the pending indexes.
    let matched = find_submission(conn, &receipt.carrier, keys)?;
    let (mut raw_text, mut tlvs) = (receipt.raw_text.clone(), precomputed.tlvs.clone());
    let mut tlvs_text = None;
    if let Some(matched) = &matched
        && let Some((text, kept)) = redaction::redacted(matched.keeps_text, &raw_text, &tlvs)
    {
        tlvs_text = Some(kept.to_string());
        (raw_text, tlvs) = (text, kept);
    }
    // The new row's id from `last_insert_rowid`: `RETURNING` would make SQLite collect the
    // returned row in a temporary b-tree first.
    conn.prepare_cached(
        "INSERT INTO receipts (carrier, carrier_message_id, cid_exact, cid_dec, cid_hex,
                               outcome, stat_word, carrier_err, raw_text, tlvs, received_at,
                               message_id, segment)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        receipt.carrier,
        receipt.carrier_message_id,
        keys.exact,
        keys.as_decimal,
        keys.as_hex,
        codec::outcome_name(receipt.outcome),
        receipt.stat_word,
        receipt.carrier_err,
        raw_text,
        tlvs_text.as_deref().unwrap_or(&precomputed.tlvs_text),
        receipt.received_at,
        matched.as_ref().map(|m| m.message_id.as_str()),
        matched.as_ref().and_then(|m| m.segments.first()),
    ])?;
    let id = conn.last_insert_rowid();
    let Some(Matched {
        message_id,
        segments,
        matched_by,
        mut fold,
        ..
    }) = matched
    else {
        conn.receipt_left_pending();
        return Ok(ReceiptMatch::Pending);
    };
    let stored = StoredReceipt {
        id,
        carrier_message_id: receipt.carrier_message_id.clone(),
        outcome: codec::outcome_name(receipt.outcome).to_owned(),
        stat_word: receipt.stat_word.clone(),
        carrier_err: receipt.carrier_err.clone(),
        raw_text,
        tlvs,
        received_at: receipt.received_at,
    };
    let mut changed = false;
    for segment in segments {
        changed |= apply(
            conn,
            &stored,
            &message_id,
            segment,
            matched_by,
            receipt.received_at,
            fold.as_mut(),
        )?;
    }
    Ok(ReceiptMatch::Matched {
        message_id,
        changed,
    })
}

/// A receipt's match: the submission it reports on.
struct Matched {
    message_id: MessageId,
    /// The segments that submission carried: one, or every part of a joint submission (one
    /// `submit_sm` for the whole message, see `joint`), whose receipts report on all of them.
    segments: Vec<u32>,
    matched_by: MatchedBy,
    /// Whether the message keeps its text (see `redaction`).
    keeps_text: bool,
    /// What folding the message needs, when the lookup already read it: the matched segments
    /// are all the message has (a single-part message, or a joint submission). Otherwise the
    /// other parts' reports are read when the receipt is applied.
    fold: Option<state::FoldInputs>,
}

/// One segment found under a receipt's id key, with its message's state.
struct Candidate {
    message_id: String,
    seq: u32,
    submitted_at: Option<Millis>,
    cid_exact: Option<String>,
    report: Option<Report>,
    message: MessageState,
    announced: state::Announced,
    segment_count: u32,
}

impl Candidate {
    /// The columns every `find_submission` query selects, in this order.
    const COLUMNS: &[&str] = &[
        "message_id",
        "seq",
        "submitted_at",
        "cid_exact",
        "keeps_text",
        "status",
        "stat",
        "dlr_mask",
        "err",
        "m_status",
        "m_stat",
        "m_dlr_mask",
        "m_err",
        "dlr_url",
        "segment_count",
        "carrier",
        "plain_callback",
    ];

    fn read(row: &rusqlite::Row<'_>) -> Result<Self> {
        let row = &codec::Named::new(row, Self::COLUMNS);
        Ok(Self {
            message_id: row.get("message_id")?,
            seq: row.get("seq")?,
            submitted_at: row.get("submitted_at")?,
            cid_exact: row.get("cid_exact")?,
            report: codec::report(row)?,
            message: codec::message_state_in(row, state::MESSAGE_REPORT)?,
            announced: state::Announced::read(row)?,
            segment_count: row.get("segment_count")?,
        })
    }
}

/// The submissions under one of the three id keys, with what `Matched` needs.
macro_rules! under_key {
    ($column:literal) => {
        concat!(
            "SELECT s.message_id, s.seq, s.submitted_at, s.cid_exact,
                    m.text_store = 'plaintext' AS keeps_text,
                    s.status, s.stat, s.dlr_mask, s.err,
                    m.status AS m_status, m.stat AS m_stat, m.dlr_mask AS m_dlr_mask,
                    m.err AS m_err, m.dlr_url, m.segment_count, m.carrier,
                    m.callback_format = 'query' AS plain_callback
               FROM segments s JOIN messages m ON m.id = s.message_id
              WHERE s.carrier = ? AND s.",
            $column,
            " = ?"
        )
    };
}
/// Segments of a carrier under the exact key, the hex key and the decimal key of an id, in the
/// order `find_submission` ranks them.
pub(super) const SUBMISSIONS_BY_KEY: [&str; 3] = [
    under_key!("cid_exact"),
    under_key!("cid_hex"),
    under_key!("cid_dec"),
];

/// The most recent submission of `carrier` this id belongs to. The exact key ranks first: it
/// is the only unambiguous one; the cross keys are asked only when it finds nothing.
///
/// One plain indexed lookup per key, newest picked here: a single query over all three keys
/// needs a sort, and SQLite opens a temporary b-tree for it on every receipt. The lookup
/// returns every segment under the key, so the parts of a joint submission come with it, and
/// its message's state, so applying the receipt to a message whose parts are all here reads
/// nothing more.
fn find_submission(conn: &Db<'_>, carrier: &str, keys: &IdKeys) -> Result<Option<Matched>> {
    // The receipt's id read as decimal is looked for among submissions read as hex, and the
    // other way round (see `MatchedBy`).
    let wanted = [
        Some(keys.exact.as_str()),
        keys.as_decimal.as_deref(),
        keys.as_hex.as_deref(),
    ];
    for (rank, (sql, key)) in SUBMISSIONS_BY_KEY.iter().zip(wanted).enumerate() {
        let Some(key) = key else { continue };
        let mut statement = conn.prepare_cached(sql)?;
        let mut rows = statement.query(params![carrier, key])?;
        let mut candidates = Vec::new();
        while let Some(row) = rows.next()? {
            candidates.push(Candidate::read(row)?);
        }
        let Some(newest) = candidates.iter().reduce(|a, b| {
            if b.submitted_at > a.submitted_at {
                b
            } else {
                a
            }
        }) else {
            continue;
        };
        // The newest submission's parts: its message's segments that carry the same id.
        let mut parts: Vec<(u32, Option<Report>)> = candidates
            .iter()
            .filter(|c| c.message_id == newest.message_id && c.cid_exact == newest.cid_exact)
            .map(|c| (c.seq, c.report))
            .collect();
        parts.sort_unstable_by_key(|(seq, _)| *seq);
        let fold = (usize::try_from(newest.segment_count) == Ok(parts.len())).then(|| {
            state::FoldInputs::new(parts.clone(), newest.message, newest.announced.clone())
        });
        return Ok(Some(Matched {
            message_id: codec::message_id(&newest.message_id)?,
            segments: parts.into_iter().map(|(seq, _)| seq).collect(),
            matched_by: MatchedBy::ranked(rank as i64),
            keeps_text: newest.announced.keeps_text,
            fold,
        }));
    }
    Ok(None)
}

/// The pending receipts (stored before their submission was answered) of a carrier under the
/// three keys of an id, each row with the rank of the key it matched by (0 exact, 1 decimal,
/// 2 hex). `UNION ALL` with no `ORDER BY`, the caller sorting the few rows: it runs for every
/// submission a carrier accepts, and as a sorted `UNION` SQLite merged three co-routines, a
/// program twice as long (callgrind: ~8,800 → ~6,400 instructions per message).
pub(super) const PENDING_BY_KEYS: &str =
    "SELECT id, carrier_message_id, outcome, stat_word, carrier_err, raw_text, tlvs,
            received_at, 0 AS matched_by
       FROM receipts WHERE message_id IS NULL AND carrier = ?1 AND cid_exact = ?2
     UNION ALL
     SELECT id, carrier_message_id, outcome, stat_word, carrier_err, raw_text, tlvs,
            received_at, 1
       FROM receipts WHERE message_id IS NULL AND carrier = ?1 AND cid_dec = ?3
     UNION ALL
     SELECT id, carrier_message_id, outcome, stat_word, carrier_err, raw_text, tlvs,
            received_at, 2
       FROM receipts WHERE message_id IS NULL AND carrier = ?1 AND cid_hex = ?4";

/// Applies the receipts of `carrier` that arrived before the submission of `segments`
/// acknowledged with `keys`, in arrival order, each to every one of those segments.
pub(super) fn apply_pending(
    conn: &Db<'_>,
    message_id: &MessageId,
    segments: &[u32],
    carrier: &str,
    keys: &IdKeys,
    at: Millis,
) -> Result<()> {
    // Carriers mostly answer a submission before they report on it: then no receipt is pending,
    // and the writer knows it without looking under three keys (callgrind: ~7,000 instructions
    // per message).
    if !conn.may_have_pending_receipts()? {
        return Ok(());
    }
    let mut rows = conn
        .prepare_cached(PENDING_BY_KEYS)?
        .query_map(
            params![carrier, keys.exact, keys.as_hex, keys.as_decimal],
            |row| {
                Ok((
                    StoredReceiptColumns {
                        id: row.get("id")?,
                        carrier_message_id: row.get("carrier_message_id")?,
                        outcome: row.get("outcome")?,
                        stat_word: row.get("stat_word")?,
                        carrier_err: row.get("carrier_err")?,
                        raw_text: row.get("raw_text")?,
                        tlvs: row.get("tlvs")?,
                        received_at: row.get("received_at")?,
                    },
                    row.get::<_, i64>("matched_by")?,
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Each receipt's rows together, its best key first.
    rows.sort_by_key(|(columns, matched_by)| (columns.id, *matched_by));

    let mut applied = None;
    for (columns, matched_by) in rows {
        // One receipt can match by several keys; the first (exact) row is the one applied.
        if applied == Some(columns.id) {
            continue;
        }
        applied = Some(columns.id);
        let mut stored = columns.parse()?;
        // Stored before Herald knew whose it was: only now can its text be removed.
        if let Some((text, kept)) = redaction::redacted(
            redaction::keeps_text(conn, message_id)?,
            &stored.raw_text,
            &stored.tlvs,
        ) {
            (stored.raw_text, stored.tlvs) = (text, kept);
        }
        conn.prepare_cached(
            "UPDATE receipts SET message_id = ?, segment = ?, raw_text = ?, tlvs = ? WHERE id = ?",
        )?
        .execute(params![
            message_id.as_str(),
            segments.first(),
            stored.raw_text,
            stored.tlvs.to_string(),
            stored.id
        ])?;
        for &segment in segments {
            apply(
                conn,
                &stored,
                message_id,
                segment,
                MatchedBy::ranked(matched_by),
                at,
                None,
            )?;
        }
    }
    Ok(())
}

/// A receipt row as read back for applying.
struct StoredReceipt {
    id: i64,
    carrier_message_id: String,
    outcome: String,
    stat_word: Option<String>,
    carrier_err: Option<String>,
    raw_text: String,
    tlvs: serde_json::Value,
    received_at: Millis,
}

/// A receipt row's columns, before its TLVs are parsed.
struct StoredReceiptColumns {
    id: i64,
    carrier_message_id: String,
    outcome: String,
    stat_word: Option<String>,
    carrier_err: Option<String>,
    raw_text: String,
    tlvs: String,
    received_at: Millis,
}

impl StoredReceiptColumns {
    fn parse(self) -> Result<StoredReceipt> {
        Ok(StoredReceipt {
            id: self.id,
            carrier_message_id: self.carrier_message_id,
            outcome: self.outcome,
            stat_word: self.stat_word,
            carrier_err: self.carrier_err,
            raw_text: self.raw_text,
            tlvs: serde_json::from_str(&self.tlvs)
                .map_err(|e| codec::corrupt(format!("receipt tlvs: {e}")))?,
            received_at: self.received_at,
        })
    }
}

/// Writes a receipt already linked to its segment into the message's history and moves the
/// segment and message. `fold`, when the caller has it, is what folding needs as it stands
/// before this segment moves; without it, that is read. Returns whether the message's status
/// changed.
fn apply(
    conn: &Db<'_>,
    receipt: &StoredReceipt,
    message_id: &MessageId,
    segment: u32,
    matched_by: MatchedBy,
    at: Millis,
    fold: Option<&mut state::FoldInputs>,
) -> Result<bool> {
    let detail = detail::Receipt {
        carrier_err: receipt.carrier_err.as_deref(),
        carrier_message_id: &receipt.carrier_message_id,
        matched_by: matched_by.as_str(),
        outcome: &receipt.outcome,
        raw_text: &receipt.raw_text,
        receipt_id: receipt.id,
        received_at: receipt.received_at,
        stat_word: receipt.stat_word.as_deref(),
        tlvs: &receipt.tlvs,
    };
    let report = Report::from_receipt(codec::outcome(&receipt.outcome)?);
    let (status, stat, dlr_mask, err) = codec::report_columns(&report);
    let next_state = if report.status.is_final() {
        "done"
    } else {
        "sent"
    };
    let id = message_id.as_str();
    state::record_event(conn, message_id, at, "receipt", Some(segment), &detail)?;
    // A late or duplicate receipt for a finished segment is history only: the segment keeps its
    // report, and folding it again changes nothing.
    let moved =
        conn.prepare_cached(
            "UPDATE segments
            SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = ?, lease_until = NULL,
                updated_at = ?
          WHERE message_id = ? AND seq = ? AND state <> 'done'",
        )?
        .execute(params![
            status, stat, dlr_mask, err, next_state, at, id, segment
        ])? > 0;
    match fold {
        Some(inputs) => {
            if moved {
                inputs.set_report(segment, report);
            }
            state::settle(conn, message_id, inputs, at)
        }
        None => {
            let mut inputs =
                state::FoldInputs::read(conn, message_id)?.ok_or(StoreError::NotFound)?;
            state::settle(conn, message_id, &mut inputs, at)
        }
    }
}
