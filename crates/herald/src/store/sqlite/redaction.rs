//! Receipts of messages whose text Herald must not keep (`text-store` `sha256` or `nostore`).
//!
//! Carriers repeat the start of the message in a receipt's Appendix B `text:` field, and a
//! receipt whose `short_message` is empty carries that same text in its `message_payload` TLV.
//! Herald keeps receipts as evidence, so it removes exactly that: the value of `text:` in the
//! raw text, and the `message_payload` TLV's value (marked `"redacted": true`). It happens when
//! a receipt is linked to its message, which is when Herald first knows whose it is: on arrival,
//! or, for one that came before its `submit_sm_resp`, when that response is recorded. The
//! message history's receipt lines are written from the redacted receipt. Migration 0004 did
//! the same, once, for the receipts stored before this module existed.

use herald_smpp::receipt;
use rusqlite::OptionalExtension;

use super::prepared::Db;
use crate::domain::MessageId;
use crate::store::Result;

/// `message_payload` (0x0424): in a receipt, the receipt text itself.
const TAG_MESSAGE_PAYLOAD: u64 = 0x0424;

/// The receipt's raw text and TLVs as they may be kept for a message that `keeps_text` (its
/// `text-store` is plaintext) or not: `None` when they may be kept as received.
pub(super) fn redacted(
    keeps_text: bool,
    raw_text: &str,
    tlvs: &serde_json::Value,
) -> Option<(String, serde_json::Value)> {
    if keeps_text {
        return None;
    }
    let text = receipt::redact_text_field(raw_text);
    let payload_tlvs = tlvs
        .as_array()
        .is_some_and(|all| all.iter().any(is_message_payload));
    if text.is_none() && !payload_tlvs {
        return None;
    }
    let tlvs = match tlvs.as_array() {
        Some(all) => all
            .iter()
            .map(|tlv| {
                if is_message_payload(tlv) {
                    serde_json::json!({ "tag": TAG_MESSAGE_PAYLOAD, "value": "", "redacted": true })
                } else {
                    tlv.clone()
                }
            })
            .collect(),
        None => tlvs.clone(),
    };
    Some((text.unwrap_or_else(|| raw_text.to_owned()), tlvs))
}

fn is_message_payload(tlv: &serde_json::Value) -> bool {
    tlv["tag"].as_u64() == Some(TAG_MESSAGE_PAYLOAD)
}

/// Whether the message keeps its text (`text-store` plaintext); an unknown message does not.
pub(super) fn keeps_text(conn: &Db<'_>, message_id: &MessageId) -> Result<bool> {
    let store: Option<String> = conn
        .prepare_cached("SELECT text_store FROM messages WHERE id = ?")?
        .query_row([message_id.as_str()], |row| row.get(0))
        .optional()?;
    Ok(store.as_deref() == Some("plaintext"))
}
