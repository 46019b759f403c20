//! The daemon's delivery wiring end to end: messages queued while the SMTP
//! server is down are delivered by `pasarela run` once it is back, exactly
//! once, across a kill -9 of the daemon.

use std::time::Duration;

use crate::support::deliver::*;
use pasarela::certificate::{example_data, issue_certificate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_delivers_queued_mail_once_after_outage_and_crash() {
    let port = free_port();
    let s = Setup::new(port);
    let store = s.store().await;
    let demo = s.account("demo");
    let mut daemon = s.start_daemon(0, &[]);
    // Its start-up recovery deletes crash debris (temp files) under
    // outgoing/: certificates are written here only once it is done.
    assert!(wait_until(Duration::from_secs(20), || s
        .daemon_log(0)
        .contains("recovery finished")));
    for job in 1..=5 {
        let mut data = example_data();
        data.number.clear();
        issue_certificate(&store, &s.config, &demo, job, data)
            .await
            .unwrap();
    }
    // The daemon's sender tries (SMTP is down) and backs off.
    let start = std::time::Instant::now();
    loop {
        let list = store.outbox_list().await.unwrap();
        if list.iter().all(|m| m.attempts >= 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the daemon never tried: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.kill().unwrap(); // kill -9: no graceful shutdown
    daemon.wait().unwrap();

    let sink = SmtpSink::start(port, &s.dir.path().join("mail"));
    let mut daemon = s.start_daemon(1, &[]);
    let delivered = wait_until(Duration::from_secs(30), || received(&sink.dir).len() >= 5);
    std::thread::sleep(Duration::from_millis(800));
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let _ = daemon.wait();
    let log = s.daemon_log(1);
    assert!(delivered, "not delivered; daemon log:\n{log}");
    let mail = received(&sink.dir);
    let mut ids: Vec<&str> = mail.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(mail.len(), 5, "none twice");
    assert_eq!(ids.len(), 5);
    let list = store.outbox_list().await.unwrap();
    assert!(list.iter().all(|m| m.state == "sent"), "{list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_file_alerts_the_admins() {
    let port = free_port();
    let s = Setup::with_text(&format!(
        "{}\n[retry]\nmax_attempts = 2\ninitial_backoff_ms = 50\nmax_backoff_secs = 1\n",
        config_text(port)
    ));
    let sink = SmtpSink::start(port, &s.dir.path().join("mail"));
    let mut daemon = s.start_daemon(0, &[]);
    let home = s.account("demo").home;
    assert!(wait_until(Duration::from_secs(20), || home
        .join("outgoing")
        .is_dir()));
    // outgoing/ becomes a file: writing the result fails until dead-lettered.
    std::fs::remove_dir_all(home.join("outgoing")).unwrap();
    std::fs::write(home.join("outgoing"), b"in the way").unwrap();
    std::fs::write(home.join("incoming/.a.xml.part"), b"<Invoice/>").unwrap();
    std::fs::rename(
        home.join("incoming/.a.xml.part"),
        home.join("incoming/a.xml"),
    )
    .unwrap();
    let got = wait_until(Duration::from_secs(40), || {
        received(&sink.dir)
            .iter()
            .any(|(_, raw)| raw.contains("ops@bolsa.example"))
    });
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let _ = daemon.wait();
    let log = s.daemon_log(0);
    assert!(got, "no error-alert; daemon log:\n{log}");
    let mail = received(&sink.dir);
    assert_eq!(mail.len(), 1);
    let raw = mail[0].1.replace("=\r\n", "").replace("=\n", "");
    assert!(raw.contains("a.xml"), "{raw}");
}
