//! The process-wide sections, compiled: `[daemon]`, `[store]`, `[retry]`,
//! `[archive]`, `[log]`, `[dian]` and `[registration]`. Each function takes
//! its raw section (`config::raw`) and reports every problem to `p`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw;
use crate::problems::Problems;

#[derive(Debug, Clone)]
pub struct Daemon {
    pub state_dir: PathBuf,
    pub workers: usize,
    pub scan_interval: Duration,
    pub stability: Duration,
    pub drain_timeout: Duration,
    pub poll_interval: Duration,
    pub max_file_bytes: u64,
    pub heavy_workers: usize,
    /// Root of the spool (one folder per account below it).
    pub spool_root: PathBuf,
    /// Lease of a claimed job (renewed every third of it).
    pub lease: Duration,
    /// SFTP upload temp files untouched this long are removed by the scan.
    pub stale_upload: Duration,
}

impl Daemon {
    pub fn spool_dir(&self, account: &str) -> PathBuf {
        crate::spool::account_dir(&self.spool_root, account)
    }
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub url: String,
    pub synchronous_full: bool,
    pub busy_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// A job started this many times without its attempt ending (the
    /// process died under it) is dead-lettered at its next claim (PAS91).
    pub max_starts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (attempt counts from 1): doubles each
    /// time from `initial_backoff`, capped at `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[derive(Debug, Clone)]
pub struct ArchivePolicy {
    pub retention_days: u32,
    pub purge_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct DianSection {
    /// Rule settings file (severities, tolerances, numbering ranges).
    pub rules: Option<PathBuf>,
    /// UBL 2.1 schemas for the optional XSD check (PAS37).
    pub xsd_dir: Option<PathBuf>,
}

/// `[registration]`, compiled.
#[derive(Debug, Clone)]
pub struct Registration {
    pub rules_dir: PathBuf,
    pub catalog_dir: PathBuf,
    pub default_side: crate::rules::Side,
}

/// `[daemon]`; `state_dir` is already resolved.
pub(super) fn daemon(
    d: raw::Daemon,
    state_dir: &Path,
    path: &Path,
    resolve: &dyn Fn(&str) -> PathBuf,
    p: &mut Problems,
) -> Daemon {
    if d.workers == 0 || d.workers > 1024 {
        p.error(path, "daemon.workers", "must be between 1 and 1024");
    }
    if d.heavy_workers == 0 || d.heavy_workers > 256 {
        p.error(path, "daemon.heavy_workers", "must be between 1 and 256");
    }
    if d.lease_secs < 3 {
        p.error(path, "daemon.lease_secs", "must be at least 3");
    }
    if d.stale_upload_secs < 60 {
        p.error(path, "daemon.stale_upload_secs", "must be at least 60");
    }
    if d.scan_interval_secs == 0 {
        p.error(path, "daemon.scan_interval_secs", "must be at least 1");
    }
    Daemon {
        state_dir: state_dir.to_path_buf(),
        workers: d.workers,
        scan_interval: Duration::from_secs(d.scan_interval_secs),
        stability: Duration::from_millis(d.stability_ms),
        drain_timeout: Duration::from_secs(d.drain_timeout_secs),
        poll_interval: Duration::from_millis(d.poll_interval_ms.max(10)),
        max_file_bytes: d.max_file_bytes.max(1),
        heavy_workers: d.heavy_workers,
        spool_root: d
            .spool_dir
            .as_deref()
            .map(resolve)
            .unwrap_or_else(|| crate::spool::default_root(state_dir)),
        lease: Duration::from_secs(d.lease_secs),
        stale_upload: Duration::from_secs(d.stale_upload_secs),
    }
}

/// `[retry]`
pub(super) fn retry(r: raw::Retry, path: &Path, p: &mut Problems) -> RetryPolicy {
    if r.max_attempts == 0 {
        p.error(path, "retry.max_attempts", "must be at least 1");
    }
    if r.max_starts == 0 {
        p.error(path, "retry.max_starts", "must be at least 1");
    }
    if r.initial_backoff_ms == 0 {
        p.error(path, "retry.initial_backoff_ms", "must be at least 1");
    }
    RetryPolicy {
        max_attempts: r.max_attempts,
        max_starts: r.max_starts,
        initial_backoff: Duration::from_millis(r.initial_backoff_ms),
        max_backoff: Duration::from_secs(r.max_backoff_secs),
    }
}

/// `[archive]`
pub(super) fn archive(a: raw::Archive) -> ArchivePolicy {
    ArchivePolicy {
        retention_days: a.retention_days,
        purge_interval: Duration::from_secs(a.purge_interval_secs.max(1)),
    }
}

/// `[log]`
pub(super) fn log(l: raw::Log, path: &Path, p: &mut Problems) -> LogSettings {
    let format = match l.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            p.error(
                path,
                "log.format",
                format!("'{other}' is not one of: text, json"),
            );
            LogFormat::Text
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&l.level).is_err() {
        p.error(
            path,
            "log.level",
            format!("'{}' is not a valid level or filter directive", l.level),
        );
    }
    LogSettings {
        format,
        level: l.level,
    }
}

/// `[store]`: the URL defaults to a SQLite file in `state_dir`; a relative
/// SQLite path resolves against `base`.
pub(super) fn store(
    s: raw::Store,
    state_dir: &Path,
    base: &Path,
    path: &Path,
    p: &mut Problems,
) -> StoreSettings {
    let synchronous_full = match s.synchronous.as_str() {
        "full" => true,
        "normal" => false,
        other => {
            p.error(
                path,
                "store.synchronous",
                format!("'{other}' is not one of: full, normal"),
            );
            true
        }
    };
    let url = s
        .url
        .unwrap_or_else(|| format!("sqlite://{}", state_dir.join("pasarela.db").display()));
    if let Some(rest) = url.strip_prefix("sqlite://") {
        if rest.is_empty() {
            p.error(path, "store.url", "the sqlite URL names no file");
        }
    } else if crate::store::is_postgres_url(&url) {
        use std::str::FromStr;
        if let Err(e) = sqlx::postgres::PgConnectOptions::from_str(&url) {
            p.error(
                path,
                "store.url",
                format!("not a valid PostgreSQL URL: {e}"),
            );
        }
    } else {
        p.error(
            path,
            "store.url",
            format!(
                "'{}' is neither a sqlite:// nor a postgres:// URL",
                crate::store::redact_url(&url)
            ),
        );
    }
    let url = match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
            format!("sqlite://{}", base.join(rest).display())
        }
        _ => url,
    };
    StoreSettings {
        url,
        synchronous_full,
        busy_timeout: Duration::from_millis(s.busy_timeout_ms),
    }
}

