//! DIAN validation: vectors, the DIAN example, generated documents, one
//! mutation per rule (table-driven), containers, hostile input, settings.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, FixedOffset};
use pasarela::dian::generator::{self, GenOptions, Spec};
use pasarela::dian::{self, DianSettings, DocKind, cufe, rules};
use pasarela::result::Severity;

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("valid instant")
}

fn codes(v: &dian::Validation) -> Vec<String> {
    let mut c: Vec<String> = v.findings.iter().map(|f| f.code.clone()).collect();
    c.sort();
    c.dedup();
    c
}

fn reject_codes(v: &dian::Validation) -> Vec<String> {
    let mut c: Vec<String> = v
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Reject)
        .map(|f| f.code.clone())
        .collect();
    c.sort();
    c.dedup();
    c
}

/// Production-environment options so a valid document has no finding at all.
fn opts() -> GenOptions {
    GenOptions {
        environment: "1".to_owned(),
        min_lines: 3,
        max_lines: 12,
        ..GenOptions::default()
    }
}

fn now_ok() -> DateTime<FixedOffset> {
    generator::default_issued_at() + Duration::hours(1)
}

// ---------------------------------------------------------------- vectors

#[test]
fn cufe_vector_1() {
    let pre = "3232000001292019-01-1610:53:10-05:001500000.0001285000.00040.00030.001785000.00700085371800199436693ff6f2a553c3646a063436fd4dd9ded03114711";
    assert_eq!(
        cufe::sha384_hex(pre),
        "8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179179e9b33381030bcd4c3c3f156c506ed5908f9276f5bd9b4"
    );
}

#[test]
fn cude_vector_debit_note() {
    let pre = "ND10012019-01-1810:58:00-05:0030000.00010.00042400.00030.0032400.0090019726410254102102012";
    assert_eq!(
        cufe::sha384_hex(pre),
        "3fa73a86d57d9341c536afde1f85c4efd9d4591c2c22bce4dfb0e6b0d2e83b8f047a8bde7098292e9d2493e60d1c31da"
    );
}

#[test]
fn dv_vectors() {
    for (nit, dv) in [
        ("800197268", 4),
        ("900108281", 3),
        ("900373991", 9),
        ("900374637", 0),
        ("860028580", 2),
        ("890903938", 8),
        ("860034313", 7),
    ] {
        assert_eq!(pasarela::dian::nit::check_digit(nit), Some(dv), "{nit}");
    }
}

// ---------------------------------------------------------------- DIAN example

fn example() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/dian/exento-de-iva-v1.9.xml"),
    )
    .expect("shared DIAN example")
}

#[test]
fn dian_example_prehash_and_cufe() {
    let v = dian::validate(
        &example(),
        &DianSettings::default(),
        at("2024-03-16T10:00:00-05:00"),
    );
    let doc = v.model.as_ref().expect("model");
    // The example's cbc:Note holds its own pre-hash string.
    let note = doc.notes.first().expect("note");
    assert_eq!(
        cufe::sha384_hex(note),
        "86e67873712270b6de5bd2985711ce23de5c996cf09afd37f5eac28375f3e3316b342dfc1d39e3847908820070c40244"
    );
    assert_eq!(
        v.document_key.as_deref(),
        Some(doc.uuid.as_ref().map(|u| u.value.as_str()).unwrap_or(""))
    );
    let codes = codes(&v);
    assert!(!codes.contains(&"FAD06".to_owned()), "{:#?}", v.findings);
    assert!(
        !codes.contains(&"PAS24".to_owned()),
        "CUFE must be verified with the public key"
    );
}

#[test]
fn dian_example_accepted_near_issue_date() {
    let v = dian::validate(
        &example(),
        &DianSettings::default(),
        at("2024-03-16T10:00:00-05:00"),
    );
    assert_eq!(v.document_type.as_deref(), Some("Invoice"));
    assert!(reject_codes(&v).is_empty(), "{:#?}", v.findings);
    let d = v.document.expect("document json");
    assert_eq!(d["number"], "SETP990000001");
    assert_eq!(d["supplier"]["id"], "800197268");
    assert_eq!(d["customer"]["dv"], "3");
    assert_eq!(d["totals"]["payable"], "50000.00");
    assert_eq!(d["line_count"], 1);
}

#[test]
fn dian_example_rejected_today_only_for_age() {
    let v = dian::validate(
        &example(),
        &DianSettings::default(),
        at("2026-11-22T12:00:00-05:00"),
    );
    assert_eq!(
        reject_codes(&v),
        vec!["PAS20".to_owned()],
        "{:#?}",
        v.findings
    );
}

// ---------------------------------------------------------------- generated

#[test]
fn generated_documents_validate_clean() {
    let settings = DianSettings::default();
    for kind in [DocKind::Invoice, DocKind::CreditNote, DocKind::DebitNote] {
        for seed in 0..40 {
            let g = generator::generate(
                seed,
                kind,
                &GenOptions {
                    environment: "1".into(),
                    ..GenOptions::default()
                },
            );
            let v = dian::validate(g.xml.as_bytes(), &settings, now_ok());
            assert!(
                v.findings.is_empty(),
                "{kind:?} seed {seed}: {:#?}\n{}",
                v.findings,
                g.xml
            );
            assert_eq!(v.document_key.as_deref(), Some(g.cufe.as_str()));
            assert_eq!(v.document_type.as_deref(), Some(kind.root()));
        }
    }
}

