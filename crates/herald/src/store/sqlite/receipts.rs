//! Receipts: kept as evidence, matched to the segment of the same carrier by normalised id, and
//! applied; or kept pending until the `submit_sm_resp` that carries their id arrives.

use herald_smpp::ids::IdKeys;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{codec, state};
use crate::domain::{MessageId, Report};
use crate::store::{Millis, ReceiptMatch, ReceiptRecord, Result};

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

pub(super) async fn record(
    conn: &mut SqliteConnection,
    receipt: &ReceiptRecord,
) -> Result<ReceiptMatch> {
    let keys = IdKeys::of(&receipt.carrier_message_id);
    let tlvs = serde_json::Value::Array(
        receipt
            .tlvs
            .iter()
            .map(|(tag, value)| serde_json::json!({ "tag": tag, "value": value }))
            .collect(),
    );
    let id: i64 = sqlx::query(
        "INSERT INTO receipts (carrier, carrier_message_id, cid_exact, cid_dec, cid_hex, outcome,
                               stat_word, carrier_err, raw_text, tlvs, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&receipt.carrier)
    .bind(&receipt.carrier_message_id)
    .bind(&keys.exact)
    .bind(keys.as_decimal.as_deref())
    .bind(keys.as_hex.as_deref())
    .bind(codec::outcome_name(receipt.outcome))
    .bind(receipt.stat_word.as_deref())
    .bind(receipt.carrier_err.as_deref())
    .bind(&receipt.raw_text)
    .bind(tlvs.to_string())
    .bind(receipt.received_at)
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?;

    let Some((message_id, segment, matched_by)) =
        find_segment(conn, &receipt.carrier, &keys).await?
    else {
        return Ok(ReceiptMatch::Pending);
    };
    let stored = StoredReceipt {
        id,
        carrier_message_id: receipt.carrier_message_id.clone(),
        outcome: codec::outcome_name(receipt.outcome).to_owned(),
        stat_word: receipt.stat_word.clone(),
        carrier_err: receipt.carrier_err.clone(),
        raw_text: receipt.raw_text.clone(),
        tlvs,
        received_at: receipt.received_at,
    };
    let changed = apply(
        conn,
        &stored,
        &message_id,
        segment,
        matched_by,
        receipt.received_at,
    )
    .await?;
    Ok(ReceiptMatch::Matched {
        message_id,
        changed,
    })
}

/// The most recent submission of `carrier` this id belongs to. The exact key ranks first: it
/// is the only unambiguous one.
async fn find_segment(
    conn: &mut SqliteConnection,
    carrier: &str,
    keys: &IdKeys,
) -> Result<Option<(MessageId, u32, MatchedBy)>> {
    let row = sqlx::query(
        "SELECT message_id, seq, rank FROM (
             SELECT message_id, seq, submitted_at, 0 AS rank FROM segments
              WHERE carrier = ?1 AND cid_exact = ?2
             UNION ALL
             SELECT message_id, seq, submitted_at, 1 FROM segments
              WHERE carrier = ?1 AND cid_hex = ?3
             UNION ALL
             SELECT message_id, seq, submitted_at, 2 FROM segments
              WHERE carrier = ?1 AND cid_dec = ?4)
          ORDER BY rank, submitted_at DESC
          LIMIT 1",
    )
    .bind(carrier)
    .bind(&keys.exact)
    .bind(keys.as_decimal.as_deref())
    .bind(keys.as_hex.as_deref())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("message_id")?;
    let id = MessageId::parse(&id).ok_or_else(|| codec::corrupt(format!("message id {id:?}")))?;
    Ok(Some((
        id,
        row.try_get("seq")?,
        MatchedBy::ranked(row.try_get("rank")?),
    )))
}

