//! Writing a message's history: one `events` row per line, except that a status change rides on
//! the row of the event that brought it (migration 0015).
//!
//! Most steps of a message write two lines at once: the event (a submission the carrier took, a
//! receipt, a rule, the expiry) and the status change it caused. Each row costs the writer an
//! insert into `events` and into `events_by_message`, for every message. So a line is held back
//! until the next one, or the end of the operation: a `status` line of the same message and
//! time that follows goes into the held row's `status_detail`, and the history read shows it as
//! its own line again, right after its event.

use rusqlite::params;

use super::prepared::Db;
use crate::domain::MessageId;
use crate::store::{Millis, Result};

/// The kind of the line a status change writes (`state::announce`).
pub(super) const STATUS: &str = "status";

/// A line not yet written.
pub(super) struct Held {
    message_id: MessageId,
    at: Millis,
    kind: &'static str,
    segment: Option<u32>,
    detail: String,
    /// The detail of the status line that followed it.
    status: Option<String>,
}

/// Adds a line to `message_id`'s history, its `detail` already JSON (`state::detail_json`; a
/// caller that can writes it before handing its work to the writer thread): written with the
/// next line, or when the operation ends ([`flush`]).
pub(super) fn record(
    conn: &Db<'_>,
    message_id: &MessageId,
    at: Millis,
    kind: &'static str,
    segment: Option<u32>,
    detail: &str,
) -> Result<()> {
    let earlier = {
        let mut held = conn.held_line();
        if kind == STATUS
            && segment.is_none()
            && let Some(line) = held.as_mut()
            && line.message_id == *message_id
            && line.at == at
            && line.status.is_none()
        {
            line.status = Some(detail.to_owned());
            return Ok(());
        }
        held.replace(Held {
            message_id: message_id.clone(),
            at,
            kind,
            segment,
            detail: detail.to_owned(),
            status: None,
        })
    };
    match earlier {
        Some(line) => write(conn, line),
        None => Ok(()),
    }
}

/// Writes the line held back, if any: the end of every operation.
pub(super) fn flush(conn: &Db<'_>) -> Result<()> {
    let held = conn.held_line().take();
    match held {
        Some(line) => write(conn, line),
        None => Ok(()),
    }
}

fn write(conn: &Db<'_>, line: Held) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (message_id, at, kind, segment, detail, status_detail)
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        line.message_id.as_str(),
        line.at,
        line.kind,
        line.segment,
        line.detail,
        line.status
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// An `events` row: message, time, kind, segment, detail, status detail.
    type Row = (String, i64, String, Option<i64>, String, Option<String>);

    fn rows(conn: &Connection) -> Vec<Row> {
        let mut statement = conn
            .prepare(
                "SELECT message_id, at, kind, segment, detail, status_detail FROM events
                  ORDER BY id",
            )
            .unwrap();
        statement
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_status_line_rides_on_the_line_before_it_only_for_the_same_message_and_time() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, message_id TEXT, at INTEGER,
                                  kind TEXT, segment INTEGER, detail TEXT, status_detail TEXT)",
        )
        .unwrap();
        let db = Db::new(&conn);
        let (a, b) = (
            MessageId::parse("a").unwrap(),
            MessageId::parse("b").unwrap(),
        );
        record(&db, &a, 1, "submit", Some(0), "{\"s\":1}").unwrap();
        record(&db, &a, 1, STATUS, None, "{\"status\":\"sent\"}").unwrap();
        // A second status change: a line of its own.
        record(&db, &a, 1, STATUS, None, "{\"status\":\"delivered\"}").unwrap();
        record(&db, &b, 2, "receipt", Some(0), "{}").unwrap();
        // Another time: its own line too.
        record(&db, &b, 3, STATUS, None, "{\"status\":\"failed\"}").unwrap();
        record(&db, &a, 4, "callback", None, "{}").unwrap();
        // Of another message: its own line.
        record(&db, &b, 4, STATUS, None, "{}").unwrap();
        assert_eq!(rows(&conn).len(), 5, "the last line is still held");
        flush(&db).unwrap();
        // Nothing is held any more.
        flush(&db).unwrap();

        let line = |m: &str, at, kind: &str, segment, detail: &str, status: Option<&str>| {
            (
                m.to_owned(),
                at,
                kind.to_owned(),
                segment,
                detail.to_owned(),
                status.map(str::to_owned),
            )
        };
        assert_eq!(
            rows(&conn),
            [
                line(
                    "a",
                    1,
                    "submit",
                    Some(0),
                    "{\"s\":1}",
                    Some("{\"status\":\"sent\"}")
                ),
                line("a", 1, STATUS, None, "{\"status\":\"delivered\"}", None),
                line("b", 2, "receipt", Some(0), "{}", None),
                line("b", 3, STATUS, None, "{\"status\":\"failed\"}", None),
                line("a", 4, "callback", None, "{}", None),
                line("b", 4, STATUS, None, "{}", None),
            ]
        );
    }
}
