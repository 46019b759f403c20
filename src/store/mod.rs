//! The store: the only module that speaks SQL.
//!
//! Jobs (the durable queue), results and the audit trail. SQLite embedded by
//! default (WAL, `synchronous` from config); the repository methods below are
//! the whole interface, so another backend can be added behind them.
//!
//! **Architecture Invariant:** no SQL outside `store/`. Every state change of a
//! job writes its audit row in the same transaction as the change.

mod batch;
pub mod certificates;
mod commissions;
mod migrate;
pub mod outbox;
pub mod reports;
pub mod sftp_state;

pub use commissions::StoredCommissionLine;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

/// Handle to the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    recorder: batch::Batcher<NewJob, i64>,
    completer: batch::Batcher<(Job, Completion), ()>,
}

/// One audit row: every state change and every security-relevant event.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub account: Option<&'a str>,
    pub job_id: Option<i64>,
    /// e.g. `received`, `done`, `sftp.login`, `sftp.upload`.
    pub event: &'a str,
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no job with id {0}")]
    NoSuchJob(i64),
    #[error("job {id} is {state}; only dead or done jobs can be replayed")]
    NotReplayable { id: i64, state: String },
    #[error("{0}")]
    Batch(String),
    #[error("migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
}

impl StoreError {
    /// Lock contention and I/O hiccups are worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => {
                let m = d.message();
                m.contains("locked") || m.contains("busy")
            }
            StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => true,
            _ => false,
        }
    }
}

/// A job's state in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
    fn parse(s: &str) -> JobState {
        match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "done" => JobState::Done,
            _ => JobState::Dead,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub account: String,
    pub rel_path: String,
    pub spool_path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub received_at: i64,
    pub state: JobState,
    pub attempts: u32,
    pub verdict: Option<String>,
    pub result_path: Option<PathBuf>,
    pub archive_path: Option<PathBuf>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// A file staged and about to be recorded.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub account: String,
    pub rel_path: String,
    pub spool_path: String,
    pub size: u64,
    pub sha256: String,
    pub now_ms: i64,
    /// [`KIND_LIGHT`] or [`KIND_HEAVY`].
    pub kind: &'static str,
}

/// Work that is quick (XML, spreadsheets, unknown bytes).
pub const KIND_LIGHT: &str = "light";
/// Work that may render or OCR (PDFs, images).
pub const KIND_HEAVY: &str = "heavy";

/// What a finished job leaves behind.
#[derive(Debug, Clone)]
pub struct Completion {
    pub verdict: String,
    pub result_json: String,
    pub result_path: String,
    pub archive_path: String,
    pub duplicate_of: Option<i64>,
    pub now_ms: i64,
}

/// Counts and lists for `pasarela status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub jobs_by_state: Vec<(String, i64)>,
    pub verdicts: Vec<(String, i64)>,
    pub oldest_pending: Option<Job>,
    pub dead: Vec<Job>,
    pub recent_errors: Vec<Job>,
    /// E-mail outbox by state (pending, sent, dead).
    pub outbox: Vec<(String, i64)>,
    /// Open SFTP sessions.
    pub sftp_sessions: Vec<sftp_state::SftpSession>,
    /// Addresses banned now.
    pub sftp_bans: Vec<sftp_state::SftpBan>,
}

