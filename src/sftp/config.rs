//! SFTP configuration: `[sftp]` (the server) and `[accounts.NAME.sftp]`.
//!
//! Raw serde shapes are compiled into resolved ones: paths made absolute,
//! public keys parsed, the password hash checked, CIDRs and permissions
//! parsed. `compile` records every problem instead of stopping at the first.
//! Unknown keys are reported by the caller (serde_ignored), so these shapes do
//! not use `deny_unknown_fields`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::problems::Problems;
use crate::sftp::vfs::{Perm, Perms, ViewPath};

/// `[sftp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SftpServerRaw {
    /// `host:port` to listen on, e.g. `127.0.0.1:2222`. Port 0 picks a free port.
    pub listen: Option<String>,
    /// Where host keys are kept. Default `<daemon.state_dir>/keys`.
    pub host_key_dir: Option<String>,
    /// Connections at the same time from one source address. Default 32.
    pub max_connections_per_ip: Option<usize>,
    /// Connections that have not authenticated yet, all sources together
    /// (like OpenSSH's MaxStartups). Default 64.
    pub max_unauthenticated: Option<usize>,
    /// Time a client has to connect and authenticate (OpenSSH LoginGraceTime).
    /// Default 30 s: an idle connection cannot hold a pre-auth slot long.
    pub login_grace_secs: Option<u64>,
    /// A session with no traffic for this long is closed. Default 600 s.
    pub idle_timeout_secs: Option<u64>,
    /// Authentication attempts per connection (OpenSSH MaxAuthTries). Default 6.
    pub max_auth_attempts: Option<usize>,
    /// Every rejected authentication waits this long (hides timing). Default 300 ms.
    pub auth_rejection_delay_ms: Option<u64>,
    /// Failed-login score within `ban_window_secs` that bans an address.
    /// A failed login of a known account scores 1, of an unknown account 2. Default 10.
    pub ban_score: Option<u32>,
    /// Window over which failed-login scores add up. Default 600 s.
    pub ban_window_secs: Option<u64>,
    /// First ban length; each further ban of the same address doubles it. Default 900 s.
    pub ban_secs: Option<u64>,
    /// Longest ban. Default 86400 s.
    pub ban_max_secs: Option<u64>,
    /// Open files and directories per session. Default 256.
    pub max_open_handles: Option<u32>,
    /// Unauthenticated connections from one source address. Default 24.
    pub max_unauthenticated_per_ip: Option<usize>,
    /// SFTP sessions at once, all accounts together. Each holds one blocking
    /// thread, so this stays well below the runtime's pool (512). Default 128.
    pub max_sessions: Option<usize>,
    /// SFTP sessions at once of one account. Default 32.
    pub max_sessions_per_account: Option<usize>,
    /// Requests of one session received but not handled yet; past it the
    /// session is closed. Default 16384.
    pub max_pending_requests: Option<usize>,
    /// Bytes of those requests; past it the session is closed. Default 32 MiB.
    pub max_pending_bytes: Option<usize>,
    /// Bytes of replies of one session not yet taken by the client's window;
    /// when full the session stops handling requests. Default 8 MiB.
    pub max_reply_bytes: Option<usize>,
    /// Free space kept on the filesystems of uploads and of the state
    /// directory: an upload that would go below it is refused. Default 1 GiB.
    pub min_free_bytes: Option<u64>,
    /// The same reserve as a percentage of the filesystem's size (the larger
    /// of the two applies). Default 0.
    pub min_free_percent: Option<u8>,
}

/// The compiled `[sftp]` section.
#[derive(Debug, Clone)]
pub struct SftpServer {
    pub listen: String,
    /// `None`: `<daemon.state_dir>/keys`.
    pub host_key_dir: Option<PathBuf>,
    pub max_connections_per_ip: usize,
    pub max_unauthenticated: usize,
    pub login_grace: Duration,
    pub idle_timeout: Duration,
    pub max_auth_attempts: usize,
    pub auth_rejection_delay: Duration,
    pub ban_score: u32,
    pub ban_window: Duration,
    pub ban: Duration,
    pub ban_max: Duration,
    pub max_open_handles: u32,
    pub max_unauthenticated_per_ip: usize,
    pub max_sessions: usize,
    pub max_sessions_per_account: usize,
    pub max_pending_requests: usize,
    pub max_pending_bytes: usize,
    pub max_reply_bytes: usize,
    pub min_free_bytes: u64,
    pub min_free_percent: u8,
}

