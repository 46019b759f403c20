//! The `pdf-extract`, `image-ocr` and `excel-rows` steps through the real
//! pipeline (`pasarela process` path): verdicts, findings and the
//! `extraction` object of the result JSON.

use std::sync::Arc;

use pasarela::formats::generate;
use pasarela::pipeline::{Generation, Pipeline, StepContext, Submission};
use pasarela::result::Verdict;

fn pipeline(dir: &std::path::Path) -> (Pipeline, StepContext) {
    let cfg = dir.join("pasarela.toml");
    std::fs::write(
        &cfg,
        r#"
[accounts.demo]
home = "home/demo"

[[routes]]
name = "documents"
formats = ["pdf", "image", "excel"]
steps = ["pdf-extract", "image-ocr", "excel-rows"]

[[routes]]
name = "rest"
steps = ["reject-unsupported"]
"#,
    )
    .unwrap();
    // rules/ under the base directory: the shipped layouts, a stricter threshold.
    std::fs::create_dir_all(dir.join("rules/excel")).unwrap();
    for f in ["comiagro-2024.toml", "plantilla51.toml"] {
        std::fs::copy(format!("rules/excel/{f}"), dir.join("rules/excel").join(f)).unwrap();
    }
    std::fs::write(dir.join("rules/formats.toml"), "review_threshold = 0.9\n").unwrap();
    let (config, _) =
        pasarela::config::load_with_base(&cfg, dir).unwrap_or_else(|e| panic!("{e:?}"));
    let generation = Generation::build(Arc::new(config), None).unwrap_or_else(|e| panic!("{e:?}"));
    let ctx = StepContext {
        now: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00-05:00").unwrap(),
        services: generation.services,
    };
    (generation.pipeline, ctx)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn text_pdf_is_read_and_waits_for_its_electronic_invoice() {
    let dir = tmp();
    let (p, ctx) = pipeline(dir.path());
    let inv = generate::invoice(11, true);
    let sub = Submission {
        rel_path: "f.pdf",
        ..Default::default()
    };
    let r = p.process(Arc::new(inv.pdf()), &sub, &ctx).await.unwrap();
    // Read with confidence, but a reading is never registered by itself:
    // it waits for its XML (PAS88), here with no store to find it in.
    assert_eq!(r.verdict, Verdict::Review, "{:?}", r.findings);
    let codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["PAS88"], "{:?}", r.findings);
    let x = r.extraction.expect("extraction");
    assert_eq!(x["kind"], "pdf");
    assert_eq!(x["fields"]["number"]["value"], inv.truth.number.as_str());
    assert_eq!(x["fields"]["number"]["source"], "text");
    assert_eq!(x["fields"]["total"]["value"], inv.truth.total.as_str());
    assert!(x["fields"]["total"]["confidence"].as_f64().unwrap() > 0.9);
}

#[tokio::test]
async fn doubtful_pdf_goes_to_review_with_reasons() {
    let dir = tmp();
    let (p, ctx) = pipeline(dir.path());
    // Wrong DV printed for the supplier: the NIT cannot be trusted.
    let inv = generate::invoice(12, false);
    let nit = format!("-{}", inv.truth.supplier_dv);
    let bad_dv = if inv.truth.supplier_dv == "1" {
        "-2"
    } else {
        "-1"
    };
    let pdf = String::from_utf8_lossy(&inv.pdf()).into_owned();
    let pdf = pdf.replacen(&format!("{nit}) Tj"), &format!("{bad_dv}) Tj"), 1);
    let sub = Submission {
        rel_path: "f.pdf",
        ..Default::default()
    };
    let r = p
        .process(Arc::new(pdf.into_bytes()), &sub, &ctx)
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Review, "{:?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f.code == "PAS512"),
        "{:?}",
        r.findings
    );
}

#[tokio::test]
async fn garbage_pdf_is_rejected_not_crashed() {
    let dir = tmp();
    let (p, ctx) = pipeline(dir.path());
    let sub = Submission {
        rel_path: "x.pdf",
        ..Default::default()
    };
    let r = p
        .process(
            Arc::new(b"%PDF-1.4\n%%garbage\x00\x01".to_vec()),
            &sub,
            &ctx,
        )
        .await
        .unwrap();
    assert_ne!(r.verdict, Verdict::Accepted, "{:?}", r.findings);
}

#[tokio::test]
async fn spreadsheet_rows_land_in_the_result() {
    let dir = tmp();
    let (p, ctx) = pipeline(dir.path());
    let bytes = std::fs::read("fixtures/formats/excel/comiagro-filled.xls").unwrap();
    let sub = Submission {
        rel_path: "registro.xls",
        ..Default::default()
    };
    let r = p.process(Arc::new(bytes), &sub, &ctx).await.unwrap();
    // Without a store nothing is known as XML: every invoice of the sheet
    // waits for its electronic invoice (docs/REVIEW.md).
    assert_eq!(r.verdict, Verdict::Review, "{:?}", r.findings);
    assert!(
        r.findings.iter().any(|f| f.code == "PAS88"),
        "{:?}",
        r.findings
    );
    let x = r.extraction.expect("extraction");
    assert_eq!(x["kind"], "excel");
    assert!(
        x["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "awaiting_xml"),
        "{x}"
    );
    assert_eq!(x["sheets"][0]["lines"].as_array().unwrap().len(), 2);
    assert_eq!(x["sheets"][0]["lines"][0]["total"], "1250000");
    assert_eq!(x["sheets"][0]["rejected_rows"], serde_json::json!([16, 17]));
}
