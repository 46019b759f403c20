//! Configuration: raw serde shapes (`raw`) compiled into resolved types.
//!
//! Parse, don't validate: `load` reads `pasarela.toml`, reports *every*
//! problem at once (unknown keys included, each naming file, key and reason)
//! and returns a [`Config`] whose values are already checked and resolved
//! (paths made absolute, durations typed, route globs compiled). Nothing else
//! in the crate reads TOML. This module does no IO beyond reading the file;
//! environment checks (writable folders, store opens) live in `app::check_environment`.

mod error;
pub mod raw;

pub use error::{ConfigError, Problems};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobMatcher};

use crate::result::Format;

/// Exit code for a bad configuration (sysexits EX_CONFIG).
pub const EX_CONFIG: i32 = 78;

/// The compiled configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from.
    pub source: PathBuf,
    /// Directory relative paths were resolved against (the working directory).
    pub base_dir: PathBuf,
    pub daemon: Daemon,
    pub store: StoreSettings,
    pub retry: RetryPolicy,
    pub archive: ArchivePolicy,
    pub log: LogSettings,
    pub accounts: BTreeMap<String, Account>,
    pub routes: Vec<Route>,
    pub dian: DianSection,
    pub registration: Registration,
    pub sftp: Option<crate::sftp::config::SftpServer>,
    /// `[smtp]`: absent = no e-mail is sent (messages still queue in the outbox).
    pub smtp: Option<crate::outbox::config::Smtp>,
    /// `[reports]`: absent = reports only on demand, written nowhere automatically.
    pub reports: Option<crate::reports::config::Reports>,
    pub certificates: crate::reports::config::Certificates,
    /// `[admin]`: the /health, /ready, /metrics listener (None = off).
    pub admin_listen: Option<crate::admin::AdminListen>,
    /// `[aws]`: the Transfer Family server `pasarela aws sync` manages (docs/AWS.md).
    pub aws: Option<crate::aws::config::Aws>,
}

/// `[registration]`, compiled.
#[derive(Debug, Clone)]
pub struct Registration {
    pub rules_dir: PathBuf,
    pub catalog_dir: PathBuf,
    pub default_side: crate::rules::Side,
}

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
        self.spool_root.join(account)
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
    /// UBL 2.1 schemas for the optional XSD check (PAS31).
    pub xsd_dir: Option<PathBuf>,
}

/// An account: an external entity with a home holding `incoming/`,
/// `outgoing/` and `archive/`.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub home: PathBuf,
    /// E-mail addresses that receive this account's notifications.
    pub email: Vec<String>,
    pub sftp: Option<crate::sftp::config::AccountSftp>,
    pub notify: crate::outbox::config::Notify,
}

impl Account {
    pub fn incoming(&self) -> PathBuf {
        self.home.join("incoming")
    }
    pub fn outgoing(&self) -> PathBuf {
        self.home.join("outgoing")
    }
    pub fn archive(&self) -> PathBuf {
        self.home.join("archive")
    }
}

/// A route: which steps run for which files. The first matching route wins.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Empty = every account.
    pub accounts: Vec<String>,
    /// Globs over the folder relative to `incoming/` ("" for the top level).
    pub folders: Vec<GlobMatcher>,
    /// Globs over the file name.
    pub patterns: Vec<GlobMatcher>,
    /// Empty = every format.
    pub formats: Vec<Format>,
    pub steps: Vec<String>,
}

impl Route {
    /// Does this route apply to a file? `account` is `None` for `pasarela process`.
    pub fn matches(&self, account: Option<&str>, folder: &str, name: &str, format: Format) -> bool {
        let account_ok = match account {
            Some(a) => self.accounts.is_empty() || self.accounts.iter().any(|x| x == a),
            None => true,
        };
        account_ok
            && (self.folders.is_empty() || self.folders.iter().any(|g| g.is_match(folder)))
            && (self.patterns.is_empty() || self.patterns.iter().any(|g| g.is_match(name)))
            && (self.formats.is_empty() || self.formats.contains(&format))
    }
}

impl Config {
    /// Index of the first route that applies to a file.
    pub fn route_index(
        &self,
        account: Option<&str>,
        rel_path: &str,
        format: Format,
    ) -> Option<usize> {
        let (folder, name) = match rel_path.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", rel_path),
        };
        self.routes
            .iter()
            .position(|r| r.matches(account, folder, name, format))
    }
}

