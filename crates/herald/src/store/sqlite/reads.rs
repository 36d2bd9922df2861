//! Queries answered from the read-only pool, never waiting for the writer.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::{codec, detail, history};
use crate::domain::MessageId;
use crate::store::{
    Event, MessageCursor, MessagePage, MessageQuery, MessageView, Millis, Priority, Result,
};

/// The columns a [`MessageView`] is read from (a macro so `concat!` can build constant SQL).
macro_rules! view_columns {
    () => {
        "rowid, id, account_id, destination, sender, text, status, stat, dlr_mask, err, carrier,
         segment_count, accepted_at, updated_at, not_before, priority, price, callback_format,
         omnimessage_id"
    };
}

pub(super) async fn message(pool: &SqlitePool, id: &MessageId) -> Result<Option<MessageView>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        view_columns!(),
        " FROM messages WHERE id = ?"
    ))
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(view).transpose()
}

fn view(row: &SqliteRow) -> Result<MessageView> {
    let state = codec::message_state(row)?;
    let id: String = row.try_get("id")?;
    let priority: i64 = row.try_get("priority")?;
    Ok(MessageView {
        id: codec::message_id(&id)?,
        account_id: row.try_get("account_id")?,
        destination: row.try_get("destination")?,
        sender: row.try_get("sender")?,
        text: row.try_get("text")?,
        status: state.status,
        report: state.report,
        carrier: row.try_get("carrier")?,
        segment_count: row.try_get("segment_count")?,
        accepted_at: row.try_get("accepted_at")?,
        updated_at: row.try_get("updated_at")?,
        not_before: row.try_get("not_before")?,
        priority: Priority::from_rank(priority)
            .ok_or_else(|| codec::corrupt(format!("priority {priority}")))?,
        price: row.try_get("price")?,
        callback_format: codec::callback_format(&row.try_get::<String, _>("callback_format")?)?,
        omnimessage_id: row.try_get("omnimessage_id")?,
    })
}

/// Pages in rowid order, newest first: the single writer assigns rowids in commit order, so a
/// message committed after a listing began has a higher rowid than its cursor and never turns
/// up inside a later page. (`VACUUM` may renumber the rowids of this table; Herald never runs
/// it, and a cursor taken before one would only resume at another place.)
pub(super) async fn list_messages(pool: &SqlitePool, query: &MessageQuery) -> Result<MessagePage> {
    let limit = query.limit.max(1);
    let mut sql = String::from(concat!(
        "SELECT ",
        view_columns!(),
        " FROM messages WHERE 1 = 1"
    ));
    let mut binds: Vec<Bind> = Vec::new();
    let mut filter = |clause: &str, value: Bind| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        binds.push(value);
    };
    if let Some(account) = query.account_id {
        filter("account_id = ?", Bind::Int(account));
    }
    if let Some(status) = query.status {
        filter("status = ?", Bind::Text(status.as_str().to_owned()));
    }
    if let Some(destination) = &query.destination {
        filter("destination = ?", Bind::Text(destination.clone()));
    }
    if let Some(sender) = &query.sender {
        filter("sender = ?", Bind::Text(sender.clone()));
    }
    if let Some(from) = query.accepted_from {
        filter("accepted_at >= ?", Bind::Int(from));
    }
    if let Some(until) = query.accepted_until {
        filter("accepted_at < ?", Bind::Int(until));
    }
    if let Some(err) = query.err {
        filter("err = ?", Bind::Int(i64::from(err)));
    }
    if let Some(after) = query.after {
        filter("rowid < ?", Bind::Int(after.0));
    }
    sql.push_str(" ORDER BY rowid DESC LIMIT ?");
    // One more than asked: whether it exists says if there is a next page.
    binds.push(Bind::Int(i64::from(limit) + 1));

    // Built only from the constant clauses above; every value is a bind parameter.
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
    for bind in binds {
        statement = match bind {
            Bind::Int(v) => statement.bind(v),
            Bind::Text(v) => statement.bind(v),
        };
    }
    let rows = statement.fetch_all(pool).await?;
    let more = rows.len() > limit as usize;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = match rows.last() {
        Some(last) if more => Some(MessageCursor(last.try_get("rowid")?)),
        _ => None,
    };
    Ok(MessagePage {
        messages: rows.iter().map(view).collect::<Result<_>>()?,
        next,
    })
}

enum Bind {
    Int(i64),
    Text(String),
}

