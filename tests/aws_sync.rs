//! `pasarela aws sync` against moto's server mode on loopback (docs/AWS.md).
//!
//! moto stands in for AWS Transfer Family; tests/py/moto_transfer.py adds the
//! operations moto 5.2 lacks (ListUsers, UpdateUser, ImportHostKey,
//! ListHostKeys). The server's state is read back with boto3
//! (tests/py/transfer_admin.py), an independent client. Credentials are fake
//! and only in the environment.
#![cfg(feature = "aws")]

#[path = "it/support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{Env, free_port, repo};

const ROLE: &str = "arn:aws:iam::123456789012:role/pasarela-homes";

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    /// moto's log, kept when the test fails.
    log: PathBuf,
}

impl Moto {
    fn start(stock: bool) -> Moto {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/py/moto_transfer.py"));
        if stock {
            cmd.arg("--stock");
        }
        let log_path = std::env::temp_dir().join(format!("pasarela-moto-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("moto log");
        let child = aws_env(&mut cmd)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("python3 with moto[server] (scripts/install-deps.sh installs it)");
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status}: is moto[server] installed?");
            }
            assert!(Instant::now() < deadline, "moto did not start in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Run tests/py/transfer_admin.py; its stdout.
    fn admin(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/py/transfer_admin.py"))
            .arg(&self.endpoint)
            .args(args);
        let out = aws_env(&mut cmd).output().expect("python3");
        assert!(
            out.status.success(),
            "transfer_admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn dump(&self, server: &str) -> serde_json::Value {
        serde_json::from_str(&self.admin(&["dump", server])).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("moto's log: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Fake credentials and nothing else from the caller's AWS set-up.
fn aws_env(cmd: &mut Command) -> &mut Command {
    for v in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAFAKEFORTESTS0000")
        .env("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests-only")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// A new key pair under `dir`; returns its public key line.
fn keygen(dir: &Path, name: &str, kind: &str) -> String {
    let path = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-N",
            "",
            "-C",
            &format!("{name}@test"),
            "-t",
            kind,
            "-f",
        ])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// `ALGORITHM BASE64` of a public key line (what Transfer stores, comment aside).
fn material(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fingerprint(pub_file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pub_file)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

struct Setup {
    env: Env,
    keys: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let env = Env::new("");
        let keys = env.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        Setup { env, keys }
    }

    fn write_keys(&self, account: &str, lines: &[&str]) {
        std::fs::write(
            self.keys.join(format!("{account}.keys")),
            lines.concat().as_bytes(),
        )
        .unwrap();
    }

    /// The configuration: `key_accounts` log in with keys, `carol` with a password.
    fn write_config(&self, endpoint: &str, server: &str, key_accounts: &[&str], hash: &str) {
        let mut text = format!(
            r#"
[daemon]
state_dir = "var"

[sftp]
listen = "127.0.0.1:0"

[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
server_id = "{server}"
role_arn = "{ROLE}"
bucket = "bolsa-sftp"
home_prefix = "pasarela"
import_host_key = true

[accounts.carol]
home = "var/home/carol"
[accounts.carol.sftp]
password_hash = "{hash}"

[[routes]]
name = "all"
steps = ["classify"]
"#
        );
        for a in key_accounts {
            text.push_str(&format!(
                "\n[accounts.{a}]\nhome = \"var/home/{a}\"\n[accounts.{a}.sftp]\nauthorized_keys = [\"keys/{a}.keys\"]\nallowed_networks = [\"127.0.0.0/8\"]\n"
            ));
        }
        std::fs::write(self.env.path().join("config/pasarela.toml"), text).unwrap();
    }

    fn sync(&self, args: &[&str]) -> (Output, String) {
        let mut cmd = self.env.cmd(&["aws", "sync"]);
        cmd.args(args);
        let out = aws_env(&mut cmd).output().expect("run pasarela");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("fake-secret-for-tests-only") && !text.contains("AKIAFAKE"),
            "credentials in the output: {text}"
        );
        assert!(
            !text.contains("PRIVATE KEY"),
            "a private key in the output: {text}"
        );
        (out, text)
    }

    fn sync_ok(&self, args: &[&str]) -> String {
        let (out, text) = self.sync(args);
        assert!(out.status.success(), "sync {args:?} failed: {text}");
        text
    }

    fn password_hash(&self) -> String {
        use std::io::Write;
        let mut child = self
            .env
            .cmd(&["user", "hash-password"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"not-a-real-password\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

fn user<'a>(dump: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &dump["users"][name]
}

fn key_set(dump: &serde_json::Value, name: &str) -> Vec<String> {
    let mut v: Vec<String> = user(dump, name)["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("user {name} missing: {dump}"))
        .iter()
        .map(|k| material(k.as_str().unwrap()))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn sync_makes_the_server_match_the_accounts_idempotently() {
    let moto = Moto::start(false);
    let server = moto.admin(&["create-server"]);
    let s = Setup::new();
    let alice1 = keygen(&s.keys, "alice1", "ed25519");
    let alice2 = keygen(&s.keys, "alice2", "ecdsa");
    let bob1 = keygen(&s.keys, "bob1", "rsa");
    s.write_keys("alice", &[&alice1, &alice2]);
    s.write_keys("bob", &[&bob1]);
    let hash = s.password_hash();
    s.write_config(&moto.endpoint, &server, &["alice", "bob"], &hash);
    assert!(
        s.env
            .run(&["validate", "--no-environment"])
            .status
            .success()
    );

    // A dry run plans everything and changes nothing.
    let text = s.sync_ok(&["--dry-run"]);
    assert!(text.contains("would create user alice"), "{text}");
    assert!(text.contains("no host keys in"), "{text}");
    assert!(
        !s.env.path().join("var/keys").exists(),
        "a dry run generated host keys"
    );
    assert!(text.contains("dry run, nothing changed"), "{text}");
    let d = moto.dump(&server);
    assert_eq!(d["user_count"], 0, "{d}");
    assert_eq!(d["host_keys"].as_array().unwrap().len(), 0, "{d}");

    // First sync: two users with their keys and homes; carol is reported.
    let text = s.sync_ok(&[]);
    assert!(text.contains("skip account carol: password-only"), "{text}");
    assert!(
        text.contains("account alice: not carried over: allowed_networks"),
        "{text}"
    );
    assert!(
        text.contains("users 2 created, 0 updated, 0 deleted, 0 unchanged; keys 3 imported, 0 deleted; host keys 2 imported, 0 unchanged"),
        "{text}"
    );
    let d = moto.dump(&server);
    assert_eq!(d["user_count"], 2, "{d}");
    for name in ["alice", "bob"] {
        let u = user(&d, name);
        assert_eq!(u["role"], ROLE, "{d}");
        assert_eq!(u["home_type"], "LOGICAL", "{d}");
        assert_eq!(
            u["mappings"],
            serde_json::json!([["/", format!("/bolsa-sftp/pasarela/{name}")]]),
            "{d}"
        );
    }
    assert_eq!(
        key_set(&d, "alice"),
        sorted(vec![material(&alice1), material(&alice2)])
    );
    assert_eq!(key_set(&d, "bob"), vec![material(&bob1)]);
    assert!(d["users"].get("carol").is_none(), "{d}");
    // The host keys imported are the daemon's (generated under state_dir/keys).
    let host_dir = s.env.path().join("var/keys");
    let mut expected_host = vec![
        fingerprint(&host_dir.join("ssh_host_ed25519_key.pub")),
        fingerprint(&host_dir.join("ssh_host_ecdsa_key.pub")),
    ];
    expected_host.sort();
    let got_host: Vec<String> = d["host_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_host, expected_host);

    // Second run: nothing to change.
    let text = s.sync_ok(&[]);
    assert!(text.contains("summary: nothing to change"), "{text}");
    assert!(
        text.contains("users 0 created, 0 updated, 0 deleted, 2 unchanged; keys 0 imported, 0 deleted; host keys 0 imported, 2 unchanged"),
        "{text}"
    );
    assert_eq!(moto.dump(&server), d);

    // Changes: alice loses a key, dave arrives, bob drifts on the server, and
    // a user Pasarela does not know appears.
    s.write_keys("alice", &[&alice1]);
    let dave1 = keygen(&s.keys, "dave1", "ed25519");
    s.write_keys("dave", &[&dave1]);
    s.write_config(&moto.endpoint, &server, &["alice", "bob", "dave"], &hash);
    moto.admin(&["create-user", &server, "legacy"]);
    moto.admin(&["drift", &server, "bob"]);
    let before = moto.dump(&server);
    let text = s.sync_ok(&["--dry-run"]);
    assert!(text.contains("would delete key SHA256:"), "{text}");
    assert!(text.contains("would create user dave"), "{text}");
    assert_eq!(moto.dump(&server), before, "a dry run changed the server");
    let text = s.sync_ok(&[]);
    assert!(text.contains("delete key SHA256:"), "{text}");
    assert!(text.contains("of user alice: done"), "{text}");
    assert!(text.contains("create user dave"), "{text}");
    assert!(text.contains("update user bob: role"), "{text}");
    assert!(text.contains("stray user legacy"), "{text}");
    assert!(
        text.contains(
            "users 1 created, 2 updated, 0 deleted, 0 unchanged; keys 1 imported, 1 deleted"
        ),
        "{text}"
    );
    let d = moto.dump(&server);
    assert_eq!(key_set(&d, "alice"), vec![material(&alice1)]);
    assert_eq!(key_set(&d, "dave"), vec![material(&dave1)]);
    assert_eq!(user(&d, "bob")["role"], ROLE, "{d}");
    assert_eq!(
        user(&d, "bob")["mappings"],
        serde_json::json!([["/", "/bolsa-sftp/pasarela/bob"]]),
        "{d}"
    );
    assert!(
        d["users"].get("legacy").is_some(),
        "kept without --prune: {d}"
    );

    // Twice more: the second run has nothing to change; the stray stays.
    s.sync_ok(&[]);
    let text = s.sync_ok(&[]);
    assert!(text.contains("summary: nothing to change"), "{text}");
    assert!(text.contains("stray user legacy"), "{text}");
    assert!(moto.dump(&server)["users"].get("legacy").is_some());

    // --prune deletes the stray user and nothing else.
    let text = s.sync_ok(&["--prune"]);
    assert!(
        text.contains("delete user legacy (--prune): done"),
        "{text}"
    );
    let d = moto.dump(&server);
    assert!(d["users"].get("legacy").is_none(), "{d}");
    assert_eq!(d["user_count"], 3, "{d}");
    let text = s.sync_ok(&["--prune"]);
    assert!(text.contains("summary: nothing to change"), "{text}");
}

#[test]
fn stock_moto_without_list_users_fails_clearly_and_changes_nothing() {
    let moto = Moto::start(true);
    let server = moto.admin(&["create-server"]);
    let s = Setup::new();
    let k = keygen(&s.keys, "erin1", "ed25519");
    s.write_keys("erin", &[&k]);
    let hash = s.password_hash();
    s.write_config(&moto.endpoint, &server, &["erin"], &hash);
    let (out, text) = s.sync(&[]);
    assert_eq!(out.status.code(), Some(69), "{text}");
    assert!(text.contains("ListUsers"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(moto.admin(&["count", &server]), "0");
}

#[test]
fn a_config_without_the_aws_section_or_credentials_is_refused_clearly() {
    let s = Setup::new();
    let k = keygen(&s.keys, "frank1", "ed25519");
    s.write_keys("frank", &[&k]);
    std::fs::write(
        s.env.path().join("config/pasarela.toml"),
        "[accounts.frank]\nhome = \"h\"\n[accounts.frank.sftp]\nauthorized_keys = [\"keys/frank.keys\"]\n\
         [[routes]]\nname = \"all\"\nsteps = [\"classify\"]\n",
    )
    .unwrap();
    let (out, text) = s.sync(&[]);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(text.contains("no [aws] section"), "{text}");

    // No credentials anywhere: a clear error from the first call, exit 69.
    let moto = Moto::start(false);
    let server = moto.admin(&["create-server"]);
    let hash = s.password_hash();
    s.write_config(&moto.endpoint, &server, &["frank"], &hash);
    let mut cmd = s.env.cmd(&["aws", "sync"]);
    aws_env(&mut cmd)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{text}");
    assert!(
        text.contains("credentials come from the AWS chain"),
        "{text}"
    );
}
