//! The daemon end to end: the DIAN example, retries into a dead letter and
//! `replay`, the scan that catches files written while the daemon was down,
//! temporary names, and clean shutdown.

use std::time::Duration;

use crate::support::*;

#[test]
fn dian_example_gets_its_result() {
    let env = Env::new(&basic_config(""));
    let daemon = env.start(&[]);
    assert!(wait_until(Duration::from_secs(20), || env
        .home("demo")
        .join("incoming")
        .is_dir()));
    env.submit_within(
        &daemon,
        "demo",
        "exento-de-iva-v1.9.xml",
        &dian_example(),
        20,
    );
    let r = env.read_result("demo", "exento-de-iva-v1.9.xml");
    assert_eq!(r["format"], "xml");
    assert_eq!(r["document_type"], "Invoice");
    assert_eq!(r["sha256"].as_str().unwrap().len(), 64);
    for key in [
        "file",
        "sha256",
        "format",
        "document_type",
        "verdict",
        "findings",
        "processed_at",
    ] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    // The input is archived right after the result is committed.
    assert!(wait_until(Duration::from_secs(10), || files_under(
        &env.home("demo").join("archive")
    )
    .len()
        == 1));
    let archived = files_under(&env.home("demo").join("archive"));
    assert_eq!(
        std::fs::read(&archived[0]).unwrap(),
        dian_example(),
        "archived input is byte-identical"
    );
}

#[test]
fn failures_retry_then_dead_letter_and_replay_recovers() {
    let env = Env::new(&basic_config(""));
    let daemon = env.start(&[]);
    assert!(
        wait_until(Duration::from_secs(20), || env
            .home("demo")
            .join("outgoing")
            .is_dir()),
        "{}",
        daemon.log_text()
    );
    // outgoing/ becomes a file: writing any result fails, a transient error.
    std::fs::remove_dir(env.home("demo").join("outgoing")).unwrap();
    std::fs::write(env.home("demo").join("outgoing"), b"in the way").unwrap();
    env.drop_file("demo", "a.xml", &dian_example());
    let status = || -> serde_json::Value {
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(90), || status()["dead"]
            .as_array()
            .is_some_and(|d| d.len() == 1)),
        "{}\n{}",
        status(),
        daemon.log_text()
    );
    let dead = &status()["dead"][0];
    assert_eq!(dead["attempts"], 2, "max_attempts = 2: {dead}");
    assert!(
        dead["last_error"].as_str().unwrap().contains("writing"),
        "{dead}"
    );
    let human = String::from_utf8(env.run(&["status"]).stdout).unwrap();
    assert!(
        human.contains("dead letters: 1") && human.contains("a.xml"),
        "{human}"
    );

    // The input is kept (spool), not archived, while dead.
    assert!(files_under(&env.home("demo").join("archive")).is_empty());
    assert_eq!(files_under(&env.path().join("var/spool")).len(), 1);

    // The operator fixes the folder and replays.
    std::fs::remove_file(env.home("demo").join("outgoing")).unwrap();
    std::fs::create_dir(env.home("demo").join("outgoing")).unwrap();
    let id = dead["id"].as_i64().unwrap().to_string();
    let out = env.run(&["replay", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(20), || env
            .result_path("demo", "a.xml")
            .is_file()),
        "{}",
        daemon.log_text()
    );
    assert!(wait_until(Duration::from_secs(10), || files_under(
        &env.home("demo").join("archive")
    )
    .len()
        == 1));
    assert_eq!(env.read_result("demo", "a.xml")["verdict"], "accepted");
    assert_eq!(status()["jobs_by_state"], serde_json::json!([["done", 1]]));
    // Replaying a job that is not dead or done is refused; unknown ids too.
    assert_eq!(env.run(&["replay", "999"]).status.code(), Some(65));
}

