//! The runner: takes due jobs from the store's queue and processes them with
//! bounded concurrency, one isolated task per file.
//!
//! Per job: read the staged input → run the route's steps → write the result
//! atomically into `outgoing/` → commit the outcome → move the input to
//! `archive/`. A crash anywhere in that sequence is safe: the job is requeued
//! at start-up and the same result file is rewritten under the same name.
//!
//! A file that kills whatever works on it (the daemon aborting on an
//! allocation failure, an OOM kill, kill -9, a worker crash) must not loop:
//! each claim counts a start durably (`unfinished_starts`, reset whenever an
//! attempt ends in a recorded way), and a job claimed again after
//! `retry.max_starts` unfinished starts is dead-lettered (PAS91) before any
//! of its bytes are decoded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{Generation, StepContext, StepError, Submission};
use crate::clock::Clock;
use crate::fsutil;
use crate::result::{FileIdentity, Finding, Verdict};
use crate::spool;
use crate::store::{Completion, Job, Store};

pub struct Runner {
    pub store: Store,
    pub generation: watch::Receiver<Arc<Generation>>,
    pub clock: Clock,
    /// Identifies this daemon in leases and audit rows.
    pub owner: String,
    /// Poked by intake when new work was recorded.
    pub wake: Arc<Notify>,
    /// Inputs and outputs kept elsewhere too (the S3 path); `None` otherwise.
    pub remote: Option<Arc<dyn super::remote::Remote>>,
}

/// Jobs this daemon is working on now (their leases are renewed).
type InFlight = Arc<std::sync::Mutex<std::collections::HashSet<i64>>>;

/// Keep the leases of the jobs in flight alive (`daemon.lease_secs`, renewed
/// every third of it) until `stop`. A daemon that dies stops renewing, and a
/// job whose task ended without an outcome (the store was unreachable) is no
/// longer renewed: either is taken over once its lease expires.
async fn heartbeat(
    store: Store,
    owner: String,
    generation: watch::Receiver<Arc<Generation>>,
    clock: Clock,
    inflight: InFlight,
    stop: CancellationToken,
) {
    loop {
        let lease = generation.borrow().config.daemon.lease;
        tokio::select! {
            _ = tokio::time::sleep(lease / 3) => {}
            _ = stop.cancelled() => return,
        }
        let ids: Vec<i64> = inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if let Err(e) = store
            .renew_leases(&owner, &ids, clock.now_millis(), lease)
            .await
        {
            warn!(error = %e, "renewing job leases failed; will retry");
        }
    }
}

