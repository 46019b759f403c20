//! Hostile SFTP clients cannot starve the others (issue 16): session caps,
//! bounded request/reply queues, pre-auth fairness, confined opens, quota and
//! free-space reserve, and a flood from one account while another uploads.
//! OpenSSH's `sftp` is the honest client; `tests/py/flood_client.py`
//! (paramiko) the hostile one.

use crate::support::sftp;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

use pasarela::intake::IntakeEvent;
use sftp::{Opts, Server, hidden_files, server, text};

const XML: &str = "exento-de-iva-v1.9.xml";

fn fixture() -> std::path::PathBuf {
    sftp::repo().join("../shared/fixtures/dian").join(XML)
}

fn have_paramiko() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import paramiko"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("PASARELA_SKIP_PY").as_deref() != Ok("1") {
        panic!("these tests need: python3 -m pip install paramiko (or PASARELA_SKIP_PY=1)");
    }
    ok
}

/// An interactive `sftp -b -` kept open: a session held by an honest client.
/// `None` when the session could not be opened.
fn hold_session(s: &Server, user: &str) -> Option<Child> {
    let c = s.sftp_cmd(user, "", None, None);
    // Replace the batch file by stdin.
    let args: Vec<_> = c.get_args().map(|a| a.to_os_string()).collect();
    let mut cmd = std::process::Command::new("sftp");
    let mut skip = false;
    for a in &args {
        if skip {
            skip = false;
            cmd.arg("-");
            continue;
        }
        if a == "-b" {
            skip = true;
        }
        cmd.arg(a);
    }
    cmd.current_dir(s.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    drop(c);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "pwd").unwrap();
    stdin.flush().unwrap();
    // Keep stdin open (the session stays) by parking it in the child struct.
    child.stdin = Some(stdin);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        match out.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(_) if line.contains("Remote working directory") => break,
            Ok(_) => {}
        }
    }
    std::thread::spawn(move || for _ in out.lines() {});
    Some(child)
}

