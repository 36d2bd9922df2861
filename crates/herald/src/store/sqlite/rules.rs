//! The rules decided when a message is accepted, inside the acceptance transaction: the
//! blacklists (err 008) and the duplicate limit (err 006). The single writer runs acceptances one
//! after another, so two identical messages racing each other are still counted one by one.

use rusqlite::params;

use super::codec;
use super::prepared::Db;
use crate::domain::{ErrCode, Report};
use crate::money::Money;
use crate::store::{DuplicatePolicy, NewMessage, Result};

/// What acceptance stores besides the message itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Admission {
    /// The report the message is refused with: the one it came with (an earlier rule), or the
    /// one a rule here gives it; `None` when it is to be submitted.
    pub rejection: Option<Report>,
    /// The route's price per segment, charged when the message is first claimed.
    pub price_micros: Option<i64>,
    /// Set only for a message that passed the rules: what later duplicates are counted by.
    pub fingerprint: Option<i64>,
}

/// Applies the blacklist and duplicate rules to a message no earlier rule refused. The message
/// itself is left as it came: the verdict is the returned admission's `rejection`, so running
/// this again (the writer may) decides from the database alone.
pub(super) fn admit(
    conn: &Db<'_>,
    message: &NewMessage,
    duplicates: &DuplicatePolicy,
) -> Result<Admission> {
    let price_micros = match message.price.as_deref() {
        Some(price) => Some(
            Money::parse(price)
                .map_err(|e| codec::corrupt(format!("route price: {e}")))?
                .micros(),
        ),
        None => None,
    };
    if message.rejection.is_some() {
        return Ok(Admission {
            rejection: message.rejection,
            price_micros,
            fingerprint: None,
        });
    }
    let fingerprint = fingerprint(message);
    let now = message.accepted_at;
    let since = now.saturating_sub(codec::millis(duplicates.window));
    // One statement for every question acceptance asks.
    let (blacklisted, blocked, recent): (bool, bool, i64) = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM blacklist
                             WHERE number = ?1 AND (account_id IS NULL OR account_id = ?2))
                        AS blacklisted,
                    EXISTS (SELECT 1 FROM duplicate_blocks
                             WHERE account_id = ?2 AND destination = ?1 AND fingerprint = ?3
                               AND blocked_until > ?4)
                        AS blocked,
                    (SELECT count(*) FROM messages
                      WHERE account_id = ?2 AND destination = ?1 AND fingerprint = ?3
                        AND accepted_at > ?5)
                        AS recent",
        )?
        .query_row(
            params![
                message.destination,
                message.account_id,
                fingerprint,
                now,
                since
            ],
            |row| {
                Ok((
                    row.get("blacklisted")?,
                    row.get("blocked")?,
                    row.get("recent")?,
                ))
            },
        )?;

    let rejection = if blacklisted {
        Some(ErrCode::BLACKLISTED)
    } else if blocked {
        Some(ErrCode::DUPLICATE)
    } else if recent >= i64::from(duplicates.limit) {
        // The first message over the limit starts the block; those that follow while it lasts
        // do not extend it.
        conn.prepare_cached(
            "INSERT INTO duplicate_blocks (account_id, destination, fingerprint, blocked_until)
             VALUES (?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET blocked_until = excluded.blocked_until",
        )?
        .execute(params![
            message.account_id,
            message.destination,
            fingerprint,
            now.saturating_add(codec::millis(duplicates.block)),
        ])?;
        Some(ErrCode::DUPLICATE)
    } else {
        None
    };
    Ok(Admission {
        rejection: rejection.map(Report::rejected_by_rule),
        price_micros,
        fingerprint: rejection.is_none().then_some(fingerprint),
    })
}

/// A 64-bit hash (FNV-1a) of what the handset would show: each segment's coding and payload
/// without its user data header, whose concatenation reference is random per message. Stable
/// across releases, since fingerprints outlive the process that wrote them.
pub(super) fn fingerprint(message: &NewMessage) -> i64 {
    const UDHI: u8 = 0x40;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for segment in &message.segments {
        let body = match segment.payload.first() {
            Some(&udh_len) if segment.esm_class & UDHI != 0 => segment
                .payload
                .get(1 + usize::from(udh_len)..)
                .unwrap_or_default(),
            _ => &segment.payload[..],
        };
        eat(&[segment.data_coding]);
        eat(&(body.len() as u32).to_be_bytes());
        eat(body);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageId;
    use crate::store::NewSegment;
    use std::time::Duration;

    fn message(segments: Vec<(u8, Vec<u8>)>) -> NewMessage {
        NewMessage {
            id: MessageId::generate(),
            account_id: 1,
            destination: "37255500000".into(),
            sender: "Herald".into(),
            text: None,
            text_store: Default::default(),
            dlr_url: None,
            callback_format: Default::default(),
            omnimessage_id: None,
            carrier: None,
            price: None,
            validity: Duration::from_secs(60),
            not_before: 0,
            segments: segments
                .into_iter()
                .enumerate()
                .map(|(seq, (esm_class, payload))| NewSegment {
                    seq: seq as u32,
                    data_coding: 0,
                    esm_class,
                    payload,
                })
                .collect(),
            rejection: None,
            accepted_at: 0,
            priority: Default::default(),
        }
    }

    #[test]
    fn identical_texts_split_with_different_concatenation_references_have_one_fingerprint() {
        let a = message(vec![
            (0x40, vec![5, 0, 3, 0x11, 2, 1, b'a']),
            (0x40, vec![5, 0, 3, 0x11, 2, 2, b'b']),
        ]);
        let b = message(vec![
            (0x40, vec![5, 0, 3, 0x7F, 2, 1, b'a']),
            (0x40, vec![5, 0, 3, 0x7F, 2, 2, b'b']),
        ]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn different_texts_have_different_fingerprints() {
        let hello = message(vec![(0, b"hello".to_vec())]);
        let hullo = message(vec![(0, b"hullo".to_vec())]);
        let split = message(vec![(0, b"hel".to_vec()), (0, b"lo".to_vec())]);
        assert_ne!(fingerprint(&hello), fingerprint(&hullo));
        assert_ne!(fingerprint(&hello), fingerprint(&split));
    }
}
