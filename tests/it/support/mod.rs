//! The one harness of the integration tests. This module: a temp directory
//! with a config, the real `pasarela` binary started in it, and helpers to
//! wait for files. [`sftp`]: a bare SFTP server on loopback with OpenSSH
//! clients; [`deliver`]: a real SMTP server and a delivery configuration.
#![allow(dead_code)]

pub mod deliver;
pub mod sftp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pasarela");

/// Root of the repository (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository.
pub fn shared() -> PathBuf {
    repo().join("../shared")
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A temp dir holding `config/pasarela.toml` with `config` as its content.
    pub fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/pasarela.toml"), config).unwrap();
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self, account: &str) -> PathBuf {
        self.path().join("var/home").join(account)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .env_remove("PASARELA_CONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run pasarela")
    }

    /// `daemon-N.log` in the temp dir, N counting the daemons started so far.
    pub fn next_log(&self) -> PathBuf {
        let n = std::fs::read_dir(self.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("daemon-")
            })
            .count();
        self.path().join(format!("daemon-{n}.log"))
    }

    /// Start the daemon; stderr goes to [`Env::next_log`].
    pub fn start(&self, extra: &[&str]) -> Daemon {
        let log = self.next_log();
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        let child = self
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start daemon");
        Daemon {
            child: Some(child),
            log,
        }
    }

    /// Start the daemon and wait until it says it is running (signal
    /// handlers installed, folders and store ready).
    pub fn start_ready(&self, extra: &[&str]) -> Daemon {
        let daemon = self.start(extra);
        let ready = wait_until(Duration::from_secs(20), || {
            daemon.log_text().contains("pasarela running")
        });
        assert!(ready, "daemon did not start: {}", daemon.log_text());
        daemon
    }

    /// Write a file into an account's incoming/ atomically (hidden temp + rename),
    /// as a careful uploader would.
    pub fn drop_file(&self, account: &str, name: &str, bytes: &[u8]) {
        let incoming = self.home(account).join("incoming");
        std::fs::create_dir_all(&incoming).unwrap();
        let tmp = incoming.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, incoming.join(name)).unwrap();
    }

    pub fn result_path(&self, account: &str, name: &str) -> PathBuf {
        self.home(account)
            .join("outgoing")
            .join(format!("{name}.result.json"))
    }

    pub fn read_result(&self, account: &str, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.result_path(account, name)).expect("result file");
        serde_json::from_str(&text).expect("result JSON")
    }

    /// Wait (30 s at most) until `name`'s result has `verdict` (a job run
    /// again rewrites it), and return it; the daemon's log explains a timeout.
    pub fn await_verdict(
        &self,
        daemon: &Daemon,
        account: &str,
        name: &str,
        verdict: &str,
    ) -> serde_json::Value {
        assert!(
            wait_until(Duration::from_secs(30), || self
                .result_path(account, name)
                .is_file()
                && self.read_result(account, name)["verdict"] == verdict),
            "{name} is not {verdict}: {}\n{}",
            std::fs::read_to_string(self.result_path(account, name)).unwrap_or_default(),
            daemon.log_text()
        );
        self.read_result(account, name)
    }

    /// Drop a file into `account`'s incoming/ and wait (30 s at most) for
    /// its result, which is returned; the daemon's log explains a timeout.
    pub fn submit(
        &self,
        daemon: &Daemon,
        account: &str,
        name: &str,
        bytes: &[u8],
    ) -> serde_json::Value {
        self.submit_within(daemon, account, name, bytes, 30)
    }

    /// [`Env::submit`] waiting `secs` seconds at most.
    pub fn submit_within(
        &self,
        daemon: &Daemon,
        account: &str,
        name: &str,
        bytes: &[u8],
        secs: u64,
    ) -> serde_json::Value {
        self.drop_file(account, name, bytes);
        assert!(
            wait_until(Duration::from_secs(secs), || self
                .result_path(account, name)
                .is_file()),
            "no result for {name}: {}",
            daemon.log_text()
        );
        self.read_result(account, name)
    }
}

