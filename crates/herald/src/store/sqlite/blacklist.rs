//! Blacklisted destinations: each account's own list and the global one.

use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::store::{BlacklistScope, Millis, Result};

fn account_id(scope: BlacklistScope) -> Option<i64> {
    match scope {
        BlacklistScope::Global => None,
        BlacklistScope::Account(id) => Some(id),
    }
}

pub(super) async fn add(
    conn: &mut SqliteConnection,
    scope: BlacklistScope,
    number: &str,
    at: Millis,
) -> Result<bool> {
    let added = sqlx::query(
        "INSERT INTO blacklist (account_id, number, added_at) VALUES (?, ?, ?)
         ON CONFLICT DO NOTHING",
    )
    .bind(account_id(scope))
    .bind(number)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(added.rows_affected() > 0)
}

pub(super) async fn remove(
    conn: &mut SqliteConnection,
    scope: BlacklistScope,
    number: &str,
) -> Result<bool> {
    let removed = sqlx::query("DELETE FROM blacklist WHERE number = ? AND account_id IS ? ")
        .bind(number)
        .bind(account_id(scope))
        .execute(conn)
        .await?;
    Ok(removed.rows_affected() > 0)
}

pub(super) async fn list(pool: &SqlitePool, scope: BlacklistScope) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT number FROM blacklist WHERE account_id IS ? ORDER BY number")
        .bind(account_id(scope))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| Ok(row.try_get("number")?)).collect()
}