#[test]
fn generator_is_deterministic_and_varied() {
    let o = GenOptions::default();
    let a = generator::generate(42, DocKind::Invoice, &o);
    let b = generator::generate(42, DocKind::Invoice, &o);
    let c = generator::generate(43, DocKind::Invoice, &o);
    assert_eq!(a.xml, b.xml);
    assert_ne!(a.xml, c.xml);
    // Across seeds the generator covers IVA, INC, ICA, excluded lines, allowances, charges, prepayments.
    let all: String = (0..60)
        .map(|s| generator::generate(s, DocKind::Invoice, &o).xml)
        .collect();
    for needle in [
        "<cbc:ID>01</cbc:ID><cbc:Name>IVA",
        "<cbc:ID>04</cbc:ID><cbc:Name>INC",
        "<cbc:ID>03</cbc:ID><cbc:Name>ICA",
        "<cbc:ChargeIndicator>true",
        "<cbc:ChargeIndicator>false",
        "<cac:PrepaidPayment>",
        "schemeName=\"13\"",
    ] {
        assert!(all.contains(needle), "generator never produced {needle}");
    }
}

#[test]
fn test_environment_documents_are_notified() {
    let g = generator::generate(1, DocKind::Invoice, &GenOptions::default());
    let v = dian::validate(g.xml.as_bytes(), &DianSettings::default(), now_ok());
    assert_eq!(codes(&v), vec!["PAS28".to_owned()]);
    assert!(!v.rejected());
}

// ---------------------------------------------------------------- one mutation per rule

type SpecFn = fn(&mut Spec);
type SettingsFn = fn(&mut DianSettings);

struct Case {
    /// Code expected (as emitted for `kind`).
    code: &'static str,
    kind: DocKind,
    spec: SpecFn,
    settings: SettingsFn,
    /// Offset of "now" from the issue instant, in minutes.
    now_offset_mins: i64,
    xml: fn(String) -> String,
}

fn nop_spec(_: &mut Spec) {}
fn nop_settings(_: &mut DianSettings) {}
fn nop_xml(x: String) -> String {
    x
}

const fn case(code: &'static str, spec: SpecFn) -> Case {
    Case {
        code,
        kind: DocKind::Invoice,
        spec,
        settings: nop_settings,
        now_offset_mins: 60,
        xml: nop_xml,
    }
}

fn wrong_dv(dv: &str) -> String {
    let d: u32 = dv.parse().unwrap_or(0);
    ((d + 1) % 10).to_string()
}

const SIGNATURE: &str = r#"<ext:UBLExtension><ext:ExtensionContent><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#"><xades:SignedProperties><xades:SignedSignatureProperties><xades:SigningTime>2024-03-14T18:00:00.000-05:00</xades:SigningTime></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature></ext:ExtensionContent></ext:UBLExtension>
  </ext:UBLExtensions>"#;

/// The parties' tax scheme as the generator writes it.
const PARTY_TAX_SCHEME: &str = "<cac:TaxScheme><cbc:ID>01</cbc:ID><cbc:Name>IVA</cbc:Name></cac:TaxScheme>\n      </cac:PartyTaxScheme>";

