//! The review queue (docs/REVIEW.md): jobs whose verdict is `review` (or that
//! are dead, held for an operator), operators' decisions, and documents
//! waiting for their electronic invoice.

use std::collections::BTreeMap;

use serde::Serialize;

use super::db::{Arg, Backend, args};
use super::{AuditRecord, JOB_COLUMNS, Job, JobState, Store, StoreError, audit_tx, job_from_row};
use crate::review::{Decision, Pending, Reason};

/// One item of the queue.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewItem {
    pub job_id: i64,
    pub account: String,
    pub file: String,
    pub reason: String,
    /// Unix milliseconds: when the job entered review.
    pub since: i64,
    /// `done` (a review verdict) or `dead` (a dead letter).
    pub state: String,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub account: Option<&'a str>,
    pub reason: Option<Reason>,
    /// Only items in review since before this instant (ms).
    pub since_before: Option<i64>,
    pub limit: Option<i64>,
}

/// A decision as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    pub id: i64,
    pub decision: String,
    pub operator: String,
    pub reason: Option<String>,
    pub corrections: serde_json::Value,
    pub decided_at: i64,
    pub applied_at: Option<i64>,
    pub outcome: Option<String>,
}

/// Why a decision could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no job with id {0}")]
    NoSuchJob(i64),
    #[error("job {id} is not waiting for review (state {state}, verdict {verdict})")]
    NotInReview {
        id: i64,
        state: String,
        verdict: String,
    },
    #[error("job {0} already has a decision waiting to be applied")]
    Pending(i64),
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DecideError {
    fn from(e: sqlx::Error) -> Self {
        DecideError::Store(StoreError::Db(e))
    }
}