impl SftpServer {
    /// Where host keys live for a given state directory.
    pub fn host_key_dir(&self, state_dir: &Path) -> PathBuf {
        self.host_key_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("keys"))
    }
}

fn positive<T: PartialOrd + Default + Copy>(
    v: Option<T>,
    default: T,
    file: &Path,
    key: String,
    p: &mut Problems,
) -> T {
    match v {
        Some(x) if x <= T::default() => {
            p.error(file, key, "must be at least 1");
            default
        }
        Some(x) => x,
        None => default,
    }
}

impl SftpServerRaw {
    pub fn compile(
        self,
        file: &Path,
        key: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
        p: &mut Problems,
    ) -> SftpServer {
        let listen = self.listen.unwrap_or_else(|| "127.0.0.1:2222".into());
        if listen.parse::<SocketAddr>().is_err() {
            p.error(
                file,
                format!("{key}.listen"),
                format!("'{listen}' is not an address like 127.0.0.1:2222"),
            );
        }
        let k = |s: &str| format!("{key}.{s}");
        let ban = positive(self.ban_secs, 900, file, k("ban_secs"), p);
        let ban_max = positive(self.ban_max_secs, 86_400, file, k("ban_max_secs"), p);
        if ban_max < ban {
            p.error(file, k("ban_max_secs"), "must not be shorter than ban_secs");
        }
        SftpServer {
            listen,
            host_key_dir: self.host_key_dir.as_deref().map(resolve),
            max_connections_per_ip: positive(
                self.max_connections_per_ip,
                32,
                file,
                k("max_connections_per_ip"),
                p,
            ),
            max_unauthenticated: positive(
                self.max_unauthenticated,
                64,
                file,
                k("max_unauthenticated"),
                p,
            ),
            login_grace: Duration::from_secs(positive(
                self.login_grace_secs,
                30,
                file,
                k("login_grace_secs"),
                p,
            )),
            idle_timeout: Duration::from_secs(positive(
                self.idle_timeout_secs,
                600,
                file,
                k("idle_timeout_secs"),
                p,
            )),
            max_auth_attempts: positive(self.max_auth_attempts, 6, file, k("max_auth_attempts"), p),
            auth_rejection_delay: Duration::from_millis(
                self.auth_rejection_delay_ms.unwrap_or(300),
            ),
            ban_score: positive(self.ban_score, 10, file, k("ban_score"), p),
            ban_window: Duration::from_secs(positive(
                self.ban_window_secs,
                600,
                file,
                k("ban_window_secs"),
                p,
            )),
            ban: Duration::from_secs(ban),
            ban_max: Duration::from_secs(ban_max),
            max_open_handles: positive(self.max_open_handles, 256, file, k("max_open_handles"), p),
            max_unauthenticated_per_ip: positive(
                self.max_unauthenticated_per_ip,
                24,
                file,
                k("max_unauthenticated_per_ip"),
                p,
            ),
            max_sessions: positive(self.max_sessions, 128, file, k("max_sessions"), p),
            max_sessions_per_account: positive(
                self.max_sessions_per_account,
                32,
                file,
                k("max_sessions_per_account"),
                p,
            ),
            max_pending_requests: positive(
                self.max_pending_requests,
                16_384,
                file,
                k("max_pending_requests"),
                p,
            ),
            max_pending_bytes: {
                let v = positive(
                    self.max_pending_bytes,
                    32 << 20,
                    file,
                    k("max_pending_bytes"),
                    p,
                );
                if v < 1 << 20 {
                    p.error(
                        file,
                        k("max_pending_bytes"),
                        "must be at least 1048576 (one full WRITE is 256 KiB)",
                    );
                }
                v
            },
            max_reply_bytes: {
                let v = positive(self.max_reply_bytes, 8 << 20, file, k("max_reply_bytes"), p);
                if v < 1 << 20 {
                    p.error(
                        file,
                        k("max_reply_bytes"),
                        "must be at least 1048576 (one full READ reply is 255 KiB)",
                    );
                }
                v
            },
            min_free_bytes: self.min_free_bytes.unwrap_or(1 << 30),
            min_free_percent: match self.min_free_percent {
                Some(x) if x > 90 => {
                    p.error(file, k("min_free_percent"), "must be between 0 and 90");
                    0
                }
                x => x.unwrap_or(0),
            },
        }
    }
}