/// A header TaxTotal of zero (no total, key or other tax moves).
fn zero_tax(id: &str, name: &str) -> generator::GenTaxTotal {
    generator::GenTaxTotal {
        scheme_id: id.into(),
        scheme_name: name.into(),
        amount: rust_decimal::Decimal::ZERO,
        subtotals: vec![generator::GenSubtotal {
            taxable: rust_decimal::Decimal::ZERO,
            amount: rust_decimal::Decimal::ZERO,
            percent: rust_decimal::Decimal::ZERO,
        }],
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("FAD01", |s| s.ubl_version = "UBL 2.0".into()),
        case("FAD02", |s| s.customization_id = String::new()),
        case("FAD02", |s| s.customization_id = "20".into()),
        Case {
            kind: DocKind::CreditNote,
            ..case("CAD02", |s| s.customization_id = "10".into())
        },
        case("FAD12", |s| s.type_code = "05".into()),
        Case {
            kind: DocKind::CreditNote,
            ..case("CAD12", |s| s.type_code = "92".into())
        },
        case("FAD04", |s| s.environment = "3".into()),
        case("FAD05", |s| s.number = String::new()),
        case("FAD06", |s| {
            s.uuid_override = Some(cufe::sha384_hex("otro documento"))
        }),
        // Not hexadecimal (an upper-case key is the same key: DIAN compares
        // case-insensitively, tests/dian_fixtures.rs).
        case("FAD06", |s| {
            let k = s.computed_key();
            s.uuid_override = Some(format!("{}g", &k[..k.len() - 1]))
        }),
        case("FAD09", |s| s.issue_date = "15/03/2024".into()),
        case("FAD10", |s| s.issue_time = "10:00:00".into()),
        case("FAJ21", |s| s.supplier.id = String::new()),
        case("FAK21", |s| s.customer.id = String::new()),
        case("FAJ24", |s| s.supplier.dv = wrong_dv(&s.supplier.dv)),
        case("FAK24", |s| {
            s.customer = s.supplier.clone();
            s.customer.id = "900108281".into();
            s.customer.dv = "7".into();
        }),
        case("FAD07", |s| s.uuid_scheme_name = "CUFE-SHA1".into()),
        case("FAD08", |s| s.uuid_scheme_id = Some("2".into())),
        Case {
            settings: |st| st.ranges.clear(),
            ..case("PAS24", nop_spec)
        },
        Case {
            kind: DocKind::CreditNote,
            settings: |st| st.software.clear(),
            ..case("PAS24", nop_spec)
        },
        case("PAS25", |s| {
            s.qr_override = Some(format!("CUFE={}", cufe::sha384_hex("x")))
        }),
        case("PAS28", |s| s.environment = "2".into()),
        case("FAB10b", |s| s.number = "SETQ990000123".into()),
        case("FAD05b", |s| s.number = "SETP989999999".into()),
        case("FAD05c", |s| s.number = "SETP995000001".into()),
        Case {
            settings: |st| {
                for r in &mut st.ranges {
                    r.valid_to = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
                }
            },
            ..case("FAD09b", nop_spec)
        },
        Case {
            settings: |st| {
                for r in &mut st.ranges {
                    r.valid_from = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default();
                }
            },
            ..case("FAD09a", nop_spec)
        },
        Case {
            settings: |st| {
                for r in &mut st.ranges {
                    r.software_id = Some("otro-software".into());
                }
            },
            ..case("FAB05c", nop_spec)
        },
        Case {
            now_offset_mins: -60,
            ..case("PAS23", nop_spec)
        },
        Case {
            now_offset_mins: 200 * 24 * 60,
            ..case("PAS20", nop_spec)
        },
        Case {
            now_offset_mins: 11 * 24 * 60,
            settings: |st| st.reception_reference = dian::settings::ReceptionReference::Now,
            ..case("FAD09c", nop_spec)
        },
        Case {
            xml: |x| x.replacen("  </ext:UBLExtensions>", SIGNATURE, 1),
            ..case("FAD09e", nop_spec)
        },
        case("PAS21", |s| s.type_code = "20".into()),
        Case {
            kind: DocKind::CreditNote,
            ..case("PAS22", |s| s.billing_reference = None)
        },
        Case {
            kind: DocKind::DebitNote,
            ..case("PAS22", |s| s.billing_reference = None)
        },
        case("PAS09", |s| s.currency = String::new()),
        case("PAS09", |s| s.type_code = String::new()),
        Case {
            xml: |x| {
                x.replacen(
                    "<cbc:PriceAmount currencyID=\"COP\">",
                    "<cbc:PriceAmount currencyID=\"COP\">1,",
                    1,
                )
            },
            ..case("PAS08", nop_spec)
        },
        case("FAU02", |s| {
            let ten = rust_decimal::Decimal::new(10, 0);
            s.totals.line_extension += ten;
            s.totals.tax_inclusive += ten;
            s.totals.payable += ten;
        }),
        case("FAU04", |s| {
            s.totals.tax_exclusive += rust_decimal::Decimal::new(10, 0)
        }),
        case("FAU06", |s| {
            let ten = rust_decimal::Decimal::new(10, 0);
            s.totals.tax_inclusive += ten;
            s.totals.payable += ten;
        }),
        case("FAU14", |s| {
            s.totals.payable += rust_decimal::Decimal::new(10, 0)
        }),
        Case {
            kind: DocKind::DebitNote,
            ..case("DAU14", |s| {
                s.totals.payable += rust_decimal::Decimal::new(10, 0)
            })
        },
        Case {
            kind: DocKind::CreditNote,
            ..case("CAD06", |s| {
                s.uuid_override = Some(cufe::sha384_hex("otra nota"))
            })
        },
        case("FAS01b", |s| {
            s.header_taxes.push(zero_tax("ZZ", "Otro"));
            s.header_taxes.push(zero_tax("ZZ", "Otro"));
        }),
        // A returned quantity written as negative (no total depends on it).
        case("VLR01", |s| s.lines[0].quantity = -s.lines[0].quantity),
        Case {
            kind: DocKind::CreditNote,
            ..case("VLR01", |s| s.lines[0].quantity = -s.lines[0].quantity)
        },
        // The PIN is not part of an invoice's CUFE: only the security code changes.
        case("FAB27b", |s| s.pin = "11111".into()),
        Case {
            kind: DocKind::DebitNote,
            ..case("DAB27b", |s| s.pin = "11111".into())
        },
        // A line's tax at another rate than the one it states.
        case("PAS31", |s| {
            if let Some(st) = s
                .lines
                .iter_mut()
                .flat_map(|l| l.taxes.iter_mut())
                .flat_map(|t| t.subtotals.iter_mut())
                .find(|st| !st.percent.is_zero())
            {
                st.percent += rust_decimal::Decimal::ONE;
            }
        }),
        // A header subtotal off by 10 (its TaxTotal, used by FAU06, unchanged).
        Case {
            kind: DocKind::CreditNote,
            ..case("PAS31", |s| {
                if let Some(st) = s
                    .header_taxes
                    .iter_mut()
                    .flat_map(|t| t.subtotals.iter_mut())
                    .find(|st| !st.percent.is_zero())
                {
                    st.amount += rust_decimal::Decimal::TEN;
                }
            })
        },
        case("PAS32", |s| s.customer.id_type = "99".into()),
        // Free text where a UN/ECE unit code belongs.
        case("PAS33", |s| s.lines[0].unit_code = "UND".into()),
        Case {
            kind: DocKind::DebitNote,
            ..case("PAS33", |s| s.lines[0].unit_code = "kgm".into())
        },
        // A header tax outside DIAN's list (zero amounts: no total moves).
        case("PAS34", |s| s.header_taxes.push(zero_tax("99", "Otro"))),
        // Timbre (21) under another name.
        case("PAS35", |s| {
            s.header_taxes.push(zero_tax("21", "Estampilla"))
        }),
        // A party's tax scheme named for another one.
        Case {
            xml: |x| {
                x.replacen(
                    PARTY_TAX_SCHEME,
                    &PARTY_TAX_SCHEME.replace("<cbc:ID>01<", "<cbc:ID>ZZ<"),
                    1,
                )
            },
            ..case("PAS35", nop_spec)
        },
        // The fiscal responsibility (O-13) where the party's tax belongs.
        Case {
            kind: DocKind::CreditNote,
            xml: |x| {
                x.replacen(
                    PARTY_TAX_SCHEME,
                    &PARTY_TAX_SCHEME.replace("<cbc:ID>01<", "<cbc:ID>O-13<"),
                    1,
                )
            },
            ..case("PAS36", nop_spec)
        },
        case("FAZ09", |s| {
            s.lines[0].sellers_item_id = None;
            s.lines[0].standard_item_id = None;
        }),
    ]
}