impl Store {
    /// The queue, oldest first.
    pub async fn review_queue(&self, f: &Filter<'_>) -> Result<Vec<ReviewItem>, StoreError> {
        let mut sql = String::from(
            "SELECT id, account, rel_path, review_reason, review_since, state FROM jobs WHERE review_reason IS NOT NULL AND state IN ('done', 'dead')",
        );
        let mut a = Vec::new();
        if let Some(acc) = f.account {
            sql.push_str(" AND account = ?");
            a.push(Arg::from(acc));
        }
        if let Some(r) = f.reason {
            sql.push_str(" AND review_reason = ?");
            a.push(Arg::from(r.as_str()));
        }
        if let Some(t) = f.since_before {
            sql.push_str(" AND review_since < ?");
            a.push(Arg::time(t));
        }
        sql.push_str(" ORDER BY review_since, id");
        if let Some(n) = f.limit {
            sql.push_str(" LIMIT ?");
            a.push(Arg::from(n));
        }
        let rows = self.db.fetch_all(&sql, a).await?;
        rows.iter()
            .map(|r| {
                Ok(ReviewItem {
                    job_id: r.int("id")?,
                    account: r.text("account")?,
                    file: r.text("rel_path")?,
                    reason: r.text("review_reason")?,
                    since: r.time("review_since")?,
                    state: r.text("state")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// How many items entered review before `before_ms` (overdue ones).
    pub async fn review_overdue(&self, before_ms: i64) -> Result<i64, StoreError> {
        Ok(self
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM jobs WHERE review_reason IS NOT NULL AND state IN ('done', 'dead') AND review_since < ?",
                args![Arg::time(before_ms)],
            )
            .await?
            .int("n")?)
    }

    /// Items per reason, and the instant the oldest entered review.
    pub async fn review_counts(&self) -> Result<(Vec<(String, i64)>, Option<i64>), StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT review_reason, COUNT(*) AS n FROM jobs WHERE review_reason IS NOT NULL AND state IN ('done', 'dead') GROUP BY review_reason ORDER BY review_reason",
                vec![],
            )
            .await?;
        let counts = rows
            .iter()
            .map(|r| Ok((r.text("review_reason")?, r.int("n")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let oldest = self
            .db
            .fetch_one(
                "SELECT MIN(review_since) AS t FROM jobs WHERE review_reason IS NOT NULL AND state IN ('done', 'dead')",
                vec![],
            )
            .await?
            .opt_time("t")?;
        Ok((counts, oldest))
    }

    /// A job's decisions, oldest first.
    pub async fn decisions_of(&self, job_id: i64) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT id, decision, operator, reason, corrections, decided_at, applied_at, outcome FROM review_decisions WHERE job_id = ? ORDER BY id",
                args![job_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DecisionRecord {
                    id: r.int("id")?,
                    decision: r.text("decision")?,
                    operator: r.text("operator")?,
                    reason: r.opt_text("reason")?,
                    corrections: serde_json::from_str(&r.text("corrections")?)
                        .unwrap_or(serde_json::Value::Null),
                    decided_at: r.time("decided_at")?,
                    applied_at: r.opt_time("applied_at")?,
                    outcome: r.opt_text("outcome")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The decision the job's next run applies: the latest one not yet
    /// applied.
    pub async fn pending_decision(&self, job_id: i64) -> Result<Option<Pending>, StoreError> {
        let Some(r) = self
            .db
            .fetch_optional(
                "SELECT id, decision, operator, reason, corrections FROM review_decisions WHERE job_id = ? AND applied_at IS NULL ORDER BY id DESC LIMIT 1",
                args![job_id],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(pending_from_row(&r)?))
    }

    /// What a run of `job` needs to know before its steps, in one read: the
    /// operator's decision waiting for it ([`Store::pending_decision`]) and
    /// the first earlier live job with the same content
    /// ([`Store::first_with_sha`]).
    pub async fn run_inputs(
        &self,
        job: &crate::store::Job,
    ) -> Result<(Option<Pending>, Option<i64>), StoreError> {
        let r = self
            .db
            .fetch_one(
                "SELECT (SELECT id FROM jobs WHERE sha256 = ? AND id < ? AND state != 'dead' ORDER BY id LIMIT 1) AS duplicate_of,
                        d.id, d.decision, d.operator, d.reason, d.corrections
                 FROM (SELECT 1 AS one) x LEFT JOIN
                      (SELECT id, decision, operator, reason, corrections FROM review_decisions
                       WHERE job_id = ? AND applied_at IS NULL ORDER BY id DESC LIMIT 1) d ON 1 = 1",
                args![&job.sha256, job.id, job.id],
            )
            .await?;
        let pending = match r.opt_int("id")? {
            Some(_) => Some(pending_from_row(&r)?),
            None => None,
        };
        Ok((pending, r.opt_int("duplicate_of")?))
    }

    /// Record an operator's decision on a job in review and queue the job
    /// again to apply it, in one transaction with its audit row (who, when,
    /// the decision, the corrections, and the result decided on).
    pub async fn decide(
        &self,
        job_id: i64,
        decision: &Decision,
        now_ms: i64,
    ) -> Result<i64, DecideError> {
        decision.check().map_err(DecideError::Invalid)?;
        let mut tx = self.write_tx().await?;
        let sql = format!("SELECT {JOB_COLUMNS}, review_reason FROM jobs WHERE id = ? FOR UPDATE");
        let sql = match tx.backend() {
            Backend::Sqlite => sql.trim_end_matches(" FOR UPDATE"),
            Backend::Postgres => sql.as_str(),
        };
        let row = tx
            .fetch_optional(sql, args![job_id])
            .await?
            .ok_or(DecideError::NoSuchJob(job_id))?;
        let job: Job = job_from_row(&row)?;
        let in_review = row.opt_text("review_reason")?.is_some()
            && matches!(job.state, JobState::Done | JobState::Dead);
        if !in_review {
            return Err(DecideError::NotInReview {
                id: job_id,
                state: job.state.as_str().to_owned(),
                verdict: job
                    .verdict
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default(),
            });
        }
        if tx
            .fetch_optional(
                "SELECT id FROM review_decisions WHERE job_id = ? AND applied_at IS NULL",
                args![job_id],
            )
            .await?
            .is_some()
        {
            return Err(DecideError::Pending(job_id));
        }
        let before = tx
            .fetch_optional(
                "SELECT result_json FROM results WHERE job_id = ?",
                args![job_id],
            )
            .await?
            .map(|r| r.text("result_json"))
            .transpose()?
            .unwrap_or_default();
        let (reason, corrections) = match decision {
            Decision::Approve { corrections, .. } => (None, corrections.clone()),
            Decision::Reject { reason, .. } => (Some(reason.clone()), BTreeMap::new()),
        };
        let corrections_json =
            serde_json::to_string(&corrections).unwrap_or_else(|_| "{}".to_owned());
        let row = tx
            .fetch_one(
                "INSERT INTO review_decisions (job_id, decision, operator, reason, corrections, before_json, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                args![
                    job_id,
                    decision.word(),
                    decision.operator(),
                    Arg::Text(reason.clone()),
                    &corrections_json,
                    &before,
                    Arg::time(now_ms)
                ],
            )
            .await?;
        let id = row.int("id")?;
        tx.execute(
            super::REQUEUE_SQL,
            args![Arg::time(now_ms), Arg::time(now_ms), job_id],
        )
        .await?;
        let before_v: serde_json::Value = serde_json::from_str(&before).unwrap_or_default();
        let detail = serde_json::json!({
            "decision_id": id,
            "operator": decision.operator(),
            "reason": reason,
            "corrections": corrections,
            "before": {
                "state": job.state.as_str(),
                "verdict": before_v.get("verdict"),
                "findings": before_v.get("findings").and_then(|f| f.as_array()).map(|fs| fs.iter().filter_map(|f| f.get("code")).collect::<Vec<_>>()),
                "extraction_fields": before_v.pointer("/extraction/fields"),
            },
        });
        let event = format!("review.{}", decision.word());
        audit_tx(
            &mut tx,
            now_ms,
            &AuditRecord {
                account: Some(&job.account),
                job_id: Some(job_id),
                event: &event,
                detail,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queue a job held in review for `reason` again (released by what it
    /// waited for). False when it is no longer held for that reason (an
    /// operator's decision got there first, or it runs already).
    pub async fn release(
        &self,
        job_id: i64,
        reason: Reason,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = tx
            .execute(
                &format!(
                    "{} AND state = 'done' AND review_reason = ?",
                    super::REQUEUE_SQL
                ),
                args![
                    Arg::time(now_ms),
                    Arg::time(now_ms),
                    job_id,
                    reason.as_str()
                ],
            )
            .await?;
        if n == 1 {
            let job = tx
                .fetch_one("SELECT account FROM jobs WHERE id = ?", args![job_id])
                .await?;
            let account = job.text("account")?;
            audit_tx(
                &mut tx,
                now_ms,
                &AuditRecord {
                    account: Some(&account),
                    job_id: Some(job_id),
                    event: "released",
                    detail: serde_json::json!({"reason": reason.as_str()}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Documents read from a PDF, image or sheet: `job_id` waits for the
    /// electronic invoice of each key (replacing what it waited for before).
    pub async fn await_documents(
        &self,
        job_id: i64,
        keys: &[String],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        tx.execute(
            "DELETE FROM awaiting_documents WHERE job_id = ?",
            args![job_id],
        )
        .await?;
        for k in keys {
            tx.execute(
                "INSERT INTO awaiting_documents (key, job_id, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                args![k.to_lowercase(), job_id, Arg::time(now_ms)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Jobs still in review waiting (since `since_ms` or later) for a
    /// document with one of `keys`.
    pub async fn awaiting(&self, keys: &[&str], since_ms: i64) -> Result<Vec<i64>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Every key in one read.
        let marks = vec!["?"; keys.len()].join(", ");
        let mut a: Vec<Arg> = keys.iter().map(|k| Arg::from(k.to_lowercase())).collect();
        a.push(Arg::time(since_ms));
        let rows = self
            .db
            .fetch_all(
                &format!(
                    "SELECT DISTINCT a.job_id FROM awaiting_documents a JOIN jobs j ON j.id = a.job_id
                     WHERE a.key IN ({marks}) AND a.since >= ? AND j.review_reason = 'awaiting_xml' AND j.state = 'done'
                     ORDER BY a.job_id"
                ),
                a,
            )
            .await?;
        rows.iter()
            .map(|r| r.int("job_id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// Bumped whenever this process records aliases: a cache of
/// [`Store::submitter_aliases`] older than the epoch is stale.
pub static ALIASES_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One of a submitter's names for a catalog product (a homologation sheet's row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitterAlias {
    /// Counterparty NIT, empty for every counterparty.
    pub nit: String,
    pub product: String,
    pub code: String,
}

impl Store {
    /// Record a homologation sheet's entries for `account` (the latest sheet
    /// wins per counterparty and name).
    pub async fn record_aliases(
        &self,
        account: &str,
        job_id: i64,
        entries: &[SubmitterAlias],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for e in entries {
            tx.execute(
                "INSERT INTO submitter_aliases (account, nit, product, code, job_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (account, nit, product) DO UPDATE SET code = excluded.code, job_id = excluded.job_id, recorded_at = excluded.recorded_at",
                args![account, &e.nit, &e.product, &e.code, job_id, Arg::time(now_ms)],
            )
            .await?;
        }
        tx.commit().await?;
        ALIASES_EPOCH.fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// A submitter's names for catalog products.
    pub async fn submitter_aliases(
        &self,
        account: &str,
    ) -> Result<Vec<SubmitterAlias>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT nit, product, code FROM submitter_aliases WHERE account = ? ORDER BY nit, product",
                args![account],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SubmitterAlias {
                    nit: r.text("nit")?,
                    product: r.text("product")?,
                    code: r.text("code")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A `review_decisions` row (id, decision, operator, reason, corrections).
fn pending_from_row(r: &super::DbRow) -> Result<Pending, StoreError> {
    let operator = r.text("operator")?;
    let decision = match r.text("decision")?.as_str() {
        "reject" => Decision::Reject {
            operator,
            reason: r.opt_text("reason")?.unwrap_or_default(),
        },
        _ => Decision::Approve {
            operator,
            corrections: serde_json::from_str::<BTreeMap<String, String>>(&r.text("corrections")?)
                .unwrap_or_default(),
        },
    };
    Ok(Pending {
        id: r.int("id")?,
        decision,
    })
}
