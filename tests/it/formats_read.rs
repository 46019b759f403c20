//! PDFs and images end to end with the real tools (poppler-utils, Tesseract
//! with `spa`; scripts/install-deps.sh installs them).
//!
//! The default run OCRs one page; `PASARELA_SLOW_TESTS=1` adds a batch of
//! scans and photos with and without the DIAN QR.

use pasarela::formats::extract::KEY_FIELDS;
use pasarela::formats::generate::{self, Degradation, Rng};
use pasarela::formats::image::Preprocess;
use pasarela::formats::read::{self, FormatsSettings};
use pasarela::result::Severity;

fn slow() -> bool {
    std::env::var("PASARELA_SLOW_TESTS").is_ok_and(|v| v == "1")
}

fn codes(r: &read::Reading) -> Vec<String> {
    r.findings.iter().map(|f| f.code.clone()).collect()
}

#[tokio::test]
async fn text_pdf_fields_match_the_truth() {
    let inv = generate::invoice(42, true);
    let r = read::read_pdf(&inv.pdf(), &FormatsSettings::default())
        .await
        .unwrap();
    assert_eq!(r.pages.len(), 1);
    assert_eq!(r.pages[0].source, pasarela::formats::extract::Source::Text);
    for f in KEY_FIELDS {
        assert_eq!(
            r.fields.field(f).map(|x| x.value.as_str()),
            inv.truth.get(f),
            "{f}"
        );
    }
    assert_eq!(r.fields.lines.len(), inv.truth.lines.len());
    assert!(!r.review, "{:?}", r.findings);
}

#[tokio::test]
async fn committed_fixture_reads_as_its_truth() {
    let pdf = std::fs::read("fixtures/formats/invoice-qr.pdf").unwrap();
    let truth: generate::InvoiceTruth =
        serde_json::from_slice(&std::fs::read("fixtures/formats/invoice-qr.truth.json").unwrap())
            .unwrap();
    let r = read::read_pdf(&pdf, &FormatsSettings::default())
        .await
        .unwrap();
    for f in KEY_FIELDS {
        assert_eq!(
            r.fields.field(f).map(|x| x.value.as_str()),
            truth.get(f),
            "{f}"
        );
    }
}

#[tokio::test]
async fn embedded_invoice_xml_is_exposed() {
    let inv = generate::invoice(7, false).with_xml_attachment();
    let r = read::read_pdf(&inv.pdf(), &FormatsSettings::default())
        .await
        .unwrap();
    assert_eq!(r.embedded_xml.len(), 1, "{:?}", r.findings);
    assert_eq!(r.embedded_xml[0].name, "factura.xml");
    assert!(r.embedded_xml[0].xml.contains(&inv.truth.cufe));
    assert!(codes(&r).contains(&"PAS540".to_string()));
}

#[tokio::test]
async fn malformed_files_are_findings_not_crashes() {
    let s = FormatsSettings::default();
    let r = read::read_pdf(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", &s)
        .await
        .unwrap();
    assert!(
        r.findings
            .iter()
            .any(|f| f.severity == Severity::Reject || f.code == "PAS430"),
        "{:?}",
        r.findings
    );
    let r = read::read_image(
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xff\xff\xff\xff\xff\xff\xff",
        &s,
    )
    .await
    .unwrap();
    assert_eq!(codes(&r), vec!["PAS420"]);
    // A truncated JPEG.
    let page = image::GrayImage::from_pixel(64, 64, image::Luma([200]));
    let jpeg = generate::encode(&page, 80);
    let r = read::read_image(&jpeg[..jpeg.len() / 2], &s).await.unwrap();
    assert!(r.findings.iter().all(|f| f.code.starts_with("PAS")));
}

#[tokio::test]
async fn a_pdf_that_takes_too_long_is_stopped() {
    // A tiny wall-time limit stands in for a hostile file.
    let mut s = FormatsSettings::default();
    s.pdf_limits.wall = std::time::Duration::from_millis(1);
    let r = read::read_pdf(&generate::invoice(1, false).pdf(), &s)
        .await
        .unwrap();
    assert!(
        r.findings
            .iter()
            .any(|f| f.code == "PAS410" && f.message.contains("tiempo máximo")),
        "{:?}",
        r.findings
    );
}

/// The default run: real Tesseract on one small scanned page (200 dpi,
/// preprocessing and QR off to keep debug builds quick).
#[tokio::test]
async fn ocr_reads_a_scanned_page() {
    let inv = generate::invoice(3, false);
    let page = generate::rasterise(&inv.pdf(), 200).await.unwrap();
    let png = generate::encode(&page, 0);
    let s = FormatsSettings {
        dpi: 200,
        qr: false,
        preprocess: Preprocess::NONE,
        ..FormatsSettings::default()
    };
    let r = read::read_image(&png, &s).await.unwrap();
    assert_eq!(r.pages[0].source, pasarela::formats::extract::Source::Ocr);
    assert!(r.pages[0].words > 50);
    // Key fields read by OCR are right or sent to review, never silently wrong.
    for f in ["number", "issue_date", "supplier_nit", "total"] {
        let got = r.fields.field(f).map(|x| x.value.as_str());
        assert!(
            got == inv.truth.get(f) || r.review,
            "{f}: {got:?} vs {:?}",
            inv.truth.get(f)
        );
    }
    assert!(pasarela::formats::text::cer(&inv.truth.text, &r.text()) < 0.05);
}

/// Multi-page TIFF: every page is read.
#[tokio::test]
async fn multi_page_tiff() {
    if !slow() {
        return;
    }
    let a = generate::rasterise(&generate::invoice(5, false).pdf(), 200)
        .await
        .unwrap();
    let b = generate::rasterise(&generate::invoice(6, false).pdf(), 200)
        .await
        .unwrap();
    let tiff = generate::tiff_pages(&[a, b]);
    let s = FormatsSettings {
        dpi: 200,
        ..FormatsSettings::default()
    };
    let r = read::read_image(&tiff, &s).await.unwrap();
    assert_eq!(r.pages.len(), 2);
}

/// Scans and photos with and without the QR: key fields exact or in review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_scans_and_photos() {
    if !slow() {
        return;
    }
    let s = FormatsSettings::default();
    for seed in 0..8u64 {
        let with_qr = seed % 2 == 0;
        let inv = generate::invoice(1000 + seed, with_qr);
        let page = generate::rasterise(&inv.pdf(), 300).await.unwrap();
        let mut rng = Rng::new(seed);
        let d = if seed % 4 < 2 {
            Degradation::scan(&mut rng)
        } else {
            Degradation::photo(&mut rng)
        };
        let img = generate::degrade(&page, &d, &mut rng);
        let bytes = generate::encode(&img, d.jpeg_quality);
        let r = read::read_image(&bytes, &s).await.unwrap();
        for f in KEY_FIELDS {
            let got = r.fields.field(f).map(|x| x.value.as_str());
            let want = inv.truth.get(f);
            assert!(
                got.is_none() || got == want || r.review,
                "seed {seed} {f}: {got:?} vs {want:?} accepted without review"
            );
        }
        if r.qr.is_some() {
            for f in KEY_FIELDS {
                assert_eq!(
                    r.fields.field(f).map(|x| x.value.as_str()),
                    inv.truth.get(f),
                    "seed {seed} {f} with QR"
                );
            }
        }
    }
}
