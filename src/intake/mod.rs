//! Intake: watched folders, periodic scans and SFTP upload notices → durable jobs.
//!
//! A file is taken only once complete (close-after-write, rename into place,
//! an SFTP CLOSE, or a size+mtime stability check for copies that arrive by
//! other means). Taking it means: rename it out of `incoming/` into the spool
//! (the rename is the atomic claim: a second event for the same file finds
//! nothing), fsync, hash, and record the job. The spool is the source of truth
//! for "accepted but not yet archived": start-up recovery walks it.
//!
//! **Architecture Invariant:** an input is never deleted; it leaves the spool
//! only by a move into `archive/` after its outcome is committed.

mod event;
pub mod retention;
mod watch;

pub use event::{IntakeEvent, Upload};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::clock::Clock;
use crate::config::Config;
use crate::fsutil;
use crate::pipeline::Generation;
use crate::result::Format;
use crate::spool;
use crate::store::{JobKind, JobState, NewJob, Store};

/// Queue depth between the watcher thread and the intake task.
pub const CHANNEL_CAPACITY: usize = 16_384;

pub struct Intake {
    pub store: Store,
    pub clock: Clock,
    pub generation: tokio::sync::watch::Receiver<Arc<Generation>>,
    /// Poked after each recorded job so the runner picks it up at once.
    pub wake: Arc<Notify>,
}

/// A file that was seen but may still be growing.
struct Candidate {
    account: String,
    len: u64,
    mtime: Option<SystemTime>,
    since: Instant,
}

/// Files staged at the same time (each costs a few fsyncs and one commit).
const STAGE_CONCURRENCY: usize = 8;

