//! End to end through the real daemon: `pasarela run` with `[sftp]`, an
//! OpenSSH client puts the DIAN fixture into /incoming/ and gets its result
//! from /outgoing/.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const XML: &str = "exento-de-iva-v1.9.xml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sftp(
    port: u16,
    key: &std::path::Path,
    dir: &std::path::Path,
    batch: &str,
) -> std::process::Output {
    let b = dir.join("batch.txt");
    std::fs::write(&b, batch).unwrap();
    Command::new("sftp")
        .args([
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
            "-P",
            &port.to_string(),
            "-i",
        ])
        .arg(key)
        .arg("-b")
        .arg(&b)
        .arg("demo@127.0.0.1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn put_invoice_and_get_result_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let key = root.join("demo_ed25519");
    std::fs::copy(repo().join("fixtures/keys/demo_ed25519"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::copy(
        repo().join("../shared/fixtures/dian").join(XML),
        root.join(XML),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    let repo = repo();
    std::fs::write(
        root.join("config/pasarela.toml"),
        format!(
            r#"
[daemon]
state_dir = "var"
scan_interval_secs = 3600
[sftp]
listen = "127.0.0.1:0"
[accounts.demo]
home = "var/home/demo"
[accounts.demo.sftp]
authorized_keys = ["{}/fixtures/keys/demo_ed25519.pub"]
[[routes]]
name = "xml"
formats = ["xml"]
steps = ["dian-validate"]
[[routes]]
name = "rest"
steps = ["reject-unsupported"]
"#,
            repo.display()
        ),
    )
    .unwrap();
    let log = root.join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_pasarela"))
        .args(["run", "--config", "config/pasarela.toml"])
        .current_dir(root)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _guard = Kill(child);
    let re = regex_port(&log, Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "no sftp listener in the daemon log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let out = sftp(re, &key, root, &format!("put {XML} /incoming/\n"));
    assert!(out.status.success(), "{out:?}");
    let result = format!("/outgoing/{XML}.result.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = sftp(re, &key, root, &format!("get {result} result.json\n"));
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no result: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("result.json")).unwrap()).unwrap();
    assert!(json.is_object(), "{json}");
    // The upload was announced on CLOSE, audited with its hash, and the
    // temporary file is gone.
    let incoming = root.join("var/home/demo/incoming");
    assert!(
        std::fs::read_dir(&incoming)
            .map(|rd| rd
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().starts_with(".pasarela")))
            .unwrap_or(true)
    );
}

fn regex_port(log: &std::path::Path, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(i) = text.find("sftp server listening") {
            let rest = &text[i..];
            if let Some(j) = rest.find("127.0.0.1:") {
                let digits: String = rest[j + 10..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if let Ok(p) = digits.parse() {
                    return Some(p);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