/// `[[accounts.NAME.sftp.virtual_folders]]` as written.
#[derive(Debug, Default, Deserialize)]
pub struct VirtualFolderRaw {
    /// Where it appears in the account's view, e.g. `/reports`.
    pub path: String,
    /// The directory it shows.
    pub directory: String,
    /// e.g. `["list", "download"]`.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// `[accounts.NAME.sftp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountSftpRaw {
    /// Files in authorized_keys format.
    pub authorized_keys: Vec<String>,
    /// An argon2id hash (PHC string) from `pasarela user hash-password`.
    pub password_hash: Option<String>,
    /// Source networks (CIDR) allowed to log in. Default: any.
    pub allowed_networks: Vec<String>,
    /// Permissions per folder of the account's view, e.g.
    /// `"/incoming" = ["list", "upload"]`. Unlisted folders inherit from their
    /// parent; `/` allows `list` only.
    pub permissions: Option<BTreeMap<String, Vec<String>>>,
    /// Directories elsewhere shown inside the view.
    pub virtual_folders: Vec<VirtualFolderRaw>,
    /// Let this account create symbolic links (inside its view). Default false.
    pub allow_symlinks: bool,
    /// Bytes the account's folders (home and virtual folders) may hold; an
    /// upload that would go past it is refused. Default: unlimited.
    pub quota_bytes: Option<u64>,
}

/// A compiled virtual folder.
#[derive(Debug, Clone)]
pub struct VirtualFolder {
    pub path: ViewPath,
    pub directory: PathBuf,
    pub perms: Perms,
}

/// The compiled per-account SFTP settings.
#[derive(Debug, Clone)]
pub struct AccountSftp {
    /// The key files, as resolved.
    pub authorized_keys: Vec<PathBuf>,
    /// The keys they hold, with their `from=` / `expiry-time` restrictions.
    pub keys: Vec<crate::sftp::auth::AuthorizedKey>,
    pub password_hash: Option<String>,
    /// Empty = any source.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// Folder permissions, most specific path wins.
    pub permissions: Vec<(ViewPath, Perms)>,
    pub virtual_folders: Vec<VirtualFolder>,
    pub allow_symlinks: bool,
    /// `None`: unlimited.
    pub quota_bytes: Option<u64>,
}

/// Permissions of the standard folders when an account lists none.
pub fn default_permissions() -> Vec<(ViewPath, Perms)> {
    let p = |s: &str| ViewPath::parse(s).unwrap_or_default();
    vec![
        (p("/incoming"), Perms::of(&[Perm::List, Perm::Upload])),
        (
            p("/outgoing"),
            Perms::of(&[Perm::List, Perm::Download, Perm::Delete]),
        ),
        (p("/archive"), Perms::of(&[Perm::List, Perm::Download])),
    ]
}

fn compile_perms(list: &[String], file: &Path, key: &str, p: &mut Problems) -> Perms {
    let mut perms = Perms::default();
    for (i, s) in list.iter().enumerate() {
        match Perm::parse(s) {
            Some(x) => perms.insert(x),
            None => p.error(
                file,
                format!("{key}[{i}]"),
                format!("'{s}' is not one of: {}", Perm::NAMES.join(", ")),
            ),
        }
    }
    perms
}

fn compile_view_path(s: &str, file: &Path, key: &str, p: &mut Problems) -> Option<ViewPath> {
    match ViewPath::parse_config(s) {
        Some(v) => Some(v),
        None => {
            p.error(
                file,
                key,
                format!("'{s}' is not an absolute folder path like /incoming (no '.', '..' or empty parts)"),
            );
            None
        }
    }
}

