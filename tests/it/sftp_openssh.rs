//! The SFTP server driven by OpenSSH's `sftp` in batch mode and by `ssh`.

use crate::support::sftp;

use std::time::Duration;

use pasarela::intake::IntakeEvent;
use sftp::{Opts, hidden_files, server, text};

const XML: &str = "exento-de-iva-v1.9.xml";

fn fixture() -> std::path::PathBuf {
    sftp::repo().join("../shared/fixtures/dian").join(XML)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_is_atomic_and_announced_download_and_listing_work() {
    let mut s = server(Opts::default()).await;
    let home = s.home("demo");
    std::fs::write(home.join("outgoing/r.json"), b"{\"ok\":true}").unwrap();
    std::fs::copy(fixture(), s.root().join(XML)).unwrap();
    let out = s
        .sftp(
            "demo",
            &format!(
                "pwd\nls -l /\nput {XML} /incoming/\nls -l /incoming\nget /outgoing/r.json got.json\nrm /outgoing/r.json\n"
            ),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Remote working directory: /"), "{stdout}");
    assert!(
        stdout.contains("incoming") && stdout.contains("outgoing"),
        "{stdout}"
    );
    assert!(stdout.contains(XML), "{stdout}");
    let uploaded = home.join("incoming").join(XML);
    assert_eq!(
        std::fs::read(&uploaded).unwrap(),
        std::fs::read(fixture()).unwrap()
    );
    assert_eq!(
        std::fs::read(s.root().join("got.json")).unwrap(),
        b"{\"ok\":true}"
    );
    assert!(!home.join("outgoing/r.json").exists());
    assert!(hidden_files(&home.join("incoming")).is_empty());
    match s.next_event(Duration::from_secs(10)).await {
        Some(IntakeEvent::Completed { account, path, .. }) => {
            assert_eq!(account, "demo");
            assert_eq!(path, std::fs::canonicalize(&uploaded).unwrap());
        }
        other => panic!("expected Completed, got {other:?}"),
    }
    let events = audit_until(
        &s,
        &["sftp.login", "sftp.upload", "sftp.download", "sftp.remove"],
    )
    .await;
    for e in ["sftp.login", "sftp.upload", "sftp.download", "sftp.remove"] {
        assert!(events.iter().any(|x| x == e), "{e} not audited: {events:?}");
    }
    s.stop().await;
}

async fn audit_events(s: &sftp::Server) -> Vec<String> {
    let url = s.config.store.url.clone();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT event FROM audit ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

/// Audit rows are written asynchronously: wait (bounded) until all of `needed` are there.
async fn audit_until(s: &sftp::Server, needed: &[&str]) -> Vec<String> {
    let mut events = audit_events(s).await;
    for _ in 0..100 {
        if needed.iter().all(|n| events.iter().any(|e| e == n)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        events = audit_events(s).await;
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_permissions_are_enforced() {
    let s = server(Opts::default()).await;
    let home = s.home("demo");
    std::fs::write(home.join("incoming/seen.xml"), b"x").unwrap();
    std::fs::write(home.join("archive/old.xml"), b"old").unwrap();
    std::fs::write(s.root().join("local.txt"), b"data").unwrap();
    // Each line must fail on its own (no '-' prefix: sftp -b stops at the first error).
    for line in [
        "put local.txt /outgoing/x.txt",
        "put local.txt /archive/x.txt",
        "put local.txt /x.txt",
        "get /incoming/seen.xml",
        "rm /archive/old.xml",
        "rm /incoming/seen.xml",
        "rename /incoming/seen.xml /incoming/other.xml",
        "mkdir /incoming/sub",
        "rmdir /incoming",
        "rename /incoming /in2",
        "put local.txt /incoming/.hidden",
        "symlink /incoming/seen.xml /incoming/link",
    ] {
        let out = s.sftp("demo", &format!("{line}\n")).await;
        assert!(!out.status.success(), "{line} should fail: {}", text(&out));
    }
    // Allowed: download from archive, list.
    let out = s.sftp("demo", "get /archive/old.xml\nls /archive\n").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(home.join("incoming/seen.xml").exists());
    assert!(home.join("archive/old.xml").exists());
    assert!(!home.join("outgoing/x.txt").exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_are_refused() {
    let s = server(Opts::default()).await;
    let home = s.home("demo");
    let outside = s.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::fs::write(s.home("demo2").join("outgoing/secret.txt"), b"secret2").unwrap();
    // Symlinks planted on disk (by someone else): to a file, to a dir, and a
    // symlinked intermediate directory.
    std::os::unix::fs::symlink(outside.join("secret.txt"), home.join("outgoing/file-link"))
        .unwrap();
    std::os::unix::fs::symlink(&outside, home.join("outgoing/dir-link")).unwrap();
    std::os::unix::fs::symlink(s.home("demo2"), home.join("archive/demo2")).unwrap();
    let root = s.root().display().to_string();
    let attempts = [
        "get ../secret.txt".to_string(),
        "get /../../outside/secret.txt".to_string(),
        format!("get {root}/outside/secret.txt"),
        format!("get /..{root}/outside/secret.txt"),
        "get /outgoing/../../../outside/secret.txt".to_string(),
        "get /outgoing/file-link".to_string(),
        "get /outgoing/dir-link/secret.txt".to_string(),
        "get /archive/demo2/outgoing/secret.txt".to_string(),
        "get ../demo2/outgoing/secret.txt".to_string(),
        "get /../demo2/outgoing/secret.txt".to_string(),
        "put /etc/hostname /outgoing/dir-link/planted.txt".to_string(),
        "put /etc/hostname /incoming/../../outside/planted.txt".to_string(),
        "symlink / /incoming/root-link".to_string(),
        "symlink ../../outside /incoming/up".to_string(),
    ];
    for a in &attempts {
        let out = s.sftp("demo", &format!("{a}\n")).await;
        assert!(!out.status.success(), "{a} must fail: {}", text(&out));
    }
    // Nothing outside was read into the working directory or written outside.
    assert!(!s.root().join("secret.txt").exists());
    assert!(!outside.join("planted.txt").exists());
    assert!(std::fs::symlink_metadata(home.join("incoming/root-link")).is_err());
    assert!(std::fs::symlink_metadata(home.join("incoming/up")).is_err());
    // A planted link may be seen, never followed.
    let out = s.sftp("demo", "ls -l /outgoing/dir-link\n").await;
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("secret"),
        "{}",
        text(&out)
    );
    // `cd ..` at the root stays at the root.
    let out = s.sftp("demo", "cd ..\ncd ..\npwd\nls\n").await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Remote working directory: /\n"), "{stdout}");
    assert!(!stdout.contains("demo2"), "{stdout}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regulator_sees_read_only_reports() {
    let s = server(Opts::default()).await;
    std::fs::write(s.root().join("reports/2026-11.csv"), b"a,b\n").unwrap();
    std::fs::write(s.root().join("local.txt"), b"x").unwrap();
    let out = s
        .sftp(
            "regulator",
            "ls /\nls -l /reports\nget /reports/2026-11.csv\n",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2026-11.csv"));
    assert_eq!(
        std::fs::read(s.root().join("2026-11.csv")).unwrap(),
        b"a,b\n"
    );
    for line in [
        "put local.txt /reports/x.csv",
        "rm /reports/2026-11.csv",
        "rename /reports/2026-11.csv /reports/y.csv",
        "put local.txt /incoming/x.xml",
        "get /reports/../../pasarela.toml",
    ] {
        let out = s.sftp("regulator", &format!("{line}\n")).await;
        assert!(!out.status.success(), "{line} must fail: {}", text(&out));
    }
    assert!(s.root().join("reports/2026-11.csv").exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_exec_and_forwarding_are_refused() {
    let s = server(Opts::default()).await;
    let out = s.ssh(&["demo@127.0.0.1", "true"]).await;
    assert!(!out.status.success(), "exec must fail: {}", text(&out));
    let out = s.ssh(&["-tt", "demo@127.0.0.1"]).await;
    assert!(!out.status.success(), "shell must fail: {}", text(&out));
    // Stdio forwarding opens a direct-tcpip channel.
    let target = format!("127.0.0.1:{}", s.addr.port());
    let out = s.ssh(&["-W", &target, "demo@127.0.0.1"]).await;
    assert!(!out.status.success(), "-W must fail: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("prohibited")
            || String::from_utf8_lossy(&out.stderr).contains("forwarding failed"),
        "{}",
        text(&out)
    );
    let out = s
        .ssh(&[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "127.0.0.1:0:127.0.0.1:9",
            "demo@127.0.0.1",
        ])
        .await;
    assert!(!out.status.success(), "-R must fail: {}", text(&out));
    // And the server still serves SFTP afterwards.
    let out = s.sftp("demo", "ls /\n").await;
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_ban_the_address_only() {
    let s = server(Opts {
        sftp: "ban_score = 4\nban_secs = 60",
        ..Opts::default()
    })
    .await;
    // A key nobody authorised.
    let bad = s.root().join("bad_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&bad)
        .status()
        .unwrap();
    assert!(st.success());
    for user in ["demo", "nobody", "demo"] {
        let out = s
            .sftp_with(user, "ls /\n", Some(&bad), Some("127.0.0.2"))
            .await;
        assert!(!out.status.success(), "{}", text(&out));
    }
    // The audit rows are written as the failed connections wind down.
    let events = audit_until(&s, &["sftp.ban", "sftp.login_failed"]).await;
    // Score 1 + 2 + 1 = 4: 127.0.0.2 is banned, even with the right key.
    let out = s.sftp_with("demo", "ls /\n", None, Some("127.0.0.2")).await;
    assert!(
        !out.status.success(),
        "banned address must be refused: {}",
        text(&out)
    );
    assert!(events.iter().any(|x| x == "sftp.ban"), "{events:?}");
    assert!(
        events.iter().any(|x| x == "sftp.login_failed"),
        "{events:?}"
    );
    // Another address is not affected.
    let out = s.sftp_with("demo", "ls /\n", None, Some("127.0.0.1")).await;
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_networks_restrict_sources() {
    let s = server(Opts {
        demo: "allowed_networks = [\"127.0.0.1/32\"]",
        ..Opts::default()
    })
    .await;
    let out = s.sftp_with("demo", "ls /\n", None, Some("127.0.0.3")).await;
    assert!(!out.status.success(), "{}", text(&out));
    let out = s.sftp_with("demo", "ls /\n", None, Some("127.0.0.1")).await;
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_upload_leaves_nothing_to_process() {
    let mut s = server(Opts::default()).await;
    let big = s.root().join("big.xml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(512 * 1024 * 1024).unwrap();
    // Slow the client down so it is killed mid-transfer (-l is in Kbit/s).
    let mut child = std::process::Command::new("sftp")
        .args(s.ssh_opts())
        .args(["-l", "8000", "-P", &s.addr.port().to_string(), "-i"])
        .arg(&s.key)
        .arg("demo@127.0.0.1")
        .current_dir(s.root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"put big.xml /incoming/big.xml\n").unwrap();
        stdin.flush().unwrap();
    }
    let incoming = s.home("demo").join("incoming");
    let mut seen = false;
    for _ in 0..200 {
        if !hidden_files(&incoming).is_empty() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the upload never started");
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    let _ = child.wait();
    let mut gone = false;
    for _ in 0..200 {
        if hidden_files(&incoming).is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "temporary file left behind: {:?}",
        hidden_files(&incoming)
    );
    assert!(!incoming.join("big.xml").exists());
    assert!(s.next_event(Duration::from_millis(500)).await.is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_extensions_and_rename_semantics() {
    let s = server(Opts {
        demo: "[accounts.demo.sftp.permissions]\n\"/incoming\" = [\"list\", \"upload\", \"rename\", \"delete\", \"mkdir\", \"download\"]\n\"/outgoing\" = [\"list\", \"download\"]\n\"/archive\" = [\"list\"]",
        ..Opts::default()
    })
    .await;
    let inc = s.home("demo").join("incoming");
    std::fs::write(s.root().join("a.txt"), b"A").unwrap();
    std::fs::write(s.root().join("b.txt"), b"B").unwrap();
    // Plain rename refuses an existing target; posix-rename (sftp's default
    // `rename` when the server offers it) overwrites. `df` uses statvfs.
    let out = s
        .sftp(
            "demo",
            "put a.txt /incoming/a.txt\nput b.txt /incoming/b.txt\nrename /incoming/a.txt /incoming/b.txt\ndf /incoming\nmkdir /incoming/sub\nrename /incoming/b.txt /incoming/sub/c.txt\nrmdir /incoming/sub\n",
        )
        .await;
    // rmdir of a non-empty dir fails last; everything before must have worked.
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("Avail") || t.contains("Size"),
        "df output missing: {t}"
    );
    assert_eq!(std::fs::read(inc.join("sub/c.txt")).unwrap(), b"A");
    assert!(!inc.join("a.txt").exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_all_land_and_are_announced() {
    let mut s = server(Opts::default()).await;
    for i in 0..5 {
        std::fs::write(s.root().join(format!("f{i}.xml")), format!("<x>{i}</x>")).unwrap();
    }
    let mut children = Vec::new();
    for n in 0..20 {
        let batch: String = (0..5)
            .map(|i| format!("put f{i}.xml /incoming/s{n}-f{i}.xml\n"))
            .collect();
        let mut cmd = s.sftp_cmd("demo", &batch, None, None);
        cmd.stdout(std::process::Stdio::null());
        children.push(cmd.spawn().unwrap());
    }
    for mut c in children {
        let st = tokio::task::spawn_blocking(move || c.wait().unwrap())
            .await
            .unwrap();
        assert!(st.success());
    }
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 100 {
        match s.next_event(Duration::from_secs(10)).await {
            Some(IntakeEvent::Completed { path, .. }) => {
                seen.insert(path);
            }
            other => panic!("after {} events: {other:?}", seen.len()),
        }
    }
    let landed = std::fs::read_dir(s.home("demo").join("incoming"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".xml"))
        .count();
    assert_eq!(landed, 100);
    assert!(hidden_files(&s.home("demo").join("incoming")).is_empty());
    s.stop().await;
}

/// Read from a raw TCP connection until EOF (or give up after `wait`).
async fn read_to_eof(sock: &mut tokio::net::TcpStream, wait: Duration) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let r = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    r.ok().map(|_| got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_grace_and_connection_caps() {
    let s = server(Opts {
        sftp: "login_grace_secs = 1\nmax_connections_per_ip = 2",
        ..Opts::default()
    })
    .await;
    // Two silent connections are admitted (they get the banner) ...
    let mut a = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut b = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // ... a third from the same address is closed without a banner.
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let third = read_to_eof(&mut c, Duration::from_secs(20)).await;
    assert_eq!(third, Some(Vec::new()), "third connection must be refused");
    // The silent ones are dropped once the login grace time is over.
    let first = read_to_eof(&mut a, Duration::from_secs(30)).await;
    assert!(
        first.as_deref().is_some_and(|g| g.starts_with(b"SSH-2.0-")),
        "{first:?}"
    );
    assert!(read_to_eof(&mut b, Duration::from_secs(30)).await.is_some());
    // Slots are free again.
    let out = s.sftp("demo", "ls /\n").await;
    assert!(out.status.success(), "{}", text(&out));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_symlinks_stay_inside_the_view() {
    let s = server(Opts {
        demo: "allow_symlinks = true",
        ..Opts::default()
    })
    .await;
    let home = s.home("demo");
    std::fs::write(home.join("archive/a.xml"), b"a").unwrap();
    std::fs::create_dir_all(s.root().join("outside")).unwrap();
    let out = s
        .sftp("demo", "symlink /archive/a.xml /incoming/to-a\n")
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::symlink_metadata(home.join("incoming/to-a"))
            .is_ok_and(|m| m.file_type().is_symlink())
    );
    for line in [
        "symlink /../outside /incoming/out1",
        "symlink ../../outside /incoming/out2",
        "symlink /archive/a.xml /archive/no-upload-here",
    ] {
        let out = s.sftp("demo", &format!("{line}\n")).await;
        assert!(!out.status.success(), "{line} must fail: {}", text(&out));
    }
    assert!(std::fs::symlink_metadata(home.join("incoming/out1")).is_err());
    assert!(std::fs::symlink_metadata(home.join("incoming/out2")).is_err());
    s.stop().await;
}
