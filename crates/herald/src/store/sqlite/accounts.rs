//! Customer accounts, a copy of the operator's configuration.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::codec;
use crate::store::{Account, AccountRecord, Result};

pub(super) fn upsert(conn: &rusqlite::Connection, record: AccountRecord) -> Result<Account> {
    let senders = serde_json::to_string(&record.senders)
        .map_err(|e| codec::corrupt(format!("account senders: {e}")))?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO accounts (username, password_hash, balance, senders, dlr_url)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (username) DO UPDATE
                SET password_hash = excluded.password_hash, balance = excluded.balance,
                    senders = excluded.senders, dlr_url = excluded.dlr_url
             RETURNING id",
        )?
        .query_row(
            rusqlite::params![
                record.username,
                record.password_hash,
                record.balance,
                senders,
                record.dlr_url
            ],
            |row| row.get(0),
        )?;
    Ok(Account { id, record })
}

pub(super) async fn by_username(pool: &SqlitePool, username: &str) -> Result<Option<Account>> {
    let row = sqlx::query(
        "SELECT id, username, password_hash, balance, senders, dlr_url FROM accounts WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(account).transpose()
}

fn account(row: &SqliteRow) -> Result<Account> {
    let senders: String = row.try_get("senders")?;
    Ok(Account {
        id: row.try_get("id")?,
        record: AccountRecord {
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
            balance: row.try_get("balance")?,
            senders: serde_json::from_str(&senders)
                .map_err(|e| codec::corrupt(format!("account senders: {e}")))?,
            dlr_url: row.try_get("dlr_url")?,
        },
    })
}
