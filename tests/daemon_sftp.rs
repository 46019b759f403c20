//! The user story over real SFTP: the daemon serves the account homes;
//! OpenSSH's `sftp` puts the DIAN example into /incoming/ and gets its result
//! from /outgoing/.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn put_invoice_get_result_over_sftp() {
    let port = free_port();
    let config = basic_config("").replace(
        "[accounts.demo]\nhome = \"var/home/demo\"",
        &format!(
            "[sftp]\nlisten = \"127.0.0.1:{port}\"\n\n[accounts.demo]\nhome = \"var/home/demo\"\n[accounts.demo.sftp]\nauthorized_keys = [\"{}\"]",
            repo().join("fixtures/keys/demo_ed25519.pub").display()
        ),
    );
    let env = Env::new(&config);
    let key = env.path().join("id_demo");
    std::fs::copy(repo().join("fixtures/keys/demo_ed25519"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let daemon = env.start_ready(&[]);

    let sftp = |batch: &str| {
        let file = env.path().join("batch");
        std::fs::write(&file, batch).unwrap();
        Command::new("sftp")
            .args([
                "-b",
                file.to_str().unwrap(),
                "-i",
                key.to_str().unwrap(),
                "-P",
                &port.to_string(),
            ])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "demo@127.0.0.1",
            ])
            .current_dir(env.path())
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
    let db = env.path().join("var/pasarela.db");
    let events = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT event FROM audit ORDER BY id")
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&events.stdout);
    for e in [
        "sftp.login",
        "sftp.upload",
        "received",
        "done",
        "sftp.download",
    ] {
        assert!(events.lines().any(|l| l == e), "audit lacks {e}: {events}");
    }
}
