//! Commission rule engine: shipped rule tests, every fee feature, ambiguity
//! detection, problem reporting and atomic reload.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDate;
use pasarela::catalog::ProcessingState;
use pasarela::rules::{self, CommissionRules, PricingInput, PricingLine, RulesHandle, Side};
use rust_decimal::Decimal;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn line(group: &str, state: &str, value: &str) -> PricingLine {
    PricingLine {
        code: "1".into(),
        group: group.into(),
        state: ProcessingState::parse(state),
        quantity_kg: Decimal::ZERO,
        value: d(value),
    }
}

fn input(date: &str, client: &str, side: Side, lines: Vec<PricingLine>) -> PricingInput {
    PricingInput {
        date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
        client: client.into(),
        side,
        lines,
    }
}

/// Compile a rules text; `Ok` or the problem strings.
fn compile(text: &str) -> Result<CommissionRules, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "commissions.toml", text);
    rules::load_rules(&f).map_err(|e| e.iter().map(|x| x.to_string()).collect())
}

#[test]
fn shipped_rule_tests_pass() {
    let rules = rules::load_rules(&root().join("rules")).expect("shipped rules compile");
    let files = rules::testfile::default_test_files(&root().join("rules"));
    assert!(!files.is_empty());
    let mut n = 0;
    for f in files {
        for o in rules::testfile::run_file(&rules, &f).expect("test file parses") {
            assert!(o.passed(), "{}: {}: {:?}", f.display(), o.name, o.failures);
            n += 1;
        }
    }
    assert!(n >= 10);
}

#[test]
fn trace_records_rule_version_and_each_step() {
    let rules = rules::load_rules(&root().join("rules")).unwrap();
    let c = rules
        .price(&input(
            "2026-03-01",
            "800111222",
            Side::Seller,
            vec![line("GRANOS", "NATURAL", "250000000")],
        ))
        .unwrap();
    let l = &c.lines[0];
    assert_eq!(
        (l.rule_id.as_str(), l.rule_version, l.fee),
        ("granos-venta", 1, d("475000"))
    );
    let t = l.trace.join("\n");
    assert!(t.contains("regla granos-venta v1 (prioridad 10"), "{t}");
    assert!(t.contains("grupo GRANOS"), "{t}");
    assert!(t.contains("punta V"), "{t}");
    assert!(t.contains("100000000 × 25 pb / 10000 = 250000"), "{t}");
    assert!(t.contains("150000000 × 15 pb / 10000 = 225000"), "{t}");
    assert!(t.contains("redondeo half-even"), "{t}");
    // The result JSON carries money as strings.
    let j = serde_json::to_value(&c).unwrap();
    assert_eq!(j["total"], "475000");
    assert_eq!(j["lines"][0]["fee"], "475000");
    assert_eq!(j["lines"][0]["rule_id"], "granos-venta");
    assert_eq!(j["rule_set"].as_str().unwrap().len(), 64);
}

const BASE: &str = r#"
[[rule]]
id = "a"
version = 1
valid_from = "2025-01-01"
priority = 1
when = { groups = ["GRANOS"], sides = ["V"] }
fee = { rate_bps = "10", rounding = "half-up" }
"#;

#[test]
fn same_priority_overlap_is_refused_with_file_and_key() {
    let e = compile(&format!(
        "{BASE}\n[[rule]]\nid = \"b\"\nversion = 1\nvalid_from = \"2025-06-01\"\npriority = 1\nwhen = {{ groups = [\"GRANOS\", \"PESCA\"] }}\nfee = {{ rate_bps = \"20\", rounding = \"up\" }}\n"
    ))
    .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("commissions.toml: rule[1]: ambiguous: rule b v1 and rule a v1"),
        "{e:?}"
    );
}

