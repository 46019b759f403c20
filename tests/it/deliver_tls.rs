//! SMTP over STARTTLS and implicit TLS, with authentication, against a real
//! aiosmtpd relay on loopback whose certificate comes from a private test CA
//! (tests/py/make_tls.py). The relay's certificate is verified: trusted
//! through `smtp.ca_file`, refused without it; a wrong password kills the
//! message instead of retrying it forever. The mail goes out through
//! `pasarela run`, which gets the SMTP password in its own environment.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::deliver::*;
use pasarela::store::Store;
use pasarela::store::outbox::OutboxEntry;

/// A CA and a server certificate for 127.0.0.1 under `dir`.
fn make_tls(dir: &Path) {
    let ok = Command::new("python3")
        .arg(repo().join("tests/py/make_tls.py"))
        .arg(dir)
        .status()
        .expect("python3 tests/py/make_tls.py (needs python3-cryptography, which paramiko brings)")
        .success();
    assert!(ok, "make_tls.py failed");
}

/// The test config with `[smtp]` switched to `security`, optionally trusting
/// `ca`, and authenticating as `pasarela` with the password in `password_env`.
fn tls_config(port: u16, security: &str, ca: Option<&Path>, password_env: &str) -> String {
    let mut smtp = format!(
        "security = \"{security}\"\nusername = \"pasarela\"\npassword_env = \"{password_env}\""
    );
    if let Some(ca) = ca {
        smtp.push_str(&format!("\nca_file = \"{}\"", ca.display()));
    }
    config_text(port)
        .replace("security = \"plain\"", &smtp)
        .replace("max_attempts = 200", "max_attempts = 3")
}

/// Queue one error-alert, then run the daemon, with `password` in the
/// variable `password_env`, until no message is pending.
async fn send_one_alert(
    s: &Setup,
    password_env: &str,
    password: &str,
) -> (Store, Vec<OutboxEntry>) {
    let store = s.store().await;
    let queued = pasarela::outbox::alert_admins(&store, &s.config, "tls-test", "prueba", "TLS")
        .await
        .unwrap();
    assert!(queued, "the alert is queued");
    let mut daemon = s.start_daemon(0, &[(password_env, password)]);
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let list = store.outbox_list().await.unwrap();
        if list.iter().all(|m| m.state != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SAFETY: kill(2) on the pid of our own child, not yet reaped.
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let exit = daemon.wait().unwrap();
    assert!(
        exit.success(),
        "daemon exit {exit:?}; log:\n{}",
        s.daemon_log(0)
    );
    let list = store.outbox_list().await.unwrap();
    (store, list)
}

/// aiosmtpd with `--starttls` or `--tls` (mode) on the test CA's server
/// certificate, requiring AUTH as `pasarela` with the right password.
fn tls_sink(port: u16, s: &Setup, mode: &str, tls_dir: &Path) -> SmtpSink {
    SmtpSink::start_with(
        port,
        &s.dir.path().join("mail"),
        &[
            &format!("--{mode}"),
            tls_dir.join("server.pem").to_str().unwrap(),
            tls_dir.join("server.key").to_str().unwrap(),
            "--auth",
            "pasarela:s3creta-de-prueba",
        ],
    )
}

async fn delivers_encrypted_and_authenticated(mode: &str, var: &str) {
    let port = free_port();
    let tls_dir = tempfile::tempdir().unwrap();
    make_tls(tls_dir.path());
    let s = Setup::with_text(&tls_config(
        port,
        mode,
        Some(&tls_dir.path().join("ca.pem")),
        var,
    ));
    let sink = tls_sink(port, &s, mode, tls_dir.path());
    let (_store, list) = send_one_alert(&s, var, "s3creta-de-prueba").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, "sent", "{list:?}");
    assert!(wait_until(Duration::from_secs(10), || received(&sink.dir)
        .len()
        == 1));
    assert_eq!(
        sessions(&sink.dir),
        vec![(true, Some("pasarela".to_string()))],
        "one message, over TLS, authenticated"
    );
    assert!(received(&sink.dir)[0].1.contains("ops@bolsa.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_authentication_delivers() {
    delivers_encrypted_and_authenticated("starttls", "PASARELA_TEST_SMTP_PW_STARTTLS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_authentication_delivers() {
    delivers_encrypted_and_authenticated("tls", "PASARELA_TEST_SMTP_PW_TLS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_relay_certificate_is_refused() {
    let port = free_port();
    let tls_dir = tempfile::tempdir().unwrap();
    make_tls(tls_dir.path());
    let var = "PASARELA_TEST_SMTP_PW_UNTRUSTED";
    // No ca_file: only the public web roots, which never signed the test CA.
    let s = Setup::with_text(&tls_config(port, "starttls", None, var));
    let sink = tls_sink(port, &s, "starttls", tls_dir.path());
    let (_store, list) = send_one_alert(&s, var, "s3creta-de-prueba").await;
    assert_eq!(list[0].state, "dead", "{list:?}");
    let err = list[0]
        .last_error
        .clone()
        .unwrap_or_default()
        .to_lowercase();
    assert!(err.contains("certificate") || err.contains("tls"), "{err}");
    assert!(
        received(&sink.dir).is_empty(),
        "nothing was sent in the clear or to an unverified relay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_permanent_failure() {
    let port = free_port();
    let tls_dir = tempfile::tempdir().unwrap();
    make_tls(tls_dir.path());
    let var = "PASARELA_TEST_SMTP_PW_WRONG";
    let s = Setup::with_text(&tls_config(
        port,
        "tls",
        Some(&tls_dir.path().join("ca.pem")),
        var,
    ));
    let sink = tls_sink(port, &s, "tls", tls_dir.path());
    let (_store, list) = send_one_alert(&s, var, "not-the-password").await;
    assert_eq!(list[0].state, "dead", "{list:?}");
    assert_eq!(
        list[0].attempts, 1,
        "a 535 refusal is not retried: {list:?}"
    );
    assert!(received(&sink.dir).is_empty());
    let err = list[0].last_error.clone().unwrap_or_default();
    assert!(
        !err.contains("not-the-password"),
        "no secret in errors: {err}"
    );
}
