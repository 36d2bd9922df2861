//! Blacklisted destinations: each account's own list and the global one.

use rusqlite::params;
use sqlx::{Row, SqlitePool};

use super::prepared::Db;
use crate::store::{BlacklistScope, Millis, Result};

fn account_id(scope: BlacklistScope) -> Option<i64> {
    match scope {
        BlacklistScope::Global => None,
        BlacklistScope::Account(id) => Some(id),
    }
}

pub(super) fn add(conn: &Db<'_>, scope: BlacklistScope, number: &str, at: Millis) -> Result<bool> {
    let added = conn
        .prepare_cached(
            "INSERT INTO blacklist (account_id, number, added_at) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![account_id(scope), number, at])?;
    Ok(added > 0)
}

pub(super) fn remove(conn: &Db<'_>, scope: BlacklistScope, number: &str) -> Result<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM blacklist WHERE number = ? AND account_id IS ?")?
        .execute(params![number, account_id(scope)])?;
    Ok(removed > 0)
}

pub(super) async fn list(pool: &SqlitePool, scope: BlacklistScope) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT number FROM blacklist WHERE account_id IS ? ORDER BY number")
        .bind(account_id(scope))
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| Ok(row.try_get("number")?)).collect()
}