const JOB_COLUMNS: &str = "id, account, rel_path, spool_path, size, sha256, received_at, state, attempts, verdict, result_path, archive_path, last_error, updated_at";

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Job, sqlx::Error> {
    Ok(Job {
        id: r.try_get("id")?,
        account: r.try_get("account")?,
        rel_path: r.try_get("rel_path")?,
        spool_path: PathBuf::from(r.try_get::<String, _>("spool_path")?),
        size: r.try_get::<i64, _>("size")? as u64,
        sha256: r.try_get("sha256")?,
        received_at: r.try_get("received_at")?,
        state: JobState::parse(&r.try_get::<String, _>("state")?),
        attempts: r.try_get::<i64, _>("attempts")? as u32,
        verdict: r.try_get("verdict")?,
        result_path: r
            .try_get::<Option<String>, _>("result_path")?
            .map(PathBuf::from),
        archive_path: r
            .try_get::<Option<String>, _>("archive_path")?
            .map(PathBuf::from),
        last_error: r.try_get("last_error")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn audit_tx(
    tx: &mut Transaction<'_, Sqlite>,
    at: i64,
    rec: &AuditRecord<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO audit (at, account, job_id, event, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(at)
        .bind(rec.account)
        .bind(rec.job_id)
        .bind(rec.event)
        .bind(rec.detail.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The audit row of a job's state change.
async fn audit_job_tx(
    tx: &mut Transaction<'_, Sqlite>,
    at: i64,
    job: &Job,
    event: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    audit_tx(
        tx,
        at,
        &AuditRecord {
            account: Some(&job.account),
            job_id: Some(job.id),
            event,
            detail,
        },
    )
    .await
}

/// Store (or replace) the result JSON of a job.
async fn save_result_tx(
    tx: &mut Transaction<'_, Sqlite>,
    job_id: i64,
    json: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO results (job_id, result_json, written_at) VALUES (?, ?, ?)
         ON CONFLICT (job_id) DO UPDATE SET result_json = excluded.result_json, written_at = excluded.written_at",
    )
    .bind(job_id)
    .bind(json)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Open (creating if needed) and migrate the store at `url` (`sqlite://PATH`).
    pub async fn open(
        url: &str,
        synchronous_full: bool,
        busy_timeout: Duration,
    ) -> Result<Store, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://")
            && let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        }
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(busy_timeout + Duration::from_secs(5))
            .connect_with(opts)
            .await?;
        migrate::run(&pool).await?;
        let p = pool.clone();
        let recorder = batch::Batcher::spawn(move |jobs| {
            let p = p.clone();
            async move { Store::record_jobs(&p, jobs).await }
        });
        let p = pool.clone();
        let completer = batch::Batcher::spawn(move |items| {
            let p = p.clone();
            async move { Store::complete_many(&p, items).await }
        });
        Ok(Store {
            pool,
            recorder,
            completer,
        })
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock up
    /// front, so concurrent writers wait (busy_timeout) instead of failing with
    /// SQLITE_BUSY when a read lock cannot be upgraded.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Append an audit row.
    pub async fn audit(&self, rec: AuditRecord<'_>) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        audit_tx(&mut tx, now_ms(), &rec).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a staged file as a pending job. Idempotent on `spool_path`:
    /// recording the same staged file twice returns the existing id.
    /// Concurrent calls are grouped into one transaction (group commit).
    pub async fn record_job(&self, j: &NewJob) -> Result<i64, StoreError> {
        self.recorder.submit(j.clone()).await
    }

    async fn record_jobs(pool: &SqlitePool, jobs: Vec<NewJob>) -> Result<Vec<i64>, StoreError> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut ids = Vec::with_capacity(jobs.len());
        for j in &jobs {
            ids.push(Self::record_job_tx(&mut tx, j).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn record_job_tx(
        tx: &mut Transaction<'static, Sqlite>,
        j: &NewJob,
    ) -> Result<i64, StoreError> {
        if let Some(row) = sqlx::query("SELECT id FROM jobs WHERE spool_path = ?")
            .bind(&j.spool_path)
            .fetch_optional(&mut **tx)
            .await?
        {
            return Ok(row.try_get("id")?);
        }
        let row = sqlx::query(
            "INSERT INTO jobs (account, rel_path, spool_path, size, sha256, received_at, state, next_attempt_at, updated_at, kind)
             VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id",
        )
        .bind(&j.account)
        .bind(&j.rel_path)
        .bind(&j.spool_path)
        .bind(j.size as i64)
        .bind(&j.sha256)
        .bind(j.now_ms)
        .bind(j.now_ms)
        .bind(j.now_ms)
        .bind(j.kind)
        .fetch_one(&mut **tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let detail = serde_json::json!({"path": j.rel_path, "size": j.size, "sha256": j.sha256});
        audit_tx(
            tx,
            j.now_ms,
            &AuditRecord {
                account: Some(&j.account),
                job_id: Some(id),
                event: "received",
                detail,
            },
        )
        .await?;
        Ok(id)
    }

    /// Claim up to `limit` due pending jobs for `owner`, marking them running
    /// with a lease. Oldest first.
    pub async fn claim(
        &self,
        owner: &str,
        limit: usize,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        self.claim_kind(owner, None, limit, now_ms, lease).await
    }

    /// [`Store::claim`] restricted to one kind of work ([`KIND_LIGHT`],
    /// [`KIND_HEAVY`]); `None` takes any.
    pub async fn claim_kind(
        &self,
        owner: &str,
        kind: Option<&str>,
        limit: usize,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_until = ?, updated_at = ?
             WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND next_attempt_at <= ?
                          AND (? IS NULL OR kind = ?) ORDER BY id LIMIT ?)
             RETURNING {JOB_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now_ms + lease.as_millis() as i64)
            .bind(now_ms)
            .bind(now_ms)
            .bind(kind)
            .bind(kind)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| j.id);
        for j in &jobs {
            let detail = serde_json::json!({"attempt": j.attempts, "owner": owner});
            audit_tx(
                &mut tx,
                now_ms,
                &AuditRecord {
                    account: Some(&j.account),
                    job_id: Some(j.id),
                    event: "running",
                    detail,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// At start-up of the only daemon on this store: jobs left running by a
    /// crashed process go back to pending.
    pub async fn requeue_running(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let ids: Vec<(i64, String)> =
            sqlx::query("SELECT id, account FROM jobs WHERE state = 'running'")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("account")?)))
                .collect::<Result<_, sqlx::Error>>()?;
        sqlx::query("UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, next_attempt_at = ?, updated_at = ? WHERE state = 'running'")
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        for (id, account) in &ids {
            let rec = AuditRecord {
                account: Some(account),
                job_id: Some(*id),
                event: "requeued",
                detail: serde_json::json!({"reason": "interrupted by a restart"}),
            };
            audit_tx(&mut tx, now_ms, &rec).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// The first earlier, not-dead job with the same content, if any.
    pub async fn first_with_sha(
        &self,
        sha256: &str,
        before_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM jobs WHERE sha256 = ? AND id < ? AND state != 'dead' ORDER BY id LIMIT 1")
            .bind(sha256)
            .bind(before_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Register the business-document identity of a job and return the first
    /// earlier, not-dead job with the same identity (a duplicate submission).
    /// Setting before reading makes concurrent duplicates race-free.
    pub async fn claim_document_key(
        &self,
        job_id: i64,
        key: &str,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query("UPDATE jobs SET document_key = ? WHERE id = ?")
            .bind(key)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        // Earlier jobs count unless they ended rejected, duplicate or dead.
        let row = sqlx::query(
            "SELECT id FROM jobs WHERE document_key = ? AND id < ? AND state != 'dead'
             AND (verdict IS NULL OR verdict IN ('accepted', 'review')) ORDER BY id LIMIT 1",
        )
        .bind(key)
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Commit a job's outcome and its result.
    /// Concurrent calls are grouped into one transaction (group commit).
    pub async fn complete(&self, job: &Job, c: &Completion) -> Result<(), StoreError> {
        self.completer.submit((job.clone(), c.clone())).await
    }

    async fn complete_many(
        pool: &SqlitePool,
        items: Vec<(Job, Completion)>,
    ) -> Result<Vec<()>, StoreError> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for (job, c) in &items {
            Self::complete_tx(&mut tx, job, c).await?;
        }
        tx.commit().await?;
        Ok(vec![(); items.len()])
    }

    async fn complete_tx(
        tx: &mut Transaction<'static, Sqlite>,
        job: &Job,
        c: &Completion,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'done', verdict = ?, result_path = ?, archive_path = ?, duplicate_of = ?, lease_owner = NULL,
             lease_until = NULL, last_error = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(&c.verdict)
        .bind(&c.result_path)
        .bind(&c.archive_path)
        .bind(c.duplicate_of)
        .bind(c.now_ms)
        .bind(job.id)
        .execute(&mut **tx)
        .await?;
        save_result_tx(tx, job.id, &c.result_json, c.now_ms).await?;
        let detail = serde_json::json!({"verdict": &c.verdict, "result": &c.result_path, "archive": &c.archive_path});
        audit_job_tx(tx, c.now_ms, job, "done", detail).await?;
        Ok(())
    }

    /// A transient failure: back to pending, due again at `next_at_ms`.
    pub async fn retry_later(
        &self,
        job: &Job,
        error: &str,
        next_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE jobs SET state = 'pending', next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?")
            .bind(next_at_ms)
            .bind(error)
            .bind(now_ms)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({"error": error, "attempt": job.attempts, "next_attempt_at": next_at_ms});
        audit_job_tx(&mut tx, now_ms, job, "retry", detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A permanent failure (or retries exhausted): dead-lettered for an operator.
    /// `alert` (the administrators' error-alert) is enqueued in the same
    /// transaction, so a dead letter never exists without its alert.
    pub async fn dead_letter(
        &self,
        job: &Job,
        error: &str,
        result_json: &str,
        result_path: &str,
        alert: Option<&outbox::NewMessage>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE jobs SET state = 'dead', last_error = ?, result_path = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?")
            .bind(error)
            .bind(result_path)
            .bind(now_ms)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        save_result_tx(&mut tx, job.id, result_json, now_ms).await?;
        let detail = serde_json::json!({"error": error, "attempts": job.attempts});
        audit_job_tx(&mut tx, now_ms, job, "dead", detail).await?;
        if let Some(m) = alert {
            outbox::enqueue_tx(&mut tx, m, now_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Put a dead or done job back in the queue. Returns the job as it was.
    pub async fn replay(&self, id: i64, now_ms: i64) -> Result<Job, StoreError> {
        let mut tx = self.write_tx().await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NoSuchJob(id))?;
        let job = job_from_row(&row)?;
        if !matches!(job.state, JobState::Dead | JobState::Done) {
            return Err(StoreError::NotReplayable {
                id,
                state: job.state.as_str().into(),
            });
        }
        sqlx::query("UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL, updated_at = ? WHERE id = ?")
            .bind(now_ms)
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({"previous_state": job.state.as_str()});
        audit_tx(
            &mut tx,
            now_ms,
            &AuditRecord {
                account: Some(&job.account),
                job_id: Some(id),
                event: "replay",
                detail,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    /// The job that staged `spool_path`, if recorded.
    pub async fn job_by_spool_path(&self, spool_path: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE spool_path = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(spool_path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    /// The stored result JSON of a job.
    pub async fn result_json(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT result_json FROM results WHERE job_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("result_json")).transpose()?)
    }

    /// Audit rows of a job, oldest first: (at, event, detail).
    pub async fn audit_of(&self, job_id: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT at, event, detail FROM audit WHERE job_id = ? ORDER BY id")
            .bind(job_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("event")?, r.try_get("detail")?)))
            .collect()
    }

    /// Earliest time a pending job becomes due, if any.
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) AS due FROM jobs WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("due")?)
    }

    pub async fn status(&self) -> Result<StatusReport, StoreError> {
        let by_state =
            sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state ORDER BY state")
                .fetch_all(&self.pool)
                .await?;
        let verdicts = sqlx::query("SELECT verdict, COUNT(*) AS n FROM jobs WHERE verdict IS NOT NULL GROUP BY verdict ORDER BY verdict").fetch_all(&self.pool).await?;
        let oldest = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('pending','running') ORDER BY received_at, id LIMIT 1")))
            .fetch_optional(&self.pool)
            .await?;
        let dead = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'dead' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let errors = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE last_error IS NOT NULL AND state != 'dead' ORDER BY updated_at DESC LIMIT 10"
        )))
        .fetch_all(&self.pool)
        .await?;
        let pairs = |rows: Vec<sqlx::sqlite::SqliteRow>,
                     k: &str|
         -> Result<Vec<(String, i64)>, sqlx::Error> {
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>(k)?, r.try_get::<i64, _>("n")?)))
                .collect()
        };
        Ok(StatusReport {
            jobs_by_state: pairs(by_state, "state")?,
            verdicts: pairs(verdicts, "verdict")?,
            oldest_pending: oldest.as_ref().map(job_from_row).transpose()?,
            dead: dead.iter().map(job_from_row).collect::<Result<_, _>>()?,
            recent_errors: errors.iter().map(job_from_row).collect::<Result<_, _>>()?,
            outbox: self.outbox_counts().await?,
            sftp_sessions: self.sftp_sessions().await?,
            sftp_bans: self.sftp_bans(now_ms()).await?,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