impl Runner {
    /// Process jobs until `shutdown` is cancelled, then drain in-flight work
    /// for up to the configured drain timeout.
    pub async fn run(self, shutdown: CancellationToken) {
        use crate::store::JobKind::{Heavy, Light};
        // Two pools: `workers` for light work (XML, spreadsheets) and
        // `heavy_workers` for PDFs and images, each claimed against its own
        // limit, so a queue of slow scans never takes the slots of invoices.
        let mut inflight: JoinSet<()> = JoinSet::new();
        let mut kinds: std::collections::HashMap<tokio::task::Id, crate::store::JobKind> =
            std::collections::HashMap::new();
        let (mut light, mut heavy) = (0usize, 0usize);
        let mut draining = false;
        // The poll tick fired: fill every free slot, whatever the claim batch
        // (long jobs must not hold a waiting file back for more than a tick).
        let mut polled = false;
        // Whether the queue may hold due work of each kind: a claim that got
        // fewer jobs than it asked for found the queue empty, and the next
        // claim waits for a wake-up (intake recorded a file) or the poll tick
        // (other daemons' files, retries coming due) instead of asking again
        // after every finished job (issue 21: empty claims were a third of
        // the claims).
        let mut maybe_due = [true, true];
        // The poll tick is a deadline of its own: finished jobs do not push
        // it back (a busy runner still looks for other daemons' files and
        // retries that came due every `poll_interval`).
        let mut next_poll = tokio::time::Instant::now();
        let mut drain_deadline = None;
        let beat = CancellationToken::new();
        let _stop_beat = beat.clone().drop_guard();
        let in_flight: InFlight = Arc::default();
        let mut job_of: std::collections::HashMap<tokio::task::Id, i64> =
            std::collections::HashMap::new();
        // Owned here: stopped and awaited when the runner returns.
        let mut heartbeat_task = JoinSet::new();
        heartbeat_task.spawn(heartbeat(
            self.store.clone(),
            self.owner.clone(),
            self.generation.clone(),
            self.clock,
            in_flight.clone(),
            beat,
        ));
        loop {
            let generation = self.generation.borrow().clone();
            let workers = generation.config.daemon.workers;
            let heavy_workers = generation.config.daemon.heavy_workers;
            if !draining {
                for (k, (kind, limit, busy)) in
                    [(Light, workers, light), (Heavy, heavy_workers, heavy)]
                        .into_iter()
                        .enumerate()
                {
                    let free = limit.saturating_sub(busy);
                    if !maybe_due[k] {
                        continue;
                    }
                    // A claim is a write transaction (on SQLite an fsync'd
                    // commit): with many slots, wait until a quarter of them
                    // are free and claim those together, rather than one
                    // claim per finished job (issue 21). Idle slots are
                    // always filled at once, and every poll tick fills
                    // whatever is free.
                    if free == 0 || (busy > 0 && free < claim_batch(limit) && !polled) {
                        continue;
                    }
                    match self
                        .store
                        .claim_kind(
                            &self.owner,
                            Some(kind),
                            free,
                            self.clock.now_millis(),
                            generation.config.daemon.lease,
                        )
                        .await
                    {
                        Ok(jobs) => {
                            maybe_due[k] = jobs.len() >= free;
                            for job in jobs {
                                let ctx = JobCtx {
                                    store: self.store.clone(),
                                    generation: self.generation.borrow().clone(),
                                    clock: self.clock,
                                    remote: self.remote.clone(),
                                };
                                let job_id = job.id;
                                in_flight
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(job_id);
                                let h = inflight.spawn(async move { ctx.process(job).await });
                                kinds.insert(h.id(), kind);
                                job_of.insert(h.id(), job_id);
                                if kind == Heavy {
                                    heavy += 1;
                                } else {
                                    light += 1;
                                }
                            }
                        }
                        Err(e) => error!(error = %e, "claiming jobs failed; will retry"),
                    }
                }
                polled = false;
            }
            if draining && inflight.is_empty() {
                break;
            }
            let poll = generation.config.daemon.poll_interval;
            let full = light >= workers && heavy >= heavy_workers;
            tokio::select! {
                _ = self.wake.notified(), if !draining && !full => {
                    maybe_due = [true, true];
                }
                Some(res) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                    let id = match &res {
                        Ok((id, ())) => *id,
                        Err(e) => e.id(),
                    };
                    if let Some(job_id) = job_of.remove(&id) {
                        in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&job_id);
                    }
                    match kinds.remove(&id) {
                        Some(Heavy) => heavy = heavy.saturating_sub(1),
                        _ => light = light.saturating_sub(1),
                    }
                    if let Err(e) = res {
                        // process() catches step panics; reaching here means a bug in the runner itself.
                        error!(error = %e, "job task failed");
                    }
                }
                _ = tokio::time::sleep_until(next_poll), if !draining && !full => {
                    polled = true;
                    maybe_due = [true, true];
                    next_poll = tokio::time::Instant::now() + poll;
                }
                _ = shutdown.cancelled(), if !draining => {
                    draining = true;
                    drain_deadline = Some(tokio::time::Instant::now() + generation.config.daemon.drain_timeout);
                    info!(in_flight = inflight.len(), "draining: no new jobs are taken");
                }
                _ = async { tokio::time::sleep_until(drain_deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if draining => {
                    warn!(abandoned = inflight.len(), "drain timeout: unfinished jobs are requeued at next start");
                    inflight.abort_all();
                    break;
                }
            }
        }
        drop(_stop_beat);
        while heartbeat_task.join_next().await.is_some() {}
    }
}

/// How many free slots a claim waits for while other jobs run: a quarter of
/// the pool (1 up to 7 workers, 2 for 8, ...).
fn claim_batch(limit: usize) -> usize {
    (limit / 4).max(1)
}

struct JobCtx {
    store: Store,
    generation: Arc<Generation>,
    clock: Clock,
    remote: Option<Arc<dyn super::remote::Remote>>,
}

