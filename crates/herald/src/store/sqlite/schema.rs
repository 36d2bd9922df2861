//! The schema migrations, embedded in the binary.
//!
//! The `Migrator` is built from `include_str!`'d files rather than with `sqlx::migrate!`, which
//! would need sqlx's `macros` feature (a proc-macro crate and its build time) for one list.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL). Append only: an applied migration is never edited.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "rules",
        include_str!("../../../migrations/0002_rules.sql"),
    ),
    (
        3,
        "text store",
        include_str!("../../../migrations/0003_text_store.sql"),
    ),
    (
        4,
        "receipt redaction",
        include_str!("../../../migrations/0004_receipt_redaction.sql"),
    ),
    (
        5,
        "v1 api",
        include_str!("../../../migrations/0005_v1_api.sql"),
    ),
    (
        6,
        "webhooks",
        include_str!("../../../migrations/0006_webhooks.sql"),
    ),
    (
        7,
        "dashboard",
        include_str!("../../../migrations/0007_dashboard.sql"),
    ),
    (
        8,
        "events rowid",
        include_str!("../../../migrations/0008_events_rowid.sql"),
    ),
    (
        9,
        "constant checks",
        include_str!("../../../migrations/0009_constant_checks.sql"),
    ),
];

/// sqlx's mark of a migration that runs outside the migrator's transaction (it opens its own,
/// e.g. to switch foreign keys off around a table rebuild, which no transaction allows).
const NO_TRANSACTION: &str = "-- no-transaction";

pub(super) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with(NO_TRANSACTION),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Row, SqliteConnection};

    use super::migrator;

    /// A receipt of a `nostore` message and one of a `plaintext` message, stored (with their
    /// history lines) before migration 4, then migrated.
    #[tokio::test]
    async fn migration_4_redacts_receipts_of_messages_whose_text_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        migrator().run_to(3, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO accounts (id, username, password_hash, balance, senders)
             VALUES (1, 'shop', 'x', '1.00', '[]');
             INSERT INTO messages (id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at, text_store)
             VALUES ('secret', 1, '372555', 'Shop', NULL, 'delivered', 1, 0, 0, 0, 0, 'nostore'),
                    ('open', 1, '372555', 'Shop', 'hi', 'delivered', 1, 0, 0, 0, 0, 'plaintext');
             INSERT INTO receipts (id, carrier, carrier_message_id, cid_exact, outcome, raw_text,
                                   tlvs, received_at, message_id, segment)
             VALUES (1, 'c', '1', '1', 'delivered', 'id:1 stat:DELIVRD Text:code 4711',
                     '[{\"tag\":30,\"value\":\"3100\"},{\"tag\":1060,\"value\":\"4711\"}]',
                     0, 'secret', 0),
                    (2, 'c', '2', '2', 'delivered', 'id:2 stat:DELIVRD text:hi',
                     '[{\"tag\":1060,\"value\":\"6869\"}]', 0, 'open', 0);
             INSERT INTO events (message_id, at, kind, segment, detail)
             VALUES ('secret', 0, 'receipt', 0,
                     json_object('receipt_id', 1, 'raw_text', 'id:1 stat:DELIVRD Text:code 4711',
                                 'tlvs', json('[{\"tag\":1060,\"value\":\"4711\"}]'),
                                 'outcome', 'delivered')),
                    ('open', 0, 'receipt', 0,
                     json_object('receipt_id', 2, 'raw_text', 'id:2 stat:DELIVRD text:hi'));",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrator().run(&mut conn).await.unwrap();

        let receipts: Vec<(String, String)> =
            sqlx::query("SELECT raw_text, tlvs FROM receipts ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get("raw_text"), r.get("tlvs")))
                .collect();
        assert_eq!(receipts[0].0, "id:1 stat:DELIVRD Text:");
        let tlvs: serde_json::Value = serde_json::from_str(&receipts[0].1).unwrap();
        assert_eq!(
            tlvs,
            serde_json::json!([
                {"tag": 30, "value": "3100"},
                {"tag": 1060, "value": "", "redacted": true}
            ])
        );
        assert_eq!(
            receipts[1].0, "id:2 stat:DELIVRD text:hi",
            "plaintext keeps it"
        );
        assert!(receipts[1].1.contains("6869"));

        let details: Vec<serde_json::Value> = sqlx::query("SELECT detail FROM events ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(r.get("detail")).unwrap())
            .collect();
        assert_eq!(details[0]["raw_text"], "id:1 stat:DELIVRD Text:");
        assert_eq!(details[0]["tlvs"], tlvs);
        assert_eq!(
            details[0]["outcome"], "delivered",
            "the rest of the line is kept"
        );
        assert_eq!(details[1]["raw_text"], "id:2 stat:DELIVRD text:hi");
    }

    /// History written before migration 8 keeps its ids and order; new lines follow them, and
    /// the refund trigger still writes its line into the rebuilt table.
    #[tokio::test]
    async fn migration_8_keeps_the_history_and_its_order_without_autoincrement() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        migrator().run_to(4, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO accounts (id, username, password_hash, balance, senders, balance_micros)
             VALUES (1, 'shop', 'x', '1.00', '[]', 0);
             INSERT INTO messages (id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at, charge_micros)
             VALUES ('m', 1, '372555', 'Shop', 'hi', 'sent', 1, 0, 0, 0, 5, 40000);
             INSERT INTO events (id, message_id, at, kind, segment, detail)
             VALUES (7, 'm', 1, 'accepted', NULL, '{}'), (9, 'm', 2, 'submit', 0, '{}');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrator().run(&mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO events (message_id, at, kind, segment, detail)
             VALUES ('m', 3, 'status', NULL, '{}');
             UPDATE messages SET status = 'rejected' WHERE id = 'm';",
        )
        .execute(&mut conn)
        .await
        .unwrap();

        let history: Vec<(i64, String)> = sqlx::query("SELECT id, kind FROM events ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("id"), r.get("kind")))
            .collect();
        assert_eq!(
            history,
            [
                (7, "accepted".to_owned()),
                (9, "submit".to_owned()),
                (10, "status".to_owned()),
                (11, "refund".to_owned())
            ]
        );
        let schema: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'events'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(!schema.contains("AUTOINCREMENT"), "{schema}");
    }
}