impl Intake {
    /// Start-up recovery: record spool files that have no job yet (a crash
    /// between staging and recording), finish archiving inputs of jobs that are
    /// done, and requeue jobs left running.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let config = self.generation.borrow().config.clone();
        let dirs: Vec<_> = config
            .accounts
            .values()
            .flat_map(|a| [a.outgoing(), a.archive()])
            .collect();
        let debris = tokio::task::spawn_blocking(move || {
            dirs.iter()
                .map(|d| fsutil::remove_own_temps(d))
                .sum::<usize>()
        })
        .await?;
        // Uploads cut off by a crash: with SQLite this daemon is the only one
        // and its SFTP server is not up yet, so every upload temp is debris;
        // on a shared PostgreSQL store another daemon may be receiving one.
        let only_stale = (self.store.backend() == crate::store::Backend::Postgres)
            .then_some(config.daemon.stale_upload);
        let (_, _, temps) = scan_incoming(&config).await;
        let uploads =
            tokio::task::spawn_blocking(move || fsutil::remove_upload_temps(&temps, only_stale))
                .await?;
        let (recorded, archived) = self.sweep_spool(&config).await?;
        let requeued = self.store.requeue_running(self.clock.now_millis()).await?;
        info!(
            recorded,
            archived, requeued, debris, uploads, "recovery finished"
        );
        Ok(())
    }

    async fn sweep_spool(&self, config: &Config) -> anyhow::Result<(usize, usize)> {
        let (mut recorded, mut archived) = (0, 0);
        for account in config.accounts.values() {
            let base = config.daemon.spool_dir(&account.name);
            let files = tokio::task::spawn_blocking({
                let base = base.clone();
                move || spool::files(&base)
            })
            .await?;
            for (path, rel) in files {
                let key = path.to_string_lossy().to_string();
                match self.store.job_by_spool_path(&key).await? {
                    None => {
                        let staged = hash_file(path.clone(), rel).await?;
                        self.record(&account.name, &staged).await?;
                        recorded += 1;
                    }
                    Some(job) if job.state == JobState::Done => {
                        if let Some(dst) = job.archive_path.clone() {
                            let root = path.parent().map(Path::to_path_buf);
                            let root = spool::entry_in(&base, &path).or(root);
                            tokio::task::spawn_blocking(move || {
                                spool::archive_input(&path, &dst, root.as_deref())
                            })
                            .await??;
                            archived += 1;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        Ok((recorded, archived))
    }

    /// Process intake events until shutdown. `tx` is handed to the watcher and
    /// the periodic scan; the SFTP server holds its own clone.
    pub async fn run(
        self,
        tx: mpsc::Sender<IntakeEvent>,
        mut rx: mpsc::Receiver<IntakeEvent>,
        shutdown: CancellationToken,
    ) {
        let config = self.generation.borrow().config.clone();
        let start_watcher = |config: &Config| match watch::start(config, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                error!(error = %e, "file watcher failed to start; relying on periodic scans");
                None
            }
        };
        let mut watcher = start_watcher(&config);
        let mut generations = self.generation.clone();
        let this = Arc::new(self);
        let mut candidates: HashMap<PathBuf, Candidate> = HashMap::new();
        // Symbolic links seen by the last scan: each is reported once while
        // it stays, not at every scan.
        let mut reported_links: HashSet<PathBuf> = HashSet::new();
        let mut staging: JoinSet<()> = JoinSet::new();
        let permits = Arc::new(Semaphore::new(STAGE_CONCURRENCY));
        let stability = config.daemon.stability;
        let mut scan = tokio::time::interval(config.daemon.scan_interval);
        let mut settle = tokio::time::interval((stability / 2).max(Duration::from_millis(50)));
        let mut retention = tokio::time::interval(config.archive.purge_interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Ok(()) = generations.changed() => {
                    // A reload may add or remove accounts: watch the new set and scan it.
                    let config = generations.borrow_and_update().config.clone();
                    drop(watcher.take());
                    watcher = start_watcher(&config);
                    let (files, links, _) = scan_incoming(&config).await;
                    for (account, path) in files {
                        candidates.entry(path).or_insert(Candidate { account, len: u64::MAX, mtime: None, since: Instant::now() });
                    }
                    this.report_links(&config, links, &mut reported_links).await;
                }
                Some(ev) = rx.recv() => {
                    let (account, path, complete, upload) = match ev {
                        IntakeEvent::Completed { account, path, upload } => (account, path, true, upload),
                        IntakeEvent::Seen { account, path } => (account, path, false, None),
                    };
                    if complete {
                        candidates.remove(&path);
                        this.spawn_stage(&mut staging, &permits, account, path, upload).await;
                    } else {
                        candidates.entry(path).or_insert(Candidate { account, len: u64::MAX, mtime: None, since: Instant::now() });
                    }
                }
                _ = scan.tick() => {
                    let config = this.generation.borrow().config.clone();
                    let (files, links, temps) = scan_incoming(&config).await;
                    for (account, path) in files {
                        candidates.entry(path).or_insert(Candidate { account, len: u64::MAX, mtime: None, since: Instant::now() });
                    }
                    this.report_links(&config, links, &mut reported_links).await;
                    remove_stale_uploads(temps, config.daemon.stale_upload).await;
                    if let Err(e) = this.sweep_spool(&config).await {
                        warn!(error = %e, "spool sweep failed");
                    }
                }
                _ = settle.tick(), if !candidates.is_empty() => {
                    for (path, account) in settled(&mut candidates, stability) {
                        this.spawn_stage(&mut staging, &permits, account, path, None).await;
                    }
                }
                _ = retention.tick() => {
                    let config = this.generation.borrow().config.clone();
                    let today = this.clock.now().date_naive();
                    let store = this.store.clone();
                    // Owned by `staging`, so shutdown waits for a purge under way.
                    staging.spawn(async move {
                        retention::purge(&config, today, &store).await;
                        store.optimize().await;
                    });
                }
                Some(_) = staging.join_next(), if !staging.is_empty() => {}
            }
        }
        // Let staging that already began finish: a half-staged file is safe
        // (recovery records it), but finishing is cheaper.
        while staging.join_next().await.is_some() {}
    }

    async fn spawn_stage(
        self: &Arc<Self>,
        set: &mut JoinSet<()>,
        permits: &Arc<Semaphore>,
        account: String,
        path: PathBuf,
        upload: Option<Upload>,
    ) {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let this = self.clone();
        set.spawn(async move {
            let _permit = permit;
            if let Err(e) = this.stage_uploaded(&account, &path, upload).await {
                error!(account = %account, path = %path.display(), error = %e, "intake failed; the file stays where it is and is retried by the next scan");
            }
        });
    }

    /// Take one complete file: move it into the spool, hash it, record the job.
    pub async fn stage_and_record(
        &self,
        account_name: &str,
        path: &Path,
    ) -> anyhow::Result<Option<i64>> {
        self.stage_uploaded(account_name, path, None).await
    }

    /// [`Intake::stage_and_record`] reusing the SFTP server's hash when the
    /// staged file is the one it received (same device, inode and size).
    async fn stage_uploaded(
        &self,
        account_name: &str,
        path: &Path,
        upload: Option<Upload>,
    ) -> anyhow::Result<Option<i64>> {
        let config = self.generation.borrow().config.clone();
        let Some(account) = config.accounts.get(account_name) else {
            warn!(
                account = account_name,
                "event for an unknown account ignored"
            );
            return Ok(None);
        };
        let incoming = account.incoming();
        let Some(rel) = fsutil::relative(&incoming, path) else {
            warn!(path = %path.display(), "file outside the account's incoming/ ignored");
            return Ok(None);
        };
        if rel.split('/').any(fsutil::is_ignored_name) {
            return Ok(None);
        }
        // A link (to a file, or a folder on the way) could point at another
        // account's folder, the store or /etc: never followed.
        if let Some(link) = fsutil::symlink_below(&incoming, &rel) {
            self.refuse_link(account_name, &link).await;
            return Ok(None);
        }
        let spool = config.daemon.spool_dir(account_name);
        let src = path.to_path_buf();
        let staged =
            tokio::task::spawn_blocking(move || stage(&spool, &src, &rel, upload.as_ref()))
                .await??;
        let Some(staged) = staged else {
            return Ok(None);
        };
        let id = self.record(account_name, &staged).await?;
        Ok(Some(id))
    }

    /// A symbolic link in `incoming/` is skipped: a warning and an audit row
    /// (`intake.symlink`), nothing is read through it.
    async fn refuse_link(&self, account: &str, rel: &str) {
        warn!(
            account,
            path = rel,
            "symbolic link in incoming/ skipped; links are never followed"
        );
        let rec = crate::store::AuditRecord {
            account: Some(account),
            job_id: None,
            event: "intake.symlink",
            detail: serde_json::json!({"path": rel}),
        };
        if let Err(e) = self.store.audit(rec).await {
            warn!(error = %e, "could not audit a skipped symbolic link");
        }
    }

    /// Report the links a scan found that the previous scan had not.
    async fn report_links(
        &self,
        config: &Config,
        links: Vec<(String, PathBuf)>,
        reported: &mut HashSet<PathBuf>,
    ) {
        let mut now = HashSet::with_capacity(links.len());
        for (account, path) in links {
            if !reported.contains(&path)
                && let Some(a) = config.accounts.get(&account)
                && let Some(rel) = fsutil::relative(&a.incoming(), &path)
            {
                self.refuse_link(&account, &rel).await;
            }
            now.insert(path);
        }
        *reported = now;
    }

    async fn record(&self, account: &str, staged: &Staged) -> anyhow::Result<i64> {
        let job = NewJob {
            account: account.to_string(),
            rel_path: staged.rel.clone(),
            spool_path: staged.spool_path.to_string_lossy().into_owned(),
            size: staged.size,
            sha256: staged.sha256.clone(),
            now_ms: self.clock.now_millis(),
            kind: kind_of(staged.format),
            format: staged.format,
        };
        let id = self.store.record_job(&job).await?;
        crate::admin::metrics::inc("pasarela_files_received_total", &[]);
        debug!(job = id, account, file = %staged.rel, size = staged.size, "file received");
        self.wake.notify_one();
        Ok(id)
    }
}

/// A file moved into the spool.
#[derive(Debug)]
struct Staged {
    rel: String,
    spool_path: PathBuf,
    size: u64,
    sha256: String,
    /// Sniffed once, here, from the first bytes; carried in the job row.
    format: Format,
}

/// A staged file's format, from its first bytes: the one sniff of a
/// daemon job (the runner and the steps take it from the job row).
pub(crate) fn format_of(path: &Path) -> Format {
    use std::io::{Read, Seek, SeekFrom};
    let mut head = Vec::with_capacity(1024);
    let Ok(mut f) = std::fs::File::open(path) else {
        return Format::Unknown;
    };
    let _ = (&mut f).take(1024).read_to_end(&mut head);
    let format = crate::formats::detect::detect(&head);
    // A ZIP names its entries in the central directory at its end: a
    // workbook whose first entries are not `xl/...` (LibreOffice,
    // rust_xlsxwriter) is recognised from there.
    if format == Format::Unknown && head.starts_with(b"PK\x03\x04") {
        const TAIL: u64 = 64 * 1024;
        if let Ok(len) = f.seek(SeekFrom::End(0))
            && f.seek(SeekFrom::Start(
                len.saturating_sub(TAIL).max(head.len() as u64),
            ))
            .is_ok()
        {
            let _ = f.take(TAIL).read_to_end(&mut head);
            return crate::formats::detect::detect(&head);
        }
    }
    format
}

/// The kind of work a format is: PDFs and images may render and OCR.
pub(crate) fn kind_of(format: Format) -> JobKind {
    match format {
        Format::Pdf | Format::Image => JobKind::Heavy,
        _ => JobKind::Light,
    }
}

/// Move `src` into its spool entry (`spool/<account>/<uuid>/<rel>`). `Ok(None)` when the file is
/// gone (another event took it) or is not a regular file.
fn stage(
    spool: &Path,
    src: &Path,
    rel: &str,
    upload: Option<&Upload>,
) -> std::io::Result<Option<Staged>> {
    stage_with(spool, src, rel, upload, &fsutil::sync_dir)
}

/// How often a failed directory fsync is retried after the rename into the
/// spool succeeded, before the file is left to the spool sweep.
const SYNC_RETRIES: u32 = 3;

/// [`stage`] with the directory fsync passed in (tests inject failures).
fn stage_with(
    spool: &Path,
    src: &Path,
    rel: &str,
    upload: Option<&Upload>,
    sync_dir: &dyn Fn(&Path) -> std::io::Result<()>,
) -> std::io::Result<Option<Staged>> {
    match std::fs::symlink_metadata(src) {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let (spool_root, dest) = spool::new_entry(spool, rel);
    let parent = dest.parent().unwrap_or(spool);
    std::fs::create_dir_all(parent)?;
    let root = src.ancestors().nth(rel.split('/').count()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path above its root")
    })?;
    // Renamed relative to folders opened without following links, so a
    // folder swapped for a link after the caller's check cannot redirect it.
    match fsutil::move_beneath(root, rel, &dest, sync_dir) {
        Ok(()) => {}
        Err(fsutil::MoveError::NotMoved(e)) => {
            // Gone (another event took it) or not movable now (e.g. the spool's
            // disk is full): the source stays in incoming/ for the next scan.
            let _ = std::fs::remove_dir_all(&spool_root);
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(None);
            }
            return Err(e);
        }
        Err(fsutil::MoveError::NotDurable(e)) => {
            // The rename happened: the spool copy is the only copy of the
            // upload and is never deleted. Retry the fsyncs; if they keep
            // failing, leave the file where it is: the spool sweep (every
            // scan and at start-up) records it once the disk recovers.
            let dirs = [Some(parent), src.parent()];
            let synced = (0..SYNC_RETRIES).any(|i| {
                std::thread::sleep(Duration::from_millis(50 << i));
                dirs.iter().flatten().all(|d| sync_dir(d).is_ok())
            });
            if !synced {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!(
                        "staged into {} but the directory fsync failed ({e}); kept in the spool, recorded by the next spool sweep",
                        dest.display()
                    ),
                ));
            }
        }
    }
    // The entry was a regular file when checked; if a link was swapped in
    // before the rename, it is only a link: take it out, never read through it.
    let meta = std::fs::symlink_metadata(&dest)?;
    if !meta.file_type().is_file() {
        let _ = std::fs::remove_dir_all(&spool_root);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file was replaced by a symbolic link while it was taken; not followed",
        ));
    }
    // The SFTP server hashed this very file as it arrived: not again.
    let known = upload.filter(|u| {
        use std::os::unix::fs::MetadataExt;
        (u.dev, u.ino, u.size) == (meta.dev(), meta.ino(), meta.len())
    });
    let (size, sha256) = match known {
        Some(u) => (u.size, u.sha256.clone()),
        None => fsutil::sha256_file(&dest)?,
    };
    Ok(Some(Staged {
        rel: rel.to_string(),
        format: format_of(&dest),
        spool_path: dest,
        size,
        sha256,
    }))
}

