//! The store: the only module that speaks SQL.
//!
//! Jobs (the durable queue), results and the audit trail. SQLite embedded by
//! default (WAL, `synchronous` from config), PostgreSQL when several daemons
//! share the work; the repository methods below are the whole interface and
//! [`db`] runs each query on either backend with its native types.
//!
//! **Architecture Invariant:** no SQL outside `store/`. Every state change of a
//! job writes its audit row in the same transaction as the change.

mod batch;
pub mod certificates;
mod commissions;
pub(crate) mod db;
pub mod desk;
pub mod events;
mod lane;
mod migrate;
pub mod outbox;
mod outcome;
pub mod reports;
pub mod review;
pub mod s3_objects;
pub mod sftp_state;
// Test support: not in a release build (feature `test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod vocab;

pub use commissions::StoredCommissionLine;
pub use outcome::OutcomeWrites;
pub use vocab::{EntryKind, JobKind, JobState, OutboxKind, OutboxState, UnknownWord};

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::result::{Format, Verdict};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A connection that comes back to the pool still inside a transaction (its
/// owner's `Transaction` was dropped and the rollback could not end it, as
/// after SQLite refused a COMMIT for a full disk and rolled back on its own)
/// would make every later `BEGIN` on it fail ("non-zero transaction depth"):
/// the pool closes it instead of handing it out (`before_acquire`, which runs
/// after the release's ping has flushed any queued rollback) and opens a
/// fresh one.
fn left_in_transaction<C: sqlx::Connection>(conn: &C) -> bool {
    conn.is_in_transaction()
}
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use db::Backend;
use db::{Arg, Db, DbRow, Tx, args};

/// Handle to the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    recorder: batch::Batcher<NewJob, i64>,
    completer: batch::Batcher<(Job, Completion), ()>,
    /// Small writes of every kind, group committed ([`lane`]).
    lane: batch::Batcher<lane::Write, lane::Written>,
    /// When this process last looked for expired leases, per kind claimed
    /// (any, light, heavy; [`Store::claim_kind`]).
    lease_sweep: std::sync::Arc<[std::sync::atomic::AtomicI64; 3]>,
}

/// Expired leases are looked for at most this often (ms): they are rare (a
/// daemon died, a task lost its store), and looking costs a statement.
const LEASE_SWEEP_MS: i64 = 1000;

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
    /// A group-committed write failed; `transient` keeps the cause's
    /// classification (busy, unreachable) for the caller's retry decision.
    #[error("{message}")]
    Batch { message: String, transient: bool },
    #[error("migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
    /// What a write was computed from changed meanwhile (another daemon or
    /// worker got there first); the work is redone on the new state.
    #[error("{0}")]
    Stale(String),
}

impl StoreError {
    /// A permanent batch failure with this message.
    pub(crate) fn batch(message: impl Into<String>) -> StoreError {
        StoreError::Batch {
            message: message.into(),
            transient: false,
        }
    }

    /// Two notes appended to one registration's ledger at once: the unique
    /// (adjusts, seq) index refused the second (which runs again on the new
    /// state).
    pub fn is_ledger_race(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => {
                d.message().contains("registrations.adjusts")
                    || d.constraint() == Some("registrations_chain")
            }
            _ => false,
        }
    }

    /// Lock contention and I/O hiccups are worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(d)) => {
                // SQLite: locked/busy. PostgreSQL: serialization failure,
                // deadlock, and the server shutting down or restarting.
                let m = d.message();
                let code = d.code();
                m.contains("locked")
                    || m.contains("busy")
                    || self.is_ledger_race()
                    || matches!(
                        code.as_deref(),
                        Some("40001" | "40P01" | "57P01" | "57P02" | "57P03" | "08006" | "08003")
                    )
            }
            StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => true,
            StoreError::Batch { transient, .. } => *transient,
            StoreError::Stale(_) => true,
            _ => false,
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
    /// Starts in a row that did not end in a recorded way (done, retry, dead
    /// letter): the daemon or worker died under the job. Counts this start.
    pub unfinished_starts: u32,
    pub verdict: Option<Verdict>,
    pub result_path: Option<PathBuf>,
    pub archive_path: Option<PathBuf>,
    pub last_error: Option<String>,
    pub updated_at: i64,
    /// The format intake sniffed (`None` for jobs recorded before it did).
    pub format: Option<Format>,
    /// What the claim that took this job learned with it (`None` for a job
    /// read otherwise): see [`ClaimInfo`].
    #[serde(skip)]
    pub claim_info: Option<ClaimInfo>,
}

/// Read by the statement that claims a job (issue 21: no read of its own
/// before the job's steps): the first earlier live job with the same bytes,
/// and whether an operator's decision waits for this run (then the runner
/// reads it, [`Store::run_inputs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimInfo {
    pub duplicate_of: Option<i64>,
    pub decision_waiting: bool,
}