fn end(mut c: Child) {
    drop(c.stdin.take());
    let _ = c.kill();
    let _ = c.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_caps_hold_per_account_and_overall() {
    let s = server(Opts {
        sftp: "max_sessions = 3\nmax_sessions_per_account = 2",
        ..Opts::default()
    })
    .await;
    let s = std::sync::Arc::new(s);
    let held = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || {
            let a = hold_session(&s, "demo").expect("first demo session");
            let b = hold_session(&s, "demo").expect("second demo session");
            // A third session of demo: refused (per-account cap).
            let third = hold_session(&s, "demo");
            assert!(third.is_none(), "third demo session must be refused");
            // Another account still gets in (3rd overall) ...
            let r = hold_session(&s, "regulator").expect("regulator session");
            // ... but a 4th session overall is refused, whoever asks.
            assert!(hold_session(&s, "regulator").is_none(), "global cap");
            vec![a, b, r]
        })
        .await
        .unwrap()
    };
    let mut held = held.into_iter();
    end(held.next().unwrap());
    // A slot freed by a closed session is usable again.
    let mut ok = false;
    for _ in 0..50 {
        let out = s.sftp("demo", "ls /\n").await;
        if out.status.success() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "a freed session slot must be reusable");
    for c in held {
        end(c);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_no_replies_is_cut_off_and_others_continue() {
    if !have_paramiko() {
        return;
    }
    let s = server(Opts {
        sftp: "max_pending_requests = 2000\nmax_reply_bytes = 1048576",
        ..Opts::default()
    })
    .await;
    let mut c = std::process::Command::new("python3");
    c.arg(sftp::repo().join("tests/py/flood_client.py"))
        .args([
            "stall",
            "--port",
            &s.addr.port().to_string(),
            "--user",
            "demo",
        ])
        .arg("--key")
        .arg(&s.key)
        .args(["--seconds", "30", "--requests", "400000"]);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(v["closed"], true, "the stalled session must be closed: {v}");
    let out = s.sftp("demo", "ls /\n").await;
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}

/// Many idle connections from one address (and a few that send only the
/// SSH banner from another) do not lock a real login out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_unauthenticated_connections_do_not_lock_out_logins() {
    use tokio::io::AsyncWriteExt;
    let s = server(Opts {
        sftp: "max_unauthenticated = 6\nmax_unauthenticated_per_ip = 3\nmax_connections_per_ip = 64",
        ..Opts::default()
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..40 {
        let from = if i % 4 == 0 { "127.0.0.3" } else { "127.0.0.2" };
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
        if let Ok(mut c) = sock.connect(s.addr).await {
            if from == "127.0.0.3" {
                let _ = c.write_all(b"SSH-2.0-idle\r\n").await;
            }
            idle.push(c);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let out = s.sftp("demo", "ls /\n").await;
        assert!(out.status.success(), "login locked out: {}", text(&out));
    }
    // From a flooding address too, once its own idle ones are dropped for
    // newer ones the login gets through.
    let out = s.sftp_with("demo", "ls /\n", None, Some("127.0.0.4")).await;
    assert!(out.status.success(), "{}", text(&out));
    drop(idle);
    s.stop().await;
}

/// A symlink on disk inside an account's folder leading to another
/// account's folder or /etc is never read or written through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_on_disk_are_not_followed_out() {
    let s = server(Opts::default()).await;
    let home = s.home("demo");
    let other = s.home("demo2");
    std::fs::write(other.join("incoming/secret.xml"), b"SECRET").unwrap();
    std::os::unix::fs::symlink(other.join("incoming"), home.join("outgoing/other")).unwrap();
    std::os::unix::fs::symlink(other.join("incoming"), home.join("incoming/other")).unwrap();
    std::os::unix::fs::symlink("/etc", home.join("outgoing/etc")).unwrap();
    std::fs::write(s.root().join("up.xml"), b"<x/>").unwrap();
    for cmd in [
        "get /outgoing/other/secret.xml got1",
        "get /outgoing/etc/hostname got2",
        "put up.xml /incoming/other/planted.xml",
    ] {
        let out = s.sftp("demo", &format!("{cmd}\n")).await;
        assert!(!out.status.success(), "{cmd} must fail: {}", text(&out));
    }
    let out = s.sftp("demo", "ls /outgoing/other/\n").await;
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("secret.xml"),
        "{}",
        text(&out)
    );
    assert!(!s.root().join("got1").exists() && !s.root().join("got2").exists());
    assert!(!other.join("incoming/planted.xml").exists());

    // Race-shaped: a folder on the path flips between a real directory and
    // a symlink to the other account while the client downloads through it.
    std::fs::create_dir_all(home.join("outgoing/sub")).unwrap();
    std::fs::write(home.join("outgoing/sub/secret.xml"), b"mine").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        let (sub, real, link) = (
            home.join("outgoing/sub"),
            home.join("outgoing/sub.real"),
            home.join("outgoing/sub.link"),
        );
        std::os::unix::fs::symlink(other.join("incoming"), &link).unwrap();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::rename(&sub, &real);
                let _ = std::fs::rename(&link, &sub);
                std::thread::yield_now();
                let _ = std::fs::rename(&sub, &link);
                let _ = std::fs::rename(&real, &sub);
                std::thread::yield_now();
            }
        })
    };
    let mut batch = String::new();
    for i in 0..200 {
        batch.push_str(&format!("-get /outgoing/sub/secret.xml race{i}\n"));
    }
    let _ = s.sftp("demo", &batch).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flipper.join().unwrap();
    for i in 0..200 {
        if let Ok(b) = std::fs::read(s.root().join(format!("race{i}"))) {
            assert_ne!(
                b, b"SECRET",
                "download {i} went through the swapped-in symlink"
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refuses_an_upload_before_it_lands() {
    let mut s = server(Opts {
        demo: "quota_bytes = 300000",
        ..Opts::default()
    })
    .await;
    let home = s.home("demo");
    std::fs::write(s.root().join("a.xml"), vec![b'a'; 200_000]).unwrap();
    std::fs::write(s.root().join("b.xml"), vec![b'b'; 200_000]).unwrap();
    std::fs::write(s.root().join("c.xml"), vec![b'c'; 50_000]).unwrap();
    let out = s.sftp("demo", "put a.xml /incoming/\n").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(matches!(
        s.next_event(Duration::from_secs(10)).await,
        Some(IntakeEvent::Completed { .. })
    ));
    let out = s.sftp("demo", "put b.xml /incoming/\n").await;
    assert!(
        !out.status.success(),
        "over quota must fail: {}",
        text(&out)
    );
    assert!(!home.join("incoming/b.xml").exists());
    assert!(
        hidden_files(&home.join("incoming")).is_empty(),
        "partial upload removed"
    );
    // Within the quota still works.
    let out = s.sftp("demo", "put c.xml /incoming/\n").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(home.join("incoming/c.xml").exists());
    // The refusal is audited with its code.
    let mut found = false;
    for _ in 0..50 {
        let pool = sqlx::SqlitePool::connect(&s.config.store.url)
            .await
            .unwrap();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT event, CAST(detail AS TEXT) FROM audit ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        if rows
            .iter()
            .any(|(e, d)| e == "sftp.upload_refused" && d.contains("PAS88"))
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "sftp.upload_refused with PAS88 must be audited");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_space_reserve_refuses_uploads() {
    // A reserve larger than any disk: every upload is refused at OPEN.
    let s = server(Opts {
        sftp: "min_free_bytes = 1152921504606846976",
        ..Opts::default()
    })
    .await;
    std::fs::copy(fixture(), s.root().join(XML)).unwrap();
    let out = s.sftp("demo", &format!("put {XML} /incoming/\n")).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!s.home("demo").join("incoming").join(XML).exists());
    assert!(hidden_files(&s.home("demo").join("incoming")).is_empty());
    // Downloads and listings are not affected.
    let out = s.sftp("demo", "ls /incoming\n").await;
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}

/// One account floods sessions, handles and unread requests; another keeps
/// uploading invoices with OpenSSH and every upload is announced to intake.
/// No timing is asserted: only that results keep arriving and caps hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_account_does_not_starve_another() {
    if !have_paramiko() {
        return;
    }
    let mut s = server(Opts {
        sftp: "max_sessions = 24\nmax_sessions_per_account = 8\nmax_open_handles = 64\nmax_pending_requests = 4000\nmax_reply_bytes = 1048576",
        ..Opts::default()
    })
    .await;
    let mut c = std::process::Command::new("python3");
    c.arg(sftp::repo().join("tests/py/flood_client.py"))
        .args([
            "flood",
            "--port",
            &s.addr.port().to_string(),
            "--user",
            "regulator",
        ])
        .arg("--key")
        .arg(&s.key)
        .args([
            "--seconds",
            "8",
            "--connections",
            "4",
            "--sessions",
            "8",
            "--handles",
            "200",
        ]);
    let flood = tokio::task::spawn_blocking(move || c.output().unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::fs::copy(fixture(), s.root().join(XML)).unwrap();
    for i in 0..8 {
        let out = s
            .sftp("demo", &format!("put {XML} /incoming/inv-{i}.xml\n"))
            .await;
        assert!(
            out.status.success(),
            "upload {i} during the flood: {}",
            text(&out)
        );
        match s.next_event(Duration::from_secs(30)).await {
            Some(IntakeEvent::Completed { account, path, .. }) => {
                assert_eq!(account, "demo");
                assert!(path.ends_with(format!("inv-{i}.xml")));
            }
            other => panic!("upload {i}: no result during the flood: {other:?}"),
        }
    }
    let out = flood.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    eprintln!("flood: {v}");
    assert!(v["sessions"].as_u64().unwrap() > 0, "{v}");
    assert!(v["sessions"].as_u64().unwrap() <= 8 * 4 * 8, "{v}");
    assert!(
        v["sessions_refused"].as_u64().unwrap() > 0,
        "session cap must bite: {v}"
    );
    assert!(
        v["handles_refused"].as_u64().unwrap() > 0,
        "handle cap must bite: {v}"
    );
    s.stop().await;
}