impl AccountSftpRaw {
    pub fn compile(
        self,
        file: &Path,
        key: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
        p: &mut Problems,
    ) -> AccountSftp {
        let mut authorized_keys = Vec::new();
        let mut keys = Vec::new();
        for (i, k) in self.authorized_keys.iter().enumerate() {
            let path = resolve(k);
            let kkey = format!("{key}.authorized_keys[{i}]");
            if path.components().any(|c| c.as_os_str() == "fixtures") {
                p.warn(
                    file,
                    &kkey,
                    format!(
                        "{} is a test fixture whose private key is public; never authorise it in production",
                        path.display()
                    ),
                );
            }
            match crate::sftp::auth::read_authorized_keys(&path) {
                Ok((found, refused)) if found.is_empty() && refused.is_empty() => p.error(
                    file,
                    &kkey,
                    format!("{} holds no public key", path.display()),
                ),
                Ok((found, refused)) => {
                    for r in refused {
                        p.warn(file, &kkey, format!("{}: {r}", path.display()));
                    }
                    let now = chrono::Utc::now();
                    for k in found.iter().filter(|k| k.expires.is_some_and(|t| t <= now)) {
                        p.warn(
                            file,
                            &kkey,
                            format!(
                                "{}: key {} expired (expiry-time) and cannot log in",
                                path.display(),
                                k.key.fingerprint(russh::keys::HashAlg::Sha256)
                            ),
                        );
                    }
                    keys.extend(found);
                }
                Err(e) => p.error(file, &kkey, e.to_string()),
            }
            authorized_keys.push(path);
        }
        if let Some(h) = &self.password_hash
            && let Err(e) = crate::sftp::auth::check_hash(h)
        {
            p.error(file, format!("{key}.password_hash"), e.to_string());
        }
        let mut allowed_networks = Vec::new();
        for (i, n) in self.allowed_networks.iter().enumerate() {
            let parsed = n
                .parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => allowed_networks.push(net.trunc()),
                Err(_) => p.error(
                    file,
                    format!("{key}.allowed_networks[{i}]"),
                    format!("'{n}' is not a network like 192.0.2.0/24 or an address"),
                ),
            }
        }
        let permissions = match &self.permissions {
            None => default_permissions(),
            Some(map) => {
                let mut out = Vec::new();
                for (path, list) in map {
                    let pkey = format!("{key}.permissions.\"{path}\"");
                    if let Some(v) = compile_view_path(path, file, &pkey, p) {
                        out.push((v, compile_perms(list, file, &pkey, p)));
                    }
                }
                out
            }
        };
        let mut virtual_folders: Vec<VirtualFolder> = Vec::new();
        for (i, vf) in self.virtual_folders.iter().enumerate() {
            let vkey = format!("{key}.virtual_folders[{i}]");
            let Some(path) = compile_view_path(&vf.path, file, &format!("{vkey}.path"), p) else {
                continue;
            };
            if path.is_root() {
                p.error(
                    file,
                    format!("{vkey}.path"),
                    "cannot replace the root folder",
                );
                continue;
            }
            if path.components().len() != 1 {
                p.error(
                    file,
                    format!("{vkey}.path"),
                    "must be a top-level folder like /reports",
                );
                continue;
            }
            let first = path.components().first().map(String::as_str);
            if matches!(first, Some("incoming" | "outgoing" | "archive")) {
                p.error(
                    file,
                    format!("{vkey}.path"),
                    "must not be inside incoming, outgoing or archive",
                );
                continue;
            }
            if virtual_folders
                .iter()
                .any(|o| o.path.starts_with(&path) || path.starts_with(&o.path))
            {
                p.error(
                    file,
                    format!("{vkey}.path"),
                    "overlaps another virtual folder",
                );
                continue;
            }
            let perms = compile_perms(&vf.permissions, file, &format!("{vkey}.permissions"), p);
            virtual_folders.push(VirtualFolder {
                path,
                directory: resolve(&vf.directory),
                perms,
            });
        }
        if keys.is_empty() && self.password_hash.is_none() && self.authorized_keys.is_empty() {
            p.warn(
                file,
                key,
                "neither authorized_keys nor password_hash: nobody can log in to this account",
            );
        }
        AccountSftp {
            authorized_keys,
            keys,
            password_hash: self.password_hash,
            allowed_networks,
            permissions,
            virtual_folders,
            allow_symlinks: self.allow_symlinks,
            quota_bytes: self.quota_bytes,
        }
    }
}

