//! The S3 path (feature `aws`, docs/AWS.md): objects uploaded under an
//! account's `incoming/` prefix reach the pipeline, results go back to S3.
//!
//! Intake: the bucket's `s3:ObjectCreated:*` notifications arrive in an SQS
//! queue (with a dead-letter queue); [`S3Path::run`] long-polls it, stages
//! each object into this daemon's S3 spool (`<state_dir>/spool-s3/<account>/
//! <uuid>/<rel>`: streamed, hashed, size-limited, fsynced), records the job
//! and the object's intake key (bucket, key, version id or ETag) in one
//! transaction, and deletes the message only after that commit. A second
//! event for a known object records nothing, so SQS's duplicates and
//! out-of-order deliveries are harmless. A message that is no S3 event is
//! left undeleted and made visible again at once: after
//! `max_receive_count` receives SQS moves it to the dead-letter queue.
//! Reconciliation (at start and every `reconcile_interval_secs`) lists every
//! account's `incoming/` prefix and takes what no event brought, or finishes
//! archiving what a crash left behind.
//!
//! Outputs: as [`Remote`], the runner's hooks. The result JSON (and a dead
//! letter's notice) is written to the account's `outgoing/` prefix before
//! the outcome is committed; after the commit the input object is copied
//! to `archive/YYYY-MM-DD/<job id>-<name>` and deleted from `incoming/`. A
//! job staged by a daemon that died is fetched again from S3 by whichever
//! daemon claims it (no shared volume needed). Certificates and reports,
//! which other parts write into local `outgoing/` folders, are mirrored to
//! the same prefixes (`mirror_outgoing`).
//!
//! Must not: delete an object before its outcome is committed, log
//! credentials, or touch SQL (the store does).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::Message;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::config::{Aws, S3};
use super::event;
use crate::clock::Clock;
use crate::config::Config;
use crate::pipeline::remote::Remote;
use crate::pipeline::{Generation, StepError};
use crate::store::s3_objects::S3Object;
use crate::store::{Job, JobState, NewJob, Store};

/// The S3 path of one daemon: its clients, settings and what it shares with
/// the rest of the daemon. Cheap to clone.
#[derive(Clone)]
pub struct S3Path {
    inner: Arc<Inner>,
}

struct Inner {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    aws: Aws,
    settings: S3,
    store: Store,
    clock: Clock,
    generation: watch::Receiver<Arc<Generation>>,
    /// Poked after each recorded job so the runner picks it up at once.
    wake: Arc<Notify>,
    /// Objects staged, fetched or archived at the same time.
    permits: Semaphore,
    /// When this daemon started: S3 spool files newer than this are never
    /// start-up debris (the runner may be fetching one right now).
    started: std::time::SystemTime,
    /// Local `outgoing/` files this process put or found current in S3, by
    /// path, with the size and mtime they had: not looked at again.
    mirrored:
        std::sync::Mutex<std::collections::HashMap<PathBuf, (u64, Option<std::time::SystemTime>)>>,
}

/// What became of one object the intake looked at.
#[derive(Debug, PartialEq, Eq)]
enum Taken {
    Recorded(i64),
    /// Known already, gone, or not an input: nothing to do.
    Nothing,
    /// Known and done, left in `incoming/`: its archive move was finished.
    Archived,
}

/// Where the AWS chain and the endpoint override lead: one SDK configuration
/// for both clients. HTTPS is hyper 1 + rustls on ring (Cargo.toml).
pub async fn sdk_config(aws: &Aws) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(aws.region.clone()))
        .http_client(http)
        .timeout_config(timeouts);
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    loader.load().await
}

/// S3 and SQS clients for `aws`. An endpoint override (moto, an
/// S3-compatible store) gets path-style bucket addressing.
pub async fn clients(aws: &Aws) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let sdk = sdk_config(aws).await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(aws.endpoint_url.is_some())
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_sqs::Client::new(&sdk),
    )
}

/// The chain of causes of an SDK error, with the AWS code when there is one.
pub fn explain<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    let mut text = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn transient(what: &str, e: impl std::fmt::Display) -> StepError {
    StepError::Transient(format!("{what}: {e}"))
}

