//! No secret ever reaches what operators and submitters read: the daemon's log
//! (at debug level), the result files, `pasarela status`, the audit trail.
//! Secrets exercised: the SMTP password (used for AUTH over TLS), an SFTP
//! password (a good login, and a wrong password tried first), its argon2id
//! hash, the server's host private key and the client's private key.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

const SMTP_SECRET: &str = "Smtp-Secret-Zq9w";
const SFTP_PASSWORD: &str = "Sftp-Password-Xy7k";
const WRONG_PASSWORD: &str = "Wrong-Password-Kp3m";

/// The base64 body of a PEM/OpenSSH private key file, as one string.
fn key_body(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

#[test]
fn secrets_never_appear_in_logs_results_status_or_audit() {
    let smtp_port = free_port();
    let sftp_port = free_port();
    let hash_out = Command::new(BIN)
        .args(["user", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(SFTP_PASSWORD.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let hash = String::from_utf8(hash_out.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    let env = Env::new("");
    let tls = env.path().join("tls");
    assert!(
        Command::new("python3")
            .arg(repo().join("tests/py/make_tls.py"))
            .arg(&tls)
            .status()
            .unwrap()
            .success()
    );
    let top = format!(
        r#"[log]
level = "debug,sqlx=warn"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "tls"
ca_file = "{ca}"
username = "pasarela"
password_env = "PASARELA_TEST_SMTP_SECRET"
from = "Pasarela <certificados@bolsa.example>"
admins = ["ops@bolsa.example"]
templates_dir = "{templates}"
initial_backoff_ms = 100
poll_interval_ms = 100

[sftp]
listen = "127.0.0.1:{sftp_port}"
auth_rejection_delay_ms = 10
"#,
        ca = tls.join("ca.pem").display(),
        templates = repo().join("config/templates").display(),
    );
    let config = registration_config(&["certify"], &top).replace(
        "home = \"var/home/demo\"",
        &format!(
            "home = \"var/home/demo\"\nemail = [\"demo@example.com\"]\n\n[accounts.demo.sftp]\npassword_hash = \"{hash}\"\nauthorized_keys = [\"{}\"]",
            repo().join("fixtures/keys/demo_ed25519.pub").display()
        ),
    );
    std::fs::write(env.path().join("config/pasarela.toml"), &config).unwrap();
    env.import_catalog();
    let mail = env.path().join("mail");
    let mut sink = Command::new("python3")
        .arg(repo().join("tests/py/smtp_sink.py"))
        .arg(smtp_port.to_string())
        .arg(&mail)
        .args(["--tls"])
        .arg(tls.join("server.pem"))
        .arg(tls.join("server.key"))
        .args(["--auth", &format!("pasarela:{SMTP_SECRET}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(sink.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY");
    }

    let mut daemon_cmd = env.cmd(&["run"]);
    daemon_cmd.env("PASARELA_TEST_SMTP_SECRET", SMTP_SECRET);
    let log_path = env.path().join("daemon.log");
    let child = daemon_cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Daemon {
        child: Some(child),
        log: log_path,
    };
    assert!(wait_until(Duration::from_secs(30), || daemon
        .log_text()
        .contains("pasarela running")));

    // A wrong password, then the right one, then an upload, over SFTP.
    let script = format!(
        r#"
import io, paramiko
def session(pw):
    t = paramiko.Transport(("127.0.0.1", {sftp_port}))
    t.connect(username="demo", password=pw)
    return t
try:
    session("{WRONG_PASSWORD}")
    raise SystemExit("the wrong password was accepted")
except paramiko.AuthenticationException:
    pass
t = session("{SFTP_PASSWORD}")
c = paramiko.SFTPClient.from_transport(t)
c.putfo(io.BytesIO(b"<nota>hola</nota>"), "/incoming/nota.xml", confirm=False)
c.close(); t.close()
"#
    );
    run_ok(Command::new("python3").arg("-c").arg(&script));
    assert!(
        wait_until(Duration::from_secs(30), || env
            .result_path("demo", "nota.xml")
            .is_file()),
        "{}",
        daemon.log_text()
    );
    // The rejection notice goes out by e-mail, authenticated with the secret.
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_dir(&mail)
            .map(|d| d
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "eml")))
            .unwrap_or(false)),
        "no e-mail: {}",
        daemon.log_text()
    );
    // The SMTP secret was really used: the relay saw an authenticated login.
    let sessions: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "session"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        sessions
            .iter()
            .any(|s| s.contains("\"login\": \"pasarela\"")),
        "{sessions:?}"
    );
    daemon.terminate();
    let _ = sink.kill();
    let _ = sink.wait();

    // Everything an operator or submitter can read.
    let mut readable = vec![("daemon log", daemon.log_text())];
    for f in files_under(&env.home("demo").join("outgoing")) {
        readable.push(("result", std::fs::read_to_string(&f).unwrap_or_default()));
    }
    let status: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert!(
        status["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "sent" && p[1].as_i64() >= Some(1)),
        "status shows the outbox: {status}"
    );
    for args in [&["status"][..], &["status", "--json"][..]] {
        let o = env.run(args);
        readable.push(("status", String::from_utf8_lossy(&o.stdout).into_owned()));
    }
    let audit = Command::new("sqlite3")
        .arg(env.path().join("var/pasarela.db"))
        .arg("SELECT event, detail FROM audit")
        .output()
        .expect("sqlite3");
    let audit = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(audit.contains("sftp.login"), "{audit}");
    readable.push(("audit", audit));

    let host_keys: Vec<String> = files_under(&env.path().join("var/keys"))
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".pub"))
        .map(|p| key_body(p))
        .collect();
    assert!(
        !host_keys.is_empty(),
        "host keys are generated under var/keys"
    );
    let mut secrets = vec![
        SMTP_SECRET.to_string(),
        SFTP_PASSWORD.to_string(),
        WRONG_PASSWORD.to_string(),
        hash.clone(),
        hash.rsplit('$').next().unwrap().to_string(),
        key_body(&repo().join("fixtures/keys/demo_ed25519")),
    ];
    secrets.extend(host_keys);
    // Also any 40-character run of a key body, in case it was wrapped or cut.
    for (what, text) in &readable {
        for s in &secrets {
            let needle: String = s.chars().take(40).collect();
            assert!(
                !text.contains(&needle),
                "a secret ({}…) appears in the {what}",
                &needle[..6]
            );
        }
    }
}
