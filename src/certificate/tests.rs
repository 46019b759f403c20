use super::*;

#[test]
fn render_is_deterministic_and_digest_matches_embedded_data() {
    let data = example_data();
    let a = render(&data).unwrap();
    let b = render(&data).unwrap();
    assert_eq!(a.pdf, b.pdf, "same data must give the same bytes");
    assert_eq!(a.digest, digest(&data).unwrap());
    assert!(a.pdf.starts_with(b"%PDF-"));
    let (back, d) = extract(&a.pdf).unwrap();
    assert_eq!(back, data);
    assert_eq!(d, a.digest);
}

#[test]
fn verify_accepts_genuine_and_rejects_one_changed_byte() {
    let data = example_data();
    let cert = render(&data).unwrap();
    let stored = cert.digest.clone();
    let lookup = |n: &str| (n == "2026-000001").then(|| stored.clone());
    assert!(verify(&cert.pdf, lookup).is_genuine());

    // Change one byte inside the embedded data: the value 18750000 → 18750001.
    let mut forged = cert.pdf.clone();
    let needle = b"18750000.00";
    let at = forged
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    forged[at + 7] = b'1';
    match verify(&forged, lookup) {
        Verification::Altered { number, .. } => assert_eq!(number, "2026-000001"),
        other => panic!("expected Altered, got {other:?}"),
    }
    // Unknown number.
    assert!(matches!(
        verify(&cert.pdf, |_| None),
        Verification::Unknown { .. }
    ));
    // Not a certificate.
    assert!(matches!(
        verify(b"%PDF-1.7 nothing", lookup),
        Verification::Unreadable(_)
    ));
}

#[test]
fn many_lines_paginate() {
    let mut data = example_data();
    let line = data.lines[0].clone();
    data.lines = (0..120).map(|_| line.clone()).collect();
    let cert = render(&data).unwrap();
    assert!(cert.pdf.len() > 1000);
}

#[test]
fn missing_number_or_cufe_is_an_error() {
    let mut data = example_data();
    data.number.clear();
    assert!(render(&data).is_err());
    let mut data = example_data();
    data.invoice.cufe_or_cude.clear();
    assert!(render(&data).is_err());
}

#[test]
fn money_and_codes_are_formatted_for_colombia() {
    assert_eq!(format_money(Decimal::new(123456789, 2)), "$ 1.234.567,89");
    assert_eq!(format_money(Decimal::new(5, 0)), "$ 5,00");
    assert_eq!(format_quantity(Decimal::new(30005, 1)), "3000,5");
    assert_eq!(verification_code("abcdef0123456789"), "ABCDEF01 23456789");
}

#[test]
fn characters_the_fonts_lack_are_drawn_as_question_marks_and_kept_in_the_data() {
    let mut data = example_data();
    data.supplier.name = "Arrocera 稲作 S.A.S. 🌾".into();
    // Before: PDF/A export refused the .notdef glyph and the job failed.
    let cert = render(&data).expect("renders despite glyphs DejaVu lacks");
    let (back, _) = extract(&cert.pdf).unwrap();
    assert_eq!(back.supplier.name, "Arrocera 稲作 S.A.S. 🌾");
    assert_eq!(layout::drawable_for_test("Ñandú 稲", false), "Ñandú ?");
}

#[test]
fn data_that_cannot_be_rendered_is_refused_before_a_number_is_taken() {
    let mut data = example_data();
    data.number.clear();
    assert!(check_renderable(&data, false).is_ok());
    assert!(check_renderable(&data, true).is_err(), "no number yet");
    data.invoice.cufe_or_cude = "a".repeat(3000);
    let err = check_renderable(&data, false).unwrap_err().to_string();
    assert!(err.contains("QR"), "{err}");
    data.invoice.cufe_or_cude = " ".into();
    assert!(check_renderable(&data, false).is_err());
}

// A certificate whose PDF hash is not yet recorded (it is written with its
// job's outcome, after the PDF) is judged against the PDF its recorded data
// renders to: the issued file is genuine, an edited page is not.
#[test]
fn a_pending_certificate_is_judged_by_its_recorded_data() {
    let data = example_data();
    let cert = render(&data).unwrap();
    let record = crate::store::certificates::CertificateRecord {
        number: data.number.clone(),
        job_id: 1,
        account: "demo".into(),
        digest: cert.digest.clone(),
        pdf_sha256: String::new(),
        path: "/x.pdf".into(),
        data_json: String::from_utf8(canonical_json(&data).unwrap()).unwrap(),
        issued_at: 0,
    };
    assert!(record.is_pending());
    let (genuine, message) = judge(&cert.pdf, Some(&record));
    assert!(genuine, "{message}");
    // Another byte outside the embedded data (the visible page) changed.
    let mut edited = cert.pdf.clone();
    let at = edited
        .windows(b"/Producer".len())
        .position(|w| w == b"/Producer")
        .expect("an info entry");
    edited[at + 1] = b'p';
    let (genuine, message) = judge(&edited, Some(&record));
    assert!(!genuine && message.starts_with("ALTERADO"), "{message}");
    // Once finished, the recorded hash decides.
    let finished = crate::store::certificates::CertificateRecord {
        pdf_sha256: crate::fsutil::sha256_hex(&cert.pdf),
        ..record
    };
    assert!(judge(&cert.pdf, Some(&finished)).0);
    assert!(!judge(&edited, Some(&finished)).0);
}
