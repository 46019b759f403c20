//! Raw configuration shapes, exactly as written in `pasarela.toml`.
//!
//! Unknown keys are reported as errors by `config::section` (via serde_ignored),
//! which collects all of them instead of stopping at the first. Option names
//! carry their units (`_secs`, `_ms`).

use serde::Deserialize;

pub const TOP_LEVEL_KEYS: &[&str] = &[
    "daemon",
    "store",
    "retry",
    "archive",
    "log",
    "dian",
    "registration",
    "sftp",
    "accounts",
    "routes",
    "smtp",
    "reports",
    "certificates",
    "admin",
    "aws",
    "review",
    "desk",
];

/// `[daemon]`: process-wide settings.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Daemon {
    /// Where the store, spool and keys live. Default `var`.
    pub state_dir: String,
    /// Files processed at the same time. Default 4.
    pub workers: usize,
    /// Full re-scan of every `incoming/` (catches files missed by the watcher,
    /// e.g. on network mounts). Default 30 s.
    pub scan_interval_secs: u64,
    /// A file that did not arrive by close-after-write or rename must keep the
    /// same size and mtime this long before it is taken. Default 2000 ms.
    pub stability_ms: u64,
    /// On shutdown, how long in-flight files may take to finish. Default 30 s.
    pub drain_timeout_secs: u64,
    /// How often the queue is polled for retries that came due and for work
    /// queued by other processes (`pasarela replay`). Default 1000 ms.
    pub poll_interval_ms: u64,
    /// Larger files are rejected (PAS83) without being read into memory.
    /// Default 100 MiB.
    pub max_file_bytes: u64,
    /// PDFs and images processed at the same time, beside `workers` for the
    /// rest, so slow scans never hold up invoices. Default 2.
    pub heavy_workers: usize,
    /// Where accepted files wait for processing. Default `<state_dir>/spool`.
    /// Daemons sharing a PostgreSQL store share this folder (and the homes).
    pub spool_dir: Option<String>,
    /// How long a claimed job stays this daemon's without a heartbeat (the
    /// lease is renewed every third of it). On a shared PostgreSQL store, the
    /// jobs of a daemon that died are taken over after this. Default 60 s.
    pub lease_secs: u64,
    /// A `.pasarela-upload-*` temp file (an SFTP upload cut off by a crash or
    /// a dropped connection) not written for this long is removed by the
    /// periodic scan; start-up removes them all when the store is SQLite (no
    /// other daemon can be uploading). Default 86400 (one day).
    pub stale_upload_secs: u64,
}

impl Default for Daemon {
    fn default() -> Self {
        Self {
            state_dir: "var".into(),
            workers: 16,
            scan_interval_secs: 30,
            stability_ms: 2000,
            drain_timeout_secs: 30,
            poll_interval_ms: 1000,
            max_file_bytes: 100 * 1024 * 1024,
            heavy_workers: 2,
            spool_dir: None,
            lease_secs: 60,
            stale_upload_secs: 86_400,
        }
    }
}

/// `[store]`: the SQL store.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Store {
    /// `sqlite://PATH`. Default `sqlite://<state_dir>/pasarela.db`.
    pub url: Option<String>,
    /// SQLite `synchronous`: `full` (durable across power loss, default) or `normal`.
    pub synchronous: String,
    /// How long a writer waits for a lock. Default 10000 ms.
    pub busy_timeout_ms: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            url: None,
            synchronous: "full".into(),
            busy_timeout_ms: 10_000,
        }
    }
}

/// `[retry]`: transient failures are retried with exponential backoff.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Retry {
    /// Attempts before a file is dead-lettered. Default 5.
    pub max_attempts: u32,
    /// Starts that did not end (the daemon or the worker died under the
    /// file: abort, OOM kill, kill -9) before the file is dead-lettered
    /// (PAS91) instead of being run again. Default 3.
    pub max_starts: u32,
    /// Default 1000 ms; doubles each attempt.
    pub initial_backoff_ms: u64,
    /// Default 600 s.
    pub max_backoff_secs: u64,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_starts: 3,
            initial_backoff_ms: 1000,
            max_backoff_secs: 600,
        }
    }
}

/// `[archive]`: processed inputs kept under each account's `archive/`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Archive {
    /// Archived inputs older than this are deleted. 0 keeps them forever. Default 30.
    pub retention_days: u32,
    /// How often the purge runs. Default 3600 s.
    pub purge_interval_secs: u64,
}

impl Default for Archive {
    fn default() -> Self {
        Self {
            retention_days: 30,
            purge_interval_secs: 3600,
        }
    }
}

/// `[log]`
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Log {
    /// `text` (default) or `json`. `--log-format` overrides it.
    pub format: String,
    /// A tracing filter, e.g. `info` or `pasarela=debug`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// `[dian]`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Dian {
    /// Rule settings file, e.g. `rules/dian.toml`.
    pub rules: Option<String>,
    /// UBL 2.1 schema folder (holding `maindoc/` and `common/`): documents are
    /// also validated against the XSD (PAS37). Absent = no XSD check.
    pub xsd_dir: Option<String>,
}

/// `[registration]`: catalog matching and commissions (the `price` step).
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Registration {
    /// Folder with `commissions.toml`, `catalog.toml` and `aliases/`. Default `rules`.
    pub rules_dir: String,
    /// Catalog folder (`pasarela catalog import` writes it). Default `<state_dir>/catalog`.
    pub catalog_dir: Option<String>,
    /// The side ("punta") an XML invoice is registered for: `V` (seller, the
    /// supplier is the client) or `C` (buyer, the customer is the client). Default `V`.
    pub default_side: String,
}

impl Default for Registration {
    fn default() -> Self {
        Self {
            rules_dir: "rules".into(),
            catalog_dir: None,
            default_side: "V".into(),
        }
    }
}

/// `[accounts.NAME]`
#[derive(Debug, Deserialize)]
pub struct Account {
    /// Home directory holding `incoming/`, `outgoing/`, `archive/`.
    pub home: String,
    /// Addresses that receive this account's notifications.
    #[serde(default)]
    pub email: Vec<String>,
    /// SFTP access for this account.
    #[serde(default)]
    pub sftp: Option<crate::sftp::config::AccountSftpRaw>,
    /// Who else receives this account's e-mails (`[accounts.NAME.notify]`).
    #[serde(default)]
    pub notify: crate::outbox::config::NotifyRaw,
}

/// `[[routes]]`: which steps run for which files; the first match wins.
#[derive(Debug, Deserialize)]
pub struct Route {
    pub name: String,
    /// Accounts this route applies to; empty = all.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Globs over the folder under `incoming/` ("" is the top level); empty = all.
    #[serde(default)]
    pub folders: Vec<String>,
    /// Globs over the file name; empty = all.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Detected formats (xml, pdf, image, excel, unknown); empty = all.
    #[serde(default)]
    pub formats: Vec<String>,
    /// Step names, run in order.
    pub steps: Vec<String>,
}