/// Read and compile a configuration file. Relative paths resolve against the
/// current working directory. On failure returns every problem found; on
/// success also returns the warnings.
pub fn load(path: &Path) -> Result<(Config, Vec<ConfigError>), Vec<ConfigError>> {
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    load_with_base(path, &base)
}

pub fn load_with_base(
    path: &Path,
    base: &Path,
) -> Result<(Config, Vec<ConfigError>), Vec<ConfigError>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![ConfigError::new(
                path,
                "",
                format!("cannot read file: {e}"),
            )]);
        }
    };
    let mut problems = Problems::default();
    let config = compile(path, base, &text, &mut problems);
    match config {
        Some(c) if !problems.has_errors() => Ok((c, problems.items)),
        _ => Err(problems.items),
    }
}

/// The step names of each `[[routes]]` entry as written, read leniently
/// (whatever else is wrong with the file): `validate` reports unknown step
/// names beside the configuration's other problems, though only the step
/// registry can tell them (`pipeline::steps::unknown_steps`).
pub fn route_step_names(path: &Path) -> Vec<Vec<String>> {
    let Some(table) = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return Vec::new();
    };
    let Some(toml::Value::Array(routes)) = table.get("routes") else {
        return Vec::new();
    };
    routes
        .iter()
        .map(|r| match r.get("steps") {
            Some(toml::Value::Array(steps)) => steps
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Deserialize one TOML value, recording unknown keys (as errors) and type
/// errors under `key` instead of stopping at the first one.
pub fn section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    file: &Path,
    key: &str,
    problems: &mut Problems,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result: Result<T, _> =
        serde_ignored::deserialize(value, |path| unknown.push(path.to_string()));
    for u in unknown {
        let full = if key.is_empty() {
            u
        } else {
            format!("{key}.{u}")
        };
        problems.error(file, full, "unknown key");
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            problems.error(file, key, e.to_string());
            None
        }
    }
}