#[test]
fn disjoint_conditions_or_periods_or_priorities_are_accepted() {
    // Different side.
    compile(&format!("{BASE}\n[[rule]]\nid = \"b\"\nversion = 1\nvalid_from = \"2025-01-01\"\npriority = 1\nwhen = {{ groups = [\"GRANOS\"], sides = [\"C\"] }}\nfee = {{ rate_bps = \"20\", rounding = \"up\" }}\n")).unwrap();
    // Disjoint value ranges touching at the bound (max is exclusive).
    compile(
        r#"
[[rule]]
id = "small"
version = 1
valid_from = "2025-01-01"
priority = 1
when = { line_value_max = "1000" }
fee = { rate_bps = "10", rounding = "half-up" }
[[rule]]
id = "large"
version = 1
valid_from = "2025-01-01"
priority = 1
when = { line_value_min = "1000" }
fee = { rate_bps = "5", rounding = "half-up" }
"#,
    )
    .unwrap();
    // Overlapping value ranges are refused.
    let e = compile(
        r#"
[[rule]]
id = "small"
version = 1
valid_from = "2025-01-01"
priority = 1
when = { line_value_max = "1001" }
fee = { rate_bps = "10", rounding = "half-up" }
[[rule]]
id = "large"
version = 1
valid_from = "2025-01-01"
priority = 1
when = { line_value_min = "1000" }
fee = { rate_bps = "5", rounding = "half-up" }
"#,
    )
    .unwrap_err();
    assert!(e[0].contains("ambiguous"), "{e:?}");
    // Same conditions, different validity: fine.
    compile(&format!("{BASE}\n[[rule]]\nid = \"b\"\nversion = 1\nvalid_from = \"2020-01-01\"\nvalid_to = \"2024-12-31\"\npriority = 1\nwhen = {{ groups = [\"GRANOS\"] }}\nfee = {{ rate_bps = \"20\", rounding = \"up\" }}\n")).unwrap();
}

#[test]
fn overlapping_versions_are_refused() {
    let e = compile(
        r#"
[[rule]]
id = "g"
version = 1
valid_from = "2025-01-01"
valid_to = "2025-12-31"
priority = 0
fee = { rate_bps = "30", rounding = "half-up" }
[[rule]]
id = "g"
version = 2
valid_from = "2025-12-31"
priority = 0
fee = { rate_bps = "28", rounding = "half-up" }
"#,
    )
    .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("rule[1]: versions 1 and 2 of rule g overlap in validity"),
        "{e:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = compile(r#"
[[rule]]
id = "x"
version = 1
valid_from = "2025-13-01"
priority = 0
when = { sides = ["Z"], colour = "red" }
fee = { rate_bps = "abc", rounding = "nearest", tiers = [{ rate_bps = "1" }] }
[[rule]]
id = "y"
version = 1
valid_from = "2025-01-01"
priority = 0
fee = { tiers = [{ up_to = "100", rate_bps = "1" }, { up_to = "50", rate_bps = "2" }], rounding = "up", minimum = "10", maximum = "5" }
"#)
    .unwrap_err();
    let all = e.join("\n");
    for want in [
        "rule[0].when.colour: unknown key",
        "rule[0].valid_from: '2025-13-01' is not a date",
        "rule[0].when.sides: 'Z' is not a side",
        "rule[0].fee.rounding: 'nearest' is not one of",
        "rule[0].fee: give either rate_bps or tiers",
        "rule[1].fee.tiers[1].up_to: tiers must ascend",
        "rule[1].fee.tiers: the last tier must omit up_to",
        "rule[1].fee.maximum: must not be below minimum",
    ] {
        assert!(all.contains(want), "missing '{want}' in:\n{all}");
    }
}

