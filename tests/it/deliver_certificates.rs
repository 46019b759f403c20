//! Certificates end to end through the library: numbering, idempotence per
//! job, the file in outgoing/certificates/, pdftotext, verify-certificate.

use std::process::Command;

use crate::support::deliver::*;
use pasarela::certificate::{example_data, issue_certificate};

fn pdftotext(path: &std::path::Path) -> String {
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/install-deps.sh)");
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_is_numbered_idempotent_written_and_verifiable() {
    let s = Setup::new(free_port());
    let store = s.store().await;
    let demo = s.account("demo");

    let mut data = example_data();
    data.number.clear();
    let first = issue_certificate(&store, &s.config, &demo, 1, data.clone())
        .await
        .unwrap();
    assert_eq!(first.number, "2026-000001");
    assert!(first.newly_issued);
    assert_eq!(first.rel_path, "outgoing/certificates/2026-000001.pdf");
    assert!(first.path.is_file());
    let v = first.result_value();
    assert_eq!(v["number"], "2026-000001");
    assert_eq!(v["digest"], first.digest.as_str());

    // The same job again (a crash and re-run): the same certificate, no new number.
    let again = issue_certificate(&store, &s.config, &demo, 1, data.clone())
        .await
        .unwrap();
    assert_eq!(again.number, first.number);
    assert_eq!(again.digest, first.digest);
    assert!(!again.newly_issued);

    // The file lost after the commit (crash before the write): rewritten identically.
    let bytes = std::fs::read(&first.path).unwrap();
    std::fs::remove_file(&first.path).unwrap();
    issue_certificate(&store, &s.config, &demo, 1, data.clone())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&first.path).unwrap(), bytes);

    let second = issue_certificate(&store, &s.config, &demo, 2, data.clone())
        .await
        .unwrap();
    assert_eq!(second.number, "2026-000002");

    // One certificate-delivery message per certificate, with a stable Message-ID.
    let outbox = store.outbox_list().await.unwrap();
    let deliveries: Vec<_> = outbox
        .iter()
        .filter(|m| m.kind == "certificate-delivery")
        .collect();
    assert_eq!(deliveries.len(), 2, "{outbox:?}");
    assert!(deliveries[0].message_id.ends_with("@bolsa.example"));

    // pdftotext shows the number and the CUFE.
    let text = pdftotext(&first.path);
    assert!(text.contains("2026-000001"), "{text}");
    let cufe = &data.invoice.cufe_or_cude;
    let squashed: String = text.split_whitespace().collect();
    assert!(squashed.contains(cufe.as_str()), "CUFE missing in: {text}");
    assert!(text.contains("CERTIFICADO DE REGISTRO"), "{text}");

    // verify-certificate: genuine → 0; one byte of the data changed → 65.
    let bin = env!("CARGO_BIN_EXE_pasarela");
    let run = |file: &std::path::Path| {
        Command::new(bin)
            .arg("verify-certificate")
            .arg(file)
            .arg("--config")
            .arg(&s.config_path)
            .current_dir(s.dir.path())
            .output()
            .unwrap()
    };
    let ok = run(&first.path);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("GENUINO"));

    let mut forged = bytes.clone();
    let needle = b"18750000.00";
    let at = forged
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    forged[at] = b'2';
    let forged_path = s.dir.path().join("forged.pdf");
    std::fs::write(&forged_path, &forged).unwrap();
    let bad = run(&forged_path);
    assert_eq!(bad.status.code(), Some(65), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stdout).contains("ALTERADO"));

    if let Ok(keep) = std::env::var("PASARELA_KEEP_CERTIFICATE") {
        std::fs::copy(&first.path, keep).unwrap();
    }
}