fn compile(path: &Path, base: &Path, text: &str, p: &mut Problems) -> Option<Config> {
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            p.error(path, "", format!("not valid TOML: {e}"));
            return None;
        }
    };
    let mut sections: BTreeMap<String, toml::Value> = BTreeMap::new();
    for (k, v) in table {
        if raw::TOP_LEVEL_KEYS.contains(&k.as_str()) {
            sections.insert(k, v);
        } else {
            p.error(path, k, "unknown key");
        }
    }
    let mut take = |name: &str| sections.remove(name);
    let empty = || toml::Value::Table(toml::Table::new());

    let daemon: Option<raw::Daemon> =
        section(take("daemon").unwrap_or_else(empty), path, "daemon", p);
    let store: Option<raw::Store> = section(take("store").unwrap_or_else(empty), path, "store", p);
    let retry: Option<raw::Retry> = section(take("retry").unwrap_or_else(empty), path, "retry", p);
    let archive: Option<raw::Archive> =
        section(take("archive").unwrap_or_else(empty), path, "archive", p);
    let log: Option<raw::Log> = section(take("log").unwrap_or_else(empty), path, "log", p);
    let dian: Option<raw::Dian> = section(take("dian").unwrap_or_else(empty), path, "dian", p);
    let registration: Option<raw::Registration> = section(
        take("registration").unwrap_or_else(empty),
        path,
        "registration",
        p,
    );
    let sftp_raw: Option<Option<crate::sftp::config::SftpServerRaw>> =
        take("sftp").map(|v| section(v, path, "sftp", p));
    let smtp_raw: Option<Option<crate::outbox::config::SmtpRaw>> =
        take("smtp").map(|v| section(v, path, "smtp", p));
    let reports_raw: Option<Option<crate::reports::config::ReportsRaw>> =
        take("reports").map(|v| section(v, path, "reports", p));
    let admin_raw: Option<raw::Admin> =
        section(take("admin").unwrap_or_else(empty), path, "admin", p);
    let aws = take("aws").and_then(|v| crate::aws::config::compile(v, path, p));
    let certificates_raw: Option<crate::reports::config::CertificatesRaw> = section(
        take("certificates").unwrap_or_else(empty),
        path,
        "certificates",
        p,
    );

    let resolve = |s: &str| -> PathBuf {
        let pb = PathBuf::from(s);
        if pb.is_absolute() { pb } else { base.join(pb) }
    };

    // Accounts: each one compiled on its own so one bad account does not hide others.
    let mut accounts = BTreeMap::new();
    match take("accounts") {
        None => p.error(path, "accounts", "at least one account is required"),
        Some(toml::Value::Table(t)) => {
            for (name, v) in t {
                let key = format!("accounts.{name}");
                if !valid_account_name(&name) {
                    p.error(path, &key, "account names use only a-z, 0-9, '_' and '-', start with a letter or digit, and are at most 64 characters");
                }
                let Some(a) = section::<raw::Account>(v, path, &key, p) else {
                    continue;
                };
                let home = resolve(&a.home);
                let sftp = a
                    .sftp
                    .map(|s| s.compile(path, &format!("{key}.sftp"), &resolve, p));
                for (i, e) in a.email.iter().enumerate() {
                    if !looks_like_email(e) {
                        p.error(
                            path,
                            format!("{key}.email[{i}]"),
                            format!("'{e}' is not an e-mail address"),
                        );
                    }
                }
                let notify = a.notify.compile(path, &format!("{key}.notify"), p);
                accounts.insert(
                    name.clone(),
                    Account {
                        name,
                        home,
                        email: a.email,
                        sftp,
                        notify,
                    },
                );
            }
        }
        Some(_) => p.error(
            path,
            "accounts",
            "must be a table of accounts ([accounts.NAME])",
        ),
    }
    check_homes(path, &accounts, p);

    let mut routes = Vec::new();
    match take("routes") {
        None => p.error(path, "routes", "at least one route is required"),
        Some(toml::Value::Array(items)) => {
            for (i, v) in items.into_iter().enumerate() {
                let key = format!("routes[{i}]");
                let Some(r) = section::<raw::Route>(v, path, &key, p) else {
                    continue;
                };
                if let Some(route) = compile_route(path, &key, r, &accounts, p) {
                    if routes.iter().any(|x: &Route| x.name == route.name) {
                        p.error(
                            path,
                            format!("{key}.name"),
                            format!("route name '{}' is used twice", route.name),
                        );
                    }
                    routes.push(route);
                }
            }
        }
        Some(_) => p.error(path, "routes", "must be an array of tables ([[routes]])"),
    }
    if !routes.is_empty()
        && !routes.iter().any(|r| {
            r.accounts.is_empty()
                && r.folders.is_empty()
                && r.patterns.is_empty()
                && r.formats.is_empty()
        })
    {
        p.warn(
            path,
            "routes",
            "no catch-all route: files no route matches are rejected with PAS81",
        );
    }

    let (daemon, store, retry, archive, log, dian, registration) = (
        daemon?,
        store?,
        retry?,
        archive?,
        log?,
        dian?,
        registration?,
    );
    let sftp = match sftp_raw {
        None => None,
        Some(None) => return None,
        Some(Some(s)) => Some(s.compile(path, "sftp", &resolve, p)),
    };
    let smtp = match smtp_raw {
        None => None,
        Some(None) => return None,
        Some(Some(s)) => Some(s.compile(path, "smtp", &resolve, p)),
    };
    let account_names: Vec<String> = accounts.keys().cloned().collect();
    let reports = match reports_raw {
        None => None,
        Some(None) => return None,
        Some(Some(r)) => Some(r.compile(path, "reports", &account_names, p)),
    };
    let certificates = certificates_raw?.compile();
    let admin_raw = admin_raw?;
    let admin_max = admin_raw
        .max_connections
        .unwrap_or(crate::admin::DEFAULT_MAX_CONNECTIONS as u64);
    if !(1..=10_000).contains(&admin_max) {
        p.error(path, "admin.max_connections", "must be between 1 and 10000");
    }
    let admin_timeout = admin_raw
        .read_timeout_ms
        .unwrap_or(crate::admin::DEFAULT_READ_TIMEOUT.as_millis() as u64);
    if !(100..=600_000).contains(&admin_timeout) {
        p.error(
            path,
            "admin.read_timeout_ms",
            "must be between 100 and 600000 (10 minutes)",
        );
    }
    let admin_listen = match admin_raw.listen {
        None => None,
        Some(l) => match l.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(crate::admin::AdminListen {
                addr,
                max_connections: admin_max.clamp(1, 10_000) as usize,
                read_timeout: std::time::Duration::from_millis(admin_timeout),
            }),
            Err(_) => {
                p.error(
                    path,
                    "admin.listen",
                    format!("'{l}' is not an address:port such as 127.0.0.1:9464"),
                );
                None
            }
        },
    };

    if daemon.workers == 0 || daemon.workers > 1024 {
        p.error(path, "daemon.workers", "must be between 1 and 1024");
    }
    if daemon.heavy_workers == 0 || daemon.heavy_workers > 256 {
        p.error(path, "daemon.heavy_workers", "must be between 1 and 256");
    }
    if daemon.lease_secs < 3 {
        p.error(path, "daemon.lease_secs", "must be at least 3");
    }
    if daemon.stale_upload_secs < 60 {
        p.error(path, "daemon.stale_upload_secs", "must be at least 60");
    }
    if daemon.scan_interval_secs == 0 {
        p.error(path, "daemon.scan_interval_secs", "must be at least 1");
    }
    if retry.max_attempts == 0 {
        p.error(path, "retry.max_attempts", "must be at least 1");
    }
    if retry.max_starts == 0 {
        p.error(path, "retry.max_starts", "must be at least 1");
    }
    if retry.initial_backoff_ms == 0 {
        p.error(path, "retry.initial_backoff_ms", "must be at least 1");
    }
    let log_format = match log.format.as_str() {
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
    if tracing_subscriber::EnvFilter::try_new(&log.level).is_err() {
        p.error(
            path,
            "log.level",
            format!("'{}' is not a valid level or filter directive", log.level),
        );
    }
    let synchronous_full = match store.synchronous.as_str() {
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
    let state_dir = resolve(&daemon.state_dir);
    let default_side = crate::rules::Side::parse(&registration.default_side).unwrap_or_else(|| {
        p.error(
            path,
            "registration.default_side",
            format!(
                "'{}' is not V (seller) or C (buyer)",
                registration.default_side
            ),
        );
        crate::rules::Side::Seller
    });
    let url = store
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
    let dian_rules = dian.rules.as_deref().map(resolve);
    let xsd_dir = dian.xsd_dir.as_deref().map(resolve);
    if let Some(d) = &xsd_dir
        && !d.join("maindoc").join("UBL-Invoice-2.1.xsd").is_file()
    {
        p.error(
            path,
            "dian.xsd_dir",
            format!(
                "{} does not hold the UBL 2.1 schemas (maindoc/UBL-Invoice-2.1.xsd is missing)",
                d.display()
            ),
        );
    }
    if let Some(r) = &dian_rules
        && !r.is_file()
    {
        p.error(
            path,
            "dian.rules",
            format!("file {} does not exist", r.display()),
        );
    }

    Some(Config {
        source: path.to_path_buf(),
        base_dir: base.to_path_buf(),
        daemon: Daemon {
            state_dir: state_dir.clone(),
            workers: daemon.workers,
            scan_interval: Duration::from_secs(daemon.scan_interval_secs),
            stability: Duration::from_millis(daemon.stability_ms),
            drain_timeout: Duration::from_secs(daemon.drain_timeout_secs),
            poll_interval: Duration::from_millis(daemon.poll_interval_ms.max(10)),
            max_file_bytes: daemon.max_file_bytes.max(1),
            heavy_workers: daemon.heavy_workers,
            spool_root: daemon
                .spool_dir
                .as_deref()
                .map(&resolve)
                .unwrap_or_else(|| state_dir.join("spool")),
            lease: Duration::from_secs(daemon.lease_secs),
            stale_upload: Duration::from_secs(daemon.stale_upload_secs),
        },
        store: StoreSettings {
            url,
            synchronous_full,
            busy_timeout: Duration::from_millis(store.busy_timeout_ms),
        },
        retry: RetryPolicy {
            max_attempts: retry.max_attempts,
            max_starts: retry.max_starts,
            initial_backoff: Duration::from_millis(retry.initial_backoff_ms),
            max_backoff: Duration::from_secs(retry.max_backoff_secs),
        },
        archive: ArchivePolicy {
            retention_days: archive.retention_days,
            purge_interval: Duration::from_secs(archive.purge_interval_secs.max(1)),
        },
        log: LogSettings {
            format: log_format,
            level: log.level,
        },
        accounts,
        routes,
        dian: DianSection {
            rules: dian_rules,
            xsd_dir,
        },
        registration: Registration {
            catalog_dir: registration
                .catalog_dir
                .as_deref()
                .map(resolve)
                .unwrap_or_else(|| crate::catalog::catalog_dir(&resolve(&daemon.state_dir))),
            rules_dir: resolve(&registration.rules_dir),
            default_side,
        },
        sftp,
        smtp,
        reports,
        certificates,
        admin_listen,
        aws,
    })
}

fn compile_route(
    path: &Path,
    key: &str,
    r: raw::Route,
    accounts: &BTreeMap<String, Account>,
    p: &mut Problems,
) -> Option<Route> {
    let mut ok = true;
    if r.name.trim().is_empty() {
        p.error(path, format!("{key}.name"), "must not be empty");
        ok = false;
    }
    for (i, a) in r.accounts.iter().enumerate() {
        if !accounts.contains_key(a) {
            p.error(
                path,
                format!("{key}.accounts[{i}]"),
                format!("no account named '{a}'"),
            );
            ok = false;
        }
    }
    let mut globs = |list: &[String], field: &str| -> Vec<GlobMatcher> {
        let mut out = Vec::new();
        for (i, g) in list.iter().enumerate() {
            match Glob::new(g) {
                Ok(g) => out.push(g.compile_matcher()),
                Err(e) => {
                    p.error(
                        path,
                        format!("{key}.{field}[{i}]"),
                        format!("bad glob: {e}"),
                    );
                    ok = false;
                }
            }
        }
        out
    };
    let folders = globs(&r.folders, "folders");
    let patterns = globs(&r.patterns, "patterns");
    let mut formats = Vec::new();
    for (i, f) in r.formats.iter().enumerate() {
        match Format::parse(f) {
            Some(f) => formats.push(f),
            None => {
                p.error(
                    path,
                    format!("{key}.formats[{i}]"),
                    format!("'{f}' is not one of: xml, pdf, image, excel, unknown"),
                );
                ok = false;
            }
        }
    }
    if r.steps.is_empty() {
        p.error(
            path,
            format!("{key}.steps"),
            "a route needs at least one step",
        );
        ok = false;
    }
    // Step names are checked where steps are built (`pipeline::Generation::build`):
    // the step factories are the authority.
    ok.then_some(Route {
        name: r.name,
        accounts: r.accounts,
        folders,
        patterns,
        formats,
        steps: r.steps,
    })
}

fn check_homes(path: &Path, accounts: &BTreeMap<String, Account>, p: &mut Problems) {
    let list: Vec<&Account> = accounts.values().collect();
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            // Component-wise comparison: /home/demo does not contain /home/demo2.
            if a.home.starts_with(&b.home) || b.home.starts_with(&a.home) {
                p.error(
                    path,
                    format!("accounts.{}.home", b.name),
                    format!(
                        "home {} overlaps the home of account '{}'",
                        b.home.display(),
                        a.name
                    ),
                );
            }
        }
    }
}