async fn hash_file(path: PathBuf, rel: String) -> anyhow::Result<Staged> {
    Ok(
        tokio::task::spawn_blocking(move || -> std::io::Result<Staged> {
            let (size, sha256) = fsutil::sha256_file(&path)?;
            Ok(Staged {
                rel,
                size,
                sha256,
                format: format_of(&path),
                spool_path: path,
            })
        })
        .await??,
    )
}

type Found = Vec<(String, PathBuf)>;

/// Every file currently in every account's `incoming/`, every symbolic link
/// there (never followed), as (account, path), and the SFTP upload temps.
async fn scan_incoming(config: &Config) -> (Found, Found, Vec<PathBuf>) {
    let dirs: Vec<(String, PathBuf)> = config
        .accounts
        .values()
        .map(|a| (a.name.clone(), a.incoming()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let (mut files, mut links, mut temps) = (Vec::new(), Vec::new(), Vec::new());
        for (account, dir) in dirs {
            let walk = fsutil::walk_incoming(&dir);
            files.extend(walk.files.into_iter().map(|p| (account.clone(), p)));
            links.extend(walk.links.into_iter().map(|p| (account.clone(), p)));
            temps.extend(walk.upload_temps);
        }
        (files, links, temps)
    })
    .await
    .unwrap_or_default()
}

