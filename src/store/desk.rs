//! What the desk (docs/DESK.md) reads and writes: its sessions, the job
//! search, the dashboard's figures and the audit trail's pages.

use serde::Serialize;

use super::db::{Arg, Backend, args};
use super::{AuditRecord, Store, StoreError, audit_tx};

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct DeskSession {
    pub user: String,
    pub role: String,
    pub account: Option<String>,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

/// A job as the desk lists it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub account: String,
    pub file: String,
    pub state: String,
    pub verdict: Option<String>,
    pub received_at: i64,
    pub updated_at: i64,
    pub review_reason: Option<String>,
    pub cufe: Option<String>,
    pub supplier_nit: Option<String>,
    pub number: Option<String>,
}

/// What to find. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub account: Option<String>,
    pub cufe: Option<String>,
    pub supplier_nit: Option<String>,
    pub number: Option<String>,
    /// Received at or after (ms).
    pub from_ms: Option<i64>,
    /// Received before (ms).
    pub to_ms: Option<i64>,
    /// A verdict word, or `dead` / `pending` / `running` for those states.
    pub verdict: Option<String>,
    /// Only jobs with an id below this (the next page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// The dashboard's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dashboard {
    /// Jobs finished since the start of the day, by verdict.
    pub verdicts_today: Vec<(String, i64)>,
    /// Jobs finished per hour, oldest hour first (`hours` buckets ending now).
    pub per_hour: Vec<i64>,
    /// Dead letters now.
    pub dead: i64,
    /// Jobs waiting or running now.
    pub queued: i64,
}

/// One audit row.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub account: Option<String>,
    pub job_id: Option<i64>,
    pub event: String,
    pub detail: String,
}

const JOB_ROW_SQL: &str = "SELECT j.id, j.account, j.rel_path, j.state, j.verdict, j.received_at, j.updated_at, j.review_reason,
    r.cufe, r.supplier_nit, r.number FROM jobs j LEFT JOIN results r ON r.job_id = j.id";

fn job_row(r: &super::db::DbRow) -> Result<JobRow, sqlx::Error> {
    Ok(JobRow {
        id: r.int("id")?,
        account: r.text("account")?,
        file: r.text("rel_path")?,
        state: r.text("state")?,
        verdict: r.opt_text("verdict")?,
        received_at: r.time("received_at")?,
        updated_at: r.time("updated_at")?,
        review_reason: r.opt_text("review_reason")?,
        cufe: r.opt_text("cufe")?,
        supplier_nit: r.opt_text("supplier_nit")?,
        number: r.opt_text("number")?,
    })
}