impl S3Path {
    /// `None` when `config` has no `[aws.s3]`.
    pub async fn new(
        config: &Config,
        store: Store,
        clock: Clock,
        generation: watch::Receiver<Arc<Generation>>,
        wake: Arc<Notify>,
    ) -> Option<S3Path> {
        let aws = config.aws.clone()?;
        let settings = aws.s3.clone()?;
        let (s3, sqs) = clients(&aws).await;
        Some(S3Path {
            inner: Arc::new(Inner {
                s3,
                sqs,
                permits: Semaphore::new(settings.concurrency),
                mirrored: Default::default(),
                started: std::time::SystemTime::now(),
                aws,
                settings,
                store,
                clock,
                generation,
                wake,
            }),
        })
    }

    /// As the runner's hooks.
    pub fn remote(&self) -> Arc<dyn Remote> {
        Arc::new(self.clone())
    }

    fn config(&self) -> Arc<Config> {
        self.inner.generation.borrow().config.clone()
    }

    /// This daemon's S3 spool of `account`.
    fn spool(config: &Config, account: &str) -> PathBuf {
        config.daemon.state_dir.join("spool-s3").join(account)
    }

    /// The intake task: long-poll the queue, reconcile, until `shutdown`;
    /// then let staging under way finish (a message not yet deleted is
    /// simply delivered again).
    pub async fn run(self, shutdown: CancellationToken) {
        let queue_url = loop {
            match self.queue_url().await {
                Ok(u) => break u,
                Err(e) => {
                    error!(queue = %self.inner.settings.queue, error = %e, "S3 intake: the SQS queue cannot be found; retrying in 10 s (`pasarela aws sync` creates it)");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    }
                }
            }
        };
        if let Err(e) = self.clear_spool().await {
            warn!(error = %e, "S3 intake: clearing the S3 spool failed");
        }
        info!(queue = %queue_url, bucket = %self.inner.aws.bucket, "S3 intake started");
        type Receive = Pin<Box<dyn std::future::Future<Output = Vec<Message>> + Send>>;
        let mut receive: Option<Receive> = None;
        let mut handlers: JoinSet<()> = JoinSet::new();
        let mut reconciling: JoinSet<()> = JoinSet::new();
        let mut tick = tokio::time::interval(self.inner.settings.reconcile_interval);
        // Messages in hand at once: enough to keep every permit busy.
        let room = self.inner.settings.concurrency * 2;
        loop {
            if receive.is_none() && handlers.len() < room {
                let (this, url) = (self.clone(), queue_url.clone());
                receive = Some(Box::pin(async move { this.receive(&url).await }));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                messages = async { receive.as_mut().expect("guarded").await }, if receive.is_some() => {
                    receive = None;
                    for m in messages {
                        let (this, url) = (self.clone(), queue_url.clone());
                        handlers.spawn(async move { this.handle(&url, m).await });
                    }
                }
                _ = tick.tick(), if reconciling.is_empty() => {
                    let this = self.clone();
                    reconciling.spawn(async move {
                        this.reconcile().await;
                        let put = this.mirror_outgoing().await;
                        if put > 0 {
                            info!(put, "S3 mirror: local outgoing/ files put");
                        }
                    });
                }
                Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
                Some(_) = reconciling.join_next(), if !reconciling.is_empty() => {}
            }
        }
        drop(receive);
        reconciling.abort_all();
        while handlers.join_next().await.is_some() {}
        while reconciling.join_next().await.is_some() {}
    }

    async fn queue_url(&self) -> Result<String, String> {
        let out = self
            .inner
            .sqs
            .get_queue_url()
            .queue_name(&self.inner.settings.queue)
            .send()
            .await
            .map_err(|e| explain(&e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| "GetQueueUrl answered without a URL".into())
    }

    /// One long poll; errors are logged and answered by a pause.
    async fn receive(&self, url: &str) -> Vec<Message> {
        let s = &self.inner.settings;
        let out = self
            .inner
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(s.wait_secs as i32)
            .visibility_timeout(s.visibility_timeout.as_secs() as i32)
            .send()
            .await;
        match out {
            Ok(o) => o.messages.unwrap_or_default(),
            Err(e) => {
                warn!(error = %explain(&e), "S3 intake: receiving from SQS failed; retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
                Vec::new()
            }
        }
    }

    /// One message: take every object it names, then delete it. A message
    /// that is no S3 event is made visible again at once so SQS moves it to
    /// the dead-letter queue after `max_receive_count` receives; one whose
    /// objects could not all be taken stays until its visibility ends.
    async fn handle(&self, url: &str, m: Message) {
        let Some(receipt) = m.receipt_handle() else {
            return;
        };
        let body = m.body().unwrap_or("");
        let created = match event::parse_message(body) {
            Ok(c) => c,
            Err(e) => {
                crate::admin::metrics::inc(
                    "pasarela_s3_messages_total",
                    &[("outcome", "malformed")],
                );
                warn!(message = m.message_id().unwrap_or("?"), error = %e, "S3 intake: malformed message left for the dead-letter queue");
                let _ = self
                    .inner
                    .sqs
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
                return;
            }
        };
        let mut ok = true;
        for c in created {
            if c.bucket != self.inner.aws.bucket {
                warn!(bucket = %c.bucket, "S3 intake: event for another bucket ignored");
                continue;
            }
            if let Err(e) = self.take(&c.key).await {
                ok = false;
                warn!(key = %c.key, error = %e, "S3 intake: taking an object failed; the message is delivered again");
            }
        }
        if !ok {
            crate::admin::metrics::inc("pasarela_s3_messages_total", &[("outcome", "retried")]);
            return;
        }
        // Only now: every object it named is recorded (or known, or gone).
        match self
            .inner
            .sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            Ok(_) => {
                crate::admin::metrics::inc("pasarela_s3_messages_total", &[("outcome", "done")])
            }
            Err(e) => {
                warn!(error = %explain(&e), "S3 intake: deleting a message failed; its redelivery is harmless")
            }
        }
    }

    /// Take the object at `key` if it is a new input: HeadObject, then
    /// known → nothing (or finish its archive move), else stage + record.
    async fn take(&self, key: &str) -> Result<Taken, String> {
        let config = self.config();
        let Some(placed) = event::place(&self.inner.aws, key) else {
            debug!(key, "S3 intake: not an input key");
            return Ok(Taken::Nothing);
        };
        if !config.accounts.contains_key(&placed.account) {
            warn!(account = %placed.account, "S3 intake: object of an unknown account ignored");
            return Ok(Taken::Nothing);
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        let head = match self
            .inner
            .s3
            .head_object()
            .bucket(&self.inner.aws.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => h,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                // Archived already, or deleted by its sender: nothing to take.
                return Ok(Taken::Nothing);
            }
            Err(e) => return Err(format!("HeadObject: {}", explain(&e))),
        };
        let object = S3Object {
            bucket: self.inner.aws.bucket.clone(),
            key: key.to_string(),
            version_id: head
                .version_id()
                .filter(|v| *v != "null")
                .map(str::to_owned),
            etag: head
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_string(),
        };
        let size = head.content_length().unwrap_or(0).max(0) as u64;
        if let Some(known) = self
            .inner
            .store
            .s3_object_known(&object)
            .await
            .map_err(|e| e.to_string())?
        {
            if known.state == JobState::Done {
                // Its outcome is committed but the move to archive/ did not
                // happen (a crash), or the same bytes were sent again.
                if let Some(job) = self
                    .inner
                    .store
                    .job(known.job_id)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    self.archive(&job, &object, None).await?;
                    return Ok(Taken::Archived);
                }
            }
            return Ok(Taken::Nothing);
        }
        let max = config.daemon.max_file_bytes;
        let spool = Self::spool(&config, &placed.account);
        let staged = self
            .download(&object, &spool, &placed.rel, size, max)
            .await?;
        let Some(staged) = staged else {
            return Ok(Taken::Nothing);
        };
        let job = NewJob {
            account: placed.account.clone(),
            rel_path: placed.rel.clone(),
            spool_path: staged.path.to_string_lossy().into_owned(),
            size: staged.size,
            sha256: staged.sha256.clone(),
            now_ms: self.inner.clock.now_millis(),
            kind: crate::intake::kind_of(staged.format),
            format: staged.format,
        };
        match self.inner.store.record_s3_job(&job, &object).await {
            Ok(Some(id)) => {
                crate::admin::metrics::inc("pasarela_files_received_total", &[]);
                debug!(job = id, account = %placed.account, file = %placed.rel, size = staged.size, "S3 object received");
                self.inner.wake.notify_one();
                Ok(Taken::Recorded(id))
            }
            Ok(None) => {
                // Another event or daemon recorded it first.
                remove_entry(&staged.entry).await;
                Ok(Taken::Nothing)
            }
            Err(e) => {
                remove_entry(&staged.entry).await;
                Err(format!("recording the job: {e}"))
            }
        }
    }

    /// Stream `object` into a new entry of `spool` (`<uuid>/<rel>`): hashed,
    /// fsynced, refused beyond `max` bytes. An object above `max` is not
    /// read: its entry holds an empty file and the job its real size, which
    /// the runner rejects (PAS83) without reading. `Ok(None)`: the object is
    /// gone or changed since HeadObject (its own event follows).
    async fn download(
        &self,
        object: &S3Object,
        spool: &Path,
        rel: &str,
        size: u64,
        max: u64,
    ) -> Result<Option<Staged>, String> {
        let (entry, dest) = crate::spool::new_entry(spool, rel);
        let parent = dest.parent().unwrap_or(spool).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        let result = async {
            let mut file = tokio::fs::File::create(&dest)
                .await
                .map_err(|e| format!("creating {}: {e}", dest.display()))?;
            let mut hasher = Sha256::new();
            let mut written = 0u64;
            if size <= max {
                let mut req = self
                    .inner
                    .s3
                    .get_object()
                    .bucket(&object.bucket)
                    .key(&object.key);
                req = match &object.version_id {
                    Some(v) => req.version_id(v),
                    None => req.if_match(format!("\"{}\"", object.etag)),
                };
                let out = match req.send().await {
                    Ok(o) => o,
                    Err(e)
                        if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                            || e.raw_response().is_some_and(|r| r.status().as_u16() == 412) =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(format!("GetObject: {}", explain(&e))),
                };
                let mut body: ByteStream = out.body;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| format!("reading the object: {e}"))?;
                    written += chunk.len() as u64;
                    if written > max {
                        return Err(format!("the object grew beyond {max} bytes while read"));
                    }
                    hasher.update(&chunk);
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| format!("writing {}: {e}", dest.display()))?;
                }
            }
            file.sync_all()
                .await
                .map_err(|e| format!("fsync {}: {e}", dest.display()))?;
            drop(file);
            let p = parent.clone();
            tokio::task::spawn_blocking(move || crate::fsutil::sync_dir(&p))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("fsync of the spool folder: {e}"))?;
            let (size, sha256, format) = if size <= max {
                let format = crate::intake::format_of(&dest);
                (written, hex::encode(hasher.finalize()), format)
            } else {
                // Never read: rejected on its size alone (PAS83).
                (size, String::new(), crate::result::Format::Unknown)
            };
            Ok(Some(Staged {
                entry: entry.clone(),
                path: dest.clone(),
                size,
                sha256,
                format,
            }))
        }
        .await;
        if !matches!(result, Ok(Some(_))) {
            remove_entry(&entry).await;
        }
        result
    }

    /// Copy the object of a committed job to `archive/`, then delete it
    /// from `incoming/`, then say so in the store. An object already gone or
    /// replaced meanwhile is not deleted.
    async fn archive(
        &self,
        job: &Job,
        object: &S3Object,
        name: Option<&str>,
    ) -> Result<(), String> {
        let name = match name {
            Some(n) => n.to_string(),
            None => job
                .archive_path
                .as_deref()
                .and_then(event::archive_name)
                .unwrap_or_else(|| {
                    format!(
                        "unknown-day/{:08}-{}",
                        job.id,
                        job.rel_path.rsplit('/').next().unwrap_or("input")
                    )
                }),
        };
        let dst = format!("{}archive/{name}", self.inner.aws.home_key(&job.account));
        let s3 = &self.inner.s3;
        let mut source = event::copy_source(&object.bucket, &object.key);
        if let Some(v) = &object.version_id {
            source.push_str(&format!("?versionId={v}"));
        }
        let mut copy = s3
            .copy_object()
            .bucket(&self.inner.aws.bucket)
            .key(&dst)
            .copy_source(source);
        if object.version_id.is_none() {
            copy = copy.copy_source_if_match(format!("\"{}\"", object.etag));
        }
        match copy.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.code() == Some("NoSuchKey"))
                    || e.raw_response()
                        .is_some_and(|r| matches!(r.status().as_u16(), 404 | 412)) =>
            {
                // Moved already (another daemon, an earlier try), or the key
                // now holds another upload, which is not ours to move.
                self.inner
                    .store
                    .s3_object_archived(job.id, self.inner.clock.now_millis())
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            Err(e) => return Err(format!("CopyObject to {dst}: {}", explain(&e))),
        }
        // On an unversioned bucket a delete removes whatever the key holds:
        // make sure it is still this object (a new upload under the same
        // name between this check and the delete is the one window left;
        // docs/AWS.md).
        if object.version_id.is_none() {
            match s3
                .head_object()
                .bucket(&object.bucket)
                .key(&object.key)
                .send()
                .await
            {
                Ok(h) if h.e_tag().unwrap_or_default().trim_matches('"') != object.etag => {
                    self.inner
                        .store
                        .s3_object_archived(job.id, self.inner.clock.now_millis())
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
                Err(e) => return Err(format!("HeadObject: {}", explain(&e))),
            }
        }
        s3.delete_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send()
            .await
            .map_err(|e| format!("DeleteObject: {}", explain(&e)))?;
        self.inner
            .store
            .s3_object_archived(job.id, self.inner.clock.now_millis())
            .await
            .map_err(|e| e.to_string())?;
        debug!(job = job.id, to = %dst, "S3 input archived");
        Ok(())
    }

    /// List every account's `incoming/` and take what is there: objects
    /// whose event was lost, and done objects a crash left unarchived.
    pub async fn reconcile(&self) {
        let config = self.config();
        let (mut seen, mut recorded, mut archived, mut failed) = (0usize, 0usize, 0usize, 0usize);
        for account in config.accounts.keys() {
            let prefix = format!("{}incoming/", self.inner.aws.home_key(account));
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .inner
                    .s3
                    .list_objects_v2()
                    .bucket(&self.inner.aws.bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await;
                let out = match out {
                    Ok(o) => o,
                    Err(e) => {
                        warn!(prefix = %prefix, error = %explain(&e), "S3 reconciliation: listing failed");
                        failed += 1;
                        break;
                    }
                };
                keys.extend(
                    out.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
                match out.next_continuation_token() {
                    Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                    _ => break,
                }
            }
            seen += keys.len();
            let concurrency = self.inner.settings.concurrency;
            let mut results = futures::stream::iter(keys)
                .map(|k| async move { (self.take(&k).await, k) })
                .buffer_unordered(concurrency);
            while let Some((r, key)) = results.next().await {
                match r {
                    Ok(Taken::Recorded(_)) => recorded += 1,
                    Ok(Taken::Archived) => archived += 1,
                    Ok(Taken::Nothing) => {}
                    Err(e) => {
                        failed += 1;
                        warn!(key = %key, error = %e, "S3 reconciliation: taking an object failed");
                    }
                }
            }
        }
        if recorded + archived + failed > 0 {
            info!(
                seen,
                recorded, archived, failed, "S3 reconciliation finished"
            );
        } else {
            debug!(seen, "S3 reconciliation finished");
        }
    }

    /// Start-up: an S3 spool file without a job was cut off by a crash
    /// before it was recorded; one of a finished job is a copy the archive
    /// move left. Either is only a copy of an object: removed.
    async fn clear_spool(&self) -> anyhow::Result<()> {
        let config = self.config();
        let mut removed = 0;
        for account in config.accounts.keys() {
            let base = Self::spool(&config, account);
            let files = tokio::task::spawn_blocking({
                let base = base.clone();
                move || crate::spool::files(&base)
            })
            .await?;
            for (path, _rel) in files {
                let older = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < self.inner.started);
                if !older {
                    continue;
                }
                let key = path.to_string_lossy().to_string();
                let job = self.inner.store.job_by_spool_path(&key).await?;
                if job.is_none_or(|j| j.state == JobState::Done)
                    && let Some(entry) = crate::spool::entry_in(&base, &path)
                {
                    remove_entry(&entry).await;
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            info!(removed, "S3 spool: copies left by a crash removed");
        }
        Ok(())
    }

    /// Mirror every account's local `outgoing/` folder (certificates,
    /// reports, notices) to its `outgoing/` prefix: a file is put when S3
    /// has no object of that name, or one of another size or older than the
    /// file. Idempotent; returns how many files were put.
    pub async fn mirror_outgoing(&self) -> usize {
        let config = self.config();
        let mut put = 0;
        for account in config.accounts.values() {
            let dir = account.outgoing();
            let files = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                crate::fsutil::for_each_file(&dir, |e| {
                    if let Some(rel) = crate::fsutil::relative(&dir, &e.path())
                        && !rel.split('/').any(crate::fsutil::is_ignored_name)
                        && let Ok(m) = e.metadata()
                    {
                        out.push((e.path(), rel, m.len(), m.modified().ok()));
                    }
                });
                out
            })
            .await
            .unwrap_or_default();
            for (path, rel, len, mtime) in files {
                let seen = self
                    .inner
                    .mirrored
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&path)
                    .is_some_and(|m| *m == (len, mtime));
                if seen {
                    continue;
                }
                let key = format!("{}outgoing/{rel}", self.inner.aws.home_key(&account.name));
                let head = self
                    .inner
                    .s3
                    .head_object()
                    .bucket(&self.inner.aws.bucket)
                    .key(&key)
                    .send()
                    .await;
                let current = match &head {
                    Ok(h) => {
                        let remote_time = h
                            .last_modified()
                            .and_then(|t| std::time::SystemTime::try_from(*t).ok());
                        h.content_length() == Some(len as i64)
                            && matches!((mtime, remote_time), (Some(l), Some(r)) if l <= r)
                    }
                    Err(_) => false,
                };
                let remember = |this: &Self| {
                    this.inner
                        .mirrored
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(path.clone(), (len, mtime));
                };
                if current {
                    remember(self);
                    continue;
                }
                let Ok(bytes) = tokio::fs::read(&path).await else {
                    continue;
                };
                match self.put(&key, bytes).await {
                    Ok(()) => {
                        remember(self);
                        put += 1;
                    }
                    Err(e) => {
                        warn!(key = %key, error = %e, "S3 mirror: put failed; retried next round")
                    }
                }
            }
        }
        put
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        let content_type = match key.rsplit('.').next() {
            Some("json") => "application/json",
            Some("pdf") => "application/pdf",
            Some("csv") => "text/csv",
            Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            _ => "application/octet-stream",
        };
        self.inner
            .s3
            .put_object()
            .bucket(&self.inner.aws.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| format!("PutObject {key}: {}", explain(&e)))?;
        Ok(())
    }
}

