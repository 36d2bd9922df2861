//! Customer accounts, a copy of the operator's configuration, and their live balances.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::codec;
use super::prepared::Db;
use crate::money::Money;
use crate::store::{Account, AccountRecord, Result, StoreError};

/// Creates the account, or updates it from the configuration. The configured balance opens a new
/// account; for an existing one, a change of the configured balance is applied to the live
/// balance as the difference (raising it in the file tops the account up; restarting with the
/// same file changes nothing), never taking it below zero.
pub(super) fn upsert(conn: &Db<'_>, record: AccountRecord) -> Result<Account> {
    let senders = serde_json::to_string(&record.senders)
        .map_err(|e| codec::corrupt(format!("account senders: {e}")))?;
    let configured = Money::parse(&record.balance)
        .map_err(|e| codec::corrupt(format!("account balance: {e}")))?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO accounts (username, password_hash, balance, senders, dlr_url,
                                   balance_micros, configured_micros)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (username) DO UPDATE
                SET password_hash = excluded.password_hash, balance = excluded.balance,
                    senders = excluded.senders, dlr_url = excluded.dlr_url,
                    balance_micros = max(0, balance_micros + excluded.configured_micros
                                            - configured_micros),
                    configured_micros = excluded.configured_micros
             RETURNING id",
        )?
        .query_row(
            rusqlite::params![
                record.username,
                record.password_hash,
                record.balance,
                senders,
                record.dlr_url,
                configured.micros(),
                configured.micros(),
            ],
            |row| row.get(0),
        )?;
    Ok(Account { id, record })
}

/// The account's webhook secret; a new one (`candidate`) is kept first when it has none. Running
/// it again changes nothing: only a missing secret is filled.
pub(super) fn webhook_secret(conn: &Db<'_>, account_id: i64, candidate: &str) -> Result<String> {
    conn.prepare_cached(
        "UPDATE accounts SET webhook_secret = ? WHERE id = ? AND webhook_secret IS NULL",
    )?
    .execute(rusqlite::params![candidate, account_id])?;
    use rusqlite::OptionalExtension;
    conn.prepare_cached("SELECT webhook_secret FROM accounts WHERE id = ?")?
        .query_row([account_id], |row| row.get::<_, String>(0))
        .optional()?
        .ok_or(StoreError::NotFound)
}

pub(super) fn set_webhook_secret(conn: &Db<'_>, account_id: i64, secret: &str) -> Result<()> {
    let updated = conn
        .prepare_cached("UPDATE accounts SET webhook_secret = ? WHERE id = ?")?
        .execute(rusqlite::params![secret, account_id])?;
    if updated == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn balance(pool: &SqlitePool, account_id: i64) -> Result<Money> {
    let row = sqlx::query("SELECT balance_micros FROM accounts WHERE id = ?")
        .bind(account_id)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Money::from_micros(row.try_get("balance_micros")?))
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

pub(super) async fn all(pool: &SqlitePool) -> Result<Vec<Account>> {
    let rows = sqlx::query(
        "SELECT id, username, password_hash, balance, senders, dlr_url FROM accounts
          ORDER BY username",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(account).collect()
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