/// `[registration]`; the catalog defaults to `<state_dir>/catalog`.
pub(super) fn registration(
    r: raw::Registration,
    state_dir: &Path,
    path: &Path,
    resolve: &dyn Fn(&str) -> PathBuf,
    p: &mut Problems,
) -> Registration {
    let default_side = crate::rules::Side::parse(&r.default_side).unwrap_or_else(|| {
        p.error(
            path,
            "registration.default_side",
            format!("'{}' is not V (seller) or C (buyer)", r.default_side),
        );
        crate::rules::Side::Seller
    });
    Registration {
        catalog_dir: r
            .catalog_dir
            .as_deref()
            .map(resolve)
            .unwrap_or_else(|| crate::catalog::catalog_dir(state_dir)),
        rules_dir: resolve(&r.rules_dir),
        default_side,
    }
}

/// `[dian]`: the files it names must exist (their content is compiled with
/// the steps that use them, `pipeline::Generation::build`).
pub(super) fn dian(
    d: raw::Dian,
    path: &Path,
    resolve: &dyn Fn(&str) -> PathBuf,
    p: &mut Problems,
) -> DianSection {
    let rules = d.rules.as_deref().map(resolve);
    let xsd_dir = d.xsd_dir.as_deref().map(resolve);
    if let Some(dir) = &xsd_dir
        && !dir.join("maindoc").join("UBL-Invoice-2.1.xsd").is_file()
    {
        p.error(
            path,
            "dian.xsd_dir",
            format!(
                "{} does not hold the UBL 2.1 schemas (maindoc/UBL-Invoice-2.1.xsd is missing)",
                dir.display()
            ),
        );
    }
    if let Some(r) = &rules
        && !r.is_file()
    {
        p.error(
            path,
            "dian.rules",
            format!("file {} does not exist", r.display()),
        );
    }
    DianSection { rules, xsd_dir }
}