/// Record a staged file as a pending job (arguments: `Store::record_args`).
const RECORD_SQL: &str = "INSERT INTO jobs (account, rel_path, spool_path, size, sha256, received_at, state, next_attempt_at, updated_at, kind, format)
     VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (spool_path) DO NOTHING";

/// On PostgreSQL, one file's job and its `received` audit row in one
/// statement (arguments: `Store::record_args`, then the instant and the
/// detail); no row when the file was recorded already.
static RECORD_ONE_PG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH j AS ({RECORD_SQL} RETURNING id, account),
         a AS (INSERT INTO audit (at, account, job_id, event, detail) SELECT ?, account, id, 'received', ? FROM j)
         SELECT id FROM j"
    )
});

/// The [`ClaimInfo`] columns a claim returns beside [`JOB_COLUMNS`].
const CLAIM_INFO_COLUMNS: &str = "(SELECT e.id FROM jobs e WHERE e.sha256 = jobs.sha256 AND e.id < jobs.id AND e.state != 'dead' ORDER BY e.id LIMIT 1) AS first_same,
     CAST(CASE WHEN EXISTS (SELECT 1 FROM review_decisions d WHERE d.job_id = jobs.id AND d.applied_at IS NULL) THEN 1 ELSE 0 END AS BIGINT) AS decision_waiting";

/// A file staged and about to be recorded.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub account: String,
    pub rel_path: String,
    pub spool_path: String,
    pub size: u64,
    pub sha256: String,
    pub now_ms: i64,
    pub kind: JobKind,
    /// Sniffed from the first bytes at intake (decides `kind`).
    pub format: Format,
}

/// What a finished job leaves behind.
#[derive(Debug, Clone)]
pub struct Completion {
    pub verdict: Verdict,
    pub result_json: String,
    pub result_path: String,
    pub archive_path: String,
    pub duplicate_of: Option<i64>,
    pub now_ms: i64,
    /// Why the job is in review (a `review` verdict), as `review::Reason`'s word.
    pub review_reason: Option<String>,
    /// The operator's decision this run applied.
    pub decision_id: Option<i64>,
    /// The document the result is about (found by the desk's search).
    pub refs: crate::result::DocRefs,
    /// What the job's steps prepared for its outcome, written in the same
    /// transaction ([`OutcomeWrites`]).
    pub writes: OutcomeWrites,
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
    /// Files waiting for an operator, by reason (docs/REVIEW.md).
    pub review: Vec<(String, i64)>,
    /// When the oldest file in review entered it (unix ms).
    pub review_oldest_since: Option<i64>,
}

const JOB_COLUMNS: &str = "id, account, rel_path, spool_path, size, sha256, received_at, state, attempts, unfinished_starts, verdict, result_path, archive_path, last_error, updated_at, format";

fn job_from_row(r: &DbRow) -> Result<Job, sqlx::Error> {
    Ok(Job {
        id: r.int("id")?,
        account: r.text("account")?,
        rel_path: r.text("rel_path")?,
        spool_path: PathBuf::from(r.text("spool_path")?),
        size: r.int("size")? as u64,
        sha256: r.text("sha256")?,
        received_at: r.time("received_at")?,
        // An unknown word cannot be written (the API takes enums); read as
        // dead, a job nobody runs, as before the enums.
        state: r.text("state")?.parse().unwrap_or(JobState::Dead),
        attempts: r.int("attempts")? as u32,
        unfinished_starts: r.int("unfinished_starts")? as u32,
        verdict: r
            .opt_text("verdict")?
            .map(|v| v.parse().map_err(UnknownWord::decode))
            .transpose()?,
        result_path: r.opt_text("result_path")?.map(PathBuf::from),
        archive_path: r.opt_text("archive_path")?.map(PathBuf::from),
        last_error: r.opt_text("last_error")?,
        updated_at: r.time("updated_at")?,
        format: r.opt_text("format")?.as_deref().and_then(Format::parse),
        claim_info: None,
    })
}

async fn audit_tx(tx: &mut Tx, at: i64, rec: &AuditRecord<'_>) -> Result<(), sqlx::Error> {
    // Written with the transaction's other audit rows at commit (one statement).
    tx.defer_audit(db::AuditRow {
        at,
        account: rec.account.map(str::to_owned),
        job_id: rec.job_id,
        event: rec.event.to_owned(),
        detail: rec.detail.to_string(),
    });
    Ok(())
}

