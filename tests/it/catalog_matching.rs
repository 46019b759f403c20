//! Matching realistic invoice lines, eligibility and unit conversion against
//! the shipped subyacentes snapshot.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use pasarela::catalog::{
    self, Aliases, CatalogConfig, CatalogFile, ImportOptions, InvoiceLine, LineQuery, MatchOutcome,
    MatchVia, Matcher, Measure, Product, convert,
};
use rust_decimal::Decimal;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cfg() -> &'static CatalogConfig {
    static C: OnceLock<CatalogConfig> = OnceLock::new();
    C.get_or_init(|| CatalogConfig::load(&root().join("rules/catalog.toml")).unwrap())
}

fn fixture() -> PathBuf {
    let p = root().join("../shared/fixtures/bmc/subyacentes.csv");
    if p.exists() {
        p
    } else {
        PathBuf::from("/work/shared/fixtures/bmc/subyacentes.csv")
    }
}

/// One catalog for the whole file (imported into a temp dir that lives as long as the process).
fn matcher() -> &'static Matcher<CatalogFile> {
    static M: OnceLock<(tempfile::TempDir, Matcher<CatalogFile>)> = OnceLock::new();
    &M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        catalog::import(dir.path(), &fixture(), cfg(), &ImportOptions::default()).unwrap();
        let aliases = Aliases::load_dir(&root().join("rules/aliases"), &cfg().normalizer).unwrap();
        let m = catalog::open_matcher(dir.path(), cfg(), aliases)
            .unwrap()
            .unwrap();
        (dir, m)
    })
    .1
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn product(code: &str) -> Product {
    matcher().lookup.get(code).unwrap().unwrap()
}

/// Match a description; return (code, via, score) or the candidates' codes.
fn check(description: &str) -> Result<(String, MatchVia, f64), Vec<String>> {
    check_q(LineQuery {
        description,
        ..Default::default()
    })
}

fn check_q(q: LineQuery<'_>) -> Result<(String, MatchVia, f64), Vec<String>> {
    match matcher().match_line(&q).unwrap() {
        MatchOutcome::Matched(m) => Ok((m.product.code, m.via, m.score)),
        MatchOutcome::Review { candidates } => {
            Err(candidates.into_iter().map(|c| c.code).collect())
        }
    }
}

#[test]
fn arepa_con_queso_matches_an_arepa_code() {
    let (code, via, score) = check("AREPA CON QUESO MOZARELLA x 4 und").unwrap();
    assert_eq!(via, MatchVia::Description);
    assert!(score >= cfg().threshold);
    let p = product(&code);
    assert_eq!(p.product, "AREPA", "{p:?}");
    assert!(p.variety.contains("QUESO"), "{p:?}");
}

#[test]
fn realistic_descriptions() {
    for (text, want) in [
        ("PAPA PASTUSA BULTO 50 KG", "398"),
        ("Limón Tahití", "7233"),
        ("HUEVO AA x 30", "1116"), // HUEVO FRESCO DE GALLINA BLANCO (KG) - TIPO AA
        ("Platano harton verde", "11340"),
        ("Frijol cargamanto rojo", "9784"),
        ("Queso campesino x 500 gr", "1377"),
        ("Aguacate hass", "7229"),
        ("AGUACATES HASS CAJA X 10 KG", "7229"),
    ] {
        match check(text) {
            Ok((code, _, _)) => assert_eq!(code, want, "{text}: got {:?}", product(&code)),
            Err(c) => panic!("{text}: review, candidates {c:?}"),
        }
    }
}

#[test]
fn the_line_unit_picks_the_code_registered_in_that_measure() {
    let l = |unit| InvoiceLine {
        line: 1,
        query: LineQuery {
            description: "HUEVO AA x 30 und",
            ..Default::default()
        },
        quantity: d("30"),
        unit,
    };
    let code = |unit| {
        catalog::assess_line(matcher(), cfg(), &l(unit))
            .unwrap()
            .matched
            .unwrap()
            .product
            .code
    };
    assert_eq!(code("und"), "1112"); // HUEVO FRESCO DE GALLINA BLANCO (UN) - TIPO AA - UNIDAD
    assert_eq!(code("KGM"), "1116"); // ... (KG) - TIPO AA - KILOGRAMO
}