impl Store {
    /// Record a new session (its token's hash) and forget sessions idle
    /// since before `stale_before_ms`.
    #[allow(clippy::too_many_arguments)]
    pub async fn desk_session_open(
        &self,
        token_hash: &str,
        user: &str,
        role: &str,
        account: Option<&str>,
        csrf: &str,
        ip: &str,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        tx.execute(
            "DELETE FROM desk_sessions WHERE last_seen < ?",
            args![Arg::time(stale_before_ms)],
        )
        .await?;
        tx.execute(
            "INSERT INTO desk_sessions (token_hash, user_name, role, account, csrf, created_at, last_seen, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            args![
                token_hash,
                user,
                role,
                Arg::Text(account.map(str::to_owned)),
                csrf,
                Arg::time(now_ms),
                Arg::time(now_ms),
                ip
            ],
        )
        .await?;
        audit_tx(
            &mut tx,
            now_ms,
            &AuditRecord {
                account,
                job_id: None,
                event: "desk.login",
                detail: serde_json::json!({"user": user, "role": role, "ip": ip}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session of a token hash, if it is still alive at `now_ms` (idle
    /// for less than `idle_ms`, opened less than `absolute_ms` ago). A dead
    /// session is deleted; a live one has its last use moved forward (at
    /// most once a minute, so browsing costs no writes).
    pub async fn desk_session(
        &self,
        token_hash: &str,
        now_ms: i64,
        idle_ms: i64,
        absolute_ms: i64,
    ) -> Result<Option<DeskSession>, StoreError> {
        let Some(r) = self
            .db
            .fetch_optional(
                "SELECT user_name, role, account, csrf, created_at, last_seen FROM desk_sessions WHERE token_hash = ?",
                args![token_hash],
            )
            .await?
        else {
            return Ok(None);
        };
        let s = DeskSession {
            user: r.text("user_name")?,
            role: r.text("role")?,
            account: r.opt_text("account")?,
            csrf: r.text("csrf")?,
            created_at: r.time("created_at")?,
            last_seen: r.time("last_seen")?,
        };
        if now_ms - s.last_seen >= idle_ms || now_ms - s.created_at >= absolute_ms {
            self.desk_session_close(token_hash, &s, now_ms, "expired")
                .await?;
            return Ok(None);
        }
        if now_ms - s.last_seen >= 60_000 {
            self.db
                .execute(
                    "UPDATE desk_sessions SET last_seen = ? WHERE token_hash = ?",
                    args![Arg::time(now_ms), token_hash],
                )
                .await?;
        }
        Ok(Some(s))
    }

    /// End a session (sign-out or expiry), with its audit row.
    pub async fn desk_session_close(
        &self,
        token_hash: &str,
        s: &DeskSession,
        now_ms: i64,
        why: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let n = tx
            .execute(
                "DELETE FROM desk_sessions WHERE token_hash = ?",
                args![token_hash],
            )
            .await?;
        if n > 0 {
            audit_tx(
                &mut tx,
                now_ms,
                &AuditRecord {
                    account: s.account.as_deref(),
                    job_id: None,
                    event: "desk.logout",
                    detail: serde_json::json!({"user": s.user, "why": why}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Jobs matching `q`, newest first.
    pub async fn job_search(&self, q: &Search) -> Result<Vec<JobRow>, StoreError> {
        let mut sql = format!("{JOB_ROW_SQL} WHERE 1 = 1");
        let mut a = Vec::new();
        let mut eq = |sql: &mut String, col: &str, v: &Option<String>| {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                sql.push_str(&format!(" AND {col} = ?"));
                a.push(Arg::from(v));
            }
        };
        eq(&mut sql, "j.account", &q.account);
        // The document's identity is looked up in `results` first (its own
        // indexes), so neither backend walks the jobs to find a few.
        let mut docs = String::new();
        eq(&mut docs, "cufe", &q.cufe);
        eq(&mut docs, "supplier_nit", &q.supplier_nit);
        eq(&mut docs, "number", &q.number);
        if !docs.is_empty() {
            sql.push_str(&format!(
                " AND j.id IN (SELECT job_id FROM results WHERE 1 = 1{docs})"
            ));
        }
        match q.verdict.as_deref() {
            Some(s @ ("dead" | "pending" | "running")) => {
                sql.push_str(" AND j.state = ?");
                a.push(Arg::from(s));
            }
            Some(v) if !v.is_empty() => {
                sql.push_str(" AND j.state = 'done' AND j.verdict = ?");
                a.push(Arg::from(v));
            }
            _ => {}
        }
        if let Some(t) = q.from_ms {
            sql.push_str(" AND j.received_at >= ?");
            a.push(Arg::time(t));
        }
        if let Some(t) = q.to_ms {
            sql.push_str(" AND j.received_at < ?");
            a.push(Arg::time(t));
        }
        if let Some(id) = q.before_id {
            sql.push_str(" AND j.id < ?");
            a.push(Arg::from(id));
        }
        sql.push_str(" ORDER BY j.id DESC LIMIT ?");
        a.push(Arg::from(q.limit.clamp(1, 500)));
        let rows = self.db.fetch_all(&sql, a).await?;
        rows.iter()
            .map(job_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// One job as the desk lists it.
    pub async fn job_row(&self, id: i64) -> Result<Option<JobRow>, StoreError> {
        let sql = format!("{JOB_ROW_SQL} WHERE j.id = ?");
        let r = self.db.fetch_optional(&sql, args![id]).await?;
        r.as_ref()
            .map(job_row)
            .transpose()
            .map_err(StoreError::from)
    }

    /// The dashboard's figures: verdicts since `day_start_ms`, jobs finished
    /// in each of the `hours` hours before `now_ms`, dead letters and queue.
    pub async fn dashboard(
        &self,
        now_ms: i64,
        day_start_ms: i64,
        hours: usize,
    ) -> Result<Dashboard, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT verdict, COUNT(*) AS n FROM jobs WHERE updated_at >= ? AND state = 'done' AND verdict IS NOT NULL GROUP BY verdict ORDER BY verdict",
                args![Arg::time(day_start_ms)],
            )
            .await?;
        let verdicts_today = rows
            .iter()
            .map(|r| Ok((r.text("verdict")?, r.int("n")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let since = now_ms - hours as i64 * 3_600_000;
        // Bucket by hour in SQL: the rows never leave the database.
        let bucket = match self.db.backend() {
            Backend::Sqlite => "(updated_at - ?) / 3600000",
            Backend::Postgres => {
                "CAST(FLOOR(EXTRACT(EPOCH FROM (updated_at - to_timestamp(CAST(? AS BIGINT) / 1000.0))) / 3600) AS BIGINT)"
            }
        };
        let sql = format!(
            "SELECT {bucket} AS h, COUNT(*) AS n FROM jobs WHERE updated_at >= ? AND state = 'done' GROUP BY 1"
        );
        let rows = self
            .db
            .fetch_all(&sql, args![since, Arg::time(since)])
            .await?;
        let mut per_hour = vec![0; hours];
        for r in &rows {
            let (h, n) = (r.int("h")?, r.int("n")?);
            if let Some(slot) = usize::try_from(h).ok().and_then(|h| per_hour.get_mut(h)) {
                *slot += n;
            }
        }
        let r = self
            .db
            .fetch_one(
                "SELECT COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) AS dead,
                        COALESCE(SUM(CASE WHEN state IN ('pending', 'running') THEN 1 ELSE 0 END), 0) AS queued
                 FROM jobs WHERE state IN ('dead', 'pending', 'running')",
                args![],
            )
            .await?;
        Ok(Dashboard {
            verdicts_today,
            per_hour,
            dead: r.int("dead")?,
            queued: r.int("queued")?,
        })
    }

    /// Audit rows, newest first: of one account when given, below `before_id`.
    pub async fn audit_page(
        &self,
        account: Option<&str>,
        event_prefix: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql =
            String::from("SELECT id, at, account, job_id, event, detail FROM audit WHERE 1 = 1");
        let mut a = Vec::new();
        if let Some(acc) = account {
            sql.push_str(" AND account = ?");
            a.push(Arg::from(acc));
        }
        if let Some(p) = event_prefix.filter(|p| !p.is_empty()) {
            // A range on the event, not LIKE: no escaping, index-friendly.
            sql.push_str(" AND event >= ? AND event < ?");
            a.push(Arg::from(p));
            a.push(Arg::from(format!("{p}\u{10ffff}")));
        }
        if let Some(id) = before_id {
            sql.push_str(" AND id < ?");
            a.push(Arg::from(id));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        a.push(Arg::from(limit.clamp(1, 500)));
        let rows = self.db.fetch_all(&sql, a).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.int("id")?,
                    at: r.time("at")?,
                    account: r.opt_text("account")?,
                    job_id: r.opt_int("job_id")?,
                    event: r.text("event")?,
                    detail: r.text("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Published reports, newest first.
    pub async fn reports_published(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, String, i64, i64)>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT kind, period, sha256, rows, published_at FROM reports ORDER BY published_at DESC LIMIT ?",
                args![limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.text("kind")?,
                    r.text("period")?,
                    r.text("sha256")?,
                    r.int("rows")?,
                    r.time("published_at")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