/// Remove upload temps (uploads cut off by a crash or a dropped connection)
/// not written for `age`.
async fn remove_stale_uploads(temps: Vec<PathBuf>, age: Duration) {
    if temps.is_empty() {
        return;
    }
    let removed =
        tokio::task::spawn_blocking(move || fsutil::remove_upload_temps(&temps, Some(age)))
            .await
            .unwrap_or_default();
    if removed > 0 {
        info!(removed, "stale upload temp files removed");
    }
}

/// Candidates whose size and mtime have not changed for `stability` (and whose
/// mtime is at least that old). Vanished files are dropped.
fn settled(
    candidates: &mut HashMap<PathBuf, Candidate>,
    stability: Duration,
) -> Vec<(PathBuf, String)> {
    let mut ready = Vec::new();
    candidates.retain(|path, c| {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if !meta.is_file() {
            return false;
        }
        let mtime = meta.modified().ok();
        if meta.len() != c.len || mtime != c.mtime {
            c.len = meta.len();
            c.mtime = mtime;
            c.since = Instant::now();
            return true;
        }
        let old_enough = mtime
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|age| age >= stability);
        if c.since.elapsed() >= stability || (old_enough && c.since.elapsed() >= stability / 2) {
            ready.push((path.clone(), c.account.clone()));
            return false;
        }
        true
    });
    ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A workbook whose `xl/` entries come after the first KiB (as
    /// rust_xlsxwriter and LibreOffice write them) is still a workbook; a
    /// ZIP of something else is not.
    #[test]
    fn a_workbook_is_recognised_from_its_zip_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend(std::iter::repeat_n(b'.', 3000));
        let other = dir.path().join("other.zip");
        std::fs::write(&other, &zip).unwrap();
        zip.extend_from_slice(b"PK\x01\x02....xl/workbook.xml");
        let book = dir.path().join("book.xlsx");
        std::fs::write(&book, &zip).unwrap();
        assert_eq!(format_of(&book), Format::Excel);
        assert_eq!(format_of(&other), Format::Unknown);
    }

    fn upload(dir: &Path) -> (PathBuf, PathBuf) {
        let incoming = dir.join("incoming");
        std::fs::create_dir_all(&incoming).unwrap();
        let src = incoming.join("a.xml");
        std::fs::write(&src, b"<Invoice/>").unwrap();
        (src, dir.join("spool"))
    }

    // Issue 16: after a successful rename into the spool, the spool copy is
    // the only copy. A directory fsync that keeps failing must leave it there
    // (the spool sweep records it); before, stage() deleted it.
    #[test]
    fn a_failed_fsync_after_the_rename_keeps_the_spool_copy() {
        let d = tempfile::tempdir().unwrap();
        let (src, spool) = upload(d.path());
        let calls = Cell::new(0);
        let eio = |_: &Path| -> std::io::Result<()> {
            calls.set(calls.get() + 1);
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        };
        let err = stage_with(&spool, &src, "a.xml", None, &eio).unwrap_err();
        assert!(err.to_string().contains("kept in the spool"), "{err}");
        assert!(calls.get() > 1, "the fsync was retried");
        assert!(!src.exists());
        let files = spool::files(&spool);
        assert_eq!(files.len(), 1, "the only copy is gone: {files:?}");
        assert_eq!(std::fs::read(&files[0].0).unwrap(), b"<Invoice/>");
        assert_eq!(files[0].1, "a.xml");
    }

    // A transient fsync failure that passes on retry stages normally.
    #[test]
    fn a_transient_fsync_failure_is_retried() {
        let d = tempfile::tempdir().unwrap();
        let (src, spool) = upload(d.path());
        let calls = Cell::new(0);
        let once = |p: &Path| -> std::io::Result<()> {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            fsutil::sync_dir(p)
        };
        let staged = stage_with(&spool, &src, "a.xml", None, &once)
            .unwrap()
            .unwrap();
        assert!(staged.spool_path.is_file());
        assert_eq!(staged.size, 10);
        assert!(!src.exists());
    }

    // An SFTP upload's hash is reused for that very file (same inode and
    // size after the rename into the spool), and only for it.
    #[test]
    fn the_sftp_hash_is_reused_only_for_the_same_file() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let (src, spool) = upload(d.path());
        let md = std::fs::metadata(&src).unwrap();
        let same = Upload {
            sha256: "hashed-on-arrival".into(),
            size: md.len(),
            dev: md.dev(),
            ino: md.ino(),
        };
        let staged = stage(&spool, &src, "a.xml", Some(&same)).unwrap().unwrap();
        assert_eq!(staged.sha256, "hashed-on-arrival");

        let (src, spool) = upload(d.path());
        let md = std::fs::metadata(&src).unwrap();
        let other = Upload {
            dev: md.dev(),
            ino: md.ino().wrapping_add(1),
            ..same.clone()
        };
        let staged = stage(&spool, &src, "a.xml", Some(&other)).unwrap().unwrap();
        assert_eq!(staged.sha256, fsutil::sha256_hex(b"<Invoice/>"));
    }

    // A move that did not happen leaves nothing behind in the spool and the
    // upload where it was.
    #[test]
    fn a_failed_move_leaves_the_upload_in_incoming() {
        let d = tempfile::tempdir().unwrap();
        let (src, spool) = upload(d.path());
        std::fs::remove_file(&src).unwrap();
        assert!(stage(&spool, &src, "a.xml", None).unwrap().is_none());
        assert!(spool::files(&spool).is_empty());
    }
}