#[test]
fn unrelated_text_goes_to_review_with_candidates() {
    assert!(check("HONORARIOS ASESORIA JURIDICA").is_err());
    let c = check("Combo desayuno arepa huevo cafe").unwrap_err();
    assert!(!c.is_empty() && c.len() <= cfg().candidates, "{c:?}");
    assert!(check("xyzzy qwerty").is_err());
}

#[test]
fn codes_win_and_unknown_codes_fall_back_to_the_description() {
    let q = LineQuery {
        codes: vec!["", "130"],
        description: "cualquier cosa",
        ..Default::default()
    };
    assert_eq!(
        check_q(q).unwrap(),
        ("130".to_string(), MatchVia::Code, 1.0)
    );
    let l = InvoiceLine {
        line: 3,
        query: LineQuery {
            codes: vec!["7701234567890"],
            description: "Limón Tahití",
            ..Default::default()
        },
        quantity: d("100"),
        unit: "KGM",
    };
    let a = catalog::assess_line(matcher(), cfg(), &l).unwrap();
    assert_eq!(a.matched.as_ref().unwrap().product.code, "7233");
    let codes: Vec<&str> = a.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["PAS65", "PAS60"]);
    assert_eq!(a.findings[0].location.as_deref(), Some("línea 3"));
    assert!(a.eligible && !a.review);
    assert_eq!(a.quantity.unwrap().quantity, d("100"));
}

#[test]
fn client_aliases() {
    // rules/aliases/example-900123456.toml: "AREPA TELA" → 8709 for that client only.
    let q = |client| LineQuery {
        client,
        description: "Arepa Tela x 5 und",
        ..Default::default()
    };
    assert_eq!(
        check_q(q(Some("900123456-7"))).unwrap(),
        ("8709".to_string(), MatchVia::Alias, 1.0)
    );
    assert_ne!(
        check_q(q(Some("800111222"))).map(|x| x.1),
        Ok(MatchVia::Alias)
    );
}

#[test]
fn eligibility() {
    let e = catalog::eligibility(cfg(), &product("1"));
    assert!(e.eligible && e.code.is_none());
    let e = catalog::eligibility(cfg(), &product("7486"));
    assert_eq!((e.eligible, e.code), (false, Some("PAS62")));
    assert!(e.reason.contains("PROCESADO"));
    // APOYOS codes are not products.
    let apoyo = matcher().lookup.get("2007").unwrap();
    let apoyos = (1..12400)
        .map(|c| c.to_string())
        .filter_map(|c| matcher().lookup.get(&c).unwrap())
        .find(|p| p.state.as_str() == "APOYOS")
        .unwrap();
    let e = catalog::eligibility(cfg(), &apoyos);
    assert_eq!((e.eligible, e.code), (false, Some("PAS63")));
    assert!(apoyo.is_some());
    // Declared primary transformation (rules/catalog.toml: "ACEITE CRUDO DE").
    let e = catalog::eligibility(cfg(), &product("1302"));
    assert!(e.eligible, "{e:?}");
    // The whole line: a reject finding with a Spanish reason.
    let l = InvoiceLine {
        line: 1,
        query: LineQuery {
            codes: vec!["7486"],
            ..Default::default()
        },
        quantity: d("10"),
        unit: "KGM",
    };
    let a = catalog::assess_line(matcher(), cfg(), &l).unwrap();
    assert!(!a.eligible);
    assert_eq!(a.findings[0].code, "PAS62");
    assert!(a.findings[0].message.starts_with("Producto no elegible"));
}

