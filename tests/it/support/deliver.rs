//! Shared helpers of the delivery tests: a real SMTP server (aiosmtpd, as a
//! child process), a configuration in a temp dir, and the store.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use pasarela::config::Config;
use pasarela::store::Store;

// The general helpers, so `use crate::support::deliver::*` is enough.
#[allow(unused_imports)]
pub use super::{free_port, repo, wait_until};

/// aiosmtpd on 127.0.0.1:port writing each message to `dir`.
pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl SmtpSink {
    pub fn start(port: u16, dir: &Path) -> SmtpSink {
        SmtpSink::start_with(port, dir, &[])
    }

    /// With extra options of tests/py/smtp_sink.py (`--starttls CERT KEY`,
    /// `--tls CERT KEY`, `--auth USER:PASSWORD`).
    pub fn start_with(port: u16, dir: &Path, options: &[&str]) -> SmtpSink {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/py/smtp_sink.py"))
            .arg(port.to_string())
            .arg(dir)
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "start python3 tests/py/smtp_sink.py (scripts/install-deps.sh installs aiosmtpd)",
            );
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "READY", "smtp sink did not start");
        SmtpSink {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Files of `dir` with this extension, sorted by name (the sink names them
/// by arrival time).
fn sorted_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Messages received so far: (Message-ID, raw text), in arrival order.
pub fn received(dir: &Path) -> Vec<(String, String)> {
    sorted_with_extension(dir, "eml")
        .iter()
        .map(|p| {
            let raw = std::fs::read_to_string(p).unwrap();
            let id = raw
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Message-ID:")
                        .or_else(|| l.strip_prefix("Message-Id:"))
                })
                .unwrap_or("")
                .trim()
                .to_string();
            (id, raw)
        })
        .collect()
}

/// The session record the sink wrote beside each message: (encrypted, login).
pub fn sessions(dir: &Path) -> Vec<(bool, Option<String>)> {
    sorted_with_extension(dir, "session")
        .iter()
        .map(|p| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            (
                v["tls"].as_bool().unwrap_or(false),
                v["login"].as_str().map(str::to_string),
            )
        })
        .collect()
}

pub fn config_text(smtp_port: u16) -> String {
    format!(
        r#"
[daemon]
state_dir = "var"
poll_interval_ms = 100
scan_interval_secs = 1
stability_ms = 100

[accounts.demo]
home = "var/home/demo"
email = ["demo@example.com"]

[accounts.demo.notify]
to = ["tesoreria@demo.example"]

[accounts.regulador]
home = "var/home/regulador"

[[routes]]
name = "all"
steps = ["classify"]

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
from = "Pasarela <certificados@bolsa.example>"
admins = ["ops@bolsa.example"]
templates_dir = "{templates}"
initial_backoff_ms = 200
max_backoff_secs = 1
max_attempts = 200
timeout_secs = 2
poll_interval_ms = 100

[reports]
scheduled = false
accounts = ["regulador"]
recipients = ["supervision@regulador.example"]
"#,
        templates = repo().join("config/templates").display()
    )
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: Arc<Config>,
    pub config_path: PathBuf,
}

impl Setup {
    pub fn new(smtp_port: u16) -> Setup {
        Setup::with_text(&config_text(smtp_port))
    }

    pub fn with_text(text: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("pasarela.toml");
        std::fs::write(&config_path, text).unwrap();
        let (config, _) = pasarela::config::load_with_base(&config_path, dir.path())
            .unwrap_or_else(|e| panic!("config: {e:?}"));
        Setup {
            dir,
            config: Arc::new(config),
            config_path,
        }
    }

    pub async fn store(&self) -> Store {
        let s = &self.config.store;
        Store::open(&s.url, s.synchronous_full, s.busy_timeout)
            .await
            .unwrap()
    }

    pub fn account(&self, name: &str) -> pasarela::config::Account {
        self.config.accounts[name].clone()
    }

    /// `pasarela run` on this setup, logging to `daemon-{n}.log` in its
    /// directory, with extra environment variables (e.g. the SMTP password
    /// named by `smtp.password_env`: given to the child, never set in this
    /// process, whose other test threads read the environment).
    pub fn start_daemon(&self, n: usize, envs: &[(&str, &str)]) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("daemon-{n}.log"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_pasarela"))
            .arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// What `pasarela run` number `n` logged.
    pub fn daemon_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("daemon-{n}.log"))).unwrap_or_default()
    }
}
