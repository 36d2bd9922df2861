//! How domain values are written to and read from columns.
//!
//! A report is four columns everywhere (`status`, `stat`, `dlr_mask`, `err`); `stat` is NULL when
//! there is no report.

use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::domain::{ErrCode, MessageId, MessageState, ReceiptOutcome, Report, Stat, Status};
use crate::store::{CallbackFormat, Millis, Result, StoreError};

/// A stored value this code cannot read back: the database was changed behind Herald's back.
pub(super) fn corrupt(what: String) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(what.into()))
}

pub(super) fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

pub(super) fn status(name: &str) -> Result<Status> {
    Status::parse(name).ok_or_else(|| corrupt(format!("unknown status {name:?}")))
}

/// Named columns of a result row, whichever driver produced it: reads go through sqlx's pool,
/// writes through the writer's own connection.
pub(super) trait Columns {
    fn text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<Option<i64>>;
}

impl Columns for SqliteRow {
    fn text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.get(column)?)
    }

    fn int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.get(column)?)
    }
}

/// A writer-side row read by column name without asking SQLite for the names: `names` lists
/// the statement's first result columns in order, exactly as its SELECT does (any after them
/// are read by position).
///
/// rusqlite finds a named column by fetching every column's name through the C API (which
/// takes the connection's mutex) and comparing them case-insensitively; on the hot claims and
/// folds that was about 5 % of the writer thread. Debug builds check `names` against the
/// statement.
pub(super) struct Named<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: &'static [&'static str],
}

impl<'r, 's> Named<'r, 's> {
    pub(super) fn new(row: &'r rusqlite::Row<'s>, names: &'static [&'static str]) -> Self {
        debug_assert_eq!(
            row.as_ref().column_names().get(..names.len()),
            Some(names),
            "the names given are not the statement's first columns"
        );
        Self { row, names }
    }

    fn position(&self, column: &str) -> rusqlite::Result<usize> {
        self.names
            .iter()
            .position(|&name| name == column)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(column.to_owned()))
    }

    pub(super) fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> rusqlite::Result<T> {
        self.row.get(self.position(column)?)
    }
}

impl Columns for Named<'_, '_> {
    fn text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.get(column)?)
    }

    fn int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.get(column)?)
    }
}

fn required<T>(value: Option<T>, column: &str) -> Result<T> {
    value.ok_or_else(|| corrupt(format!("{column} is NULL")))
}

/// Names of the four columns holding a report.
pub(super) type ReportColumns = [&'static str; 4];

/// The usual names; joins alias the second table's report.
pub(super) const REPORT: ReportColumns = ["status", "stat", "dlr_mask", "err"];

/// The report in the row's `status`, `stat`, `dlr_mask` and `err` columns, if it has one.
pub(super) fn report(row: &impl Columns) -> Result<Option<Report>> {
    report_in(row, REPORT)
}

pub(super) fn report_in(
    row: &impl Columns,
    [status_col, stat_col, mask_col, err_col]: ReportColumns,
) -> Result<Option<Report>> {
    let Some(stat) = row.text(stat_col)? else {
        return Ok(None);
    };
    let status_name = required(row.text(status_col)?, status_col)?;
    let dlr_mask = required(row.int(mask_col)?, mask_col)?;
    let err = required(row.int(err_col)?, err_col)?;
    Ok(Some(Report {
        status: status(&status_name)?,
        stat: Stat::parse(&stat).ok_or_else(|| corrupt(format!("unknown stat {stat:?}")))?,
        dlr_mask: u8::try_from(dlr_mask).map_err(|_| corrupt(format!("dlr_mask {dlr_mask}")))?,
        err: ErrCode(u16::try_from(err).map_err(|_| corrupt(format!("err {err}")))?),
    }))
}

/// A message's state from its status column and report columns.
pub(super) fn message_state(row: &impl Columns) -> Result<MessageState> {
    message_state_in(row, REPORT)
}

pub(super) fn message_state_in(row: &impl Columns, columns: ReportColumns) -> Result<MessageState> {
    let status_name = required(row.text(columns[0])?, columns[0])?;
    Ok(MessageState {
        status: status(&status_name)?,
        report: report_in(row, columns)?,
    })
}

pub(super) fn callback_format(name: &str) -> Result<CallbackFormat> {
    CallbackFormat::parse(name).ok_or_else(|| corrupt(format!("unknown callback format {name:?}")))
}

/// A message id read back from a column.
pub(super) fn message_id(id: &str) -> Result<MessageId> {
    MessageId::parse(id).ok_or_else(|| corrupt(format!("message id {id:?}")))
}

/// The report columns as bind values: (status, stat, dlr_mask, err).
pub(super) fn report_columns(report: &Report) -> (&'static str, &'static str, i64, i64) {
    (
        report.status.as_str(),
        report.stat.as_str(),
        i64::from(report.dlr_mask),
        i64::from(report.err.0),
    )
}

/// The report as it appears in history events.
pub(super) fn report_json(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "status": report.status.as_str(),
        "stat": report.stat.as_str(),
        "dlr_mask": report.dlr_mask,
        "err": report.err.to_string(),
    })
}

pub(super) fn outcome_name(outcome: ReceiptOutcome) -> &'static str {
    use ReceiptOutcome as O;
    match outcome {
        O::Intermediate => "intermediate",
        O::Delivered => "delivered",
        O::Expired => "expired",
        O::Deleted => "deleted",
        O::Undeliverable => "undeliverable",
        O::Rejected => "rejected",
        O::Unknown => "unknown",
        O::Unrecognised => "unrecognised",
    }
}

pub(super) fn outcome(name: &str) -> Result<ReceiptOutcome> {
    use ReceiptOutcome as O;
    [
        O::Intermediate,
        O::Delivered,
        O::Expired,
        O::Deleted,
        O::Undeliverable,
        O::Rejected,
        O::Unknown,
        O::Unrecognised,
    ]
    .into_iter()
    .find(|o| outcome_name(*o) == name)
    .ok_or_else(|| corrupt(format!("unknown receipt outcome {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_receipt_outcome_name_reads_back() {
        use ReceiptOutcome as O;
        for o in [
            O::Intermediate,
            O::Delivered,
            O::Expired,
            O::Deleted,
            O::Undeliverable,
            O::Rejected,
            O::Unknown,
            O::Unrecognised,
        ] {
            assert_eq!(outcome(outcome_name(o)).ok(), Some(o));
        }
        assert!(outcome("enroute").is_err());
    }
}