impl JobCtx {
    async fn process(&self, job: Job) {
        let max_starts = self.generation.config.retry.max_starts;
        if job.unfinished_starts > max_starts {
            // This claim is one more start; the previous ones never ended.
            let died = job.unfinished_starts - 1;
            crate::admin::metrics::inc("pasarela_job_failures_total", &[("kind", "poison")]);
            let msg = format!(
                "PAS91: started {died} times without finishing (the process working on it died each time); not run again"
            );
            error!(job = job.id, account = %job.account, file = %job.rel_path, starts = died, "poison job dead-lettered");
            let finding = Finding::notify(
                "PAS91",
                format!(
                    "El procesamiento de este archivo se interrumpió {died} veces sin terminar. No se intentará de nuevo: queda en revisión por un operador; no es necesario reenviarlo."
                ),
            );
            if let Err(e) = self.dead_letter(&job, &msg, finding).await {
                error!(job = job.id, error = %e, "could not dead-letter job; it is requeued at next start");
            }
            return;
        }
        let started = std::time::Instant::now();
        let outcome = self.try_process(&job).await;
        let now = self.clock.now_millis();
        let retry = &self.generation.config.retry;
        match outcome {
            Ok((verdict, format)) => {
                crate::admin::metrics::inc(
                    "pasarela_files_finished_total",
                    &[("verdict", verdict), ("format", format)],
                );
                info!(job = job.id, account = %job.account, file = %job.rel_path, verdict, elapsed_ms = started.elapsed().as_millis() as u64, "job done")
            }
            Err(StepError::Transient(msg)) if job.attempts < retry.max_attempts => {
                crate::admin::metrics::inc("pasarela_job_failures_total", &[("kind", "transient")]);
                let backoff = retry.backoff(job.attempts);
                warn!(job = job.id, attempt = job.attempts, error = %msg, backoff_ms = backoff.as_millis() as u64, "transient failure; will retry");
                if let Err(e) = self
                    .store
                    .retry_later(&job, &msg, now + backoff.as_millis() as i64, now)
                    .await
                {
                    error!(job = job.id, error = %e, "could not schedule retry; job is requeued at next start");
                }
            }
            Err(StepError::Conflict(msg))
                if job.attempts < retry.max_attempts + super::MAX_CONFLICTS =>
            {
                crate::admin::metrics::inc("pasarela_job_failures_total", &[("kind", "conflict")]);
                // A short, jittered pause: the writer that won is done, and
                // jobs that lost together should not collide again.
                let backoff =
                    10 + (job.id.unsigned_abs() * 37 + u64::from(job.attempts) * 53) % 150;
                info!(job = job.id, attempt = job.attempts, error = %msg, backoff_ms = backoff, "conflict; will run again");
                if let Err(e) = self
                    .store
                    .retry_later(&job, &msg, now + backoff as i64, now)
                    .await
                {
                    error!(job = job.id, error = %e, "could not schedule retry; job is requeued at next start");
                }
            }
            Err(e) => {
                crate::admin::metrics::inc("pasarela_job_failures_total", &[("kind", "permanent")]);
                let msg = e.to_string();
                error!(job = job.id, account = %job.account, file = %job.rel_path, error = %msg, "job dead-lettered");
                let finding = Finding::notify(
                    "PAS90",
                    "No fue posible procesar el archivo por un error interno. Queda en revisión por un operador; no es necesario reenviarlo.",
                );
                if let Err(e) = self.dead_letter(&job, &msg, finding).await {
                    error!(job = job.id, error = %e, "could not dead-letter job; it is requeued at next start");
                }
            }
        }
    }

    fn account(&self, job: &Job) -> Result<&crate::config::Account, StepError> {
        self.generation
            .config
            .accounts
            .get(&job.account)
            .ok_or_else(|| {
                StepError::Permanent(format!("account '{}' is no longer configured", job.account))
            })
    }

    /// Where the input bytes are now: the spool, or the archive for a replayed done job.
    fn input_path(job: &Job) -> Option<PathBuf> {
        if job.spool_path.exists() {
            return Some(job.spool_path.clone());
        }
        job.archive_path.clone().filter(|p| p.exists())
    }