#[test]
fn files_written_while_down_are_found_and_partials_ignored() {
    let env = Env::new(&basic_config(""));
    let incoming = env.home("demo").join("incoming");
    std::fs::create_dir_all(incoming.join("daily-reports")).unwrap();
    std::fs::write(incoming.join("early.xml"), dian_example()).unwrap();
    std::fs::write(
        incoming.join("daily-reports/nested.pdf"),
        b"%PDF-1.4\n%fake\n",
    )
    .unwrap();
    for partial in ["upload.xml.part", "x.filepart", ".hidden.xml", "copy.tmp"] {
        std::fs::write(incoming.join(partial), b"partial").unwrap();
    }
    let mut daemon = env.start(&[]);
    assert!(
        wait_until(Duration::from_secs(20), || env
            .result_path("demo", "early.xml")
            .is_file()
            && env
                .result_path("demo", "daily-reports/nested.pdf")
                .is_file()),
        "{}",
        daemon.log_text()
    );
    let r = env.read_result("demo", "daily-reports/nested.pdf");
    assert_eq!(r["format"], "pdf");
    assert_eq!(r["verdict"], "review");
    assert_eq!(r["file"], "daily-reports/nested.pdf");
    // A slow copy by other means (the writer keeps the file open and keeps
    // writing): not taken while it changes, taken once closed.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(incoming.join("slow.xml")).unwrap();
        let bytes = dian_example();
        for chunk in bytes.chunks(bytes.len() / 10 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            assert!(
                !env.result_path("demo", "slow.xml").exists(),
                "taken while still being written"
            );
        }
    }
    assert!(wait_until(Duration::from_secs(20), || env
        .result_path("demo", "slow.xml")
        .is_file()));
    let r = env.read_result("demo", "slow.xml");
    assert_eq!(
        r["sha256"],
        env.read_result("demo", "early.xml")["sha256"],
        "the complete file was taken"
    );
    // Temporary and hidden names are never taken.
    for partial in ["upload.xml.part", "x.filepart", ".hidden.xml", "copy.tmp"] {
        assert!(incoming.join(partial).exists(), "{partial} was taken");
        assert!(!env.result_path("demo", partial).exists());
    }
    assert_eq!(
        daemon.terminate(),
        Some(0),
        "clean exit on SIGTERM: {}",
        daemon.log_text()
    );
}

