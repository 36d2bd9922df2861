//! How domain values are written to and read from columns.
//!
//! A report is four columns everywhere (`status`, `stat`, `dlr_mask`, `err`); `stat` is NULL when
//! there is no report.

use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::domain::{ErrCode, MessageState, ReceiptOutcome, Report, Stat, Status};
use crate::store::{Millis, Result, StoreError};

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

/// Names of the four columns holding a report.
pub(super) type ReportColumns = [&'static str; 4];

/// The usual names; joins alias the second table's report.
pub(super) const REPORT: ReportColumns = ["status", "stat", "dlr_mask", "err"];

/// The report in the row's `status`, `stat`, `dlr_mask` and `err` columns, if it has one.
pub(super) fn report(row: &SqliteRow) -> Result<Option<Report>> {
    report_in(row, REPORT)
}

pub(super) fn report_in(
    row: &SqliteRow,
    [status_col, stat_col, mask_col, err_col]: ReportColumns,
) -> Result<Option<Report>> {
    let Some(stat) = row.try_get::<Option<String>, _>(stat_col)? else {
        return Ok(None);
    };
    let status_name: String = row.try_get(status_col)?;
    let dlr_mask: i64 = row.try_get(mask_col)?;
    let err: i64 = row.try_get(err_col)?;
    Ok(Some(Report {
        status: status(&status_name)?,
        stat: Stat::parse(&stat).ok_or_else(|| corrupt(format!("unknown stat {stat:?}")))?,
        dlr_mask: u8::try_from(dlr_mask).map_err(|_| corrupt(format!("dlr_mask {dlr_mask}")))?,
        err: ErrCode(u16::try_from(err).map_err(|_| corrupt(format!("err {err}")))?),
    }))
}

/// A message's state from its status column and report columns.
pub(super) fn message_state(row: &SqliteRow) -> Result<MessageState> {
    message_state_in(row, REPORT)
}

pub(super) fn message_state_in(row: &SqliteRow, columns: ReportColumns) -> Result<MessageState> {
    let status_name: String = row.try_get(columns[0])?;
    Ok(MessageState {
        status: status(&status_name)?,
        report: report_in(row, columns)?,
    })
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
