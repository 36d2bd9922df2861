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
];

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
                    false,
                )
            })
            .collect(),
    )
}
