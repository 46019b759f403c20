//! `[desk]`: the web console's listener, sessions and users (docs/DESK.md).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::problems::Problems;

/// What a user may do. A closed set: the word is stored with each session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: decisions, replaying dead letters, lifting bans.
    Admin,
    /// Review decisions, and everything a viewer sees.
    Operator,
    /// Read-only: jobs, results, certificates, reports, audit.
    Viewer,
    /// One account's own submissions and certificates only.
    Entity,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Viewer, Role::Entity];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Entity => "entity",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role's name as the pages show it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "administrador",
            Role::Operator => "operador",
            Role::Viewer => "auditor",
            Role::Entity => "entidad",
        }
    }

    /// May approve or reject review items.
    pub fn decides(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// May replay dead letters and lift bans.
    pub fn administers(self) -> bool {
        self == Role::Admin
    }

    /// Sees every account (an entity sees only its own).
    pub fn sees_all(self) -> bool {
        self != Role::Entity
    }
}

/// `[desk.users.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRaw {
    /// argon2id PHC hash from `pasarela user hash-password`.
    pub password_hash: String,
    /// admin, operator, viewer or entity.
    pub role: String,
    /// The account an entity user sees (required for entity, refused otherwise).
    pub account: Option<String>,
    /// Name shown on the pages and in the audit trail; default the user name.
    pub display_name: Option<String>,
}

/// `[desk]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeskRaw {
    /// `host:port`, e.g. `127.0.0.1:8080`. Absent = no desk.
    pub listen: Option<String>,
    /// PEM certificate chain and private key: serve HTTPS. Both or neither.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Mark cookies `Secure`. Default true; false only for plain HTTP on a
    /// host other than localhost (not recommended).
    pub cookie_secure: Option<bool>,
    /// Minutes without a request after which a session ends. Default 30.
    pub idle_timeout_minutes: Option<u64>,
    /// Hours after sign-in after which a session ends anyway. Default 12.
    pub absolute_timeout_hours: Option<u64>,
    /// Connections served at once. Default 256.
    pub max_connections: Option<u64>,
    /// Time allowed for a request head. Default 10000.
    pub read_timeout_ms: Option<u64>,
    pub users: BTreeMap<String, UserRaw>,
}

/// One user of the desk.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub account: Option<String>,
}

/// The compiled `[desk]` section.
#[derive(Debug, Clone)]
pub struct Desk {
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub cookie_secure: bool,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    pub max_connections: usize,
    pub read_timeout: Duration,
    pub users: BTreeMap<String, User>,
}

impl DeskRaw {
    /// Compile `[desk]`: `None` when no listener is configured; every
    /// problem goes to `p`.
    pub fn compile(
        self,
        file: &Path,
        accounts: &[String],
        resolve: &dyn Fn(&str) -> PathBuf,
        p: &mut Problems,
    ) -> Option<Desk> {
        let range = |p: &mut Problems, key: &str, v: u64, lo: u64, hi: u64| {
            if !(lo..=hi).contains(&v) {
                p.error(
                    file,
                    format!("desk.{key}"),
                    format!("must be between {lo} and {hi}"),
                );
            }
            v.clamp(lo, hi)
        };
        let idle = range(
            p,
            "idle_timeout_minutes",
            self.idle_timeout_minutes.unwrap_or(30),
            1,
            24 * 60,
        );
        let absolute = range(
            p,
            "absolute_timeout_hours",
            self.absolute_timeout_hours.unwrap_or(12),
            1,
            24 * 7,
        );
        let max = range(
            p,
            "max_connections",
            self.max_connections.unwrap_or(256),
            1,
            10_000,
        );
        let timeout = range(
            p,
            "read_timeout_ms",
            self.read_timeout_ms.unwrap_or(10_000),
            100,
            600_000,
        );
        let mut users = BTreeMap::new();
        for (name, u) in self.users {
            let key = format!("desk.users.{name}");
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
            {
                p.error(
                    file,
                    &key,
                    "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'",
                );
            }
            if let Err(e) = crate::sftp::auth::check_hash(&u.password_hash) {
                p.error(file, format!("{key}.password_hash"), format!("{e:#}"));
            }
            let Some(role) = Role::parse(&u.role) else {
                p.error(
                    file,
                    format!("{key}.role"),
                    format!(
                        "'{}' is not a role (admin, operator, viewer, entity)",
                        u.role
                    ),
                );
                continue;
            };
            match (&u.account, role) {
                (None, Role::Entity) => p.error(
                    file,
                    format!("{key}.account"),
                    "an entity user names the account it sees",
                ),
                (Some(a), Role::Entity) if !accounts.contains(a) => p.error(
                    file,
                    format!("{key}.account"),
                    format!("no account '{a}' in [accounts]"),
                ),
                (Some(_), r) if r != Role::Entity => p.error(
                    file,
                    format!("{key}.account"),
                    "only entity users are tied to an account (the others see every account)",
                ),
                _ => {}
            }
            users.insert(
                name.clone(),
                User {
                    display_name: u.display_name.unwrap_or_else(|| name.clone()),
                    name,
                    password_hash: u.password_hash,
                    role,
                    account: u.account,
                },
            );
        }
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(c), Some(k)) => Some((resolve(&c), resolve(&k))),
            (None, None) => None,
            _ => {
                p.error(file, "desk.tls_cert", "tls_cert and tls_key go together");
                None
            }
        };
        let listen = self.listen?;
        let addr = match listen.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                p.error(
                    file,
                    "desk.listen",
                    format!("'{listen}' is not an address:port such as 127.0.0.1:8080"),
                );
                return None;
            }
        };
        if users.is_empty() {
            p.warn(
                file,
                "desk.users",
                "no users: nobody can sign in to the desk",
            );
        }
        if tls.is_none() && !addr.ip().is_loopback() {
            p.warn(
                file,
                "desk.listen",
                "the desk listens beyond loopback without TLS: put it behind an HTTPS reverse proxy (docs/DESK.md) or set tls_cert and tls_key",
            );
        }
        Some(Desk {
            listen: addr,
            tls,
            cookie_secure: self.cookie_secure.unwrap_or(true),
            idle_timeout: Duration::from_secs(idle * 60),
            absolute_timeout: Duration::from_secs(absolute * 3600),
            max_connections: max as usize,
            read_timeout: Duration::from_millis(timeout),
            users,
        })
    }
}