impl AccountSftp {
    /// Is a source address allowed for this account?
    pub fn network_allowed(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allowed_networks.is_empty() || self.allowed_networks.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(toml_text: &str, dir: &Path) -> (AccountSftp, Problems) {
        let raw: AccountSftpRaw = toml::from_str(toml_text).unwrap();
        let mut p = Problems::default();
        let resolve = |s: &str| dir.join(s);
        let a = raw.compile(
            Path::new("pasarela.toml"),
            "accounts.demo.sftp",
            &resolve,
            &mut p,
        );
        (a, p)
    }

    #[test]
    fn fixture_keys_warn_and_bad_values_are_errors() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("fixtures/keys")).unwrap();
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/keys/demo_ed25519.pub"
            ),
            t.path().join("fixtures/keys/demo.pub"),
        )
        .unwrap();
        let (a, p) = compile(
            r#"
authorized_keys = ["fixtures/keys/demo.pub", "missing.pub"]
password_hash = "$2b$12$notargon"
allowed_networks = ["10.0.0.0/8", "192.0.2.7", "not-a-net"]
permissions = { "/incoming" = ["list", "fly"], "/../etc" = ["list"] }
virtual_folders = [
  { path = "/reports", directory = "r", permissions = ["list", "download"] },
  { path = "/reports", directory = "r2" },
  { path = "/incoming/x", directory = "r3" },
]
"#,
            t.path(),
        );
        let keys: Vec<(&str, bool)> = p
            .items
            .iter()
            .map(|e| (e.key.as_str(), e.warning))
            .collect();
        assert!(
            keys.contains(&("accounts.demo.sftp.authorized_keys[0]", true)),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("accounts.demo.sftp.authorized_keys[1]", false)),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("accounts.demo.sftp.password_hash", false)),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("accounts.demo.sftp.allowed_networks[2]", false)),
            "{keys:?}"
        );
        assert!(
            keys.iter()
                .any(|(k, w)| k.contains("\"/incoming\"[1]") && !w),
            "{keys:?}"
        );
        assert!(
            keys.iter().any(|(k, w)| k.contains("\"/../etc\"") && !w),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("accounts.demo.sftp.virtual_folders[1].path", false)),
            "{keys:?}"
        );
        assert!(
            keys.contains(&("accounts.demo.sftp.virtual_folders[2].path", false)),
            "{keys:?}"
        );
        assert_eq!(a.keys.len(), 1);
        assert_eq!(a.allowed_networks.len(), 2);
        assert!(a.network_allowed("192.0.2.7".parse().unwrap()));
        assert!(a.network_allowed("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!a.network_allowed("192.0.2.8".parse().unwrap()));
        assert_eq!(a.virtual_folders.len(), 1);
    }

    #[test]
    fn defaults_give_the_sample_permissions() {
        let t = tempfile::tempdir().unwrap();
        let (a, p) = compile("", t.path());
        assert!(p.items.iter().all(|e| e.warning), "{:?}", p.items);
        assert_eq!(a.permissions, default_permissions());
        let raw: SftpServerRaw = toml::from_str("listen = \"nope\"\nban_secs = 0").unwrap();
        let mut p = Problems::default();
        let s = raw.compile(Path::new("f"), "sftp", &|s| PathBuf::from(s), &mut p);
        assert_eq!(p.items.len(), 2, "{:?}", p.items);
        assert_eq!(s.max_auth_attempts, 6);
    }

    #[test]
    fn resource_limits_have_safe_defaults_and_are_checked() {
        let raw: SftpServerRaw = toml::from_str("").unwrap();
        let mut p = Problems::default();
        let s = raw.compile(Path::new("f"), "sftp", &|s| PathBuf::from(s), &mut p);
        assert!(p.items.is_empty(), "{:?}", p.items);
        assert_eq!(s.login_grace, Duration::from_secs(30));
        assert_eq!(
            (
                s.max_sessions,
                s.max_sessions_per_account,
                s.max_unauthenticated_per_ip
            ),
            (128, 32, 24)
        );
        assert_eq!(
            (
                s.max_pending_requests,
                s.max_pending_bytes,
                s.max_reply_bytes
            ),
            (16_384, 32 << 20, 8 << 20)
        );
        assert_eq!((s.min_free_bytes, s.min_free_percent), (1 << 30, 0));
        let raw: SftpServerRaw = toml::from_str(
            "max_sessions = 0\nmax_reply_bytes = 1000\nmax_pending_bytes = 1000\nmin_free_percent = 95",
        )
        .unwrap();
        let mut p = Problems::default();
        raw.compile(Path::new("f"), "sftp", &|s| PathBuf::from(s), &mut p);
        let keys: Vec<&str> = p.items.iter().map(|e| e.key.as_str()).collect();
        for k in [
            "sftp.max_sessions",
            "sftp.max_reply_bytes",
            "sftp.max_pending_bytes",
            "sftp.min_free_percent",
        ] {
            assert!(keys.contains(&k), "{k} must be refused: {keys:?}");
        }
        let t = tempfile::tempdir().unwrap();
        let (a, _) = compile("quota_bytes = 1000", t.path());
        assert_eq!(a.quota_bytes, Some(1000));
        let (a, _) = compile("", t.path());
        assert_eq!(a.quota_bytes, None, "no quota unless configured");
    }
}
