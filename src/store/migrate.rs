//! Embedded migrations: the SQL files under `migrations/sqlite/` are compiled
//! into the binary and applied in order, each in its own transaction, so a
//! deployed daemon needs nothing but its executable.

use sqlx::{Row, SqlitePool};

use super::StoreError;

const SQLITE: &[(i64, &str, &str)] = &[
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
];

pub async fn run(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        .execute(pool)
        .await?;
    for (version, name, sql) in SQLITE {
        let mut tx = pool.begin().await?;
        let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = ?")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration {
                version: *version,
                reason: e.to_string(),
            })?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(version)
            .bind(name)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let _ = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations")
        .fetch_one(pool)
        .await?
        .try_get::<i64, _>("n")?;
    Ok(())
}