/// Codes covered by the container, hostile-input and duplicate tests below.
const COVERED_ELSEWHERE: &[&str] = &[
    "PAS01", "PAS02", "PAS03", "PAS04", "PAS05", "PAS06", "PAS07", "PAS10", "PAS11", "PAS12",
    "PAS13", "PAS14", "90",
    // Signature codes: dian_xades (the differential corpus, each check's
    // code, and signature_findings_follow_the_settings for the settings).
    "PAS15", "PAS16", "PAS17", "PAS18", "PAS19", "PAS29", "ZE02", "ZD04", "ZD05", "ZD06", "ZD07",
    // RADIAN events: dian_events (each code on a generated event; PAS84 and
    // PAS85 are decided by the pipeline against the events store).
    "PAS40", "PAS41", "PAS84", "PAS85",
];

#[test]
fn every_rule_fires_alone_on_a_mutation() {
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    for (i, c) in cases().iter().enumerate() {
        let mut spec = generator::build(7 + i as u64, c.kind, &opts());
        (c.spec)(&mut spec);
        let mut settings = DianSettings::default();
        (c.settings)(&mut settings);
        let xml = (c.xml)(spec.render().xml);
        let now = generator::default_issued_at() + Duration::minutes(c.now_offset_mins);
        let v = dian::validate(xml.as_bytes(), &settings, now);
        let got = codes(&v);
        if got != vec![c.code.to_owned()] {
            failures.push(format!(
                "case {i} ({}, {:?}): got {:#?}",
                c.code, c.kind, v.findings
            ));
        }
        if let Some(r) = rules::base_code(c.code) {
            covered.insert(r.code);
        }
        // Disabling the rule silences it entirely.
        settings.rules.insert(
            c.code.to_owned(),
            dian::settings::RuleOverride {
                severity: None,
                enabled: false,
            },
        );
        let v = dian::validate(xml.as_bytes(), &settings, now);
        if !v.findings.is_empty() {
            failures.push(format!(
                "case {i} ({}) disabled still reports {:#?}",
                c.code, v.findings
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let missing: Vec<&str> = rules::CATALOG
        .iter()
        .map(|r| r.code)
        .filter(|c| !covered.contains(c) && !COVERED_ELSEWHERE.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a mutation test: {missing:?}"
    );
}

#[test]
fn severity_override_applies() {
    let mut spec = generator::build(3, DocKind::Invoice, &opts());
    spec.totals.payable += rust_decimal::Decimal::new(10, 0);
    let xml = spec.render().xml;
    let mut settings = DianSettings::default();
    settings.rules.insert(
        "FAU14".into(),
        dian::settings::RuleOverride {
            severity: Some(Severity::Notify),
            enabled: true,
        },
    );
    let v = dian::validate(xml.as_bytes(), &settings, now_ok());
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].severity, Severity::Notify);
    assert!(!v.rejected());
    // Tolerance: a 10.00 difference passes with tolerance 10.00.
    let settings = DianSettings {
        tolerance: rust_decimal::Decimal::new(10, 0),
        ..DianSettings::default()
    };
    let v = dian::validate(xml.as_bytes(), &settings, now_ok());
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}

#[test]
fn messages_carry_rule_code_and_location() {
    let mut spec = generator::build(5, DocKind::CreditNote, &opts());
    spec.uuid_override = Some(cufe::sha384_hex("x"));
    let v = dian::validate(
        spec.render().xml.as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    let f = &v.findings[0];
    assert_eq!(f.code, "CAD06");
    assert!(
        f.message
            .starts_with("Regla: CAD06, Rechazo: El CUDE no está calculado correctamente"),
        "{}",
        f.message
    );
    assert_eq!(f.location.as_deref(), Some("/CreditNote/cbc:UUID"));
}

// ---------------------------------------------------------------- containers

#[test]
fn attached_document_validated_by_dian() {
    let g = generator::generate(11, DocKind::Invoice, &opts());
    let ar = generator::application_response(&g.number, &g.cufe, "02", "2024-03-15");
    let x = generator::attached_document(&g, Some(&ar));
    let v = dian::validate(x.as_bytes(), &DianSettings::default(), now_ok());
    assert_eq!(v.document_type.as_deref(), Some("AttachedDocument"));
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    assert_eq!(v.document_key.as_deref(), Some(g.cufe.as_str()));
    let d = v.document.expect("json");
    assert_eq!(d["dian_response"]["response_code"], "02");
    assert_eq!(d["dian_response"]["validated"], true);
    assert_eq!(d["cufe"], g.cufe.as_str());
}

#[test]
fn attached_document_not_validated_or_mismatched() {
    let g = generator::generate(12, DocKind::Invoice, &opts());
    let ar = generator::application_response(&g.number, &g.cufe, "04", "2024-03-15");
    let v = dian::validate(
        generator::attached_document(&g, Some(&ar)).as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert_eq!(codes(&v), vec!["PAS13".to_owned()]);
    let ar =
        generator::application_response(&g.number, &cufe::sha384_hex("otro"), "02", "2024-03-15");
    let v = dian::validate(
        generator::attached_document(&g, Some(&ar)).as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert_eq!(codes(&v), vec!["PAS13".to_owned()]);
}

#[test]
fn attached_document_reception_window_uses_dian_date() {
    let g = generator::generate(13, DocKind::Invoice, &opts());
    let ar = generator::application_response(&g.number, &g.cufe, "02", "2024-04-30");
    let v = dian::validate(
        generator::attached_document(&g, Some(&ar)).as_bytes(),
        &DianSettings::default(),
        generator::default_issued_at() + Duration::days(50),
    );
    assert_eq!(codes(&v), vec!["FAD09c".to_owned()]);
}

#[test]
fn attached_document_without_or_with_bad_embedded_document() {
    let empty = r#"<AttachedDocument xmlns="urn:oasis:names:specification:ubl:schema:xsd:AttachedDocument-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>1</cbc:ID></AttachedDocument>"#;
    let v = dian::validate(empty.as_bytes(), &DianSettings::default(), now_ok());
    assert_eq!(codes(&v), vec!["PAS12".to_owned()]);
    let g = generator::Generated {
        xml: "<Invoice><a></Invoice>".into(),
        number: "1".into(),
        cufe: "x".into(),
    };
    let v = dian::validate(
        generator::attached_document(&g, None).as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert_eq!(codes(&v), vec!["PAS12".to_owned()]);
}

#[test]
fn application_response_alone() {
    let ar = generator::application_response(
        "SETP990000001",
        &cufe::sha384_hex("x"),
        "02",
        "2024-03-15",
    );
    let v = dian::validate(ar.as_bytes(), &DianSettings::default(), now_ok());
    assert_eq!(v.document_type.as_deref(), Some("ApplicationResponse"));
    assert_eq!(codes(&v), vec!["PAS14".to_owned()]);
    assert_eq!(
        v.document.expect("json")["application_response"]["response_code"],
        "02"
    );
}

#[test]
fn duplicate_rule_90() {
    let s = DianSettings::default();
    let f = dian::duplicate_finding(&s, "trabajo 42 del 2024-03-15").expect("enabled");
    assert_eq!(f.code, "90");
    assert_eq!(f.severity, Severity::Reject);
    assert!(
        f.message
            .contains("Regla: 90, Rechazo: Documento procesado anteriormente (trabajo 42")
    );
    let mut s = DianSettings::default();
    s.rules.insert(
        "90".into(),
        dian::settings::RuleOverride {
            severity: None,
            enabled: false,
        },
    );
    assert!(dian::duplicate_finding(&s, "x").is_none());
}

#[test]
fn document_key_without_uuid_is_nit_and_number() {
    let g = generator::generate(9, DocKind::Invoice, &opts());
    let start = g.xml.find("<cbc:UUID").expect("uuid");
    let end = g.xml[start..].find("</cbc:UUID>").expect("end") + start + "</cbc:UUID>".len();
    let x = format!("{}{}", &g.xml[..start], &g.xml[end..]);
    let v = dian::validate(x.as_bytes(), &DianSettings::default(), now_ok());
    let nit = v
        .model
        .as_ref()
        .and_then(|m| m.supplier.as_ref())
        .and_then(|p| p.company_id.clone())
        .expect("nit");
    let key = format!("{nit}/{}", g.number.to_ascii_lowercase());
    assert_eq!(v.document_key.as_deref(), Some(key.as_str()));
    assert_eq!(v.supplier_key, Some(key));
    assert_eq!(codes(&v), vec!["FAD06".to_owned()]);
}

// ---------------------------------------------------------------- hostile input

fn hostile(bytes: &[u8]) -> Vec<String> {
    let settings = DianSettings {
        max_file_bytes: 1 << 20,
        ..DianSettings::default()
    };
    let v = dian::validate(bytes, &settings, now_ok());
    assert!(v.model.is_none());
    assert!(v.rejected());
    codes(&v)
}

#[test]
fn hostile_inputs_become_findings() {
    let billion_laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol3;</Invoice>"#;
    assert_eq!(hostile(billion_laughs), ["PAS04"]);
    let xxe = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&xxe;</Invoice>"#;
    assert_eq!(hostile(xxe), ["PAS04"]);
    assert_eq!(hostile(b"<Invoice>&xxe;</Invoice>"), ["PAS05"]);
    let deep = format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000));
    assert_eq!(hostile(deep.as_bytes()), ["PAS06"]);
    let wide = format!("<a>{}</a>", "<b/>".repeat(200_000));
    let settings = DianSettings {
        max_elements: 100_000,
        ..DianSettings::default()
    };
    assert_eq!(
        codes(&dian::validate(wide.as_bytes(), &settings, now_ok())),
        ["PAS07"]
    );
    let attrs: String = (0..50_000).map(|i| format!(" a{i}=\"x\"")).collect();
    assert_eq!(hostile(format!("<Invoice{attrs}/>").as_bytes()), ["PAS07"]);
    // Namespace declarations count as attributes on one element, and at most
    // 128 are in scope at once, so prefix resolution stays cheap.
    let ns: String = (0..5_000)
        .map(|i| format!(" xmlns:p{i}=\"urn:x{i}\""))
        .collect();
    assert_eq!(hostile(format!("<Invoice{ns}/>").as_bytes()), ["PAS07"]);
    let level = |k: usize| -> String {
        (0..60)
            .map(|i| format!(" xmlns:q{k}x{i}=\"urn:y{i}\""))
            .collect()
    };
    let nested = format!(
        "<Invoice{}><a{}><b{}/></a></Invoice>",
        level(0),
        level(1),
        level(2)
    );
    assert_eq!(hostile(nested.as_bytes()), ["PAS10"]);
    let huge = vec![b' '; (1 << 20) + 1];
    assert_eq!(hostile(&huge), ["PAS02"]);
    assert_eq!(hostile(b"   \n"), ["PAS01"]);
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "<Invoice/>".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    assert_eq!(hostile(&utf16), ["PAS03"]);
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Invoice>Bogot\xe1</Invoice>";
    assert_eq!(hostile(latin1), ["PAS03"]);
    let v = dian::validate(
        b"<Invoice>Bogot\xe1</Invoice>",
        &DianSettings::default(),
        now_ok(),
    );
    assert!(
        v.findings[0].message.contains("ISO-8859-1"),
        "{}",
        v.findings[0].message
    );
    let g = generator::generate(1, DocKind::Invoice, &opts());
    assert_eq!(hostile(&g.xml.as_bytes()[..g.xml.len() / 2]), ["PAS10"]);
    assert_eq!(hostile(b"<Invoice><a></b></Invoice>"), ["PAS10"]);
    assert_eq!(hostile(b"<x:Invoice/>"), ["PAS10"]);
    assert_eq!(hostile(b"not xml at all"), ["PAS10"]);
    assert_eq!(hostile(b"<html><body>hola</body></html>"), ["PAS11"]);
    // Right name, wrong namespace: prefixes do not matter, URIs do.
    assert_eq!(hostile(b"<Invoice xmlns=\"urn:example\"/>"), ["PAS11"]);
}

#[test]
fn absurd_amounts_do_not_overflow() {
    let g = generator::generate(31, DocKind::Invoice, &opts());
    let x = g.xml.replace(
        "<cbc:LineExtensionAmount currencyID=\"COP\">",
        "<cbc:LineExtensionAmount currencyID=\"COP\">79228162514264337593543950",
    );
    let v = dian::validate(x.as_bytes(), &DianSettings::default(), now_ok());
    assert!(codes(&v).contains(&"PAS08".to_owned()), "{:#?}", v.findings);
    let x = g.xml.replace(
        "<cbc:LineExtensionAmount currencyID=\"COP\">",
        "<cbc:LineExtensionAmount currencyID=\"COP\">9999999999999999999",
    );
    let v = dian::validate(x.as_bytes(), &DianSettings::default(), now_ok());
    assert!(v.rejected());
}

#[test]
fn namespace_prefixes_do_not_matter() {
    let g = generator::generate(21, DocKind::Invoice, &opts());
    let x = g
        .xml
        .replace("cbc:", "b:")
        .replace("xmlns:cbc=", "xmlns:b=")
        .replace("<Invoice xmlns=", "<inv:Invoice xmlns:inv=")
        .replace("</Invoice>", "</inv:Invoice>");
    let v = dian::validate(x.as_bytes(), &DianSettings::default(), now_ok());
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}

// ---------------------------------------------------------------- settings file

#[test]
fn shipped_settings_file_loads() {
    let s = dian::load_settings(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/dian.toml"))
        .expect("rules/dian.toml is valid");
    assert_eq!(s.max_age_days, 180);
    assert!(s.ranges.iter().any(
        |r| r.prefix == "SETP" && r.technical_key == dian::settings::PUBLIC_TEST_TECHNICAL_KEY
    ));
    // The shipped settings accept the DIAN example near its issue date.
    let v = dian::validate(&example(), &s, at("2024-03-16T10:00:00-05:00"));
    assert!(reject_codes(&v).is_empty(), "{:#?}", v.findings);
}

#[test]
fn settings_errors_name_key_paths_all_at_once() {
    let text = r#"
tolerance = 0.5
max_age_days = "ciento ochenta"
reception_reference = "ayer"
colour = "blue"

[rules.FAD06]
severity = "fatal"

[rules.XYZ99]
enabled = false

[rules.FAU14]
enabld = false

[[ranges]]
prefix = "SETP"
from = 10
to = 5
valid_from = "2019-01-19"
valid_to = "19/01/2030"
technical_key = ""

[[software]]
pin = 10254102
"#;
    let errs = dian::parse_settings(text, Path::new("rules/dian.toml")).expect_err("invalid");
    let keys: BTreeSet<String> = errs.iter().map(|e| e.key.clone()).collect();
    for k in [
        "tolerance",
        "max_age_days",
        "reception_reference",
        "colour",
        "rules.FAD06.severity",
        "rules.XYZ99",
        "rules.FAU14.enabld",
        "ranges[0].to",
        "ranges[0].valid_to",
        "ranges[0].technical_key",
        "software[0]",
    ] {
        assert!(keys.contains(k), "no error for {k}: {errs:#?}");
    }
    assert!(
        errs.iter()
            .all(|e| e.file == Path::new("rules/dian.toml") && !e.reason.is_empty())
    );
}

#[test]
fn settings_note_codes_and_overrides() {
    let s = dian::parse_settings(
        "[rules.CAD06]\nseverity = \"notify\"\n[rules.FAU14]\nenabled = false\n",
        Path::new("x.toml"),
    )
    .expect("valid");
    assert_eq!(
        s.severity("CAD06", "FAD06", Severity::Reject),
        Some(Severity::Notify)
    );
    assert_eq!(
        s.severity("FAD06", "FAD06", Severity::Reject),
        Some(Severity::Reject)
    );
    assert_eq!(s.severity("DAU14", "FAU14", Severity::Reject), None);
}

#[test]
fn software_security_code_needs_a_configured_pin() {
    let mut spec = generator::build(5, DocKind::Invoice, &opts());
    spec.pin = "11111".into();
    let xml = spec.render().xml;
    let v = dian::validate(xml.as_bytes(), &DianSettings::default(), now_ok());
    assert_eq!(codes(&v), ["FAB27b"], "{:#?}", v.findings);
    // The code is compared case-insensitively.
    let mut spec = generator::build(5, DocKind::Invoice, &opts());
    let code = cufe::software_security_code(&spec.software_id, &spec.pin, &spec.number);
    spec.pin = "11111".into();
    let wrong = cufe::software_security_code(&spec.software_id, &spec.pin, &spec.number);
    let xml = spec.render().xml.replace(&wrong, &code.to_uppercase());
    let v = dian::validate(xml.as_bytes(), &DianSettings::default(), now_ok());
    assert!(codes(&v).is_empty(), "{:#?}", v.findings);
    // Without a PIN for that software the code is unverifiable: not reported.
    let mut settings = DianSettings::default();
    settings.software.clear();
    let xml = {
        let mut spec = generator::build(5, DocKind::Invoice, &opts());
        spec.pin = "11111".into();
        spec.render().xml
    };
    let v = dian::validate(xml.as_bytes(), &settings, now_ok());
    assert!(codes(&v).is_empty(), "{:#?}", v.findings);
    // DIAN's example was not made with the demo's example PIN: a notification,
    // not a rejection (docs/DIAN.md).
    let v = dian::validate(
        &example(),
        &DianSettings::default(),
        at("2024-03-16T10:00:00-05:00"),
    );
    let f = v
        .findings
        .iter()
        .find(|f| f.code == "FAB27b")
        .expect("FAB27b");
    assert_eq!(f.severity, Severity::Notify);
    assert!(
        f.message.starts_with("Regla: FAB27b, Notificación:"),
        "{}",
        f.message
    );
}

#[test]
fn renamed_codes_keep_their_former_overrides() {
    // FAD07 was PAS26: a configuration that still says PAS26 keeps working.
    let mut spec = generator::build(9, DocKind::Invoice, &opts());
    spec.uuid_scheme_name = "CUFE-SHA1".into();
    let xml = spec.render().xml;
    let mut settings = DianSettings::default();
    settings.rules.insert(
        "PAS26".to_owned(),
        dian::settings::RuleOverride {
            severity: Some(Severity::Notify),
            enabled: true,
        },
    );
    let v = dian::validate(xml.as_bytes(), &settings, now_ok());
    assert_eq!(codes(&v), ["FAD07"]);
    assert!(!v.rejected(), "{:#?}", v.findings);
    // The current code wins over the former one.
    settings.rules.insert(
        "FAD07".to_owned(),
        dian::settings::RuleOverride {
            severity: Some(Severity::Reject),
            enabled: true,
        },
    );
    let v = dian::validate(xml.as_bytes(), &settings, now_ok());
    assert!(v.rejected(), "{:#?}", v.findings);
    // Former codes are accepted by the settings loader.
    for (old, new) in rules::RENAMED {
        assert!(rules::base_code(old).is_some(), "{old}");
        assert!(rules::base_code(new).is_some(), "{new}");
    }
}

#[test]
fn pep_and_ppt_are_identification_types() {
    for t in ["47", "48"] {
        let mut spec = generator::build(11, DocKind::Invoice, &opts());
        spec.customer.id_type = t.into();
        spec.customer.dv = String::new();
        let v = dian::validate(
            spec.render().xml.as_bytes(),
            &DianSettings::default(),
            now_ok(),
        );
        assert!(
            !codes(&v).contains(&"PAS32".to_owned()),
            "{t}: {:#?}",
            v.findings
        );
    }
}

#[test]
fn fab10a_overrides_apply_to_fab10b() {
    // FAB10b was FAB10a: a rules file that still says FAB10a keeps working.
    let parsed = dian::parse_settings(
        "[rules.FAB10a]\nseverity = \"notify\"\n",
        Path::new("x.toml"),
    )
    .expect("the former code is accepted");
    let s = DianSettings {
        rules: parsed.rules,
        ..DianSettings::default()
    };
    let mut spec = generator::build(13, DocKind::Invoice, &opts());
    spec.number = "SETQ990000123".into();
    let v = dian::validate(spec.render().xml.as_bytes(), &s, now_ok());
    assert_eq!(codes(&v), ["FAB10b"]);
    assert_eq!(v.findings[0].severity, Severity::Notify);
    assert!(
        v.findings[0]
            .message
            .starts_with("Regla: FAB10b, Notificación: El prefijo del número SETQ990000123 no corresponde al prefijo de la autorización de numeración (SETP)"),
        "{}",
        v.findings[0].message
    );
}

/// The first seed whose invoice has a line taxed at 0 %, with the index of
/// that line (its only subtotal is that 0 % tax).
fn spec_with_zero_rate_line() -> (Spec, usize) {
    (0..200)
        .find_map(|seed| {
            let s = generator::build(seed, DocKind::Invoice, &opts());
            let i = s.lines.iter().position(|l| {
                l.taxes.len() == 1
                    && l.taxes[0].subtotals.len() == 1
                    && l.taxes[0].subtotals[0].percent.is_zero()
            })?;
            Some((s, i))
        })
        .expect("some seed has a 0 % line")
}

/// Moves the taxable base of line `i` (taxed at 0 %) by `delta`, in the line
/// and in the header subtotal it adds to; no tax amount changes.
fn shift_zero_rate_base(s: &mut Spec, i: usize, delta: rust_decimal::Decimal) {
    let scheme = s.lines[i].taxes[0].scheme_id.clone();
    s.lines[i].taxes[0].subtotals[0].taxable += delta;
    let h = s
        .header_taxes
        .iter_mut()
        .find(|h| h.scheme_id == scheme)
        .and_then(|h| h.subtotals.iter_mut().find(|x| x.percent.is_zero()))
        .expect("header subtotal at 0 %");
    h.taxable += delta;
}

#[test]
fn fau04_sums_the_declared_taxable_bases() {
    let hundred = rust_decimal::Decimal::ONE_HUNDRED;
    // A line declares a base 100 above its value: TaxExclusiveAmount, still
    // the sum of the lines' values, no longer matches the declared bases.
    let (mut s, i) = spec_with_zero_rate_line();
    shift_zero_rate_base(&mut s, i, hundred);
    let v = dian::validate(
        s.render().xml.as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert_eq!(codes(&v), ["FAU04"], "{:#?}", v.findings);
    assert!(
        v.findings[0]
            .message
            .contains("de las bases imponibles (TaxableAmount) de las líneas"),
        "{}",
        v.findings[0].message
    );
    // An AIU-style line taxed on part of its value: TaxExclusiveAmount is the
    // declared base, not the line's value, and that is right.
    let (mut s, i) = spec_with_zero_rate_line();
    let half = (s.lines[i].line_extension / rust_decimal::Decimal::TWO).round_dp(2);
    shift_zero_rate_base(&mut s, i, -half);
    s.totals.tax_exclusive -= half;
    let v = dian::validate(
        s.render().xml.as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
    // Two taxes over one base (IVA and ICA on the same line) count it once.
    let (mut s, i) = spec_with_zero_rate_line();
    let base = s.lines[i].line_extension;
    s.lines[i].taxes.push(generator::GenTaxTotal {
        scheme_id: "ZZ".into(),
        scheme_name: "Otro".into(),
        amount: rust_decimal::Decimal::ZERO,
        subtotals: vec![generator::GenSubtotal {
            taxable: base,
            amount: rust_decimal::Decimal::ZERO,
            percent: rust_decimal::Decimal::ZERO,
        }],
    });
    s.header_taxes.push(generator::GenTaxTotal {
        scheme_id: "ZZ".into(),
        scheme_name: "Otro".into(),
        amount: rust_decimal::Decimal::ZERO,
        subtotals: vec![generator::GenSubtotal {
            taxable: base,
            amount: rust_decimal::Decimal::ZERO,
            percent: rust_decimal::Decimal::ZERO,
        }],
    });
    let v = dian::validate(
        s.render().xml.as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert!(v.findings.is_empty(), "{:#?}", v.findings);
}

#[test]
fn unit_codes_and_tax_schemes_of_shipped_documents_are_dians() {
    // DIAN's v1.9 example and every generated document use valid units and
    // tax schemes: none of PAS33–PAS36.
    let ours = ["PAS33", "PAS34", "PAS35", "PAS36"];
    let v = dian::validate(
        &example(),
        &DianSettings::default(),
        at("2024-03-16T10:00:00-05:00"),
    );
    assert!(
        !codes(&v).iter().any(|c| ours.contains(&c.as_str())),
        "{:#?}",
        v.findings
    );
    // Every unit code the generator uses, on one document.
    let mut spec = generator::build(17, DocKind::Invoice, &opts());
    let template = spec.lines[0].clone();
    spec.lines.clear();
    for u in ["94", "KGM", "NIU", "MTR", "EA"] {
        let mut l = template.clone();
        l.unit_code = u.into();
        spec.lines.push(l);
    }
    let v = dian::validate(
        spec.render().xml.as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert!(
        !codes(&v).iter().any(|c| ours.contains(&c.as_str())),
        "{:#?}",
        v.findings
    );
    // Unknown units are named, several at once, with the first one's path.
    let mut spec = generator::build(18, DocKind::CreditNote, &opts());
    spec.lines[1].unit_code = "Unidad".into();
    spec.lines[2].unit_code = "UND".into();
    let v = dian::validate(
        spec.render().xml.as_bytes(),
        &DianSettings::default(),
        now_ok(),
    );
    assert_eq!(codes(&v), ["PAS33"]);
    let f = &v.findings[0];
    assert!(
        f.message.contains("línea 2: \"Unidad\"; línea 3: \"UND\""),
        "{}",
        f.message
    );
    assert_eq!(
        f.location.as_deref(),
        Some("/CreditNote/cac:CreditNoteLine[2]/cbc:CreditedQuantity/@unitCode")
    );
}

#[test]
fn tax_scheme_findings_name_the_offender() {
    let validate = |spec: &Spec, xml: fn(String) -> String| {
        dian::validate(
            xml(spec.render().xml).as_bytes(),
            &DianSettings::default(),
            now_ok(),
        )
    };
    let mut spec = generator::build(19, DocKind::Invoice, &opts());
    spec.header_taxes.push(zero_tax("21", "Estampilla"));
    spec.header_taxes.push(zero_tax("99", "Otro"));
    // The same name in other case and spacing is the same name.
    spec.header_taxes
        .push(zero_tax("25", "sobretasa  combustibles"));
    let v = validate(&spec, nop_xml);
    assert_eq!(codes(&v), ["PAS34", "PAS35"], "{:#?}", v.findings);
    let by = |c: &str| v.findings.iter().find(|f| f.code == c).expect("finding");
    assert!(
        by("PAS34").message.contains("encabezado: \"99\""),
        "{}",
        by("PAS34").message
    );
    assert_eq!(by("PAS34").severity, Severity::Reject);
    assert!(
        by("PAS35")
            .message
            .contains("encabezado: el tributo 21 debe llamarse Timbre y se llama \"Estampilla\""),
        "{}",
        by("PAS35").message
    );
    assert_eq!(by("PAS35").severity, Severity::Notify);
    assert_eq!(
        by("PAS35").location.as_deref(),
        Some("/Invoice/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:Name")
    );
    // The customer's tax scheme (the second party in the document).
    let v = validate(&spec_plain(20), |x| {
        let at = x.rfind(PARTY_TAX_SCHEME).expect("customer tax scheme");
        format!(
            "{}{}{}",
            &x[..at],
            PARTY_TAX_SCHEME.replace("<cbc:ID>01<", "<cbc:ID>O-13<"),
            &x[at + PARTY_TAX_SCHEME.len()..]
        )
    });
    assert_eq!(codes(&v), ["PAS36"], "{:#?}", v.findings);
    assert!(
        v.findings[0].message.contains("adquiriente: \"O-13\""),
        "{}",
        v.findings[0].message
    );
    assert_eq!(
        v.findings[0].location.as_deref(),
        Some(
            "/Invoice/cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cac:TaxScheme/cbc:ID"
        )
    );
}

fn spec_plain(seed: u64) -> Spec {
    generator::build(seed, DocKind::Invoice, &opts())
}
