//! Harness for SFTP tests: a real server from `pasarela::sftp::start` on a
//! free loopback port, a temp directory, and OpenSSH clients in batch mode.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pasarela::intake::IntakeEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use super::repo;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub events: mpsc::Receiver<IntakeEvent>,
    pub shutdown: CancellationToken,
    pub join: Option<tokio::task::JoinHandle<()>>,
    pub store: pasarela::store::Store,
    /// Private key usable by ssh (mode 0600).
    pub key: PathBuf,
    pub config: Arc<pasarela::config::Config>,
}

/// Extra TOML appended after the standard accounts.
#[derive(Default)]
pub struct Opts {
    pub sftp: &'static str,
    pub demo: &'static str,
    pub extra: &'static str,
}

pub async fn server(opts: Opts) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let key = root.join("demo_ed25519");
    std::fs::copy(repo().join("fixtures/keys/demo_ed25519"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(root.join("reports")).unwrap();
    let config = format!(
        r#"
[daemon]
state_dir = "{root}/var"

[store]
url = "sqlite://{root}/var/pasarela.db"
synchronous = "normal"

[sftp]
listen = "127.0.0.1:0"
auth_rejection_delay_ms = 10
{sftp}

[accounts.demo]
home = "{root}/home/demo"

[accounts.demo.sftp]
authorized_keys = ["{repo}/fixtures/keys/demo_ed25519.pub"]
{demo}

[accounts.demo2]
home = "{root}/home/demo2"

[accounts.regulator]
home = "{root}/home/regulator"

[accounts.regulator.sftp]
authorized_keys = ["{repo}/fixtures/keys/demo_ed25519.pub"]
permissions = {{ "/incoming" = [], "/outgoing" = [], "/archive" = [] }}

[[accounts.regulator.sftp.virtual_folders]]
path = "/reports"
directory = "{root}/reports"
permissions = ["list", "download"]

{extra}

[[routes]]
name = "all"
steps = ["classify"]
"#,
        root = root.display(),
        repo = repo().display(),
        sftp = opts.sftp,
        demo = opts.demo,
        extra = opts.extra,
    );
    let cfg_path = root.join("pasarela.toml");
    std::fs::write(&cfg_path, config).unwrap();
    let (config, warnings) = match pasarela::config::load_with_base(&cfg_path, root) {
        Ok(x) => x,
        Err(problems) => panic!("config refused: {problems:?}"),
    };
    assert!(
        warnings
            .iter()
            .any(|w| w.warning && w.key.contains("authorized_keys")),
        "a fixture key must be warned about: {warnings:?}"
    );
    for d in ["incoming", "outgoing", "archive"] {
        std::fs::create_dir_all(root.join("home/demo2").join(d)).unwrap();
    }
    let config = Arc::new(config);
    let store = pasarela::store::Store::open(
        &config.store.url,
        config.store.synchronous_full,
        Duration::from_secs(10),
    )
    .await
    .expect("store");
    let (tx, events) = mpsc::channel(1024);
    let shutdown = CancellationToken::new();
    let ctx = pasarela::sftp::SftpContext {
        config: config.clone(),
        store: store.clone(),
        intake: tx,
        updates: None,
        defender: None,
    };
    let (addr, join) = pasarela::sftp::start(ctx, shutdown.clone())
        .await
        .expect("start sftp");
    Server {
        dir,
        addr,
        events,
        shutdown,
        join: Some(join),
        store,
        key,
        config,
    }
}

impl Server {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn home(&self, account: &str) -> PathBuf {
        self.root().join("home").join(account)
    }

    pub fn ssh_opts(&self) -> Vec<String> {
        [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=20",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `sftp -b` with a batch script; `bind` picks the source address.
    pub fn sftp_cmd(
        &self,
        user: &str,
        batch: &str,
        key: Option<&Path>,
        bind: Option<&str>,
    ) -> Command {
        let bfile = self.root().join(format!("batch-{}.txt", rand_suffix()));
        std::fs::write(&bfile, batch).unwrap();
        let mut c = Command::new("sftp");
        c.args(self.ssh_opts())
            .arg("-P")
            .arg(self.addr.port().to_string())
            .arg("-i")
            .arg(key.unwrap_or(&self.key))
            .arg("-b")
            .arg(&bfile);
        if let Some(b) = bind {
            c.arg("-o").arg(format!("BindAddress={b}"));
        }
        c.arg(format!("{user}@127.0.0.1"))
            .current_dir(self.root())
            .stdin(Stdio::null());
        c
    }

    pub async fn sftp(&self, user: &str, batch: &str) -> Output {
        self.sftp_with(user, batch, None, None).await
    }

    pub async fn sftp_with(
        &self,
        user: &str,
        batch: &str,
        key: Option<&Path>,
        bind: Option<&str>,
    ) -> Output {
        let mut c = self.sftp_cmd(user, batch, key, bind);
        tokio::task::spawn_blocking(move || c.output().expect("run sftp"))
            .await
            .unwrap()
    }

    pub async fn ssh(&self, args: &[&str]) -> Output {
        let mut c = Command::new("ssh");
        c.args(self.ssh_opts())
            .arg("-p")
            .arg(self.addr.port().to_string())
            .arg("-i")
            .arg(&self.key)
            .args(args)
            .stdin(Stdio::null());
        tokio::task::spawn_blocking(move || c.output().expect("run ssh"))
            .await
            .unwrap()
    }

    pub async fn next_event(&mut self, wait: Duration) -> Option<IntakeEvent> {
        tokio::time::timeout(wait, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(j) = self.join.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), j).await;
        }
    }
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Files under a directory whose names start with '.' (temporaries).
pub fn hidden_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                out.push(e.path());
            }
        }
    }
    out
}