/// An object streamed into the S3 spool.
struct Staged {
    /// `<spool>/<uuid>`: removed if the job is not recorded.
    entry: PathBuf,
    path: PathBuf,
    size: u64,
    sha256: String,
    format: crate::result::Format,
}

async fn remove_entry(entry: &Path) {
    let e = entry.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(e)).await;
}

#[async_trait]
impl Remote for S3Path {
    async fn fetch_input(&self, job: &Job) -> Result<Option<PathBuf>, StepError> {
        let store_err = |e: crate::store::StoreError| transient("store", e);
        let Some(object) = self
            .inner
            .store
            .s3_object_of_job(job.id)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let config = self.config();
        let spool = Self::spool(&config, &job.account);
        let max = config.daemon.max_file_bytes;
        let staged = self
            .download(&object, &spool, &job.rel_path, job.size, max)
            .await
            .map_err(|e| transient("fetching the input from S3", e))?;
        let Some(staged) = staged else {
            return Err(StepError::Permanent(format!(
                "input s3://{}/{} is gone from S3 or was replaced, and its spool copy was on another daemon",
                object.bucket, object.key
            )));
        };
        if staged.sha256 != job.sha256 {
            remove_entry(&staged.entry).await;
            return Err(StepError::Permanent(format!(
                "input s3://{}/{} fetched again differs from what was received",
                object.bucket, object.key
            )));
        }
        info!(
            job = job.id,
            "input fetched again from S3 (staged by another daemon)"
        );
        Ok(Some(staged.path))
    }

