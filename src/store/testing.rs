//! Support for tests that need a PostgreSQL store: each gets a schema of its
//! own in the database named by `PASARELA_TEST_POSTGRES_URL`, dropped by
//! [`ScratchSchema::drop_now`] (or swept an hour later if a test died).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions};

/// The variable that names the test database.
pub const POSTGRES_ENV: &str = "PASARELA_TEST_POSTGRES_URL";

/// A scratch schema; `url` opens a store inside it.
pub struct ScratchSchema {
    pub url: String,
    base: String,
    name: String,
}

/// The test PostgreSQL URL. Without it the PostgreSQL tests cannot run: under
/// CI (`CI` set) that is a failure, elsewhere they say so and pass.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_ENV} must be set under CI (scripts/test.sh sets it)")
        }
        _ => {
            eprintln!("{POSTGRES_ENV} is not set: PostgreSQL case not run");
            None
        }
    }
}

impl ScratchSchema {
    /// Create a fresh schema, or `None` when no test database is configured.
    pub async fn create() -> Option<ScratchSchema> {
        let base = postgres_url()?;
        let now = chrono::Utc::now().timestamp();
        let name = format!("t_{now}_{}", uuid::Uuid::new_v4().simple());
        let mut c = connect(&base).await;
        // Schemas of runs that died (a panicking test keeps its schema for a
        // look) are swept once they are an hour old.
        let old: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^t_[0-9]+_[0-9a-f]{32}$'",
        )
        .fetch_all(&mut c)
        .await
        .unwrap_or_default();
        for s in old {
            let at: i64 = s[2..]
                .split('_')
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(now);
            if now - at > 3600 {
                let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {s} CASCADE")))
                    .execute(&mut c)
                    .await;
            }
        }
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut c)
            .await
            .expect("create test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Some(ScratchSchema { url, base, name })
    }

    /// Drop the schema.
    pub async fn drop_now(&self) {
        let mut c = connect(&self.base).await;
        let _ = sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&mut c)
        .await;
    }
}

async fn connect(url: &str) -> PgConnection {
    PgConnectOptions::from_str(url)
        .expect("test postgres url")
        .connect()
        .await
        .expect("connect to the test postgres")
}

/// One finished job for [`Store::seed_finished`] (benchmarks of the desk).
pub struct SeedJob {
    pub account: String,
    pub rel_path: String,
    pub received_at: i64,
    /// `done` or `dead`.
    pub state: &'static str,
    pub verdict: Option<&'static str>,
    pub review_reason: Option<&'static str>,
    pub result_json: String,
    pub refs: crate::result::DocRefs,
}

impl super::Store {
    /// Write finished jobs, their results and three audit rows each (received,
    /// claimed, done) in transactions of 1,000: a store as a busy year leaves
    /// it, for the desk's benchmark. Returns the ids.
    pub async fn seed_finished(&self, jobs: &[SeedJob]) -> Result<Vec<i64>, super::StoreError> {
        use super::db::{Arg, args};
        let mut ids = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(1000) {
            let mut tx = self.write_tx().await?;
            for j in chunk {
                let sha = crate::fsutil::sha256_hex(j.rel_path.as_bytes());
                let spool = format!("/seed/{}/{}", uuid::Uuid::new_v4().simple(), j.rel_path);
                let done = j.received_at + 900;
                let row = tx
                    .fetch_one(
                        "INSERT INTO jobs (account, rel_path, spool_path, size, sha256, received_at, state, next_attempt_at, updated_at, kind, format, verdict, result_path, archive_path, review_reason, review_since)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'light', 'xml', ?, ?, ?, ?, ?) RETURNING id",
                        args![
                            &j.account,
                            &j.rel_path,
                            &spool,
                            25_000i64,
                            &sha,
                            Arg::time(j.received_at),
                            j.state,
                            Arg::time(done),
                            Arg::time(done),
                            Arg::Text(j.verdict.map(str::to_owned)),
                            format!("/seed/outgoing/{}.result.json", j.rel_path),
                            format!("/seed/archive/{}", j.rel_path),
                            Arg::Text(j.review_reason.map(str::to_owned)),
                            Arg::Time(j.review_reason.map(|_| done))
                        ],
                    )
                    .await?;
                let id = row.int("id")?;
                super::save_result_tx(&mut tx, id, &j.result_json, &j.refs, done).await?;
                for (at, event) in [
                    (j.received_at, "received"),
                    (j.received_at + 10, "claimed"),
                    (done, "done"),
                ] {
                    tx.execute(
                        "INSERT INTO audit (at, account, job_id, event, detail) VALUES (?, ?, ?, ?, ?)",
                        args![Arg::time(at), &j.account, id, event, "{}"],
                    )
                    .await?;
                }
                ids.push(id);
            }
            tx.commit().await?;
        }
        Ok(ids)
    }
}
