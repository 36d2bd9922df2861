//! Charging messages when they are first claimed for submission (err 004 when the balance cannot
//! pay), inside the claim's transaction.
//!
//! A message is charged for all its segments at once, the first time any of them is claimed;
//! a resubmission after a temporary error is not charged again. Claims run one after another in
//! the single writer, and the balance column cannot go below zero (a CHECK constraint), so
//! concurrent sends never overdraw: whoever is claimed once the money is gone is Rejected.
//! Refunds of messages Rejected later are the `refund_rejected_message` trigger's job
//! (migration 0002), so every path that rejects a message refunds it.

use std::collections::HashMap;

use sqlx::{Row, SqliteConnection};

use super::{codec, state};
use crate::domain::{ErrCode, MessageId, Report};
use crate::money::Money;
use crate::store::{Millis, Result, SubmitJob};

/// Charges the messages of `jobs` claimed for the first time; returns the jobs of the messages
/// that could pay (or were paid for before). The others are Rejected with err 004.
pub(super) async fn charge_claimed(
    conn: &mut SqliteConnection,
    jobs: Vec<SubmitJob>,
    now: Millis,
) -> Result<Vec<SubmitJob>> {
    let mut order: Vec<&str> = Vec::new();
    for job in &jobs {
        if !order.contains(&job.message_id.as_str()) {
            order.push(job.message_id.as_str());
        }
    }
    let ids = serde_json::to_string(&order).map_err(|e| codec::corrupt(e.to_string()))?;
    let rows = sqlx::query(
        "SELECT m.id, m.account_id, m.segment_count, m.price_micros, a.balance_micros
           FROM messages m JOIN accounts a ON a.id = m.account_id
          WHERE m.charge_micros IS NULL
            AND m.id IN (SELECT value FROM json_each(?))",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(jobs);
    }

    struct Uncharged {
        account_id: i64,
        cost: i64,
    }
    let mut uncharged: HashMap<String, Uncharged> = HashMap::with_capacity(rows.len());
    let mut balances: HashMap<i64, i64> = HashMap::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        let account_id: i64 = row.try_get("account_id")?;
        let segments: u32 = row.try_get("segment_count")?;
        let price: Option<i64> = row.try_get("price_micros")?;
        let cost = Money::from_micros(price.unwrap_or(0))
            .times(segments)
            .ok_or_else(|| codec::corrupt(format!("the price of message {id} overflows")))?;
        balances.insert(account_id, row.try_get("balance_micros")?);
        uncharged.insert(
            id,
            Uncharged {
                account_id,
                cost: cost.micros(),
            },
        );
    }

    // Decided in claim order, so within a claim the older message is paid first.
    let mut paid = Vec::new();
    let mut refused = Vec::new();
    let mut debits: HashMap<i64, i64> = HashMap::new();
    for id in order {
        let Some(m) = uncharged.get(id) else { continue };
        let Some(balance) = balances.get_mut(&m.account_id) else {
            continue;
        };
        if *balance >= m.cost {
            *balance -= m.cost;
            *debits.entry(m.account_id).or_default() += m.cost;
            paid.push(serde_json::json!([id, m.cost]));
        } else {
            refused.push((id.to_owned(), m.cost, *balance));
        }
    }

    if !paid.is_empty() {
        let debits: Vec<_> = debits
            .into_iter()
            .map(|(account, amount)| serde_json::json!([account, amount]))
            .collect();
        sqlx::query(
            "UPDATE messages SET charge_micros = j.value ->> 1
               FROM json_each(?) AS j WHERE messages.id = j.value ->> 0;
             UPDATE accounts SET balance_micros = balance_micros - (j.value ->> 1)
               FROM json_each(?) AS j WHERE accounts.id = j.value ->> 0;
             INSERT INTO events (message_id, at, kind, segment, detail)
                  SELECT j.value ->> 0, ?, 'charge', NULL,
                         json_object('amount_micros', j.value ->> 1)
                    FROM json_each(?) AS j;",
        )
        .bind(serde_json::Value::Array(paid.clone()).to_string())
        .bind(serde_json::Value::Array(debits).to_string())
        .bind(now)
        .bind(serde_json::Value::Array(paid).to_string())
        .execute(&mut *conn)
        .await?;
    }

    let report = Report::rejected_by_rule(ErrCode::CREDIT);
    let (status, stat, dlr_mask, err) = codec::report_columns(&report);
    for (id, cost, balance) in &refused {
        let message_id =
            MessageId::parse(id).ok_or_else(|| codec::corrupt(format!("message id {id:?}")))?;
        // Never submitted: every segment ends with the message's report.
        sqlx::query(
            "UPDATE segments
                SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = 'done',
                    lease_until = NULL, updated_at = ?
              WHERE message_id = ?",
        )
        .bind(status)
        .bind(stat)
        .bind(dlr_mask)
        .bind(err)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        let detail = serde_json::json!({
            "rule": "credit", "cost_micros": cost, "balance_micros": balance,
        });
        state::record_event(conn, &message_id, now, "rule", None, detail).await?;
        state::apply_report(conn, &message_id, report, now).await?;
    }
    Ok(jobs
        .into_iter()
        .filter(|job| !refused.iter().any(|(id, ..)| id == job.message_id.as_str()))
        .collect())
}