pub(super) async fn history(pool: &SqlitePool, id: &MessageId) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, at, kind, segment, detail, status_detail FROM events
          WHERE message_id = ? ORDER BY id",
    )
    .bind(id.as_str())
    .fetch_all(pool)
    .await?;
    let json = |text: &str| {
        serde_json::from_str(text).map_err(|e| codec::corrupt(format!("event detail: {e}")))
    };
    let mut events = Vec::with_capacity(rows.len() + 3);
    let (accepted, mut charge) = match row_lines(pool, id).await? {
        Some(RowLines { accepted, charge }) => (Some(accepted), charge),
        None => (None, None),
    };
    // The first line, `accepted`, is read from the message row, which holds all it says; only
    // messages accepted before Herald stopped writing it have it stored.
    let stored_accepted = rows
        .first()
        .map(|row| row.try_get::<String, _>("kind"))
        .transpose()?
        .is_some_and(|kind| kind == ACCEPTED);
    if !stored_accepted && let Some(accepted) = accepted {
        events.push(accepted);
    }
    for row in &rows {
        // The `charge` line goes ahead of the first line written after it.
        let line_id: i64 = row.try_get("id")?;
        if charge.as_ref().is_some_and(|(mark, _)| line_id > *mark)
            && let Some((_, line)) = charge.take()
        {
            events.push(line);
        }
        let at: Millis = row.try_get("at")?;
        let detail: String = row.try_get("detail")?;
        events.push(Event {
            at,
            kind: row.try_get("kind")?,
            segment: row.try_get("segment")?,
            detail: json(&detail)?,
        });
        // The status change the line brought, written on its row (migration 0015).
        if let Some(status) = row.try_get::<Option<String>, _>("status_detail")? {
            events.push(Event {
                at,
                kind: history::STATUS.to_owned(),
                segment: None,
                detail: json(&status)?,
            });
        }
    }
    if let Some((_, line)) = charge {
        events.push(line);
    }
    Ok(events)
}

/// The kind of a message's first history line.
const ACCEPTED: &str = "accepted";

/// The kind of the line of a message's charge.
const CHARGE: &str = "charge";

/// The history lines of a message read from its row rather than stored.
struct RowLines {
    accepted: Event,
    /// The `charge` line, with the highest id of the lines written before it; none for a
    /// message never charged, or charged before migration 0016 (its line is stored).
    charge: Option<(i64, Event)>,
}

/// A message's `accepted` line, from its row: when it was accepted, its route, when it may be
/// sent, its priority, its parts and until when it is valid (`detail::Accepted`); and its
/// `charge` line (`charges::charge`). None when there is no such message.
async fn row_lines(pool: &SqlitePool, id: &MessageId) -> Result<Option<RowLines>> {
    let Some(row) = sqlx::query(
        "SELECT accepted_at, carrier, not_before, priority, segment_count, valid_until,
                charge_micros, charged_at, charge_mark
           FROM messages WHERE id = ?",
    )
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let rank: i64 = row.try_get("priority")?;
    let priority = Priority::from_rank(rank)
        .ok_or_else(|| codec::corrupt(format!("priority {rank} of message {id}")))?;
    let carrier: Option<String> = row.try_get("carrier")?;
    let segments: i64 = row.try_get("segment_count")?;
    let detail = detail::Accepted {
        carrier: carrier.as_deref(),
        not_before: row.try_get("not_before")?,
        priority: priority.as_str(),
        segments: usize::try_from(segments)
            .map_err(|_| codec::corrupt(format!("segment count {segments} of message {id}")))?,
        valid_until: row.try_get("valid_until")?,
    };
    let accepted = Event {
        at: row.try_get("accepted_at")?,
        kind: ACCEPTED.to_owned(),
        segment: None,
        detail: serde_json::to_value(&detail)
            .map_err(|e| codec::corrupt(format!("accepted line: {e}")))?,
    };
    let charged: (Option<i64>, Option<Millis>, Option<i64>) = (
        row.try_get("charge_micros")?,
        row.try_get("charged_at")?,
        row.try_get("charge_mark")?,
    );
    let charge = match charged {
        (Some(amount_micros), Some(at), Some(mark)) => Some((
            mark,
            Event {
                at,
                kind: CHARGE.to_owned(),
                segment: None,
                detail: serde_json::to_value(detail::Charge { amount_micros })
                    .map_err(|e| codec::corrupt(format!("charge line: {e}")))?,
            },
        )),
        _ => None,
    };
    Ok(Some(RowLines { accepted, charge }))
}

/// The earliest moment a callback can be claimed: leased ones count from the end of their lease
/// (a claim moves `due_at` there), and one waiting behind an earlier one of its message counts
/// not at all (it is not `pending`), so a worker that sleeps until then does not wake for work
/// it cannot claim. The first entry of `callbacks_pending_by_due_at`, however long the queue.
pub(super) async fn next_callback_due(pool: &SqlitePool) -> Result<Option<Millis>> {
    let due: Option<Millis> =
        sqlx::query("SELECT min(due_at) AS due FROM callbacks WHERE state = 'pending'")
            .fetch_one(pool)
            .await?
            .try_get("due")?;
    Ok(due)
}