#[test]
fn unit_conversion() {
    let c = |q: &str, unit: &str, code: &str| convert(cfg(), d(q), unit, &product(code));
    assert_eq!(c("3", "bulto", "398").unwrap().quantity, d("150")); // papa: 50 kg
    assert_eq!(c("3", "BULTOS", "130").unwrap().quantity, d("180")); // café: 60 kg, product-specific
    assert_eq!(c("2", "arroba", "398").unwrap().quantity, d("25"));
    assert_eq!(c("4", "libras", "398").unwrap().quantity, d("2"));
    assert_eq!(c("1500", "GRM", "398").unwrap().quantity, d("1.5"));
    assert_eq!(c("2", "TNE", "398").unwrap().quantity, d("2000"));
    assert_eq!(c("250", "KGM", "398").unwrap().measure, Measure::Kg);
    // Units with a declared content per unit: "POR 360 GR" → kg.
    let conv = c("10", "NIU", "10681").unwrap();
    assert_eq!((conv.quantity, conv.measure), (d("3.6"), Measure::Kg));
    assert!(conv.explanation.contains("360 gr"), "{}", conv.explanation);
    // Units of a product the catalog registers by unit stay units.
    assert_eq!(c("12", "und", "5326").unwrap().measure, Measure::Unit);
    // Units of a kg product without a declared weight: an error to review.
    assert!(
        c("4", "und", "7486")
            .unwrap_err()
            .contains("sin peso declarado")
    );
    // Litres for a kg product: no declared density.
    assert!(c("4", "LTR", "398").unwrap_err().contains("masa y volumen"));
    // Unknown unit.
    assert!(
        c("4", "furgon", "398")
            .unwrap_err()
            .contains("no está declarada")
    );
    let l = InvoiceLine {
        line: 2,
        query: LineQuery {
            codes: vec!["398"],
            ..Default::default()
        },
        quantity: d("4"),
        unit: "furgon",
    };
    let a = catalog::assess_line(matcher(), cfg(), &l).unwrap();
    assert!(a.review);
    assert_eq!(a.findings[0].code, "PAS64");
}

#[test]
fn an_invoice_is_assessed_and_priced_with_one_rule_set() {
    use pasarela::catalog::{InvoiceToPrice, assess_and_price};
    use pasarela::rules::{self, Side};
    let rules = rules::load_rules(&root().join("rules")).unwrap();
    let line = |n, description, codes: Vec<&'static str>, qty: &str, unit| InvoiceLine {
        line: n,
        query: LineQuery {
            description,
            codes,
            ..Default::default()
        },
        quantity: d(qty),
        unit,
    };
    let inv = InvoiceToPrice {
        date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        client: "800111222",
        side: Side::Seller,
        lines: vec![
            (
                line(1, "ARROZ PADDY", vec!["1"], "5", "TNE"),
                d("250000000"),
            ),
            (
                line(2, "AREPA CON QUESO MOZARELLA x 4 und", vec![], "10", "KGM"),
                d("80000"),
            ),
            (
                line(3, "PAPA PASTUSA BULTO 50 KG", vec![], "4", "bulto"),
                d("1000200"),
            ),
        ],
    };
    let p = assess_and_price(matcher(), cfg(), &rules, &inv).unwrap();
    assert!(!p.review);
    let c = p.commission.unwrap();
    // Line 2 (an arepa, PROCESADO) is not eligible: it is reported, not priced.
    assert_eq!(
        c.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(c.lines[0].rule_id, "granos-venta");
    assert_eq!(c.lines[0].fee, d("475000"));
    assert_eq!(c.lines[1].rule_id, "general"); // papa: FRUTAS_HORTALIZAS has no specific rule
    assert_eq!(c.lines[1].fee, d("6000")); // 2800.56 < minimum 6000
    assert_eq!(c.total, d("481000"));
    assert!(
        p.findings
            .iter()
            .any(|f| f.code == "PAS62" && f.location.as_deref() == Some("línea 2"))
    );
    assert_eq!(p.lines[2].quantity.as_ref().unwrap().quantity, d("200"));
    assert_eq!(p.lines[0].quantity.as_ref().unwrap().quantity, d("5000"));
}