#[test]
fn fee_features() {
    let r = compile(
        r#"
[[rule]]
id = "flat"
version = 1
valid_from = "2025-01-01"
priority = 0
fee = { rate_bps = "25", minimum = "100", maximum = "1000", rounding = "half-even" }
[[rule]]
id = "up"
version = 1
valid_from = "2025-01-01"
priority = 5
when = { groups = ["UP"] }
fee = { rate_bps = "25", rounding = "up" }
[[rule]]
id = "down"
version = 1
valid_from = "2025-01-01"
priority = 5
when = { groups = ["DOWN"] }
fee = { rate_bps = "25", rounding = "down" }
[[rule]]
id = "halfup"
version = 1
valid_from = "2025-01-01"
priority = 5
when = { groups = ["HALFUP"] }
fee = { rate_bps = "25", rounding = "half-up" }
"#,
    )
    .unwrap();
    let fee = |group: &str, value: &str| {
        r.price(&input(
            "2025-05-05",
            "1",
            Side::Buyer,
            vec![line(group, "NATURAL", value)],
        ))
        .unwrap()
        .total
    };
    assert_eq!(fee("X", "10000"), d("100")); // 25 < minimum 100
    assert_eq!(fee("X", "10000000"), d("1000")); // 25 000 > maximum 1000
    assert_eq!(fee("X", "100200"), d("250")); // 250.5 half-even → 250
    assert_eq!(fee("X", "100600"), d("252")); // 251.5 half-even → 252
    assert_eq!(fee("HALFUP", "100200"), d("251")); // 250.5 → 251
    assert_eq!(fee("UP", "100001"), d("251")); // 250.0025 → 251
    assert_eq!(fee("DOWN", "100399"), d("250")); // 250.9975 → 250
}

#[test]
fn effective_dates_select_versions() {
    let r = rules::load_rules(&root().join("rules")).unwrap();
    let v = |date: &str| {
        r.price(&input(
            date,
            "1",
            Side::Seller,
            vec![line("OTRO", "NATURAL", "10000000")],
        ))
        .unwrap()
        .lines[0]
            .rule_version
    };
    assert_eq!(v("2024-01-01"), 1);
    assert_eq!(v("2025-12-31"), 1);
    assert_eq!(v("2026-01-01"), 2);
    assert!(
        r.price(&input(
            "2023-12-31",
            "1",
            Side::Seller,
            vec![line("OTRO", "NATURAL", "1")]
        ))
        .is_err()
    );
    // Client rule in force only within its period; the NIT is normalised.
    let who = |date: &str| {
        r.price(&input(
            date,
            "900 123 456-7",
            Side::Seller,
            vec![line("OTRO", "NATURAL", "10000000")],
        ))
        .unwrap()
        .lines[0]
            .rule_id
            .clone()
    };
    assert_eq!(who("2025-06-30"), "general");
    assert_eq!(who("2025-07-01"), "cliente-preferencial");
    assert_eq!(who("2027-07-01"), "general");
}