/// The audit row of a job's state change.
async fn audit_job_tx(
    tx: &mut Tx,
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

/// Refresh the query planner's statistics where they are missing or stale
/// (SQLite's `PRAGMA optimize`, which samples at most a couple of thousand
/// rows per index, so it stays quick whatever the size). Without them SQLite reads "state =
/// 'done'" as selective and scans every finished job for the desk's counts.
/// On PostgreSQL, autovacuum analyzes on its own schedule; this refreshes the
/// three big tables now (sampled, so quick).
async fn optimize_db(db: &Db) {
    let statements: &[&str] = match db.backend() {
        Backend::Sqlite => &["PRAGMA optimize = 0x10002"],
        // Sampled (30,000 rows a table): what autovacuum would do, now.
        Backend::Postgres => &["ANALYZE jobs", "ANALYZE results", "ANALYZE audit"],
    };
    for sql in statements {
        if let Err(e) = db.execute(sql, args![]).await {
            tracing::warn!(error = %e, statement = sql, "refreshing planner statistics failed");
        }
    }
}

/// A job's outcome: verdict, result and archive paths, duplicate of, now,
/// review reason, in review (0/1), now, job id.
const COMPLETE_SQL: &str = "UPDATE jobs SET state = 'done', verdict = ?, result_path = ?, archive_path = ?, duplicate_of = ?, lease_owner = NULL,
     lease_until = NULL, last_error = NULL, unfinished_starts = 0, updated_at = ?, review_reason = ?,
     review_since = CASE WHEN ? = 1 THEN COALESCE(review_since, ?) ELSE NULL END WHERE id = ?";

/// Store (or replace) the result JSON of a job ([`result_args`]).
const SAVE_RESULT_SQL: &str = "INSERT INTO results (job_id, result_json, written_at, cufe, supplier_nit, number) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (job_id) DO UPDATE SET result_json = excluded.result_json, written_at = excluded.written_at,
     cufe = excluded.cufe, supplier_nit = excluded.supplier_nit, number = excluded.number";

fn result_args(job_id: i64, json: &str, refs: &crate::result::DocRefs, at: i64) -> Vec<Arg> {
    args![
        job_id,
        json,
        Arg::time(at),
        Arg::Text(refs.cufe.clone()),
        Arg::Text(refs.supplier_nit.clone()),
        Arg::Text(refs.number.clone())
    ]
}

/// Store (or replace) the result JSON of a job.
async fn save_result_tx(
    tx: &mut Tx,
    job_id: i64,
    json: &str,
    refs: &crate::result::DocRefs,
    at: i64,
) -> Result<(), sqlx::Error> {
    tx.execute(SAVE_RESULT_SQL, result_args(job_id, json, refs, at))
        .await?;
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `url` fit for logs: a password in it (`postgres://user:secret@host/db`,
/// `?password=secret`) is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let mut out = match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    if let Some(q) = out.find('?') {
        let query: Vec<String> = out[q + 1..]
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{}?{}", &out[..q], query.join("&"));
    }
    out
}

/// Whether `url` names a PostgreSQL store.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The live job holding a CUFE (first two arguments: the CUFE, the supplier
/// key) or a supplier key (third), other than the job itself (fourth).
/// Holders count unless they ended rejected, duplicate or dead; a dead job
/// that registered (its certificate and ledger row committed before it
/// died) still holds its keys. A NULL argument matches nothing.
pub(crate) const KEY_HOLDER_SQL: &str = "SELECT id, document_key FROM jobs
     WHERE (document_key = ? OR document_key = ? OR supplier_key = ?)
     AND id != ?
     AND (state != 'dead' OR EXISTS (SELECT 1 FROM registrations r WHERE r.job_id = jobs.id))
     AND (verdict IS NULL OR verdict IN ('accepted', 'review')) ORDER BY id LIMIT 1";

/// Put a job back in the queue with a fresh start (`replay`, an operator's
/// decision, a release): arguments next attempt, now, job id; a caller may
/// append further `AND` conditions.
pub(crate) const REQUEUE_SQL: &str = "UPDATE jobs SET state = 'pending', attempts = 0, unfinished_starts = 0, next_attempt_at = ?, last_error = NULL, updated_at = ? WHERE id = ?";

/// After a job is completed in review: run it again at once when what it
/// waits for arrived while it was running (an XML claimed the keys it waits
/// for; an acceptance was recorded since the run began), since the release
/// that arrival made could not see it yet. (An acceptance recorded before
/// the run began was already weighed by the run, e.g. refused as coming
/// from someone other than the buyer: it never wakes the job again.)
const REQUEUE_WOKEN_SQL: &str = "UPDATE jobs SET state = 'pending', next_attempt_at = ?
     WHERE id = ? AND state = 'done' AND (
       (review_reason = 'awaiting_xml' AND EXISTS (
          SELECT 1 FROM awaiting_documents a JOIN jobs h ON (h.document_key = a.key OR h.supplier_key = a.key)
          WHERE a.job_id = jobs.id AND h.id != jobs.id
          AND (h.state != 'dead' OR EXISTS (SELECT 1 FROM registrations r WHERE r.job_id = h.id))
          AND (h.verdict IS NULL OR h.verdict IN ('accepted', 'review'))))
       OR (review_reason = 'awaiting_acceptance' AND EXISTS (
          SELECT 1 FROM invoice_events e WHERE e.cufe = jobs.document_key AND e.code IN ('033', '034')
          AND e.recorded_at >= ?)))";

/// The live job holding a document key another job tried to claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHolder {
    pub job_id: i64,
    /// True when it holds the same CUFE/CUDE; false when the match is the
    /// supplier key (supplier NIT + number).
    pub same_cufe: bool,
}