/// Applies the receipts of `carrier` that arrived before the submission acknowledged with
/// `keys`, in arrival order.
pub(super) async fn apply_pending(
    conn: &mut SqliteConnection,
    message_id: &MessageId,
    segment: u32,
    carrier: &str,
    keys: &IdKeys,
    at: Millis,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, carrier_message_id, outcome, stat_word, carrier_err, raw_text, tlvs, received_at,
                0 AS matched_by
           FROM receipts WHERE message_id IS NULL AND carrier = ?1 AND cid_exact = ?2
         UNION
         SELECT id, carrier_message_id, outcome, stat_word, carrier_err, raw_text, tlvs, received_at,
                1
           FROM receipts WHERE message_id IS NULL AND carrier = ?1 AND cid_dec = ?3
         UNION
         SELECT id, carrier_message_id, outcome, stat_word, carrier_err, raw_text, tlvs, received_at,
                2
           FROM receipts WHERE message_id IS NULL AND carrier = ?1 AND cid_hex = ?4
         ORDER BY id, matched_by",
    )
    .bind(carrier)
    .bind(&keys.exact)
    .bind(keys.as_hex.as_deref())
    .bind(keys.as_decimal.as_deref())
    .fetch_all(&mut *conn)
    .await?;

    let mut applied = None;
    for row in rows {
        let stored = StoredReceipt::from_row(&row)?;
        // One receipt can match by several keys; the first (exact) row is the one applied.
        if applied == Some(stored.id) {
            continue;
        }
        applied = Some(stored.id);
        let matched_by = MatchedBy::ranked(row.try_get("matched_by")?);
        apply(conn, &stored, message_id, segment, matched_by, at).await?;
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

impl StoredReceipt {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        let tlvs: String = row.try_get("tlvs")?;
        Ok(Self {
            id: row.try_get("id")?,
            carrier_message_id: row.try_get("carrier_message_id")?,
            outcome: row.try_get("outcome")?,
            stat_word: row.try_get("stat_word")?,
            carrier_err: row.try_get("carrier_err")?,
            raw_text: row.try_get("raw_text")?,
            tlvs: serde_json::from_str(&tlvs)
                .map_err(|e| codec::corrupt(format!("receipt tlvs: {e}")))?,
            received_at: row.try_get("received_at")?,
        })
    }
}

/// Links the receipt to its segment, writes it into the message's history and moves the
/// segment and message, in two round trips. Returns whether the message's status changed.
async fn apply(
    conn: &mut SqliteConnection,
    receipt: &StoredReceipt,
    message_id: &MessageId,
    segment: u32,
    matched_by: MatchedBy,
    at: Millis,
) -> Result<bool> {
    let detail = serde_json::json!({
        "receipt_id": receipt.id,
        "carrier_message_id": receipt.carrier_message_id,
        "matched_by": matched_by.as_str(),
        "outcome": receipt.outcome,
        "stat_word": receipt.stat_word,
        "carrier_err": receipt.carrier_err,
        "raw_text": receipt.raw_text,
        "tlvs": receipt.tlvs,
        "received_at": receipt.received_at,
    });
    let report = Report::from_receipt(codec::outcome(&receipt.outcome)?);
    let (status, stat, dlr_mask, err) = codec::report_columns(&report);
    let next_state = if report.status.is_final() {
        "done"
    } else {
        "sent"
    };
    // A late or duplicate receipt for a finished segment is history only: the segment keeps its
    // report, and folding it again changes nothing.
    let sql = concat!(
        "UPDATE receipts SET message_id = ?, segment = ? WHERE id = ?;
         INSERT INTO events (message_id, at, kind, segment, detail)
              VALUES (?, ?, 'receipt', ?, ?);
         UPDATE segments
            SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = ?, lease_until = NULL,
                updated_at = ?
          WHERE message_id = ? AND seq = ? AND state <> 'done';",
        state::fold_inputs_sql!()
    );
    let id = message_id.as_str();
    let rows = sqlx::query(sql)
        .bind(id)
        .bind(segment)
        .bind(receipt.id)
        .bind(id)
        .bind(at)
        .bind(segment)
        .bind(detail.to_string())
        .bind(status)
        .bind(stat)
        .bind(dlr_mask)
        .bind(err)
        .bind(next_state)
        .bind(at)
        .bind(id)
        .bind(segment)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    state::settle(conn, message_id, &rows, at).await
}