    async fn try_process(&self, job: &Job) -> Result<(&'static str, &'static str), StepError> {
        let account = self.account(job)?;
        let store_err = |e: crate::store::StoreError| StepError::Transient(e.to_string());
        // An operator's decision waiting for this run (docs/REVIEW.md), and
        // the first earlier job with the same bytes (read by the claim).
        let (decision, duplicate_of) = match job.claim_info {
            // The claim read both, save a waiting decision's contents.
            Some(info) => {
                let decision = match info.decision_waiting {
                    true => self
                        .store
                        .pending_decision(job.id)
                        .await
                        .map_err(store_err)?,
                    false => None,
                };
                (decision, info.duplicate_of)
            }
            None => self.store.run_inputs(job).await.map_err(store_err)?,
        };
        // Rejecting needs no input: a dead letter whose input is gone can
        // still be refused.
        let rejecting = matches!(
            &decision,
            Some(crate::review::Pending {
                decision: crate::review::Decision::Reject { .. },
                ..
            })
        );
        // The S3 path: a job staged by another daemon is fetched here.
        let mut fetched = None;
        if Self::input_path(job).is_none()
            && let Some(remote) = &self.remote
        {
            fetched = remote.fetch_input(job).await?;
        }
        let input = match Self::input_path(job).or_else(|| fetched.clone()) {
            Some(p) => Some(p),
            None if rejecting => None,
            None => {
                return Err(StepError::Permanent(format!(
                    "input {} is missing",
                    job.spool_path.display()
                )));
            }
        };
        let max = self.generation.config.daemon.max_file_bytes;
        let (result, mut writes) = if job.size > max && !rejecting {
            // Never read into memory: rejected on its size alone.
            (too_large(job, max, self.clock.now()), Default::default())
        } else {
            let bytes = match &input {
                Some(input) => tokio::fs::read(input).await.map_err(|e| {
                    StepError::Transient(format!("reading {}: {e}", input.display()))
                })?,
                None => Vec::new(),
            };
            let bytes = Arc::new(bytes);
            let ctx = StepContext {
                now: self.clock.now(),
                services: self.generation.services.clone(),
            };
            let sub = Submission {
                account: Some(&job.account),
                rel_path: &job.rel_path,
                job_id: Some(job.id),
                // An operator decided on this very file: the decision stands
                // even if identical bytes were sent before.
                duplicate_of: duplicate_of.filter(|_| decision.is_none()),
                duplicate_note: duplicate_of
                    .filter(|_| decision.is_none())
                    .map(|id| format!("al envío {id}")),
                decision: decision.clone(),
            };
            // Intake hashed and sniffed the file: not again.
            let id = FileIdentity {
                sha256: job.sha256.clone(),
                size: bytes.len() as u64,
                format: job
                    .format
                    .unwrap_or_else(|| crate::formats::detect::detect(&bytes)),
            };
            self.generation
                .pipeline
                .process_identified(bytes, &sub, id, &ctx)
                .await?
        };
        let json = serde_json::to_string_pretty(&result)
            .map_err(|e| StepError::Permanent(e.to_string()))?;
        let result_path = result_path(&account.outgoing(), &job.rel_path);
        let archive_path = match &job.archive_path {
            Some(p) if !job.spool_path.exists() => p.clone(),
            _ => spool::archive_path(
                &account.archive(),
                self.clock.now().date_naive(),
                job.id,
                &job.rel_path,
            ),
        };
        let write = {
            let (rp, json) = (result_path.clone(), json.clone());
            tokio::task::spawn_blocking(move || fsutil::write_atomic(&rp, json.as_bytes()))
        };
        write
            .await
            .map_err(|e| StepError::Transient(e.to_string()))?
            .map_err(|e| StepError::Transient(format!("writing {}: {e}", result_path.display())))?;
        if let Some(remote) = &self.remote {
            remote
                .put_output(job, &result_name(&job.rel_path), json.as_bytes())
                .await?;
        }
        if rejecting {
            // The sender's rejection notice (idempotent per job and
            // verdict), queued with the outcome.
            if let Some(m) = crate::certificate::processing_notification(
                &self.generation.config,
                account,
                job.id,
                &result,
            )
            .map_err(|e| StepError::Transient(e.to_string()))?
            {
                writes.message(m, self.clock.now_millis());
            }
        }
        let completion = Completion {
            verdict: result.verdict,
            result_json: json,
            result_path: result_path.to_string_lossy().into_owned(),
            archive_path: archive_path.to_string_lossy().into_owned(),
            duplicate_of: result.duplicate_of,
            now_ms: self.clock.now_millis(),
            review_reason: (result.verdict == crate::result::Verdict::Review).then(|| {
                crate::review::reason_of(&result.findings)
                    .as_str()
                    .to_owned()
            }),
            decision_id: decision.as_ref().map(|d| d.id),
            refs: result.refs(),
            writes,
        };
        self.store
            .complete(job, &completion)
            .await
            .map_err(store_err)?;
        // The outcome is committed: only now may the input leave the spool.
        if job.spool_path.exists() {
            let (src, dst, spool_root) = (
                job.spool_path.clone(),
                archive_path.clone(),
                spool::entry_of(&job.spool_path, &job.rel_path),
            );
            let moved = tokio::task::spawn_blocking(move || {
                spool::archive_input(&src, &dst, spool_root.as_deref())
            })
            .await;
            if let Ok(Err(e)) | Err(e) = moved.map_err(std::io::Error::other) {
                // Not lost: the spool copy stays and start-up recovery moves it.
                warn!(job = job.id, error = %e, "archiving input failed; recovery will retry");
            }
        }
        if let Some(remote) = &self.remote {
            let name = archive_path
                .strip_prefix(account.archive())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| job.rel_path.clone());
            remote.archive_input(job, &name, fetched).await;
        }
        Ok((result.verdict.as_str(), result.format.as_str()))
    }

    async fn dead_letter(
        &self,
        job: &Job,
        error: &str,
        finding: Finding,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let account = self.account(job).map_err(|e| e.to_string())?;
        let bytes = Self::input_path(job)
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        let now = self.clock.now();
        let format = job
            .format
            .unwrap_or_else(|| crate::formats::detect::detect(&bytes));
        let result = job_result(job, format, now).decided(Verdict::Review, finding);
        let json = serde_json::to_string_pretty(&result)?;
        let path = result_path(&account.outgoing(), &job.rel_path);
        let (p, j) = (path.clone(), json.clone());
        // Best effort: the dead letter is recorded even when the notice cannot
        // be written (the failure may be the outgoing folder itself).
        match tokio::task::spawn_blocking(move || fsutil::write_atomic(&p, j.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(job = job.id, error = %e, "could not write the dead-letter notice"),
            Err(e) => warn!(job = job.id, error = %e, "could not write the dead-letter notice"),
        }
        if let Some(remote) = &self.remote
            && let Err(e) = remote
                .put_output(job, &result_name(&job.rel_path), json.as_bytes())
                .await
        {
            warn!(job = job.id, error = %e, "could not write the dead-letter notice to S3");
        }
        // The administrators' error-alert (none without [smtp]) is committed
        // with the dead letter itself.
        let summary = format!("archivo en carta muerta: {}/{}", job.account, job.rel_path);
        let detail = format!(
            "Job {} tras {} intento(s): {error}\nUse `pasarela status` y `pasarela replay {}`.",
            job.id, job.attempts, job.id
        );
        let key = format!("job-dead:{}:{}", job.id, now.timestamp_millis());
        let alert = crate::outbox::compose_alert(
            &self.generation.config,
            &key,
            Some(job.id),
            &summary,
            &detail,
        )
        .unwrap_or_else(|e| {
            warn!(job = job.id, error = %e, "could not compose the error-alert");
            None
        });
        self.store
            .dead_letter(
                job,
                error,
                &json,
                &path.to_string_lossy(),
                alert.as_ref(),
                now.timestamp_millis(),
            )
            .await?;
        Ok(())
    }
}

