//! Golden files under fixtures/dian/, walked by one loop:
//! - `ok/*.xml` validate with no finding;
//! - `err/<CODE>__*.xml` and `hostile/<CODE>__*.xml` produce exactly that code.
//!
//! `PASARELA_UPDATE_FIXTURES=1 cargo test --features test-support --test it dian_fixtures::` regenerates them.

use std::path::{Path, PathBuf};

use chrono::Duration;
use pasarela::dian::generator::{self, GenOptions};
use pasarela::dian::{self, DianSettings, DocKind, cufe};
use rust_decimal::Decimal;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dian")
}

fn opts() -> GenOptions {
    GenOptions {
        environment: "1".to_owned(),
        min_lines: 2,
        max_lines: 12,
        ..GenOptions::default()
    }
}

fn write_all() {
    let d = dir();
    for sub in ["ok", "err", "hostile"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    let w = |rel: &str, bytes: &[u8]| std::fs::write(d.join(rel), bytes).expect("write fixture");
    let inv = generator::generate(1, DocKind::Invoice, &opts());
    w("ok/invoice-seed1.xml", inv.xml.as_bytes());
    w(
        "ok/credit-note-seed2.xml",
        generator::generate(2, DocKind::CreditNote, &opts())
            .xml
            .as_bytes(),
    );
    w(
        "ok/debit-note-seed3.xml",
        generator::generate(3, DocKind::DebitNote, &opts())
            .xml
            .as_bytes(),
    );
    let big = generator::generate(
        4,
        DocKind::Invoice,
        &GenOptions {
            min_lines: 30,
            max_lines: 30,
            ..opts()
        },
    );
    w("ok/invoice-30-lines-seed4.xml", big.xml.as_bytes());
    let ar = generator::application_response(&inv.number, &inv.cufe, "02", "2024-03-15");
    w(
        "ok/attached-document-validated.xml",
        generator::attached_document(&inv, Some(&ar)).as_bytes(),
    );

    let mut s = generator::build(5, DocKind::Invoice, &opts());
    s.uuid_override = Some(cufe::sha384_hex("cufe equivocado"));
    w("err/FAD06__cufe-wrong.xml", s.render().xml.as_bytes());
    let mut s = generator::build(6, DocKind::Invoice, &opts());
    s.totals.payable += Decimal::new(5000, 2);
    w(
        "err/FAU14__payable-off-by-50.xml",
        s.render().xml.as_bytes(),
    );
    let mut s = generator::build(7, DocKind::Invoice, &opts());
    s.supplier.dv = ((s.supplier.dv.parse::<u32>().unwrap_or(0) + 1) % 10).to_string();
    w("err/FAJ24__supplier-dv.xml", s.render().xml.as_bytes());
    let mut s = generator::build(8, DocKind::Invoice, &opts());
    s.number = "SETP995000001".into();
    w("err/FAD05c__above-range.xml", s.render().xml.as_bytes());
    let mut s = generator::build(9, DocKind::CreditNote, &opts());
    s.billing_reference = None;
    w(
        "err/PAS22__credit-note-without-invoice.xml",
        s.render().xml.as_bytes(),
    );
    let mut s = generator::build(10, DocKind::Invoice, &opts());
    s.type_code = "20".into();
    w("err/PAS21__pos-equivalent.xml", s.render().xml.as_bytes());
    let mut s = generator::build(11, DocKind::DebitNote, &opts());
    s.totals.tax_inclusive += Decimal::new(10, 0);
    s.totals.payable += Decimal::new(10, 0);
    w(
        "err/DAU06__debit-note-tax-inclusive.xml",
        s.render().xml.as_bytes(),
    );
    let mut s = generator::build(12, DocKind::Invoice, &opts());
    s.lines[0].unit_code = "UND".into();
    w("err/PAS33__unit-free-text.xml", s.render().xml.as_bytes());
    let mut s = generator::build(13, DocKind::Invoice, &opts());
    s.number = "FE990000123".into();
    w("err/FAB10b__other-prefix.xml", s.render().xml.as_bytes());
    let ar = generator::application_response(&inv.number, &inv.cufe, "04", "2024-03-15");
    w(
        "err/PAS13__dian-rejected.xml",
        generator::attached_document(&inv, Some(&ar)).as_bytes(),
    );

    w(
        "hostile/PAS04__billion-laughs.xml",
        br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol4;</Invoice>
"#,
    );
    w(
        "hostile/PAS04__xxe.xml",
        br#"<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><cbc:Note xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">&xxe;</cbc:Note></Invoice>
"#,
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for u in inv.xml.replace("UTF-8", "UTF-16").encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    w("hostile/PAS03__utf16.xml", &utf16);
    let latin1: Vec<u8> = inv
        .xml
        .replace("UTF-8", "ISO-8859-1")
        .chars()
        .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
        .collect();
    w("hostile/PAS03__latin1.xml", &latin1);
    w(
        "hostile/PAS10__truncated.xml",
        &inv.xml.as_bytes()[..inv.xml.len() * 2 / 3],
    );
    let deep = format!(
        "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">{}{}</Invoice>",
        "<x>".repeat(3000),
        "</x>".repeat(3000)
    );
    w("hostile/PAS06__deep-nesting.xml", deep.as_bytes());
    w(
        "hostile/PAS11__not-ubl.xml",
        b"<?xml version=\"1.0\"?>\n<factura><numero>1</numero></factura>\n",
    );
    w("hostile/PAS05__undefined-entity.xml", b"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\">&nbsp;</Invoice>\n");
}

#[test]
fn golden_fixtures() {
    if std::env::var_os("PASARELA_UPDATE_FIXTURES").is_some() {
        write_all();
    }
    let settings = DianSettings::default();
    let now = generator::default_issued_at() + Duration::hours(1);
    let mut seen = 0;
    let mut failures = Vec::new();
    for sub in ["ok", "err", "hostile"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir().join(sub))
            .expect("fixtures dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        entries.sort();
        for p in entries {
            seen += 1;
            let bytes = std::fs::read(&p).expect("read");
            let v = dian::validate(&bytes, &settings, now);
            let mut got: Vec<String> = v.findings.iter().map(|f| f.code.clone()).collect();
            got.dedup();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            let want: Vec<String> = match sub {
                "ok" => Vec::new(),
                _ => vec![name.split("__").next().unwrap_or("").to_owned()],
            };
            if got != want {
                failures.push(format!(
                    "{sub}/{name}: want {want:?}, got {:#?}",
                    v.findings
                ));
            }
        }
    }
    assert!(seen >= 20, "only {seen} fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// DIAN compares CUFE/CUDE values case-insensitively: an invoice whose CUFE
/// is written in upper case is the same, valid invoice, and its document key
/// (the duplicate check) is the lower-case CUFE.
#[test]
fn upper_case_keys_are_the_same_key() {
    let inv = generator::generate(11, DocKind::Invoice, &opts());
    let upper = inv.xml.replace(&inv.cufe, &inv.cufe.to_ascii_uppercase());
    assert_ne!(upper, inv.xml);
    let now = generator::default_issued_at() + Duration::hours(1);
    let v = dian::validate(upper.as_bytes(), &DianSettings::default(), now);
    let codes: Vec<&str> = v.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.is_empty(), "{codes:?}");
    assert_eq!(v.document_key.as_deref(), Some(inv.cufe.as_str()));
}

/// Contingency invoices (InvoiceTypeCode 03) carry a CUDE made with the
/// software PIN, not a CUFE made with the range's technical key.
#[test]
fn contingency_invoices_carry_a_cude_made_with_the_pin() {
    let now = generator::default_issued_at() + Duration::hours(1);
    let settings = DianSettings::default();
    let mut s = generator::build(12, DocKind::Invoice, &opts());
    s.type_code = "03".to_owned();
    s.uuid_scheme_name = "CUDE-SHA384".to_owned();
    s.secret = opts().pin;
    let v = dian::validate(s.render().xml.as_bytes(), &settings, now);
    let codes: Vec<&str> = v.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.is_empty(), "{codes:?}");
    // The same contingency invoice with a CUFE (technical key) is refused.
    s.secret = opts().technical_key;
    s.uuid_scheme_name = "CUFE-SHA384".to_owned();
    let v = dian::validate(s.render().xml.as_bytes(), &settings, now);
    let codes: Vec<&str> = v.findings.iter().map(|f| f.code.as_str()).collect();
    assert!(
        codes.contains(&"FAD06") && codes.contains(&"FAD07"),
        "{codes:?}"
    );
}