pub struct Daemon {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe_kill(c.id() as i32, 15);
        wait_until(Duration::from_secs(30), || {
            matches!(c.try_wait(), Ok(Some(_)))
        });
        c.wait().ok().and_then(|s| s.code())
    }

    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            unsafe_kill(c.id() as i32, sig);
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Poll `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Regular files directly or recursively under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A minimal config with one `demo` account and the foundation's routes.
pub fn basic_config(extra_daemon: &str) -> String {
    format!(
        r#"
[daemon]
state_dir = "var"
scan_interval_secs = 2
stability_ms = 300
poll_interval_ms = 100
{extra_daemon}

[store]
synchronous = "normal"

[retry]
max_attempts = 2
initial_backoff_ms = 50
max_backoff_secs = 1

[accounts.demo]
home = "var/home/demo"

[[routes]]
name = "xml"
formats = ["xml"]
steps = ["classify"]

[[routes]]
name = "review"
formats = ["pdf", "image", "excel"]
steps = ["hold-for-review"]

[[routes]]
name = "unsupported"
steps = ["reject-unsupported"]
"#
    )
}

/// The real DIAN example invoice.
pub fn dian_example() -> Vec<u8> {
    std::fs::read(shared().join("fixtures/dian/exento-de-iva-v1.9.xml"))
        .expect("shared DIAN fixture")
}

/// `basic_config` with XML routed through the whole registration
/// (`dian-validate`, `price` and the given extra steps) and the shipped rules;
/// `extra_top` is inserted before the accounts (e.g. an `[smtp]` table).
pub fn registration_config(extra_steps: &[&str], extra_top: &str) -> String {
    let mut steps = vec!["\"dian-validate\"".to_string(), "\"price\"".to_string()];
    steps.extend(extra_steps.iter().map(|s| format!("\"{s}\"")));
    basic_config("")
        .replace(
            "steps = [\"classify\"]",
            &format!("steps = [{}]", steps.join(", ")),
        )
        .replace(
            "[accounts.demo]",
            &format!(
                "[registration]\nrules_dir = \"{}\"\n\n{extra_top}\n[accounts.demo]",
                repo().join("rules").display()
            ),
        )
}

impl Env {
    /// Import the shipped catalog snapshot into this environment's state.
    pub fn import_catalog(&self) {
        let catalog = repo().join("fixtures/catalog/subyacentes.csv");
        let layouts = repo().join("rules/catalog.toml");
        let out = self.run(&[
            "catalog",
            "import",
            catalog.to_str().unwrap(),
            "--catalog-config",
            layouts.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---- shared by the ops, resilience and security tests ----

/// A free TCP port on loopback (bound and released).
/// Run `cmd` to its end and insist it succeeded (its stderr in the failure).
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start the command");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PDF whose page tree contains itself: poppler loops on it until the
/// isolated worker's limit, which makes a reliably slow job. `n` makes each
/// copy's bytes distinct.
pub fn page_loop_pdf(n: usize) -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>".to_string(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /N {n} >>"),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

// ---- OpenSSH sftp as a client ----

/// The fixture's private key, copied into the environment with mode 0600.
pub fn client_key(env: &Env) -> std::path::PathBuf {
    let key = env.path().join("id_demo");
    std::fs::copy(repo().join("fixtures/keys/demo_ed25519"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    key
}

/// OpenSSH `sftp` as `user` with `key`, batch commands from `batch` (a file or `-`).
pub fn sftp_cmd(env: &Env, key: &std::path::Path, port: u16, user: &str, batch: &str) -> Command {
    let mut c = Command::new("sftp");
    c.args([
        "-b",
        batch,
        "-i",
        key.to_str().unwrap(),
        "-P",
        &port.to_string(),
    ])
    .args(BATCH_SSH_OPTIONS)
    .arg(format!("{user}@127.0.0.1"))
    .current_dir(env.path());
    c
}

/// OpenSSH options of a non-interactive test client: no host-key prompt or
/// record, no password prompt, a short connect timeout.
pub const BATCH_SSH_OPTIONS: &[&str] = &[
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
];

/// A configuration with `[sftp]` on `port` (plus `sftp_extra`) and one
/// account per (name, authorized_keys options), each authorising the
/// fixture key with those options.
pub fn sftp_keys_config(
    env: &Env,
    port: u16,
    sftp_extra: &str,
    accounts: &[(&str, &str)],
) -> String {
    let pubkey = std::fs::read_to_string(repo().join("fixtures/keys/demo_ed25519.pub")).unwrap();
    let mut text = String::new();
    for (name, opts) in accounts {
        let file = env.path().join(format!("{name}.keys"));
        std::fs::write(&file, format!("{opts} {pubkey}")).unwrap();
        text.push_str(&format!(
            "[accounts.{name}]\nhome = \"var/home/{name}\"\n[accounts.{name}.sftp]\nauthorized_keys = [\"{}\"]\n\n",
            file.display()
        ));
    }
    basic_config("").replace(
        "[accounts.demo]\nhome = \"var/home/demo\"",
        &format!("[sftp]\nlisten = \"127.0.0.1:{port}\"\n{sftp_extra}\n\n{text}"),
    )
}

/// The finding codes of a result JSON, in order.
pub fn finding_codes(r: &serde_json::Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str().map(str::to_owned))
        .collect()
}
