//! Customer accounts, a copy of the operator's configuration.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::codec;
use crate::store::{Account, AccountRecord, Result};

pub(super) async fn upsert(conn: &mut SqliteConnection, record: AccountRecord) -> Result<Account> {
    let senders = serde_json::to_string(&record.senders)
        .map_err(|e| codec::corrupt(format!("account senders: {e}")))?;
    let id: i64 = sqlx::query(
        "INSERT INTO accounts (username, password_hash, balance, senders, dlr_url)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (username) DO UPDATE
            SET password_hash = excluded.password_hash, balance = excluded.balance,
                senders = excluded.senders, dlr_url = excluded.dlr_url
         RETURNING id",
    )
    .bind(&record.username)
    .bind(&record.password_hash)
    .bind(&record.balance)
    .bind(senders)
    .bind(record.dlr_url.as_deref())
    .fetch_one(conn)
    .await?
    .try_get("id")?;
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