/// The result of a file above `daemon.max_file_bytes` (PAS83).
fn too_large(
    job: &Job,
    max: u64,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> crate::result::ResultDoc {
    let finding = Finding::reject(
        "PAS83",
        format!(
            "El archivo pesa {} bytes y supera el máximo aceptado de {} bytes; no se procesó. Divídalo o envíe el documento electrónico (XML).",
            job.size, max
        ),
    );
    job_result(job, crate::result::Format::Unknown, now).decided(Verdict::Rejected, finding)
}

/// A job's result before any step runs (identity from the job row).
fn job_result(
    job: &Job,
    format: crate::result::Format,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> crate::result::ResultDoc {
    let id = FileIdentity {
        sha256: job.sha256.clone(),
        size: job.size,
        format,
    };
    crate::result::ResultDoc::new(
        job.rel_path.clone(),
        id,
        now,
        Some(job.id),
        Some(&job.account),
    )
}

/// `outgoing/<rel_path>.result.json`
pub fn result_path(outgoing: &Path, rel_path: &str) -> PathBuf {
    outgoing.join(result_name(rel_path))
}

/// `<rel_path>.result.json`: a result's name relative to `outgoing/`.
pub fn result_name(rel_path: &str) -> String {
    format!("{rel_path}.result.json")
}
