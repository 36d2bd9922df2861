//! Charging messages when they are first claimed for submission (err 004 when the balance cannot
//! pay), inside the claim's transaction.
//!
//! A message is charged for all its segments at once, the first time any of them is claimed;
//! a resubmission after a temporary error is not charged again. Claims run one after another in
//! the single writer, and the balance column cannot go below zero (a CHECK constraint), so
//! concurrent sends never overdraw: whoever is claimed once the money is gone is Rejected.
//! A message Rejected after it was charged is refunded by [`refund`], which the one place that
//! moves a message's status (`state::change_status`) calls, so every path that rejects a message
//! refunds it. (Migrations 0002-0009 had a trigger do it; 0010 says why it no longer does.)

use rusqlite::{OptionalExtension, params};

use super::{codec, detail, prepared::Db, state};
use crate::domain::{ErrCode, MessageId, Report};
use crate::money::Money;
use crate::store::{Millis, Result, SubmitJob};

/// What charging a claimed message needs, read by the claim's own query (one lookup of the
/// message and its account per claimed segment, rather than one more query per message).
pub(super) struct Bill {
    pub account_id: i64,
    /// Not charged at an earlier claim.
    pub uncharged: bool,
    /// Per segment.
    pub price_micros: Option<i64>,
    /// The account's balance as the claim found it, before this claim's charges.
    pub balance_micros: i64,
}

/// Charges the messages of `jobs` claimed for the first time; returns the jobs of the messages
/// that could pay (or were paid for before). The others are Rejected with err 004.
pub(super) fn charge_claimed(
    conn: &Db<'_>,
    jobs: Vec<(SubmitJob, Bill)>,
    now: Millis,
) -> Result<Vec<SubmitJob>> {
    // Decided in claim order, so within a claim the older message is paid first. Each message
    // reads the balance as the charges before it left it: the claim runs alone in the writer's
    // transaction, so nothing else moves the balance in between.
    let mut refused: Vec<&str> = Vec::new();
    let mut decided: Vec<&str> = Vec::new();
    // What this claim has charged each account so far: balances are debited once per account
    // at the end, not once per message.
    let mut spent: Vec<(i64, i64)> = Vec::new();
    // Where the charges of this claim stand in their messages' histories, read once if any
    // message is charged (`history_mark`).
    let mut mark = None;
    for (job, bill) in &jobs {
        let id = job.message_id.as_str();
        if decided.contains(&id) {
            continue;
        }
        decided.push(id);
        if !charge(conn, job, bill, now, &mut spent, &mut mark)? {
            refused.push(id);
        }
    }
    let mut debit = conn
        .prepare_cached("UPDATE accounts SET balance_micros = balance_micros - ? WHERE id = ?")?;
    for (account_id, micros) in spent {
        debit.execute(params![micros, account_id])?;
    }
    let refused: Vec<String> = refused.into_iter().map(str::to_owned).collect();
    Ok(jobs
        .into_iter()
        .map(|(job, _)| job)
        .filter(|job| !refused.iter().any(|id| id == job.message_id.as_str()))
        .collect())
}

/// Charges the message of `job` if it was never charged, adding the cost to its account's entry
/// in `spent` (the account's balance in the database is debited by the caller); `false` when
/// the balance left cannot pay, in which case the message is Rejected (err 004) instead.
fn charge(
    conn: &Db<'_>,
    job: &SubmitJob,
    bill: &Bill,
    now: Millis,
    spent: &mut Vec<(i64, i64)>,
    mark: &mut Option<i64>,
) -> Result<bool> {
    let id = job.message_id.as_str();
    // Paid for at an earlier claim.
    if !bill.uncharged {
        return Ok(true);
    }
    let (account_id, balance) = (bill.account_id, bill.balance_micros);
    let cost = Money::from_micros(bill.price_micros.unwrap_or(0))
        .times(job.segment_count)
        .ok_or_else(|| codec::corrupt(format!("the price of message {id} overflows")))?
        .micros();

    let position = spent.iter().position(|&(account, _)| account == account_id);
    let already = position.map_or(0, |i| spent[i].1);
    if balance - already >= cost {
        let mark = match *mark {
            Some(mark) => mark,
            None => *mark.insert(history_mark(conn)?),
        };
        // The `charge` history line is read from these columns (migration 0016).
        conn.prepare_cached(
            "UPDATE messages SET charge_micros = ?, charged_at = ?, charge_mark = ? WHERE id = ?",
        )?
        .execute(params![cost, now, mark, id])?;
        match position {
            Some(i) => spent[i].1 += cost,
            None => spent.push((account_id, cost)),
        }
        return Ok(true);
    }

    let report = Report::rejected_by_rule(ErrCode::CREDIT);
    let (status, stat, dlr_mask, err) = codec::report_columns(&report);
    // Never submitted: every segment ends with the message's report.
    conn.prepare_cached(
        "UPDATE segments
            SET status = ?, stat = ?, dlr_mask = ?, err = ?, state = 'done',
                lease_until = NULL, updated_at = ?
          WHERE message_id = ?",
    )?
    .execute(params![status, stat, dlr_mask, err, now, id])?;
    let detail = serde_json::json!({
        "rule": "credit", "cost_micros": cost, "balance_micros": balance - already,
    });
    state::record_event(conn, &job.message_id, now, "rule", None, &detail)?;
    state::apply_report(conn, &job.message_id, report, now)?;
    Ok(false)
}

/// The highest id of the history lines written so far (0 when there are none). A message
/// charged now has its `charge` line shown ahead of every line of a higher id: no line is ever
/// deleted, so those are the lines written later.
fn history_mark(conn: &Db<'_>) -> Result<i64> {
    // The last row of the table's rowid order: one descent, however many lines there are.
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM events")?
        .query_row([], |row| row.get(0))?)
}

/// Gives back what message `id` was charged, with a `refund` line in its history: called as it
/// becomes Rejected (a final status, so at most once). A message never charged costs nothing.
pub(super) fn refund(conn: &Db<'_>, id: &MessageId, at: Millis) -> Result<()> {
    let charged = conn
        .prepare_cached(
            "SELECT account_id, charge_micros FROM messages WHERE id = ? AND charge_micros > 0",
        )?
        .query_row([id.as_str()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?;
    let Some((account_id, amount_micros)) = charged else {
        return Ok(());
    };
    conn.prepare_cached("UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?")?
        .execute(params![amount_micros, account_id])?;
    state::record_event(
        conn,
        id,
        at,
        "refund",
        None,
        &detail::Charge { amount_micros },
    )
}