#[test]
fn a_second_daemon_on_the_same_state_is_refused() {
    let env = Env::new(&basic_config(""));
    let _first = env.start(&[]);
    assert!(wait_until(Duration::from_secs(20), || env
        .path()
        .join("var/pasarela.lock")
        .exists()));
    std::thread::sleep(Duration::from_millis(300));
    let out = env.run(&["run"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another pasarela daemon"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_same_invoice_as_different_bytes_is_a_duplicate_by_cufe() {
    let config = basic_config("").replace("steps = [\"classify\"]", "steps = [\"dian-validate\"]");
    let env = Env::new(&config);
    let daemon = env.start_ready(&["--now", "2024-03-16T09:00:00-05:00"]);
    let xml = dian_example();
    env.submit_within(&daemon, "demo", "first.xml", &xml, 20);
    // Same invoice, re-serialised (different bytes, same CUFE).
    let again =
        String::from_utf8(xml)
            .unwrap()
            .replacen("<Invoice", "<!-- reenviada --><Invoice", 1);
    env.submit_within(&daemon, "demo", "again.xml", again.as_bytes(), 20);
    let first = env.read_result("demo", "first.xml");
    let second = env.read_result("demo", "again.xml");
    assert_eq!(first["verdict"], "accepted", "{first}");
    assert_eq!(second["verdict"], "duplicate", "{second}");
    assert_eq!(second["duplicate_of"], first["job_id"]);
    assert!(
        second["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "90"),
        "{second}"
    );
}

/// Audit rows of `event` in the environment's store: (account, detail).
fn audit_events(env: &Env, event: &str) -> Vec<(Option<String>, String)> {
    let url = format!("sqlite://{}", env.path().join("var/pasarela.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = pasarela::store::Store::open(&url, false, Duration::from_secs(5))
            .await
            .unwrap();
        let rows = store.audit_events(event).await.unwrap();
        store.close().await;
        rows
    })
}

/// Issue 16: symbolic links in incoming/ (to another account's folder, to a
/// file elsewhere) are never followed, by the watcher or the scan: skipped
/// with a warning and an audit row, and nothing behind them is taken. Before,
/// the watcher followed the folder link and took a file written behind it.
#[test]
fn symbolic_links_in_incoming_are_never_followed() {
    let env = Env::new(&basic_config(""));
    let incoming = env.home("demo").join("incoming");
    let elsewhere = env.path().join("otra-cuenta/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let secret = env.path().join("secreto.xml");
    std::fs::write(&secret, dian_example()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, incoming.join("enlace")).unwrap();
    std::os::unix::fs::symlink(&secret, incoming.join("secreto.xml")).unwrap();
    let mut daemon = env.start_ready(&[]);

    // A file written behind the folder link while the daemon watches.
    let behind = elsewhere.join("ajena.xml");
    std::fs::write(elsewhere.join(".ajena.tmp"), dian_example()).unwrap();
    std::fs::rename(elsewhere.join(".ajena.tmp"), &behind).unwrap();
    // A valid invoice of the account itself is taken as usual.
    env.submit_within(&daemon, "demo", "propia.xml", &dian_example(), 20);
    // The scan (every 2 s here) reports both links.
    assert!(
        wait_until(Duration::from_secs(20), || {
            let log = daemon.log_text();
            log.matches("symbolic link in incoming/ skipped").count() >= 2
        }),
        "{}",
        daemon.log_text()
    );
    assert!(behind.is_file(), "the file behind the link was taken");
    assert!(secret.is_file(), "the linked file was taken");
    assert!(!env.result_path("demo", "enlace/ajena.xml").exists());
    assert!(!env.result_path("demo", "secreto.xml").exists());
    daemon.terminate();

    let mut paths: Vec<String> = audit_events(&env, "intake.symlink")
        .into_iter()
        .map(|(account, detail)| {
            assert_eq!(account.as_deref(), Some("demo"));
            let d: serde_json::Value = serde_json::from_str(&detail).unwrap();
            d["path"].as_str().unwrap().to_string()
        })
        .collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths, ["enlace", "secreto.xml"]);
}

/// Issue 16: SFTP upload temps left by a crash (`.pasarela-upload-<hex>`)
/// are removed at start-up (SQLite: no other daemon can be uploading), and
/// later by the scan once untouched for `daemon.stale_upload_secs`; a live
/// upload's temp and files that only look alike are kept. Before, they were
/// never removed.
#[test]
fn crashed_upload_temps_are_removed_at_start_and_when_stale() {
    let env = Env::new(&basic_config(""));
    let incoming = env.home("demo").join("incoming");
    std::fs::create_dir_all(incoming.join("sub")).unwrap();
    let debris = [
        incoming.join(".pasarela-upload-00000000000000aa"),
        incoming.join("sub/.pasarela-upload-00000000000000bb"),
    ];
    let lookalike = incoming.join(".pasarela-upload-notas");
    for p in debris.iter().chain([&lookalike]) {
        std::fs::write(p, b"<Invoice parcial").unwrap();
    }
    let daemon = env.start_ready(&[]);
    assert!(
        daemon.log_text().contains("uploads=2"),
        "{}",
        daemon.log_text()
    );
    for p in &debris {
        assert!(!p.exists(), "{} survived start-up", p.display());
    }

    // While running: one temp untouched for two days, one being written now.
    let stale = incoming.join("sub/.pasarela-upload-00000000000000cc");
    let live = incoming.join(".pasarela-upload-00000000000000dd");
    std::fs::write(&stale, b"parcial").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(2 * 86_400))
        .unwrap();
    std::fs::write(&live, b"parcial").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || !stale.exists()),
        "{}",
        daemon.log_text()
    );
    assert!(live.exists(), "a live upload's temp was removed");
    assert!(
        lookalike.exists(),
        "a file that only looks alike was removed"
    );
}