// A daemon that stopped between numbering a certificate and writing its PDF
// (the render runs outside the numbering transaction) left it pending: the
// job's next run renders it from the recorded data, writes the PDF and
// queues the one delivery e-mail; the number stays the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_certificate_is_finished_by_the_next_run() {
    use pasarela::store::certificates::{CertificateRecord, NewCertificate};
    let s = Setup::new(free_port());
    let store = s.store().await;
    let demo = s.account("demo");
    let dir = demo.outgoing().join("certificates");
    let (pending, _) = store
        .issue_certificate_with(5, 2026, move |number| {
            let mut data = example_data();
            data.number = number.clone();
            let canonical = pasarela::certificate::canonical_json(&data).unwrap();
            Ok::<_, ()>(NewCertificate {
                record: CertificateRecord {
                    number: number.clone(),
                    job_id: 5,
                    account: "demo".into(),
                    digest: pasarela::certificate::digest(&data).unwrap(),
                    pdf_sha256: String::new(),
                    path: dir.join(format!("{number}.pdf")).display().to_string(),
                    data_json: String::from_utf8(canonical).unwrap(),
                    issued_at: 1,
                },
                registration: registration_of(5, &number),
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert!(pending.is_pending());
    assert!(store.outbox_list().await.unwrap().is_empty());
    let mut data = example_data();
    data.number = pending.number.clone();

    let mut again = example_data();
    again.number.clear();
    let issued = issue_certificate(&store, &s.config, &demo, 5, again.clone())
        .await
        .unwrap();
    assert_eq!(issued.number, pending.number);
    assert!(!issued.newly_issued);
    let bytes = std::fs::read(&issued.path).unwrap();
    assert_eq!(
        pasarela::certificate::render(&data).unwrap().pdf,
        bytes,
        "rendered from the recorded data"
    );
    let record = store.certificate_for_job(5).await.unwrap().unwrap();
    assert!(!record.is_pending());
    assert_eq!(record.pdf_sha256, pasarela::fsutil::sha256_hex(&bytes));
    // Once more: nothing new is queued.
    issue_certificate(&store, &s.config, &demo, 5, again)
        .await
        .unwrap();
    let outbox = store.outbox_list().await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].kind, "certificate-delivery");
}

fn registration_of(job_id: i64, number: &str) -> pasarela::store::reports::Registration {
    pasarela::store::reports::Registration {
        job_id,
        certificate_number: number.into(),
        account: "demo".into(),
        invoice_number: "SETP990000123".into(),
        cufe: "c".into(),
        supplier_id: "900123456".into(),
        supplier_name: "Arrocera".into(),
        customer_id: "800765432".into(),
        customer_name: "Molinos".into(),
        value: "1.00".into(),
        commission: "0.01".into(),
        rule_id: "r".into(),
        rule_version: "1".into(),
        registered_at: 1,
        registered_day: "2026-03-05".into(),
        ledger: pasarela::store::reports::Ledger::registration("1.00", "0.01", None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuers_on_one_database_never_collide_or_skip() {
    let s = Setup::new(free_port());
    // Two independent handles (pools) on the same database, like two daemons.
    let a = s.store().await;
    let b = s.store().await;
    let demo = s.account("demo");
    let mut handles = Vec::new();
    for job in 1..=24i64 {
        let store = if job % 2 == 0 { a.clone() } else { b.clone() };
        let config = s.config.clone();
        let demo = demo.clone();
        handles.push(tokio::spawn(async move {
            let mut data = example_data();
            data.number.clear();
            issue_certificate(&store, &config, &demo, job, data)
                .await
                .unwrap()
                .number
        }));
    }
    let mut numbers = Vec::new();
    for h in handles {
        numbers.push(h.await.unwrap());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=24).map(|n| format!("2026-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

/// The certificate's QR code, rendered as a scanner would see the printout,
/// decodes to the certificate number, the CUFE and the digest.
#[test]
fn the_printed_qr_code_scans_to_number_cufe_and_digest() {
    let mut data = pasarela::certificate::example_data();
    data.number = "2026-000042".into();
    let cert = pasarela::certificate::render(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("c.pdf");
    std::fs::write(&pdf, &cert.pdf).unwrap();
    let ok = std::process::Command::new("pdftoppm")
        .args(["-r", "200", "-gray", "-png", "-singlefile"])
        .arg(&pdf)
        .arg(dir.path().join("page"))
        .status()
        .expect("pdftoppm (poppler-utils)")
        .success();
    assert!(ok);
    let img = image::open(dir.path().join("page.png")).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    assert_eq!(
        content,
        pasarela::certificate::qr_payload(&data, &cert.digest)
    );
    assert!(content.contains("CERT:2026-000042") && content.contains(&data.invoice.cufe_or_cude));
}