/// A document-key claim: the live job holding a key first (this job is its
/// duplicate), or none (this job holds the keys), and what else was on
/// record under the keys when it claimed them, so a caller need not read
/// again to learn that nothing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyClaim {
    pub holder: Option<KeyHolder>,
    /// Readings (PDF, scan, sheet) wait for the document under either key
    /// (`Store::awaiting` says which are due for release).
    pub waiting: bool,
    /// RADIAN events are recorded about the CUFE (`Store::events_of`).
    pub events: bool,
}

impl Store {
    /// Open (creating if needed) and migrate the store at `url`:
    /// `sqlite://PATH` (embedded) or `postgres://USER@HOST:PORT/DB` (shared by
    /// several daemons; `?options=-c%20search_path%3DSCHEMA` selects a schema).
    pub async fn open(
        url: &str,
        synchronous_full: bool,
        busy_timeout: Duration,
    ) -> Result<Store, StoreError> {
        let db = if is_postgres_url(url) {
            let opts = PgConnectOptions::from_str(url)?;
            Db::Pg(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(busy_timeout + Duration::from_secs(5))
                    // No ping before each use (a round trip on PostgreSQL, a
                    // hand-off to the connection's thread on SQLite): a
                    // broken connection fails its statement instead, which
                    // is a transient error, retried (issue 21).
                    .test_before_acquire(false)
                    .before_acquire(|conn, _| {
                        Box::pin(async move { Ok(!left_in_transaction(conn)) })
                    })
                    .connect_with(opts)
                    .await?,
            )
        } else {
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
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(busy_timeout + Duration::from_secs(5))
                    // No ping before each use (a round trip on PostgreSQL, a
                    // hand-off to the connection's thread on SQLite): a
                    // broken connection fails its statement instead, which
                    // is a transient error, retried (issue 21).
                    .test_before_acquire(false)
                    .before_acquire(|conn, _| {
                        Box::pin(async move { Ok(!left_in_transaction(conn)) })
                    })
                    .connect_with(opts)
                    .await?,
                db::WriteGate::new(busy_timeout),
            )
        };
        migrate::run(&db).await?;
        // SQLite's check is nearly free when its statistics are fresh; on
        // PostgreSQL, ANALYZE waits for the daemon's periodic pass.
        if db.backend() == Backend::Sqlite {
            optimize_db(&db).await;
        }
        let p = db.clone();
        let recorder = batch::Batcher::spawn(move |jobs| {
            let p = p.clone();
            async move { Store::record_jobs(&p, jobs).await }
        });
        let p = db.clone();
        let completer = batch::Batcher::spawn(move |items| {
            let p = p.clone();
            async move { Store::complete_many(&p, items).await }
        });
        let p = db.clone();
        let lane = batch::Batcher::spawn(move |writes| {
            let p = p.clone();
            async move { lane::write_many(&p, &writes).await }
        });
        Ok(Store {
            db,
            recorder,
            completer,
            lane,
            lease_sweep: Default::default(),
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A write transaction (see [`Db::begin_write`]).
    async fn write_tx(&self) -> Result<Tx, sqlx::Error> {
        self.db.begin_write().await
    }

    /// Append an audit row (group committed with other small writes).
    pub async fn audit(&self, rec: AuditRecord<'_>) -> Result<(), StoreError> {
        self.lane
            .submit(lane::Write::Audit(lane::OwnedAudit {
                at: now_ms(),
                account: rec.account.map(str::to_owned),
                job_id: rec.job_id,
                event: rec.event.to_owned(),
                detail: rec.detail,
            }))
            .await?;
        Ok(())
    }

    /// Record a staged file as a pending job. Idempotent on `spool_path`:
    /// recording the same staged file twice returns the existing id.
    /// Concurrent calls are grouped into one transaction (group commit).
    pub async fn record_job(&self, j: &NewJob) -> Result<i64, StoreError> {
        self.recorder.submit(j.clone()).await
    }

    async fn record_jobs(
        db: &Db,
        jobs: Vec<std::sync::Arc<NewJob>>,
    ) -> Result<Vec<i64>, StoreError> {
        if let ([j], Backend::Postgres) = (jobs.as_slice(), db.backend()) {
            // One file: the job and its audit row in one statement, no
            // BEGIN/COMMIT (issue 21).
            if let Some(row) = db
                .fetch_optional(
                    &RECORD_ONE_PG,
                    Self::record_args(j)
                        .into_iter()
                        .chain(args![
                            Arg::time(j.now_ms),
                            Self::received_detail(j).to_string()
                        ])
                        .collect(),
                )
                .await?
            {
                return Ok(vec![row.int("id")?]);
            }
            // Recorded already (by another daemon's start-up sweep).
            let row = db
                .fetch_one(
                    "SELECT id FROM jobs WHERE spool_path = ?",
                    args![&j.spool_path],
                )
                .await?;
            return Ok(vec![row.int("id")?]);
        }
        let mut tx = db.begin_write().await?;
        let mut ids = Vec::with_capacity(jobs.len());
        for j in &jobs {
            ids.push(Self::record_job_tx(&mut tx, j).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    fn record_args(j: &NewJob) -> Vec<Arg> {
        args![
            &j.account,
            &j.rel_path,
            &j.spool_path,
            j.size as i64,
            &j.sha256,
            Arg::time(j.now_ms),
            Arg::time(j.now_ms),
            Arg::time(j.now_ms),
            j.kind.as_str(),
            j.format.as_str()
        ]
    }

    /// The `received` audit row's detail.
    fn received_detail(j: &NewJob) -> serde_json::Value {
        serde_json::json!({"path": j.rel_path, "size": j.size, "sha256": j.sha256})
    }

    async fn record_job_tx(tx: &mut Tx, j: &NewJob) -> Result<i64, StoreError> {
        // ON CONFLICT DO NOTHING: another daemon may record the same staged
        // file (its start-up sweep) at the same moment.
        let inserted = tx
            .fetch_optional(&format!("{RECORD_SQL} RETURNING id"), Self::record_args(j))
            .await?;
        let Some(row) = inserted else {
            let row = tx
                .fetch_one(
                    "SELECT id FROM jobs WHERE spool_path = ?",
                    args![&j.spool_path],
                )
                .await?;
            return Ok(row.int("id")?);
        };
        let id = row.int("id")?;
        let detail = Self::received_detail(j);
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

    /// [`Store::claim`] restricted to one kind of work ([`JobKind::Light`],
    /// [`JobKind::Heavy`]); `None` takes any.
    ///
    /// A running job whose lease expired is taken over: its daemon died, or
    /// its task ended without recording an outcome (the store was down).
    /// Leases of live work are renewed ([`Store::renew_leases`]). On
    /// PostgreSQL several daemons claim at once: rows another daemon is
    /// claiming are skipped (`FOR UPDATE SKIP LOCKED`).
    pub async fn claim_kind(
        &self,
        owner: &str,
        kind: Option<JobKind>,
        limit: usize,
        now_ms: i64,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // SQLite's planner, without statistics, preferred `jobs_queue` and a
        // sort of every pending row; name the index it must use.
        let backend = self.backend();
        let (lock, pending_index) = match backend {
            Backend::Sqlite => ("", " INDEXED BY jobs_pending"),
            Backend::Postgres => (" FOR UPDATE SKIP LOCKED", ""),
        };
        let kind_cond = if kind.is_some() { " AND kind = ?" } else { "" };
        // Two index-served statements instead of one with an OR: the OR made
        // each claim read the whole backlog (a bitmap scan over every pending
        // row, then a sort), so a claim cost O(queue). Expired leases first
        // (rare: `jobs_leases`, looked for at most every `LEASE_SWEEP_MS`),
        // then the oldest due pending jobs in id order (`jobs_pending`,
        // migration 0006 / postgres 0002).
        let swept = &self.lease_sweep[match kind {
            None => 0,
            Some(JobKind::Light) => 1,
            Some(JobKind::Heavy) => 2,
        }];
        let last = swept.load(std::sync::atomic::Ordering::Relaxed);
        let sweep = last == 0 || now_ms - last >= LEASE_SWEEP_MS || now_ms < last;
        if sweep {
            swept.store(now_ms, std::sync::atomic::Ordering::Relaxed);
        }
        let queues = [
            ("", "state = 'running' AND lease_until < ?"),
            (pending_index, "state = 'pending' AND next_attempt_at <= ?"),
        ];
        let mut tx = match backend {
            Backend::Sqlite => Some(self.write_tx().await?),
            // One statement per queue, each its own transaction: the claim
            // and its audit rows together (a data-modifying WITH).
            Backend::Postgres => None,
        };
        let mut jobs = Vec::new();
        for (index, due) in queues.into_iter().skip(usize::from(!sweep)) {
            let want = limit - jobs.len();
            if want == 0 {
                break;
            }
            let claim = format!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, unfinished_starts = unfinished_starts + 1, lease_owner = ?, lease_until = ?, updated_at = ?
                 WHERE id IN (SELECT id FROM jobs{index} WHERE {due}{kind_cond} ORDER BY id LIMIT ?{lock})
                 RETURNING {JOB_COLUMNS}, {CLAIM_INFO_COLUMNS}"
            );
            let mut a = args![
                owner,
                Arg::time(now_ms + lease.as_millis() as i64),
                Arg::time(now_ms),
                Arg::time(now_ms)
            ];
            if let Some(k) = kind {
                a.push(Arg::from(k.as_str()));
            }
            a.push(Arg::from(want as i64));
            let rows = match &mut tx {
                Some(tx) => tx.fetch_all(&claim, a).await?,
                None => {
                    let sql = format!(
                        "WITH c AS ({claim}),
                         a AS (INSERT INTO audit (at, account, job_id, event, detail)
                               SELECT ?, account, id, 'running',
                                      json_build_object('attempt', attempts, 'owner', CAST(? AS TEXT), 'unfinished_starts', unfinished_starts)::text
                               FROM c)
                         SELECT * FROM c"
                    );
                    a.push(Arg::time(now_ms));
                    a.push(Arg::from(owner));
                    self.db.fetch_all(&sql, a).await?
                }
            };
            for row in rows {
                let mut job = job_from_row(&row)?;
                job.claim_info = Some(ClaimInfo {
                    duplicate_of: row.opt_int("first_same")?,
                    decision_waiting: row.int("decision_waiting")? != 0,
                });
                jobs.push(job);
            }
        }
        jobs.sort_by_key(|j| j.id);
        if let Some(mut tx) = tx {
            for j in &jobs {
                let detail = serde_json::json!({"attempt": j.attempts, "unfinished_starts": j.unfinished_starts, "owner": owner});
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
        }
        Ok(jobs)
    }

    /// Extend the leases of the jobs `owner` is working on now (`ids`: its
    /// heartbeat), so that long work is not taken over while it goes on.
    pub async fn renew_leases(
        &self,
        owner: &str,
        ids: &[i64],
        now_ms: i64,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let mut a = args![Arg::time(now_ms + lease.as_millis() as i64), owner];
        a.extend(ids.iter().map(|&id| Arg::from(id)));
        Ok(self
            .db
            .execute(
                &format!("UPDATE jobs SET lease_until = ? WHERE state = 'running' AND lease_owner = ? AND id IN ({marks})"),
                a,
            )
            .await?)
    }

    /// At start-up: jobs left running by a crashed process go back to pending.
    /// On SQLite this daemon is the only one, so every running job is
    /// requeued; on PostgreSQL only those whose lease expired (the others
    /// belong to live daemons). Their `unfinished_starts` is kept: the next
    /// claim counts on from it, so a file that kills the daemon every time is
    /// dead-lettered after `retry.max_starts` starts instead of looping.
    pub async fn requeue_running(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let only_expired = self.backend() == Backend::Postgres;
        let cond = "state = 'running' AND (? = 0 OR lease_until < ?)";
        let flag = || args![i64::from(only_expired), Arg::time(now_ms)];
        let ids: Vec<(i64, String)> = tx
            .fetch_all(
                &format!("SELECT id, account FROM jobs WHERE {cond} ORDER BY id"),
                flag(),
            )
            .await?
            .iter()
            .map(|r| Ok((r.int("id")?, r.text("account")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let mut a = args![Arg::time(now_ms), Arg::time(now_ms)];
        a.extend(flag());
        tx.execute(
            &format!("UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, next_attempt_at = ?, updated_at = ? WHERE {cond}"),
            a,
        )
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
        let row = self
            .db
            .fetch_optional(
                "SELECT id FROM jobs WHERE sha256 = ? AND id < ? AND state != 'dead' ORDER BY id LIMIT 1",
                args![sha256, before_id],
            )
            .await?;
        Ok(row.map(|r| r.int("id")).transpose()?)
    }

    /// Claim one business-document key of a job (see
    /// [`Store::claim_document_keys`]; `key` is kept as the document key).
    /// Returns the live job that claimed it first, if any.
    pub async fn claim_document_key(
        &self,
        job_id: i64,
        key: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .claim_document_keys(job_id, Some(key), None)
            .await?
            .holder
            .map(|h| h.job_id))
    }

    /// Claim the business-document identity of a job: its CUFE/CUDE and its
    /// supplier key (supplier NIT + number), whichever it has. Returns the
    /// live job that claimed either first, if any: this job is then its
    /// duplicate and holds neither key; otherwise it holds both. Claims are
    /// serialised per key, on either store and across daemons, so two
    /// concurrent submissions of one invoice are never both originals, even
    /// when one carries only the CUFE and the other only the supplier key.
    pub async fn claim_document_keys(
        &self,
        job_id: i64,
        cufe: Option<&str>,
        supplier: Option<&str>,
    ) -> Result<KeyClaim, StoreError> {
        match self
            .lane
            .submit(lane::Write::ClaimKey {
                job_id,
                cufe: cufe.map(str::to_owned),
                supplier: supplier.map(str::to_owned),
            })
            .await?
        {
            lane::Written::Original(original) => Ok(original),
            other => Err(StoreError::batch(format!("unexpected {other:?}"))),
        }
    }

    /// The live job holding either key (as [`Store::claim_document_keys`]
    /// would find it), without claiming anything: a document read from a
    /// PDF, scan or sheet is tied to it, or waits for it.
    pub async fn document_key_holder(
        &self,
        job_id: i64,
        cufe: Option<&str>,
        supplier: Option<&str>,
    ) -> Result<Option<KeyHolder>, StoreError> {
        let row = self
            .db
            .fetch_optional(KEY_HOLDER_SQL, args![cufe, supplier, supplier, job_id])
            .await?;
        row.map(|r| {
            Ok(KeyHolder {
                job_id: r.int("id")?,
                same_cufe: cufe.is_some() && r.opt_text("document_key")?.as_deref() == cufe,
            })
        })
        .transpose()
    }

    /// Commit a job's outcome and its result.
    /// Concurrent calls are grouped into one transaction (group commit).
    pub async fn complete(&self, job: &Job, c: &Completion) -> Result<(), StoreError> {
        self.completer.submit((job.clone(), c.clone())).await
    }

    async fn complete_many(
        db: &Db,
        items: Vec<std::sync::Arc<(Job, Completion)>>,
    ) -> Result<Vec<()>, StoreError> {
        let mut tx = db.begin_write().await?;
        for item in &items {
            let (job, c) = &**item;
            Self::complete_tx(&mut tx, job, c).await?;
        }
        tx.commit().await?;
        Ok(vec![(); items.len()])
    }

    async fn complete_tx(tx: &mut Tx, job: &Job, c: &Completion) -> Result<(), StoreError> {
        let mut a = args![
            c.verdict.as_str(),
            &c.result_path,
            &c.archive_path,
            c.duplicate_of,
            Arg::time(c.now_ms),
            Arg::Text(c.review_reason.clone()),
            i64::from(c.review_reason.is_some()),
            Arg::time(c.now_ms),
            job.id
        ];
        match tx.backend() {
            // The job's state and its result in one statement (one round trip).
            Backend::Postgres => {
                a.extend(result_args(job.id, &c.result_json, &c.refs, c.now_ms));
                tx.execute(
                    &format!("WITH done AS ({COMPLETE_SQL}) {SAVE_RESULT_SQL}"),
                    a,
                )
                .await?;
            }
            Backend::Sqlite => {
                tx.execute(COMPLETE_SQL, a).await?;
                save_result_tx(tx, job.id, &c.result_json, &c.refs, c.now_ms).await?;
            }
        }
        let detail = serde_json::json!({"verdict": c.verdict.as_str(), "result": &c.result_path, "archive": &c.archive_path});
        audit_job_tx(tx, c.now_ms, job, "done", detail).await?;
        if c.review_reason.is_some()
            && tx
                .execute(
                    REQUEUE_WOKEN_SQL,
                    args![Arg::time(c.now_ms), job.id, Arg::time(job.updated_at)],
                )
                .await?
                == 1
        {
            let detail = serde_json::json!({"reason": &c.review_reason});
            audit_job_tx(tx, c.now_ms, job, "released", detail).await?;
        }
        if let Some(d) = c.decision_id {
            tx.execute(
                "UPDATE review_decisions SET applied_at = ?, outcome = ? WHERE id = ? AND applied_at IS NULL",
                args![Arg::time(c.now_ms), c.verdict.as_str(), d],
            )
            .await?;
            let detail = serde_json::json!({"decision_id": d, "after": {"verdict": c.verdict.as_str(), "review_reason": &c.review_reason}});
            audit_job_tx(tx, c.now_ms, job, "review.applied", detail).await?;
        }
        for w in c.writes.iter() {
            lane::write_tx(tx, w).await?;
        }
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
        tx.execute(
            "UPDATE jobs SET state = 'pending', next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL, unfinished_starts = 0, updated_at = ? WHERE id = ?",
            args![Arg::time(next_at_ms), error, Arg::time(now_ms), job.id],
        )
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
        tx.execute(
            "UPDATE jobs SET state = 'dead', last_error = ?, result_path = ?, lease_owner = NULL, lease_until = NULL, unfinished_starts = 0, updated_at = ?,
             review_reason = 'dead_letter', review_since = COALESCE(review_since, ?) WHERE id = ?",
            args![error, result_path, Arg::time(now_ms), Arg::time(now_ms), job.id],
        )
        .await?;
        save_result_tx(
            &mut tx,
            job.id,
            result_json,
            &crate::result::DocRefs::default(),
            now_ms,
        )
        .await?;
        let detail = serde_json::json!({"error": error, "attempts": job.attempts, "unfinished_starts": job.unfinished_starts});
        audit_job_tx(&mut tx, now_ms, job, "dead", detail).await?;
        // An operator's decision this run could not apply is closed, so the
        // dead letter can be decided on again.
        tx.execute(
            "UPDATE review_decisions SET applied_at = ?, outcome = 'dead' WHERE job_id = ? AND applied_at IS NULL",
            args![Arg::time(now_ms), job.id],
        )
        .await?;
        if let Some(m) = alert {
            outbox::enqueue_tx(&mut tx, m, now_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Put a dead or done job back in the queue. Returns the job as it was.
    pub async fn replay(&self, id: i64, now_ms: i64) -> Result<Job, StoreError> {
        let mut tx = self.write_tx().await?;
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? FOR UPDATE");
        let sql = match tx.backend() {
            Backend::Sqlite => sql.trim_end_matches(" FOR UPDATE"),
            Backend::Postgres => sql.as_str(),
        };
        let row = tx
            .fetch_optional(sql, args![id])
            .await?
            .ok_or(StoreError::NoSuchJob(id))?;
        let job = job_from_row(&row)?;
        if !matches!(job.state, JobState::Dead | JobState::Done) {
            return Err(StoreError::NotReplayable {
                id,
                state: job.state.as_str().into(),
            });
        }
        tx.execute(REQUEUE_SQL, args![Arg::time(now_ms), Arg::time(now_ms), id])
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
        let row = self.db.fetch_optional(&sql, args![id]).await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    /// The job that staged `spool_path`, if recorded.
    pub async fn job_by_spool_path(&self, spool_path: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE spool_path = ?");
        let row = self.db.fetch_optional(&sql, args![spool_path]).await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    /// The stored result JSON of a job.
    pub async fn result_json(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT result_json FROM results WHERE job_id = ?",
                args![id],
            )
            .await?;
        Ok(row.map(|r| r.text("result_json")).transpose()?)
    }

    /// Audit rows of a job, oldest first: (at, event, detail).
    pub async fn audit_of(&self, job_id: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT at, event, detail FROM audit WHERE job_id = ? ORDER BY id",
                args![job_id],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.time("at")?, r.text("event")?, r.text("detail")?)))
            .collect()
    }

    /// Audit rows of one event, oldest first: (account, detail).
    pub async fn audit_events(
        &self,
        event: &str,
    ) -> Result<Vec<(Option<String>, String)>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT account, detail FROM audit WHERE event = ? ORDER BY id",
                args![event],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.opt_text("account")?, r.text("detail")?)))
            .collect()
    }

    /// Earliest time a pending job becomes due, if any.
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT MIN(next_attempt_at) AS due FROM jobs WHERE state = 'pending'",
                args![],
            )
            .await?;
        Ok(row.opt_time("due")?)
    }

    /// Refresh the planner's statistics (see `optimize_db`). The daemon
    /// calls it with each archive retention pass (the first at start).
    pub async fn optimize(&self) {
        optimize_db(&self.db).await;
    }

    /// Jobs by state (an index-only count): `/metrics` and the desk.
    pub async fn jobs_by_state(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state ORDER BY state",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("state")?, r.int("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    pub async fn status(&self) -> Result<StatusReport, StoreError> {
        let pairs = |rows: Vec<DbRow>, k: &str| -> Result<Vec<(String, i64)>, sqlx::Error> {
            rows.iter().map(|r| Ok((r.text(k)?, r.int("n")?))).collect()
        };
        let by_state = self
            .db
            .fetch_all(
                "SELECT state, COUNT(*) AS n FROM jobs GROUP BY state ORDER BY state",
                args![],
            )
            .await?;
        let verdicts = self.db.fetch_all("SELECT verdict, COUNT(*) AS n FROM jobs WHERE verdict IS NOT NULL GROUP BY verdict ORDER BY verdict", args![]).await?;
        let jobs = |cond: &str| format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {cond}");
        let oldest = self
            .db
            .fetch_optional(
                &jobs("state IN ('pending','running') ORDER BY received_at, id LIMIT 1"),
                args![],
            )
            .await?;
        let dead = self
            .db
            .fetch_all(&jobs("state = 'dead' ORDER BY id"), args![])
            .await?;
        let errors = self
            .db
            .fetch_all(
                &jobs(
                    "last_error IS NOT NULL AND state != 'dead' ORDER BY updated_at DESC LIMIT 10",
                ),
                args![],
            )
            .await?;
        let (review, review_oldest_since) = self.review_counts().await?;
        Ok(StatusReport {
            jobs_by_state: pairs(by_state, "state")?,
            verdicts: pairs(verdicts, "verdict")?,
            oldest_pending: oldest.as_ref().map(job_from_row).transpose()?,
            dead: dead.iter().map(job_from_row).collect::<Result<_, _>>()?,
            recent_errors: errors.iter().map(job_from_row).collect::<Result<_, _>>()?,
            outbox: self.outbox_counts().await?,
            sftp_sessions: self.sftp_sessions().await?,
            sftp_bans: self.sftp_bans(now_ms()).await?,
            review,
            review_oldest_since,
        })
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

#[cfg(test)]
mod tests;
