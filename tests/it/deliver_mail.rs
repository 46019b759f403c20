//! E-mail delivery against a real SMTP server (aiosmtpd on loopback, started
//! as a child process): one e-mail per certificate with the PDF attached, the
//! processing-notification of a rejected file, exactly-once delivery across an
//! SMTP outage and a sender restart, and dead messages raising an error-alert.

use std::time::Duration;

use crate::support::deliver::*;
use base64::Engine;
use pasarela::certificate::{example_data, issue_certificate};
use pasarela::outbox::Sender;
use pasarela::result::{Finding, Format, ResultDoc, Verdict};
use pasarela::store::Store;
use tokio_util::sync::CancellationToken;

/// Run the sender until every message is sent or dead (or `timeout`).
async fn drain(
    store: &Store,
    config: &std::sync::Arc<pasarela::config::Config>,
    timeout: Duration,
) {
    let sender = Sender::new(store.clone(), config.clone()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(sender.run(stop.clone()));
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        let list = store.outbox_list().await.unwrap();
        if list.iter().all(|m| m.state != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.unwrap();
}

/// The decoded bytes of the first base64 attachment of a raw message.
fn attachment(raw: &str) -> Option<(String, Vec<u8>)> {
    let start = raw.find("Content-Disposition: attachment")?;
    let part = &raw[start..];
    let name = part
        .split("filename=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_string();
    let body_start = part
        .find("\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| part.find("\n\n").map(|i| i + 2))?;
    let body: String = part[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()?;
    Some((name, bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_registration_yields_one_email_with_the_pdf() {
    let port = free_port();
    let s = Setup::new(port);
    let sink = SmtpSink::start(port, &s.dir.path().join("mail"));
    let store = s.store().await;
    let demo = s.account("demo");
    let mut data = example_data();
    data.number.clear();
    let cert = issue_certificate(&store, &s.config, &demo, 7, data.clone())
        .await
        .unwrap();
    // A re-run of the same job enqueues nothing new.
    issue_certificate(&store, &s.config, &demo, 7, data)
        .await
        .unwrap();
    drain(&store, &s.config, Duration::from_secs(30)).await;

    assert!(wait_until(Duration::from_secs(10), || received(&sink.dir)
        .len()
        == 1));
    std::thread::sleep(Duration::from_millis(300));
    let mail = received(&sink.dir);
    assert_eq!(mail.len(), 1, "exactly one e-mail");
    let (id, raw) = &mail[0];
    assert!(
        id.starts_with('<') && id.ends_with("@bolsa.example>"),
        "{id}"
    );
    assert!(raw.contains("demo@example.com") && raw.contains("tesoreria@demo.example"));
    let (name, pdf) = attachment(raw).expect("a PDF attachment");
    assert_eq!(name, "certificado-2026-000001.pdf");
    assert_eq!(
        pdf,
        std::fs::read(&cert.path).unwrap(),
        "the attached PDF is the certificate"
    );
    let list = store.outbox_list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_file_yields_a_notification_listing_dian_codes() {
    let port = free_port();
    let s = Setup::new(port);
    let sink = SmtpSink::start(port, &s.dir.path().join("mail"));
    let store = s.store().await;
    let demo = s.account("demo");
    let result = ResultDoc {
        file: "facturas/fv-123.xml".into(),
        sha256: "0".repeat(64),
        size: 10,
        format: Format::Xml,
        document_type: Some("Invoice".into()),
        verdict: Verdict::Rejected,
        findings: vec![
            Finding::reject("FAD06", "El CUFE no corresponde a los datos de la factura."),
            Finding::reject("FAJ24", "El NIT del adquirente no es válido.")
                .at("/Invoice/cac:AccountingCustomerParty"),
        ],
        processed_at: chrono::DateTime::parse_from_rfc3339("2026-03-05T10:00:00-05:00").unwrap(),
        job_id: Some(9),
        account: Some("demo".into()),
        route: None,
        duplicate_of: None,
        document: None,
        registration_lines: None,
        commission: None,
        extraction: None,
        certificate: None,
        note: None,
    };
    let notice = pasarela::certificate::processing_notification(&s.config, &demo, 9, &result)
        .unwrap()
        .expect("mail is on");
    // Its key is per job and verdict: queued once.
    assert!(store.enqueue_message(&notice, 1).await.unwrap().1);
    assert!(!store.enqueue_message(&notice, 2).await.unwrap().1);
    drain(&store, &s.config, Duration::from_secs(30)).await;
    assert!(wait_until(Duration::from_secs(10), || received(&sink.dir)
        .len()
        == 1));
    let mail = received(&sink.dir);
    assert_eq!(mail.len(), 1);
    // Quoted-printable may wrap lines; compare without soft breaks.
    let raw = mail[0].1.replace("=\r\n", "").replace("=\n", "");
    assert!(raw.contains("FAD06") && raw.contains("FAJ24"), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_restart_deliver_every_message_exactly_once() {
    let port = free_port();
    let s = Setup::new(port);
    let store = s.store().await;
    let demo = s.account("demo");
    // 12 certificates issued while the SMTP server is down.
    for job in 1..=12 {
        let mut data = example_data();
        data.number.clear();
        issue_certificate(&store, &s.config, &demo, job, data)
            .await
            .unwrap();
    }
    // First sender: fails for a while (connection refused), backing off.
    let sender = Sender::new(store.clone(), s.config.clone()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(sender.run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // "Daemon restart": the sender stops, the store is closed and reopened.
    stop.cancel();
    task.await.unwrap();
    let list = store.outbox_list().await.unwrap();
    assert!(list.iter().all(|m| m.state == "pending"), "{list:?}");
    assert!(
        list.iter().any(|m| m.attempts >= 2),
        "retries happened: {list:?}"
    );
    store.close().await;

    // The server comes back; a new process delivers everything once.
    let sink = SmtpSink::start(port, &s.dir.path().join("mail"));
    let store = s.store().await;
    drain(&store, &s.config, Duration::from_secs(60)).await;
    assert!(wait_until(Duration::from_secs(10), || received(&sink.dir)
        .len()
        >= 12));
    std::thread::sleep(Duration::from_millis(500));
    let mail = received(&sink.dir);
    let mut ids: Vec<&str> = mail.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(mail.len(), 12, "none twice");
    assert_eq!(ids.len(), 12, "12 distinct messages");
    assert!(
        store
            .outbox_list()
            .await
            .unwrap()
            .iter()
            .all(|m| m.state == "sent")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_dies_and_alerts_the_admins() {
    let port = free_port();
    let s = Setup::with_text(&config_text(port).replace("max_attempts = 200", "max_attempts = 2"));
    let store = s.store().await;
    let demo = s.account("demo");
    let mut data = example_data();
    data.number.clear();
    issue_certificate(&store, &s.config, &demo, 1, data)
        .await
        .unwrap();
    // Server down: two attempts, then dead + an error-alert queued.
    let sender = Sender::new(store.clone(), s.config.clone()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(sender.run(stop.clone()));
    let start = std::time::Instant::now();
    loop {
        let list = store.outbox_list().await.unwrap();
        if list.iter().any(|m| m.state == "dead") || start.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.unwrap();
    let list = store.outbox_list().await.unwrap();
    assert_eq!(list[0].state, "dead", "{list:?}");
    assert_eq!(list[0].attempts, 2);
    assert!(list.iter().any(|m| m.kind == "error-alert"), "{list:?}");

    // The alert goes out when the server is back (it has its own attempts).
    let sink = SmtpSink::start(port, &s.dir.path().join("mail"));
    drain(&store, &s.config, Duration::from_secs(30)).await;
    assert!(wait_until(Duration::from_secs(10), || !received(&sink.dir).is_empty()));
    let mail = received(&sink.dir);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].1.contains("ops@bolsa.example"));
}