pub fn valid_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Config, Vec<ConfigError>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        load_with_base(&path, Path::new("/base")).map(|(c, _)| c)
    }

    const ROUTE: &str = "[[routes]]\nname = \"all\"\nsteps = [\"classify\"]\n";

    #[test]
    fn defaults_and_resolution() {
        let c = load_str(&format!(
            "[accounts.demo]\nhome = \"var/home/demo\"\n{ROUTE}"
        ))
        .unwrap();
        assert_eq!(c.daemon.workers, 4);
        assert_eq!(
            c.accounts["demo"].incoming(),
            Path::new("/base/var/home/demo/incoming")
        );
        assert_eq!(c.store.url, "sqlite:///base/var/pasarela.db");
        assert_eq!(c.retry.backoff(1), Duration::from_secs(1));
        assert_eq!(c.retry.backoff(3), Duration::from_secs(4));
        assert_eq!(c.retry.backoff(40), Duration::from_secs(600));
        assert_eq!(c.retry.max_starts, 3);
        assert_eq!(c.daemon.stale_upload, Duration::from_secs(86_400));
    }

    #[test]
    fn poison_and_upload_limits_are_checked() {
        let errs = load_str(&format!(
            "[daemon]\nstale_upload_secs = 5\n[retry]\nmax_starts = 0\n[accounts.demo]\nhome = \"h\"\n{ROUTE}"
        ))
        .unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"retry.max_starts"), "{keys:?}");
        assert!(keys.contains(&"daemon.stale_upload_secs"), "{keys:?}");
        let c = load_str(&format!(
            "[daemon]\nstale_upload_secs = 600\n[retry]\nmax_starts = 1\n[accounts.demo]\nhome = \"h\"\n{ROUTE}"
        ))
        .unwrap();
        assert_eq!(c.retry.max_starts, 1);
        assert_eq!(c.daemon.stale_upload, Duration::from_secs(600));
    }

    #[test]
    fn admin_limits_default_and_are_checked() {
        let base = format!("[accounts.demo]\nhome = \"h\"\n{ROUTE}");
        let c = load_str(&format!("[admin]\nlisten = \"127.0.0.1:9464\"\n{base}")).unwrap();
        let a = c.admin_listen.unwrap();
        assert_eq!(
            (a.max_connections, a.read_timeout),
            (64, Duration::from_secs(5))
        );
        let c = load_str(&format!(
            "[admin]\nlisten = \"127.0.0.1:9464\"\nmax_connections = 3\nread_timeout_ms = 250\n{base}"
        ))
        .unwrap();
        let a = c.admin_listen.unwrap();
        assert_eq!(
            (a.max_connections, a.read_timeout),
            (3, Duration::from_millis(250))
        );
        let errs = load_str(&format!(
            "[admin]\nlisten = \"127.0.0.1:9464\"\nmax_connections = 0\nread_timeout_ms = 5\n{base}"
        ))
        .unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"admin.max_connections"), "{keys:?}");
        assert!(keys.contains(&"admin.read_timeout_ms"), "{keys:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let errs = load_str(
            "top = 1\n[daemon]\nworkers = 0\nfoo = 2\n[accounts.\"Bad Name\"]\nhome = \"h\"\n[accounts.ok]\nhome = \"h/sub\"\nemail = [\"nope\"]\n[[routes]]\nname = \"r\"\nformats = [\"docx\"]\nsteps = []\naccounts = [\"ghost\"]\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = errs
            .iter()
            .filter(|e| !e.warning)
            .map(|e| e.key.as_str())
            .collect();
        for k in [
            "top",
            "daemon.foo",
            "daemon.workers",
            "accounts.Bad Name",
            "accounts.ok.email[0]",
            "routes[0].formats[0]",
            "routes[0].steps",
            "routes[0].accounts[0]",
        ] {
            assert!(keys.contains(&k), "missing {k} in {keys:?}");
        }
        // Overlapping homes (h contains h/sub).
        assert!(
            errs.iter()
                .any(|e| e.key.ends_with(".home") && e.reason.contains("overlaps")),
            "{errs:?}"
        );
    }

    #[test]
    fn homes_are_compared_by_component() {
        assert!(
            load_str(&format!(
                "[accounts.a]\nhome = \"/h/demo\"\n[accounts.b]\nhome = \"/h/demo2\"\n{ROUTE}"
            ))
            .is_ok()
        );
    }

    #[test]
    fn routes_match_accounts_folders_patterns_formats() {
        let c = load_str(
            "[accounts.a]\nhome = \"a\"\n[accounts.b]\nhome = \"b\"\n\
             [[routes]]\nname = \"b-reports\"\naccounts = [\"b\"]\nfolders = [\"daily-*\"]\nsteps = [\"classify\"]\n\
             [[routes]]\nname = \"xml\"\nformats = [\"xml\"]\npatterns = [\"*.xml\"]\nsteps = [\"classify\"]\n\
             [[routes]]\nname = \"rest\"\nsteps = [\"reject-unsupported\"]\n",
        )
        .unwrap();
        let name = |acc, path, f| {
            c.route_index(Some(acc), path, f)
                .map(|i| c.routes[i].name.as_str())
        };
        assert_eq!(
            name("b", "daily-reports/x.pdf", Format::Pdf),
            Some("b-reports")
        );
        assert_eq!(name("a", "daily-reports/x.xml", Format::Xml), Some("xml"));
        assert_eq!(name("a", "x.XML", Format::Xml), Some("rest"));
        assert_eq!(name("b", "x.xml", Format::Pdf), Some("rest"));
    }
}
