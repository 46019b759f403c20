//! Rule test files (`rules/tests/*.toml`): inputs → expected fees, written by
//! administrators and run by `pasarela rules test` and by `cargo test`.
//!
//! ```toml
//! [[test]]
//! name = "arroz, vendedor, tarifa plana"
//! date = "2026-03-01"
//! client = "900123456-7"
//! side = "V"
//! lines = [{ code = "1", group = "GRANOS", state = "NATURAL", quantity_kg = "1000", value = "2500000" }]
//! expect = { total = "7500", lines = [{ fee = "7500", rule = "granos-venta", version = 2 }] }
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{CommissionRules, PricingInput, PricingLine, Side, raw};
use crate::catalog::ProcessingState;
use crate::problems::{ConfigError, Problems, section};

/// Outcome of one test case.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub file: PathBuf,
    pub name: String,
    /// Empty when the test passed.
    pub failures: Vec<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// `DIR/tests/*.toml` for a rules directory (sorted).
pub fn default_test_files(rules_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(rules_dir.join("tests"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn dec(s: &str) -> Result<Decimal, String> {
    Decimal::from_str(s.trim()).map_err(|_| format!("'{s}' is not a decimal number"))
}

fn input_of(t: &raw::Test) -> Result<PricingInput, String> {
    let date = NaiveDate::parse_from_str(&t.date, "%Y-%m-%d")
        .map_err(|_| format!("date '{}' is not YYYY-MM-DD", t.date))?;
    let side = Side::parse(&t.side).ok_or_else(|| format!("side '{}' is not C or V", t.side))?;
    let mut lines = Vec::new();
    for l in &t.lines {
        lines.push(PricingLine {
            code: l.code.clone(),
            group: l.group.clone(),
            state: ProcessingState::parse(&l.state),
            quantity_kg: match &l.quantity_kg {
                Some(q) => dec(q)?,
                None => Decimal::ZERO,
            },
            value: dec(&l.value)?,
        });
    }
    Ok(PricingInput {
        date,
        client: t.client.clone(),
        side,
        lines,
    })
}

fn check(rules: &CommissionRules, t: &raw::Test) -> Vec<String> {
    let input = match input_of(t) {
        Ok(i) => i,
        Err(e) => return vec![e],
    };
    let mut fails = Vec::new();
    match (rules.price(&input), &t.expect_error) {
        (Err(e), Some(want)) => {
            if !e.to_string().contains(want.as_str()) {
                fails.push(format!("expected an error containing '{want}', got '{e}'"));
            }
        }
        (Err(e), None) => fails.push(format!("pricing failed: {e}")),
        (Ok(c), Some(want)) => fails.push(format!(
            "expected an error containing '{want}', got total {}",
            c.total
        )),
        (Ok(c), None) => {
            let Some(exp) = &t.expect else {
                return vec!["the test has neither expect nor expect_error".into()];
            };
            if let Some(total) = &exp.total {
                match dec(total) {
                    Ok(want) if want == c.total => {}
                    Ok(want) => fails.push(format!("total: expected {want}, got {}", c.total)),
                    Err(e) => fails.push(e),
                }
            }
            if let Some(lines) = &exp.lines {
                if lines.len() != c.lines.len() {
                    fails.push(format!(
                        "expected {} lines, got {}",
                        lines.len(),
                        c.lines.len()
                    ));
                }
                for (i, (want, got)) in lines.iter().zip(&c.lines).enumerate() {
                    match dec(&want.fee) {
                        Ok(f) if f == got.fee => {}
                        Ok(f) => fails.push(format!(
                            "line {}: fee expected {f}, got {} [{}]",
                            i + 1,
                            got.fee,
                            got.trace.join(" | ")
                        )),
                        Err(e) => fails.push(e),
                    }
                    if let Some(r) = &want.rule
                        && r != &got.rule_id
                    {
                        fails.push(format!(
                            "line {}: rule expected {r}, got {}",
                            i + 1,
                            got.rule_id
                        ));
                    }
                    if let Some(v) = want.version
                        && v != got.rule_version
                    {
                        fails.push(format!(
                            "line {}: version expected {v}, got {}",
                            i + 1,
                            got.rule_version
                        ));
                    }
                }
            }
        }
    }
    fails
}

/// Run every test in `file` against `rules`. A file that cannot be read or
/// parsed yields configuration errors instead.
pub fn run_file(
    rules: &CommissionRules,
    file: &Path,
) -> Result<Vec<TestOutcome>, Vec<ConfigError>> {
    let mut p = Problems::default();
    let text = std::fs::read_to_string(file)
        .map_err(|e| vec![ConfigError::new(file, "", format!("cannot read file: {e}"))])?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| vec![ConfigError::new(file, "", format!("not valid TOML: {e}"))])?;
    let mut tests = Vec::new();
    for (k, v) in table {
        if k != "test" {
            p.error(file, k, "unknown key (expected [[test]] entries)");
            continue;
        }
        let toml::Value::Array(items) = v else {
            p.error(file, "test", "must be an array of tables ([[test]])");
            continue;
        };
        for (i, item) in items.into_iter().enumerate() {
            if let Some(t) = section::<raw::Test>(item, file, &format!("test[{i}]"), &mut p) {
                tests.push(t);
            }
        }
    }
    if p.has_errors() {
        return Err(p.items);
    }
    Ok(tests
        .iter()
        .map(|t| TestOutcome {
            file: file.to_path_buf(),
            name: t.name.clone(),
            failures: check(rules, t),
        })
        .collect())
}
