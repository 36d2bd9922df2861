//! The dashboard's overview: messages accepted in a period, counted by status, over time and by
//! carrier, country and err code. Read from the pool; each breakdown is one grouped query.

use std::collections::BTreeMap;

use sqlx::{Row, Sqlite, SqlitePool};

use super::codec;
use crate::domain::{ErrCode, Status};
use crate::store::{Overview, OverviewQuery, Result, StatusCounts};

/// Every query selects the same rows: `?1` from, `?2` to, `?3` the account or NULL for all.
const PERIOD: &str = "accepted_at >= ?1 AND accepted_at < ?2 AND (?3 IS NULL OR account_id = ?3)";

pub(super) async fn overview(pool: &SqlitePool, q: OverviewQuery) -> Result<Overview> {
    let buckets = i64::from(q.buckets.max(1));
    let span = (q.to - q.from).max(1);
    // Ceiling division, so `buckets` intervals cover the whole period.
    let width = (span + buckets - 1) / buckets;

    let mut totals = StatusCounts::default();
    let mut series = vec![StatusCounts::default(); buckets as usize];
    let by_bucket = format!("(accepted_at - ?1) / {width}");
    for (bucket, status, n) in grouped::<i64>(pool, &q, &by_bucket).await? {
        let bucket = usize::try_from(bucket.unwrap_or(0))
            .unwrap_or(0)
            .min(series.len() - 1);
        series[bucket].add(status, n);
        totals.add(status, n);
    }
    let series = series
        .into_iter()
        .enumerate()
        .map(|(i, counts)| (q.from + i as i64 * width, counts))
        .collect();

    let mut by_carrier = BTreeMap::<Option<String>, StatusCounts>::new();
    for (carrier, status, n) in grouped::<String>(pool, &q, "carrier").await? {
        by_carrier.entry(carrier).or_default().add(status, n);
    }

    // Grouped by the first three digits (at most 1,000 groups), which decide the calling code.
    let mut by_country = BTreeMap::<String, StatusCounts>::new();
    for (prefix, status, n) in grouped::<String>(pool, &q, "substr(destination, 1, 3)").await? {
        let label = crate::number::country_label(&prefix.unwrap_or_default())
            .unwrap_or_else(|| "unknown".to_owned());
        by_country.entry(label).or_default().add(status, n);
    }

    let mut by_err = BTreeMap::<ErrCode, StatusCounts>::new();
    for (err, status, n) in grouped::<i64>(pool, &q, "CASE WHEN err > 0 THEN err END").await? {
        let Some(err) = err else { continue };
        let err = u16::try_from(err).map_err(|_| codec::corrupt(format!("err {err}")))?;
        by_err.entry(ErrCode(err)).or_default().add(status, n);
    }

    Ok(Overview {
        totals,
        series,
        by_carrier: most_first(by_carrier),
        by_country: most_first(by_country),
        by_err: most_first(by_err),
    })
}

fn most_first<K>(groups: BTreeMap<K, StatusCounts>) -> Vec<(K, StatusCounts)> {
    let mut groups: Vec<_> = groups.into_iter().collect();
    // Stable: equal totals keep the key order.
    groups.sort_by_key(|(_, counts)| std::cmp::Reverse(counts.total()));
    groups
}

/// Counts of the period's messages grouped by `key` (an SQL expression over `messages`, read
/// as `K`) and status.
async fn grouped<K>(
    pool: &SqlitePool,
    q: &OverviewQuery,
    key: &str,
) -> Result<Vec<(Option<K>, Status, u64)>>
where
    K: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    let sql = format!(
        "SELECT {key} AS k, status, count(*) AS n FROM messages WHERE {PERIOD} GROUP BY k, status"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(q.from)
        .bind(q.to)
        .bind(q.account)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            let count: i64 = row.try_get("n")?;
            Ok((
                row.try_get("k")?,
                codec::status(&status)?,
                u64::try_from(count).unwrap_or(0),
            ))
        })
        .collect()
}
