//! The user story over real SFTP: the daemon serves the account homes;
//! OpenSSH's `sftp` puts the DIAN example into /incoming/ and gets its result
//! from /outgoing/.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// `[sftp]` on `port` (plus `sftp_extra` lines) and the given accounts, each
/// authorising the fixture key.
fn sftp_config(port: u16, sftp_extra: &str, accounts: &[&str]) -> String {
    let pubkey = repo().join("fixtures/keys/demo_ed25519.pub");
    let accounts: String = accounts
        .iter()
        .map(|n| {
            format!(
                "[accounts.{n}]\nhome = \"var/home/{n}\"\n[accounts.{n}.sftp]\nauthorized_keys = [\"{}\"]\n\n",
                pubkey.display()
            )
        })
        .collect();
    basic_config("").replace(
        "[accounts.demo]\nhome = \"var/home/demo\"",
        &format!("[sftp]\nlisten = \"127.0.0.1:{port}\"\n{sftp_extra}\n\n{accounts}"),
    )
}

#[test]
fn put_invoice_get_result_over_sftp() {
    let port = free_port();
    let env = Env::new(&sftp_config(port, "", &["demo"]));
    let key = client_key(&env);
    let daemon = env.start_ready(&[]);

    let sftp = |batch: &str| {
        let file = env.path().join("batch");
        std::fs::write(&file, batch).unwrap();
        sftp_cmd(&env, &key, port, "demo", file.to_str().unwrap())
            .output()
            .unwrap()
    };
    let example = shared().join("fixtures/dian/exento-de-iva-v1.9.xml");
    let out = sftp(&format!("put {} /incoming/\n", example.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = env.path().join("got.json");
    let fetched = wait_until(Duration::from_secs(20), || {
        sftp(&format!(
            "get /outgoing/exento-de-iva-v1.9.xml.result.json {}\n",
            got.display()
        ))
        .status
        .success()
    });
    assert!(fetched, "{}", daemon.log_text());
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&got).unwrap()).unwrap();
    assert_eq!(r["file"], "exento-de-iva-v1.9.xml");
    assert_eq!(r["format"], "xml");
    assert_eq!(r["document_type"], "Invoice");
    assert_eq!(r["account"], "demo");
    // The upload was announced on CLOSE, audited, and the input archived.
    assert!(wait_until(Duration::from_secs(10), || files_under(
        &env.home("demo").join("archive")
    )
    .len()
        == 1));
    // SFTP audit rows are group committed (the store's write lane), and the
    // download's is written when the session ends: wait for them.
    let db = env.path().join("var/pasarela.db");
    let events = || {
        let out = Command::new("sqlite3")
            .arg(&db)
            .arg("SELECT event FROM audit ORDER BY id")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let wanted = [
        "sftp.login",
        "sftp.upload",
        "received",
        "done",
        "sftp.download",
    ];
    wait_until(Duration::from_secs(10), || {
        let e = events();
        wanted.iter().all(|w| e.lines().any(|l| l == *w))
    });
    let events = events();
    for e in wanted {
        assert!(events.lines().any(|l| l == e), "audit lacks {e}: {events}");
    }
}

/// SIGHUP with a changed account list: an SFTP session opened before the
/// reload keeps working, a new account logs in, a removed one is refused.
#[test]
fn reload_changes_accounts_without_dropping_sessions() {
    use std::io::Write;
    let port = free_port();
    let config = |names: &[&str]| sftp_config(port, "", names);
    let env = Env::new(&config(&["demo", "viejo"]));
    let key = client_key(&env);
    let daemon = env.start_ready(&[]);
    let sftp_cmd = |user: &str| {
        let mut c = sftp_cmd(&env, &key, port, user, "-");
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let login = |user: &str| -> bool {
        let mut child = sftp_cmd(user).spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"ls /\nbye\n")
            .unwrap();
        child.wait_with_output().unwrap().status.success()
    };
    assert!(login("demo") && login("viejo"));
    assert!(!login("nuevo"), "not configured yet");

    // A session open across the reload (logged in before the SIGHUP).
    let demo_logins = || {
        daemon
            .log_text()
            .lines()
            .filter(|l| l.contains("sftp login account=demo"))
            .count()
    };
    let before = demo_logins();
    let mut open = sftp_cmd("demo").spawn().unwrap();
    let mut stdin = open.stdin.take().unwrap();
    stdin.write_all(b"ls /\n").unwrap();
    stdin.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || demo_logins() > before),
        "{}",
        daemon.log_text()
    );

    // `status` (a separate process reading the store) lists the open session.
    let status: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert!(
        status["sftp_sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["account"] == "demo" && s["peer"] == "127.0.0.1"),
        "{status}"
    );
    std::fs::write(
        env.path().join("config/pasarela.toml"),
        config(&["demo", "nuevo"]),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(15), || daemon
            .log_text()
            .contains("sftp accounts reloaded")),
        "{}",
        daemon.log_text()
    );
    assert!(login("nuevo"), "a new account logs in after the reload");
    assert!(!login("viejo"), "a removed account is refused");

    // The old session still works: it uploads, and the file is processed.
    std::fs::write(env.path().join("tras-recarga.xml"), dian_example()).unwrap();
    stdin
        .write_all(b"put tras-recarga.xml /incoming/tras-recarga.xml\nbye\n")
        .unwrap();
    drop(stdin);
    let out = open.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(30), || env
            .result_path("demo", "tras-recarga.xml")
            .is_file()),
        "{}",
        daemon.log_text()
    );
}

/// Failed logins ban the address; `status` shows the ban, and it outlives a
/// daemon restart.
#[test]
fn bans_are_recorded_shown_and_survive_a_restart() {
    let port = free_port();
    let env = Env::new(&sftp_config(
        port,
        "ban_score = 2\nban_secs = 600\nauth_rejection_delay_ms = 10",
        &["demo"],
    ));
    let key = client_key(&env);
    let attempt = |user: &str| {
        sftp_cmd(&env, &key, port, user, "/dev/null")
            .output()
            .unwrap()
            .status
            .success()
    };
    let mut daemon = env.start_ready(&[]);
    assert!(attempt("demo"));
    assert!(
        !attempt("nadie"),
        "an unknown account fails (score 2: banned)"
    );
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .log_text()
            .contains("sftp address banned")),
        "{}",
        daemon.log_text()
    );
    assert!(!attempt("demo"), "the banned address is refused");
    let status: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["sftp_bans"][0]["addr"], "127.0.0.1", "{status}");
    let text = String::from_utf8(env.run(&["status"]).stdout).unwrap();
    assert!(text.contains("sftp bans: 1"), "{text}");

    assert_eq!(daemon.terminate(), Some(0));
    let daemon = env.start_ready(&[]);
    assert!(!attempt("demo"), "the ban outlives the restart");
    assert!(
        daemon.log_text().contains("address banned"),
        "{}",
        daemon.log_text()
    );
}
