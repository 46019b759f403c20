//! `[accounts.NAME]`, compiled: each account on its own, so one bad account
//! does not hide the others; homes must not overlap. The `sftp` and `notify`
//! subsections are compiled by their owners (`sftp::config`, `outbox::config`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{raw, section};
use crate::problems::Problems;

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

/// Compile the `accounts` table (`None` when the file has none).
pub(super) fn compile(
    value: Option<toml::Value>,
    path: &Path,
    resolve: &dyn Fn(&str) -> PathBuf,
    p: &mut Problems,
) -> BTreeMap<String, Account> {
    let mut accounts = BTreeMap::new();
    match value {
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
                    .map(|s| s.compile(path, &format!("{key}.sftp"), resolve, p));
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
    accounts
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
