//! The admin listener with the real daemon: /health, /ready and /metrics
//! (counters move with work; no file or account name ever appears), /health
//! and /ready answer 503 while a SIGTERM drain waits for a slow job, and a
//! second signal ends the drain at once.

use std::io::{Read, Write};
use std::time::Duration;

use crate::support::*;

/// GET `path`: (status code, body). `None` when nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Some((code, body))
}

fn config(port: u16) -> String {
    basic_config("drain_timeout_secs = 120")
        .replace(
            "steps = [\"hold-for-review\"]",
            "steps = [\"pdf-extract\", \"image-ocr\", \"excel-rows\"]",
        )
        .replace(
            "[accounts.demo]",
            &format!("[admin]\nlisten = \"127.0.0.1:{port}\"\n\n[accounts.demo]"),
        )
}

#[test]
fn probes_and_metrics_follow_the_work() {
    let port = free_port();
    let env = Env::new(&config(port));
    std::os::unix::fs::symlink(repo().join("rules"), env.path().join("rules")).unwrap();
    let daemon = env.start_ready(&[]);
    assert!(wait_until(Duration::from_secs(10), || get(port, "/ready")
        .is_some_and(|(c, _)| c == 200)));
    assert_eq!(get(port, "/health").unwrap(), (200, "ok\n".to_string()));
    assert_eq!(get(port, "/nope").unwrap().0, 404);

    env.drop_file("demo", "exento-de-iva-v1.9.xml", &dian_example());
    env.drop_file("demo", "basura.bin", b"not an invoice");
    assert!(
        wait_until(Duration::from_secs(30), || env
            .result_path("demo", "basura.bin")
            .is_file()
            && env.result_path("demo", "exento-de-iva-v1.9.xml").is_file()),
        "{}",
        daemon.log_text()
    );
    let needles = [
        "pasarela_files_received_total 2",
        "pasarela_files_finished_total{verdict=\"rejected\",format=\"unknown\"} 1",
        "pasarela_step_duration_seconds_count{step=\"classify\"} 1",
        "pasarela_step_duration_seconds_count{step=\"reject-unsupported\"} 1",
        "pasarela_jobs{state=\"done\"} 2",
        "pasarela_sftp_sessions 0",
        "pasarela_ready 1",
        "pasarela_draining 0",
        "# TYPE pasarela_step_duration_seconds histogram",
    ];
    // A result file is written before its job's outcome is committed and
    // counted: the counters follow within moments.
    let mut m = String::new();
    wait_until(Duration::from_secs(10), || {
        let metrics = get(port, "/metrics").unwrap();
        assert_eq!(metrics.0, 200);
        m = metrics.1;
        needles.iter().all(|n| m.contains(n))
    });
    for needle in needles {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    assert!(
        m.contains("pasarela_files_finished_total{verdict=") && m.contains("format=\"xml\"} 1"),
        "{m}"
    );
    for private in ["exento", "basura", "demo"] {
        assert!(!m.contains(private), "'{private}' in the metrics:\n{m}");
    }
}

#[test]
fn draining_answers_503_and_a_second_signal_ends_it() {
    let port = free_port();
    let env = Env::new(&config(port));
    std::os::unix::fs::symlink(repo().join("rules"), env.path().join("rules")).unwrap();
    let mut daemon = env.start_ready(&[]);
    env.drop_file("demo", "lento.pdf", &page_loop_pdf(0));
    // Wait until the slow job runs, then ask the daemon to stop.
    assert!(
        wait_until(Duration::from_secs(30), || get(port, "/metrics")
            .is_some_and(
                |(_, m)| m.contains("pasarela_jobs{state=\"running\"} 1")
            )),
        "{}",
        daemon.log_text()
    );
    daemon.signal(libc::SIGTERM);
    assert!(
        wait_until(Duration::from_secs(10), || get(port, "/health")
            .is_some_and(|(c, b)| c == 503 && b == "draining\n")),
        "{}",
        daemon.log_text()
    );
    assert_eq!(get(port, "/ready").unwrap().0, 503);
    let child = daemon.child.as_mut().unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "still draining the slow job"
    );
    // A second signal: out now, the job left for the next start.
    daemon.signal(libc::SIGTERM);
    let child = daemon.child.as_mut().unwrap();
    assert!(wait_until(Duration::from_secs(10), || child
        .try_wait()
        .unwrap()
        .is_some()));
    assert!(daemon.log_text().contains("second signal"));
    assert!(!env.result_path("demo", "lento.pdf").is_file());
}

/// Has the server closed `s` (end of file, not merely quiet)?
fn closed_by_server(s: &mut std::net::TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let r = matches!(s.read(&mut b), Ok(0));
    s.set_nonblocking(false).unwrap();
    r
}

#[test]
fn connections_beyond_the_cap_wait_and_idle_ones_are_closed() {
    let port = free_port();
    let cfg = basic_config("").replace(
        "[accounts.demo]",
        &format!(
            "[admin]\nlisten = \"127.0.0.1:{port}\"\nmax_connections = 2\nread_timeout_ms = 3000\n\n[accounts.demo]"
        ),
    );
    let env = Env::new(&cfg);
    let daemon = env.start_ready(&[]);
    assert!(
        wait_until(Duration::from_secs(10), || get(port, "/health")
            .is_some_and(|(c, _)| c == 200)),
        "{}",
        daemon.log_text()
    );
    // Two idle connections take both slots.
    let mut idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // A third is not served while both are held...
    let mut third = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(third, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut text = String::new();
    if third.read_to_string(&mut text).is_ok() {
        // Answered already: only allowed if an idle slot had been freed.
        assert!(
            idle.iter_mut().any(closed_by_server),
            "answered beyond the cap while both slots were held: {text}"
        );
    }
    // ...and is answered once the idle ones are closed by the read timeout
    // (the test never closes them).
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    third.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 16];
        assert_eq!(
            s.read(&mut b).unwrap(),
            0,
            "idle connection closed by the server"
        );
    }
    // The listener keeps answering.
    assert_eq!(get(port, "/health").unwrap(), (200, "ok\n".to_string()));
}