#[test]
fn reload_swaps_atomically_and_in_flight_invoices_keep_their_set() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = "[[rule]]\nid = \"g\"\nversion = 1\nvalid_from = \"2025-01-01\"\npriority = 0\nfee = { rate_bps = \"10\", rounding = \"half-up\" }\n";
    let v2 = "[[rule]]\nid = \"g\"\nversion = 2\nvalid_from = \"2025-01-01\"\npriority = 0\nfee = { rate_bps = \"20\", rounding = \"half-up\" }\n";
    let f = write(dir.path(), "commissions.toml", v1);
    let handle = RulesHandle::new(rules::load_rules(&f).unwrap());

    // An invoice starts: it takes a snapshot.
    let snapshot = handle.current();
    let lines: Vec<PricingLine> = (0..50).map(|_| line("X", "NATURAL", "1000000")).collect();
    let inv = input("2025-06-01", "1", Side::Seller, lines);

    // A reload happens while it is in flight.
    write(dir.path(), "commissions.toml", v2);
    handle.reload(&f).unwrap();

    let c = snapshot.price(&inv).unwrap();
    assert!(
        c.lines
            .iter()
            .all(|l| l.rule_version == 1 && l.fee == d("1000"))
    );
    assert_eq!(c.total, d("50000"));
    let c2 = handle.current().price(&inv).unwrap();
    assert!(c2.lines.iter().all(|l| l.rule_version == 2));
    assert_ne!(c.rule_set, c2.rule_set);

    // A bad file keeps the running set.
    write(dir.path(), "commissions.toml", "[[rule]]\nid = 3\n");
    assert!(handle.reload(&f).is_err());
    assert_eq!(handle.current().rules[0].version, 2);

    // Concurrent pricing during swaps never mixes versions within an invoice.
    let h2 = handle.clone();
    let inv = Arc::new(inv);
    let worker = {
        let inv = inv.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let c = h2.current().price(&inv).unwrap();
                let first = c.lines[0].rule_version;
                assert!(c.lines.iter().all(|l| l.rule_version == first));
            }
        })
    };
    let f1 = write(dir.path(), "v1.toml", v1);
    let f2 = write(dir.path(), "v2.toml", v2);
    let r1 = Arc::new(rules::load_rules(&f1).unwrap());
    let r2 = Arc::new(rules::load_rules(&f2).unwrap());
    for i in 0..500 {
        handle.swap(if i % 2 == 0 { r1.clone() } else { r2.clone() });
    }
    worker.join().unwrap();
}

#[test]
fn cel_expressions_as_extra_conditions() {
    let r = compile(
        r#"
[[rule]]
id = "base"
version = 1
valid_from = "2025-01-01"
priority = 0
fee = { rate_bps = "10", rounding = "half-up" }
[[rule]]
id = "big"
version = 1
valid_from = "2025-01-01"
priority = 1
when = { expr = "value >= 1000000 && side == 'V' && group.startsWith('GRA') && date >= '2025-06-01'" }
fee = { rate_bps = "20", rounding = "half-up" }
"#,
    )
    .unwrap();
    let who = |date: &str, side, value: &str| {
        let c = r
            .price(&input(
                date,
                "1",
                side,
                vec![line("GRANOS", "NATURAL", value)],
            ))
            .unwrap();
        (c.lines[0].rule_id.clone(), c.lines[0].trace[0].clone())
    };
    let (id, trace) = who("2025-07-01", Side::Seller, "1000000");
    assert_eq!(id, "big");
    assert!(trace.contains("expresión `value >= 1000000"), "{trace}");
    assert_eq!(who("2025-07-01", Side::Seller, "999999.99").0, "base");
    assert_eq!(who("2025-07-01", Side::Buyer, "5000000").0, "base");
    assert_eq!(who("2025-05-31", Side::Seller, "5000000").0, "base");

    let bad = |expr: &str| {
        compile(&format!(
            "[[rule]]\nid = \"x\"\nversion = 1\nvalid_from = \"2025-01-01\"\npriority = 0\nwhen = {{ expr = {expr:?} }}\nfee = {{ rate_bps = \"1\", rounding = \"up\" }}\n"
        ))
        .unwrap_err()
        .join("\n")
    };
    assert!(bad("colour == 'red'").contains("rule[0].when.expr: unknown variable(s) colour"));
    assert!(bad("value >=").contains("rule[0].when.expr: not a valid CEL expression"));
    assert!(bad("value + 1").contains("rule[0].when.expr: does not evaluate to a boolean"));
    // Expressions are opaque to the ambiguity check: same priority, otherwise overlapping → refused.
    let e = compile(
        r#"
[[rule]]
id = "a"
version = 1
valid_from = "2025-01-01"
priority = 0
when = { expr = "value < 100" }
fee = { rate_bps = "10", rounding = "half-up" }
[[rule]]
id = "b"
version = 1
valid_from = "2025-01-01"
priority = 0
when = { expr = "value >= 100" }
fee = { rate_bps = "10", rounding = "half-up" }
"#,
    )
    .unwrap_err();
    assert!(e[0].contains("ambiguous"), "{e:?}");
}