    async fn put_output(&self, job: &Job, name: &str, bytes: &[u8]) -> Result<(), StepError> {
        let store_err = |e: crate::store::StoreError| transient("store", e);
        if self
            .inner
            .store
            .s3_object_of_job(job.id)
            .await
            .map_err(store_err)?
            .is_none()
        {
            return Ok(());
        }
        let key = format!("{}outgoing/{name}", self.inner.aws.home_key(&job.account));
        self.put(&key, bytes.to_vec())
            .await
            .map_err(|e| transient("writing the result to S3", e))
    }

    async fn archive_input(&self, job: &Job, archive_name: &str, fetched: Option<PathBuf>) {
        if let Some(f) = fetched
            && let Some(entry) = crate::spool::entry_of(&f, &job.rel_path)
        {
            remove_entry(&entry).await;
        }
        let object = match self.inner.store.s3_object_of_job(job.id).await {
            Ok(Some(o)) => o,
            Ok(None) => return,
            Err(e) => {
                warn!(job = job.id, error = %e, "S3 archive: the store failed; reconciliation finishes it");
                return;
            }
        };
        if let Err(e) = self.archive(job, &object, Some(archive_name)).await {
            warn!(job = job.id, error = %e, "S3 archive failed; reconciliation finishes it");
        }
    }
}
