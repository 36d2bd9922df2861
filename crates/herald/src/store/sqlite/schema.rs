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
    (
        10,
        "rules in the writer",
        include_str!("../../../migrations/0010_rules_in_the_writer.sql"),
    ),
    (
        11,
        "outbox rowid",
        include_str!("../../../migrations/0011_outbox_rowid.sql"),
    ),
    (
        12,
        "callbacks waiting",
        include_str!("../../../migrations/0012_callbacks_waiting.sql"),
    ),
    (
        13,
        "segments route",
        include_str!("../../../migrations/0013_segments_route.sql"),
    ),
    (
        14,
        "segment queue indexes",
        include_str!("../../../migrations/0014_segment_queue_indexes.sql"),
    ),
    (
        15,
        "status with its event",
        include_str!("../../../migrations/0015_status_with_its_event.sql"),
    ),
    (
        16,
        "charge on the message",
        include_str!("../../../migrations/0016_charge_on_the_message.sql"),
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
        let (_dir, mut conn) = database_file().await;
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
        let (_dir, mut conn) = database_file().await;
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
        migrator().run_to(9, &mut conn).await.unwrap();
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

    /// Receipts and callbacks written before migration 11 keep their ids, their links and their
    /// indexes; new rows follow the largest id, and no table of either is AUTOINCREMENT.
    #[tokio::test]
    async fn migration_11_keeps_receipts_and_callbacks_and_their_order_without_autoincrement() {
        let (_dir, mut conn) = database_file().await;
        migrator().run_to(10, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO accounts (id, username, password_hash, balance, senders, balance_micros)
             VALUES (1, 'shop', 'x', '1.00', '[]', 0);
             INSERT INTO messages (id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at)
             VALUES ('m', 1, '372555', 'Shop', 'hi', 'sent', 1, 0, 0, 0, 5);
             INSERT INTO receipts (id, carrier, carrier_message_id, cid_exact, outcome, raw_text,
                                   tlvs, received_at, message_id, segment)
             VALUES (4, 'sim', 'A1', 'a1', 'matched', 'id:A1', '[]', 1, 'm', 0),
                    (6, 'sim', 'B2', 'b2', 'pending', 'id:B2', '[]', 2, NULL, NULL);
             INSERT INTO callbacks (id, message_id, url, status, stat, dlr_mask, err, state,
                                    attempts, due_at, created_at)
             VALUES (3, 'm', 'http://x/', 'sent', 'ACCEPTD', 8, 0, 'done', 1, 1, 1),
                    (5, 'm', 'http://x/', 'delivered', 'DELIVRD', 1, 0, 'pending', 0, 2, 2);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrator().run_to(11, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO receipts (carrier, carrier_message_id, cid_exact, outcome, raw_text,
                                   tlvs, received_at)
             VALUES ('sim', 'C3', 'c3', 'pending', 'id:C3', '[]', 3);
             INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state, due_at,
                                    created_at)
             VALUES ('m', 'http://x/', 'failed', 'UNDELIV', 2, 1, 'pending', 3, 3);",
        )
        .execute(&mut conn)
        .await
        .unwrap();

        let receipts: Vec<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, message_id FROM receipts ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(receipts, [(4, Some("m".to_owned())), (6, None), (7, None)]);
        let callbacks: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, state FROM callbacks ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let states = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
            v.iter().map(|(i, s)| (*i, (*s).to_owned())).collect()
        };
        assert_eq!(
            callbacks,
            states(&[(3, "done"), (5, "pending"), (6, "pending")])
        );
        // The pending ones are found through their partial indexes, as before.
        let pending = int(
            &mut conn,
            "SELECT count(*) FROM callbacks INDEXED BY callbacks_pending_by_message
              WHERE state = 'pending' AND message_id = 'm'",
        )
        .await;
        assert_eq!(pending, 2);
        let unmatched = int(
            &mut conn,
            "SELECT count(*) FROM receipts INDEXED BY receipts_pending_by_cid_exact
              WHERE message_id IS NULL AND carrier = 'sim'",
        )
        .await;
        assert_eq!(unmatched, 2);
        let autoincrement = int(
            &mut conn,
            "SELECT count(*) FROM sqlite_schema
              WHERE name IN ('receipts', 'callbacks') AND sql LIKE '%AUTOINCREMENT%'",
        )
        .await;
        assert_eq!(autoincrement, 0);
        let indexes = int(
            &mut conn,
            "SELECT count(*) FROM sqlite_schema
              WHERE type = 'index' AND tbl_name IN ('receipts', 'callbacks')",
        )
        .await;
        assert_eq!(indexes, 6);
        let violations = int(&mut conn, "SELECT count(*) FROM pragma_foreign_key_check").await;
        assert_eq!(violations, 0);
    }

    /// Undelivered callbacks queued behind an earlier one of their message become `waiting`,
    /// the oldest stays `pending`, and a leased one is due when its lease ends.
    #[tokio::test]
    async fn migration_12_leaves_one_pending_callback_per_message() {
        let (_dir, mut conn) = database_file().await;
        migrator().run_to(11, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO accounts (id, username, password_hash, balance, senders, balance_micros)
             VALUES (1, 'shop', 'x', '1.00', '[]', 0);
             INSERT INTO messages (id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at)
             VALUES ('m', 1, '372555', 'Shop', 'hi', 'delivered', 1, 0, 0, 0, 5),
                    ('n', 1, '372556', 'Shop', 'hi', 'sent', 1, 0, 0, 0, 5);
             INSERT INTO callbacks (id, message_id, url, status, stat, dlr_mask, err, state,
                                    attempts, due_at, lease_until, created_at)
             VALUES (1, 'm', 'http://x/', 'queued', 'BUFFRED', 16, 0, 'done', 1, 1, NULL, 1),
                    (2, 'm', 'http://x/', 'sent', 'ACCEPTD', 8, 0, 'pending', 3, 100, NULL, 2),
                    (3, 'm', 'http://x/', 'delivered', 'DELIVRD', 1, 0, 'pending', 0, 5, NULL, 5),
                    (4, 'n', 'http://x/', 'sent', 'ACCEPTD', 8, 0, 'pending', 0, 2, 50, 2);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrator().run(&mut conn).await.unwrap();
        let callbacks: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT id, state, due_at FROM callbacks ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let expected = [
            (1, "done", 1),
            (2, "pending", 100),
            (3, "waiting", 5),
            (4, "pending", 50),
        ];
        assert_eq!(
            callbacks,
            expected
                .iter()
                .map(|&(id, state, due)| (id, state.to_owned(), due))
                .collect::<Vec<_>>()
        );
        let open = int(
            &mut conn,
            "SELECT count(*) FROM callbacks INDEXED BY callbacks_open_by_message
              WHERE message_id = 'm' AND (state = 'pending' OR state = 'waiting')",
        )
        .await;
        assert_eq!(open, 2);
        let old_index = int(
            &mut conn,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'callbacks_pending_by_message'",
        )
        .await;
        assert_eq!(old_index, 0);
    }

    /// The one integer `sql` selects.
    async fn int(conn: &mut SqliteConnection, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(conn)
            .await
            .unwrap()
    }

    /// The writer's statements that run for every message, as `messages.rs` and `state.rs`
    /// write them.
    const HOT_STATEMENTS: [&str; 3] = [
        "INSERT INTO messages (id, account_id, destination, sender, text, dlr_url, carrier, price,
                               status, stat, dlr_mask, err, segment_count, accepted_at,
                               not_before, valid_until, updated_at, price_micros, fingerprint,
                               text_store, priority, callback_format, omnimessage_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state, not_before,
                               status, stat, dlr_mask, err, updated_at, priority, route)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "UPDATE messages SET status = ?, stat = ?, dlr_mask = ?, err = ?, updated_at = ?
          WHERE id = ?",
    ];

    /// [`HOT_STATEMENTS`] as they were before migration 13 gave segments their route, for the
    /// checks of the schema before earlier migrations.
    const HOT_STATEMENTS_UNTIL_12: [&str; 3] = [
        HOT_STATEMENTS[0],
        "INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state, not_before,
                               status, stat, dlr_mask, err, updated_at, priority)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        HOT_STATEMENTS[2],
    ];

    /// The file every migration test's database lives in, inside its own temporary directory.
    const DATABASE_FILE: &str = "h.db";

    /// A new database file (created on connecting) and a connection to it; the directory goes
    /// when the returned guard is dropped.
    async fn database_file() -> (tempfile::TempDir, SqliteConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join(DATABASE_FILE).display()
        );
        let conn = SqliteConnection::connect(&url).await.unwrap();
        (dir, conn)
    }

    /// Those of `statements` that build an ephemeral b-tree when they run.
    fn building_ephemeral_tables<'s>(
        path: &std::path::Path,
        statements: &[&'s str],
    ) -> Vec<&'s str> {
        coded_with(path, statements, "OpenEphemeral")
    }

    /// Those of `statements` whose program (with the programs of the triggers it fires, which
    /// `EXPLAIN` lists after it) has `opcode`.
    fn coded_with<'s>(
        path: &std::path::Path,
        statements: &[&'s str],
        opcode: &str,
    ) -> Vec<&'s str> {
        let conn = rusqlite::Connection::open(path).unwrap();
        statements
            .iter()
            .copied()
            .filter(|sql| {
                let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
                let mut rows = explain.raw_query();
                let mut found = false;
                while let Some(row) = rows.next().unwrap() {
                    found |= row.get::<_, String>("opcode").unwrap() == opcode;
                }
                found
            })
            .collect()
    }

    /// Lists of three or more constants (`priority IN (0, 1, 2)`, the final statuses) built an
    /// ephemeral b-tree each time a message or segment was inserted or a status changed.
    #[tokio::test]
    async fn migration_9_leaves_no_ephemeral_table_in_the_per_message_statements() {
        let (dir, mut conn) = database_file().await;
        let path = dir.path().join(DATABASE_FILE);
        migrator().run_to(8, &mut conn).await.unwrap();
        // What the check sees: all three did before.
        assert_eq!(
            building_ephemeral_tables(&path, &HOT_STATEMENTS_UNTIL_12),
            HOT_STATEMENTS_UNTIL_12
        );

        migrator().run(&mut conn).await.unwrap();
        assert_eq!(
            building_ephemeral_tables(&path, &HOT_STATEMENTS),
            Vec::<&str>::new()
        );
    }

    /// Migration 10 leaves no trigger: the per-message statements fire none (a trigger, even
    /// one whose WHEN is false, ran as a subprogram and made its statement open a statement
    /// journal). The rules the triggers kept are the writer's now, tested with the store.
    #[tokio::test]
    async fn migration_10_leaves_the_per_message_statements_firing_no_trigger() {
        let (dir, mut conn) = database_file().await;
        let path = dir.path().join(DATABASE_FILE);
        migrator().run_to(9, &mut conn).await.unwrap();
        // What the check sees: the status change and the segment's insert fired theirs.
        assert_eq!(
            coded_with(&path, &HOT_STATEMENTS_UNTIL_12, "Program"),
            HOT_STATEMENTS_UNTIL_12[1..]
        );

        migrator().run(&mut conn).await.unwrap();
        assert_eq!(
            coded_with(&path, &HOT_STATEMENTS, "Program"),
            Vec::<&str>::new()
        );
        let triggers = int(
            &mut conn,
            "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'",
        )
        .await;
        assert_eq!(triggers, 0);
    }

    /// A segment's report set unless it is final (a refused submit) and the unfinished segments
    /// of an expired message ended compare the final statuses one by one. Written as `NOT IN`
    /// over the three, each built an ephemeral b-tree: the check sees that.
    #[tokio::test]
    async fn the_segment_report_statements_build_no_ephemeral_table() {
        let (dir, mut conn) = database_file().await;
        let path = dir.path().join(DATABASE_FILE);
        migrator().run(&mut conn).await.unwrap();
        let as_not_in = super::super::state::SET_SEGMENT_REPORT.replace(
            "(status <> 'delivered' AND status <> 'failed' AND status <> 'rejected')",
            "status NOT IN ('delivered', 'failed', 'rejected')",
        );
        assert_eq!(
            building_ephemeral_tables(&path, &[as_not_in.as_str()]),
            [as_not_in.as_str()]
        );

        let statements = [
            super::super::state::SET_SEGMENT_REPORT,
            super::super::messages::END_UNFINISHED_SEGMENTS,
        ];
        assert_eq!(
            building_ephemeral_tables(&path, &statements),
            Vec::<&str>::new()
        );
    }

    /// A receipt is matched with one lookup per id key, each on its own partial index: they run
    /// for every receipt, so none may scan a table or build a temporary b-tree.
    #[tokio::test]
    async fn the_receipt_lookups_search_their_indexes() {
        let (dir, mut conn) = database_file().await;
        let path = dir.path().join(DATABASE_FILE);
        migrator().run(&mut conn).await.unwrap();
        let lookups = super::super::receipts::SUBMISSIONS_BY_KEY;
        assert_eq!(
            building_ephemeral_tables(&path, &lookups),
            Vec::<&str>::new()
        );
        // And the pending receipts an accepted submission looks for: one plain pass, not a
        // sorted UNION merging three co-routines.
        let pending = super::super::receipts::PENDING_BY_KEYS;
        assert_eq!(
            building_ephemeral_tables(&path, &[pending]),
            Vec::<&str>::new()
        );
        assert_eq!(
            coded_with(&path, &[pending], "InitCoroutine"),
            Vec::<&str>::new()
        );
        assert!(
            query_plan(&path, pending)
                .iter()
                .all(|step| !step.starts_with("SCAN ")),
            "{:?}",
            query_plan(&path, pending)
        );
        let plans: Vec<Vec<String>> = lookups.iter().map(|sql| query_plan(&path, sql)).collect();
        let expected = [
            "segments_by_cid_exact",
            "segments_by_cid_hex",
            "segments_by_cid_dec",
        ];
        for (plan, index) in plans.iter().zip(expected) {
            assert!(
                plan[0].starts_with("SEARCH ")
                    && plan[0].contains(&format!("USING INDEX {index} ")),
                "{plan:?}"
            );
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN ")),
                "{plan:?}"
            );
        }
    }

    /// A carrier's claim reads one index range per priority: its own due segments, in the
    /// order it hands them out, stepping over no other carrier's and none scheduled for later.
    #[tokio::test]
    async fn a_claim_searches_one_range_of_its_carriers_due_segments() {
        let (dir, mut conn) = database_file().await;
        let path = dir.path().join(DATABASE_FILE);
        migrator().run(&mut conn).await.unwrap();
        let claim = super::super::submissions::CLAIM_DUE_SEGMENTS;
        let plan = query_plan(&path, claim);
        assert!(
            plan[0].starts_with(
                "SEARCH s USING INDEX segments_queued_by_route \
                 (route=? AND priority=? AND not_before<?)"
            ),
            "{plan:?}"
        );
        assert!(
            plan.iter()
                .all(|step| !step.starts_with("SCAN ") && !step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
        assert_eq!(
            building_ephemeral_tables(&path, &[claim]),
            Vec::<&str>::new()
        );
    }

    /// What handing a callback to the worker asks of a message's callbacks (whether one is
    /// open; its oldest open one) is one search of `callbacks_open_by_message`, in its order.
    #[tokio::test]
    async fn a_hand_off_searches_the_messages_open_callbacks() {
        let (dir, mut conn) = database_file().await;
        let path = dir.path().join(DATABASE_FILE);
        migrator().run(&mut conn).await.unwrap();
        let statements = [
            super::super::state::HAS_OPEN_CALLBACK,
            super::super::state::OLDEST_OPEN_CALLBACK,
        ];
        for sql in statements {
            let plan = query_plan(&path, sql);
            assert!(
                plan.iter().any(|step| step
                    .starts_with("SEARCH callbacks USING INDEX callbacks_open_by_message")),
                "{plan:?}"
            );
            // The outer `SELECT EXISTS (…)` reads no table: its one row is a constant.
            let scans_a_table =
                |step: &String| step.starts_with("SCAN ") && step.as_str() != "SCAN CONSTANT ROW";
            assert!(
                plan.iter()
                    .all(|step| !scans_a_table(step) && !step.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
        assert_eq!(
            building_ephemeral_tables(&path, &statements),
            Vec::<&str>::new()
        );
    }

    /// Segments that can still be sent get their message's carrier as their route; final ones
    /// (never queued again) and those of messages without a route keep none.
    #[tokio::test]
    async fn migration_13_gives_unfinished_segments_their_route() {
        let (_dir, mut conn) = database_file().await;
        migrator().run_to(12, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO accounts (id, username, password_hash, balance, senders, balance_micros)
             VALUES (1, 'shop', 'x', '1.00', '[]', 0);
             INSERT INTO messages (id, account_id, destination, sender, text, carrier, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at)
             VALUES ('m', 1, '372555', 'Shop', 'hi', 'sim', 'sent', 3, 0, 0, 9, 5),
                    ('n', 1, '372556', 'Shop', 'hi', NULL, 'rejected', 1, 0, 0, 9, 5),
                    ('o', 1, '372557', 'Shop', 'hi', 'other', 'scheduled', 1, 0, 7, 9, 5);
             INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state,
                                   not_before, updated_at)
             VALUES ('m', 0, 0, 0, x'', 'queued', 0, 0),
                    ('m', 1, 0, 0, x'', 'sent', 0, 0),
                    ('m', 2, 0, 0, x'', 'done', 0, 0),
                    ('n', 0, 0, 0, x'', 'done', 0, 0),
                    ('o', 0, 0, 0, x'', 'queued', 7, 0);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrator().run(&mut conn).await.unwrap();
        let routes: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT message_id, seq, route FROM segments ORDER BY message_id, seq")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let route = |m: &str, seq: i64, r: Option<&str>| (m.to_owned(), seq, r.map(str::to_owned));
        assert_eq!(
            routes,
            [
                route("m", 0, Some("sim")),
                route("m", 1, Some("sim")),
                route("m", 2, None),
                route("n", 0, None),
                route("o", 0, Some("other")),
            ]
        );
        let queued = int(
            &mut conn,
            "SELECT count(*) FROM segments INDEXED BY segments_queued_by_route
              WHERE state = 'queued' AND route = 'other' AND priority = 1 AND not_before <= 7",
        )
        .await;
        assert_eq!(queued, 1);
    }

    /// The steps of `sql`'s query plan, as `EXPLAIN QUERY PLAN` words them.
    fn query_plan(path: &std::path::Path, sql: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = explain.raw_query();
        let mut plan = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get::<_, String>("detail").unwrap());
        }
        plan
    }

    /// Messages of every kind stored before migration 9 keep their rows (and rowids, which the
    /// listing pages by), references stay whole, and the rules hold as before.
    #[tokio::test]
    async fn migration_9_keeps_messages_and_their_rules() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display());
        let mut conn = SqliteConnection::connect_with(
            &url.parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .foreign_keys(true),
        )
        .await
        .unwrap();
        migrator().run_to(8, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO accounts (id, username, password_hash, balance, senders, balance_micros)
             VALUES (1, 'shop', 'x', '1.00', '[]', 0);
             INSERT INTO messages (rowid, id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at, charge_micros, text_store, priority,
                                   callback_format)
             VALUES (30, 'later', 1, '372555', 'Shop', 'hi', 'scheduled', 1, 0, 9000, 9999, 0,
                     NULL, 'plaintext', 2, 'json'),
                    (10, 'done', 1, '372555', 'Shop', NULL, 'delivered', 1, 0, 0, 9999, 5,
                     40000, 'nostore', 0, 'query'),
                    (20, 'out', 1, '372556', 'Shop', 'ab12', 'sent', 2, 0, 0, 9999, 5,
                     80000, 'sha256', 1, 'query');
             INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state,
                                   not_before, updated_at, priority, carrier, cid_exact)
             VALUES ('later', 0, 0, 0, x'6869', 'queued', 9000, 0, 2, NULL, NULL),
                    ('done', 0, 0, 0, x'', 'done', 0, 5, 0, 'c', '1'),
                    ('out', 0, 0, 0, x'61', 'sent', 0, 5, 1, 'c', '2'),
                    ('out', 1, 0, 0, x'62', 'sent', 0, 5, 1, 'c', '3');
             INSERT INTO events (message_id, at, kind, segment, detail)
             VALUES ('later', 0, 'accepted', NULL, '{}'), ('done', 0, 'accepted', NULL, '{}'),
                    ('out', 0, 'accepted', NULL, '{}');
             INSERT INTO receipts (carrier, carrier_message_id, cid_exact, outcome, raw_text,
                                   tlvs, received_at, message_id, segment)
             VALUES ('c', '1', '1', 'delivered', 'id:1 stat:DELIVRD', '[]', 5, 'done', 0);
             INSERT INTO callbacks (message_id, url, status, stat, dlr_mask, err, state,
                                    due_at, created_at)
             VALUES ('done', 'https://shop', 'delivered', 'DELIVRD', 1, 0, 'pending', 5, 5);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        migrator().run_to(9, &mut conn).await.unwrap();

        let messages: Vec<(i64, String, String, i64, i64)> = sqlx::query(
            "SELECT rowid, id, status, priority, not_before FROM messages ORDER BY rowid",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
        assert_eq!(
            messages,
            [
                (10, "done".to_owned(), "delivered".to_owned(), 0, 0),
                (20, "out".to_owned(), "sent".to_owned(), 1, 0),
                (30, "later".to_owned(), "scheduled".to_owned(), 2, 9000),
            ]
        );
        let segments: Vec<(String, i64, String, i64, Vec<u8>)> = sqlx::query(
            "SELECT message_id, seq, state, priority, payload FROM segments
              ORDER BY message_id, seq",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
        assert_eq!(
            segments,
            [
                ("done".to_owned(), 0, "done".to_owned(), 0, vec![]),
                (
                    "later".to_owned(),
                    0,
                    "queued".to_owned(),
                    2,
                    b"hi".to_vec()
                ),
                ("out".to_owned(), 0, "sent".to_owned(), 1, b"a".to_vec()),
                ("out".to_owned(), 1, "sent".to_owned(), 1, b"b".to_vec()),
            ]
        );
        let counts: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM receipts),
                    (SELECT count(*) FROM callbacks)",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(counts, (3, 1, 1));
        let violations = int(&mut conn, "SELECT count(*) FROM pragma_foreign_key_check").await;
        assert_eq!(violations, 0);
        let enforced = int(&mut conn, "PRAGMA foreign_keys").await;
        assert_eq!(enforced, 1, "switched back on after the rebuild");

        // Run again (as after a stop between its commit and the migrator's record of it), the
        // rebuild changes nothing.
        let schema = "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name";
        let before: Vec<(String, String, String, Option<String>)> =
            sqlx::query_as(schema).fetch_all(&mut conn).await.unwrap();
        sqlx::raw_sql(super::MIGRATIONS[8].2)
            .execute(&mut conn)
            .await
            .unwrap();
        let after: Vec<(String, String, String, Option<String>)> =
            sqlx::query_as(schema).fetch_all(&mut conn).await.unwrap();
        assert_eq!(after, before);
        let rowids: Vec<i64> = sqlx::query_scalar("SELECT rowid FROM messages ORDER BY rowid")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(rowids, [10, 20, 30]);

        // The priority CHECKs, on both tables.
        for insert in [
            "INSERT INTO messages (id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at, priority)
             VALUES ('new', 1, '372555', 'Shop', 'hi', 'queued', 1, 0, 0, 0, 0, 3)",
            "INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state,
                                   not_before, updated_at, priority)
             VALUES ('later', 1, 0, 0, x'', 'queued', 0, 0, 3)",
            "UPDATE messages SET priority = -1 WHERE id = 'later'",
        ] {
            let error = sqlx::query(insert).execute(&mut conn).await.unwrap_err();
            assert!(
                error.to_string().contains("CHECK constraint failed"),
                "{error}"
            );
        }
        // References are enforced again: a segment of no message.
        let error = sqlx::query(
            "INSERT INTO segments (message_id, seq, data_coding, esm_class, payload, state,
                                   not_before, updated_at)
             VALUES ('nobody', 0, 0, 0, x'', 'queued', 0, 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap_err();
        assert!(error.to_string().contains("FOREIGN KEY"), "{error}");

        // The triggers: a final status forgets the segments of a message whose text is not
        // kept, a rejection refunds, and a new message follows the old rowids.
        sqlx::raw_sql(
            "UPDATE messages SET status = 'rejected', updated_at = 6 WHERE id = 'out';
             INSERT INTO messages (id, account_id, destination, sender, text, status,
                                   segment_count, accepted_at, not_before, valid_until,
                                   updated_at, priority)
             VALUES ('new', 1, '372555', 'Shop', 'hi', 'queued', 1, 0, 0, 0, 0, 2);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let payloads: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT payload FROM segments WHERE message_id = 'out'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(payloads, [Vec::<u8>::new(), Vec::new()]);
        let balance = int(&mut conn, "SELECT balance_micros FROM accounts").await;
        assert_eq!(balance, 80000);
        let rowid = int(&mut conn, "SELECT rowid FROM messages WHERE id = 'new'").await;
        assert_eq!(rowid, 31);
    }

    /// A reference to no row (which enforced foreign keys never let in) stops the migration
    /// rather than being carried over: nothing of it is committed.
    #[tokio::test]
    async fn migration_9_refuses_a_database_with_a_broken_reference() {
        let (_dir, mut conn) = database_file().await;
        migrator().run_to(8, &mut conn).await.unwrap();
        sqlx::raw_sql(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO events (message_id, at, kind, segment, detail)
             VALUES ('nobody', 0, 'accepted', NULL, '{}');
             PRAGMA foreign_keys = ON;",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let error = migrator().run(&mut conn).await.unwrap_err();
        assert!(
            error.to_string().contains("CHECK constraint failed"),
            "{error}"
        );

        let schema: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'messages'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(schema.contains("priority IN (0, 1, 2)"), "{schema}");
        let leftovers = int(
            &mut conn,
            "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%rebuilt%'",
        )
        .await;
        assert_eq!(leftovers, 0);
        let applied = int(&mut conn, "SELECT max(version) FROM _sqlx_migrations").await;
        assert_eq!(applied, 8);
    }
}
