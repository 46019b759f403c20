//! Embedded migrations: the SQL files under `migrations/sqlite/` and
//! `migrations/postgres/` (one folder per backend, each with its native
//! types) are compiled into the binary and applied in order, each in its own
//! transaction, so a deployed daemon needs nothing but its executable. On
//! PostgreSQL an advisory lock serialises daemons that start together.

use super::StoreError;
use super::db::{Arg, Backend, Db, args};

type Migration = (i64, &'static str, &'static str);

const SQLITE: &[Migration] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "commissions",
        include_str!("../../migrations/sqlite/0002_commissions.sql"),
    ),
    (
        3,
        "certificates_outbox",
        include_str!("../../migrations/sqlite/0003_certificates_outbox.sql"),
    ),
    (
        4,
        "job_kind",
        include_str!("../../migrations/sqlite/0004_job_kind.sql"),
    ),
    (
        5,
        "sftp_state",
        include_str!("../../migrations/sqlite/0005_sftp_state.sql"),
    ),
    (
        6,
        "claim_index",
        include_str!("../../migrations/sqlite/0006_claim_index.sql"),
    ),
    (
        7,
        "unfinished_starts",
        include_str!("../../migrations/sqlite/0007_unfinished_starts.sql"),
    ),
    (
        8,
        "job_format",
        include_str!("../../migrations/sqlite/0008_job_format.sql"),
    ),
    (
        9,
        "supplier_key",
        include_str!("../../migrations/sqlite/0009_supplier_key.sql"),
    ),
    (
        10,
        "registration_ledger",
        include_str!("../../migrations/sqlite/0010_registration_ledger.sql"),
    ),
    (
        11,
        "invoice_events",
        include_str!("../../migrations/sqlite/0011_invoice_events.sql"),
    ),
    (
        12,
        "review",
        include_str!("../../migrations/sqlite/0012_review.sql"),
    ),
    (
        13,
        "submitter_aliases",
        include_str!("../../migrations/sqlite/0013_submitter_aliases.sql"),
    ),
    (
        14,
        "desk",
        include_str!("../../migrations/sqlite/0014_desk.sql"),
    ),
    (
        15,
        "s3_objects",
        include_str!("../../migrations/sqlite/0015_s3_objects.sql"),
    ),
];

const POSTGRES: &[Migration] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "claim_index",
        include_str!("../../migrations/postgres/0002_claim_index.sql"),
    ),
    (
        3,
        "unfinished_starts",
        include_str!("../../migrations/postgres/0003_unfinished_starts.sql"),
    ),
    (
        4,
        "job_format",
        include_str!("../../migrations/postgres/0004_job_format.sql"),
    ),
    (
        5,
        "supplier_key",
        include_str!("../../migrations/postgres/0005_supplier_key.sql"),
    ),
    (
        6,
        "registration_ledger",
        include_str!("../../migrations/postgres/0006_registration_ledger.sql"),
    ),
    (
        7,
        "invoice_events",
        include_str!("../../migrations/postgres/0007_invoice_events.sql"),
    ),
    (
        8,
        "review",
        include_str!("../../migrations/postgres/0008_review.sql"),
    ),
    (
        9,
        "submitter_aliases",
        include_str!("../../migrations/postgres/0009_submitter_aliases.sql"),
    ),
    (
        10,
        "desk",
        include_str!("../../migrations/postgres/0010_desk.sql"),
    ),
    (
        11,
        "s3_objects",
        include_str!("../../migrations/postgres/0011_s3_objects.sql"),
    ),
];

/// Any number, the same in every daemon: the key of the migration lock.
const PG_LOCK_KEY: i64 = 0x7061_7361_7265_6c61; // "pasarela"

pub async fn run(db: &Db) -> Result<(), StoreError> {
    let (list, lock) = match db.backend() {
        Backend::Sqlite => (SQLITE, None),
        Backend::Postgres => (POSTGRES, Some("SELECT pg_advisory_xact_lock(?)")),
    };
    let create = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
    let mut tx = db.begin_write().await?;
    if let Some(l) = lock {
        tx.execute(l, args![PG_LOCK_KEY]).await?;
    }
    tx.execute(create, args![]).await?;
    tx.commit().await?;
    for (version, name, sql) in list {
        let mut tx = db.begin_write().await?;
        if let Some(l) = lock {
            tx.execute(l, args![PG_LOCK_KEY]).await?;
        }
        let done = tx
            .fetch_optional(
                "SELECT version FROM schema_migrations WHERE version = ?",
                args![*version],
            )
            .await?;
        if done.is_some() {
            continue;
        }
        tx.conn()
            .execute_script(sql)
            .await
            .map_err(|e| StoreError::Migration {
                version: *version,
                reason: e.to_string(),
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            args![
                *version,
                *name,
                Arg::from(chrono::Utc::now().timestamp_millis())
            ],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
