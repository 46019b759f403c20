//! Mixed load: slow PDFs (a page tree that loops, which poppler chews on until
//! the worker's limit) arrive before a batch of XML invoices. The invoices
//! must not wait for them: PDFs and images run in their own pool
//! (`daemon.heavy_workers`), so every invoice has its result while the slow
//! PDFs are still being worked on.

use std::time::Duration;

use crate::support::*;

#[test]
fn slow_pdfs_never_starve_xml_invoices() {
    let env = Env::new(&basic_config("workers = 2\nheavy_workers = 1").replace(
        "steps = [\"hold-for-review\"]",
        "steps = [\"pdf-extract\", \"image-ocr\", \"excel-rows\"]",
    ));
    std::os::unix::fs::symlink(repo().join("rules"), env.path().join("rules")).unwrap();
    let daemon = env.start_ready(&[]);
    let pdfs: Vec<String> = (0..3).map(|i| format!("lento-{i}.pdf")).collect();
    for (i, p) in pdfs.iter().enumerate() {
        env.drop_file("demo", p, &page_loop_pdf(i));
    }
    // The PDFs are queued first.
    std::thread::sleep(Duration::from_millis(500));
    let text = String::from_utf8(dian_example()).unwrap();
    let xmls: Vec<String> = (0..20).map(|i| format!("factura-{i:02}.xml")).collect();
    for (i, x) in xmls.iter().enumerate() {
        let body = text.replacen("<Invoice", &format!("<!-- {i} --><Invoice"), 1);
        env.drop_file("demo", x, body.as_bytes());
    }
    assert!(
        wait_until(Duration::from_secs(60), || xmls
            .iter()
            .all(|x| env.result_path("demo", x).is_file())),
        "{}",
        daemon.log_text()
    );
    let pending_pdfs = pdfs
        .iter()
        .filter(|p| !env.result_path("demo", p).is_file())
        .count();
    assert!(
        pending_pdfs >= 2,
        "the invoices waited for the slow PDFs ({pending_pdfs} PDF(s) still pending)"
    );
    // And the PDFs do finish, each with a clear finding.
    assert!(
        wait_until(Duration::from_secs(180), || pdfs
            .iter()
            .all(|p| env.result_path("demo", p).is_file())),
        "{}",
        daemon.log_text()
    );
    for p in &pdfs {
        let r = env.read_result("demo", p);
        assert!(!r["findings"].as_array().unwrap().is_empty(), "{r}");
    }
}
