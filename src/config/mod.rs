//! Configuration: raw serde shapes (`raw`) compiled into resolved types.
//!
//! Parse, don't validate: `load` reads `pasarela.toml`, reports *every*
//! problem at once (unknown keys included, each naming file, key and reason)
//! and returns a [`Config`] whose values are already checked and resolved
//! (paths made absolute, durations typed, route globs compiled). Nothing else
//! in the crate reads `pasarela.toml`. This module does no IO beyond reading
//! the file; environment checks (writable folders, store opens) live in
//! `commands::validate::check_environment`.
//!
//! Dependencies run one way: `config` composes the sections, and the owners
//! of sections it does not compile itself (`sftp::config`, `outbox::config`,
//! `reports::config`, `aws::config`, `admin`) expose their raw shape and a
//! compile function that report through the leaf `crate::problems`, never
//! importing `config`. Here: `settings.rs` the process-wide sections,
//! `accounts.rs` and `routes.rs` those two, `raw.rs` their serde shapes.
//! Rules files (DIAN settings, registration rules, formats settings, Excel
//! layouts) are compiled by the steps that use them, when
//! `pipeline::Generation::build` builds the steps.

mod accounts;
pub mod raw;
mod routes;
mod settings;
#[cfg(test)]
mod tests;

pub use crate::problems::{ConfigError, Problems, section};
pub use accounts::{Account, valid_account_name};
pub use routes::{Route, route_step_names};
pub use settings::{
    ArchivePolicy, Daemon, DianSection, LogFormat, LogSettings, Registration, RetryPolicy,
    StoreSettings,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// `[review]`: the review queue's ages (docs/REVIEW.md).
    pub review: crate::review::ReviewSettings,
    /// `[desk]`: the web console (docs/DESK.md; None = off).
    pub desk: Option<crate::desk::config::Desk>,
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

/// Compile the file's text: every section by its compiler, every problem to `p`.
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
    let admin_raw: Option<crate::admin::AdminRaw> =
        section(take("admin").unwrap_or_else(empty), path, "admin", p);
    let aws = take("aws").and_then(|v| crate::aws::config::compile(v, path, p));
    let desk_raw: Option<crate::desk::config::DeskRaw> =
        section(take("desk").unwrap_or_else(empty), path, "desk", p);
    let review_raw: Option<crate::review::ReviewRaw> =
        section(take("review").unwrap_or_else(empty), path, "review", p);
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
    let accounts = accounts::compile(take("accounts"), path, &resolve, p);
    let routes = routes::compile(take("routes"), path, &accounts, p);

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
    let admin_listen = admin_raw?.compile(path, "admin", p);
    let review = review_raw?.compile(path, "review", p);
    let desk = desk_raw?.compile(path, &account_names, &resolve, p);

    let state_dir = resolve(&daemon.state_dir);
    Some(Config {
        source: path.to_path_buf(),
        base_dir: base.to_path_buf(),
        daemon: settings::daemon(daemon, &state_dir, path, &resolve, p),
        retry: settings::retry(retry, path, p),
        log: settings::log(log, path, p),
        store: settings::store(store, &state_dir, base, path, p),
        registration: settings::registration(registration, &state_dir, path, &resolve, p),
        dian: settings::dian(dian, path, &resolve, p),
        archive: settings::archive(archive),
        accounts,
        routes,
        sftp,
        smtp,
        reports,
        certificates,
        admin_listen,
        aws,
        review,
        desk,
    })
}
