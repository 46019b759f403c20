//! Rule files → [`CommissionRules`]: parse, resolve, and refuse ambiguity.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{
    CommissionRules, Conditions, Fee, Rate, Rounding, Rule, Side, Tier, TierMode, normalize_nit,
    raw,
};
use crate::catalog::ProcessingState;
use crate::problems::{ConfigError, Problems, section};

/// The rule files for a path: a file is itself; a directory means
/// `DIR/commissions.toml` plus every `DIR/commissions.d/*.toml` (sorted).
pub fn rule_files(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut files = vec![path.join("commissions.toml")];
    if let Ok(rd) = std::fs::read_dir(path.join("commissions.d")) {
        let mut extra: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    files
}

/// Load and compile the commission rules at `dir_or_file` (see [`rule_files`]).
/// Every problem (file, key, reason) is returned at once.
pub fn load_rules(dir_or_file: &Path) -> Result<CommissionRules, Vec<ConfigError>> {
    compile_files(&rule_files(dir_or_file))
}

/// Load and compile the given rule files together.
pub fn compile_files(files: &[PathBuf]) -> Result<CommissionRules, Vec<ConfigError>> {
    let mut p = Problems::default();
    let mut hasher = Sha256::new();
    let mut entries = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                p.error(file, "", format!("cannot read file: {e}"));
                continue;
            }
        };
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                p.error(file, "", format!("not valid TOML: {e}"));
                continue;
            }
        };
        for (k, v) in table {
            if k != "rule" {
                p.error(file, k, "unknown key (expected [[rule]] entries)");
                continue;
            }
            let toml::Value::Array(items) = v else {
                p.error(file, "rule", "must be an array of tables ([[rule]])");
                continue;
            };
            for (i, item) in items.into_iter().enumerate() {
                let key = format!("rule[{i}]");
                if let Some(r) = section::<raw::Rule>(item, file, &key, &mut p) {
                    entries.push((file.clone(), key, r));
                }
            }
        }
    }
    let fingerprint = hex::encode(hasher.finalize());
    match compile(entries, fingerprint) {
        Ok(rules) if !p.has_errors() => Ok(rules),
        Ok(_) => Err(p.items),
        Err(e) => {
            p.extend(e);
            Err(p.items)
        }
    }
}

fn date(s: &str, file: &Path, key: &str, p: &mut Problems) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            p.error(file, key, format!("'{s}' is not a date (YYYY-MM-DD)"));
            None
        }
    }
}

fn money(s: &str, file: &Path, key: &str, p: &mut Problems) -> Option<Decimal> {
    match Decimal::from_str(s.trim()) {
        Ok(d) if d >= Decimal::ZERO => Some(d),
        Ok(_) => {
            p.error(file, key, format!("'{s}' must not be negative"));
            None
        }
        Err(_) => {
            p.error(
                file,
                key,
                format!("'{s}' is not a decimal number (write it as a string, e.g. \"12.5\")"),
            );
            None
        }
    }
}

fn set_of(v: &Option<Vec<String>>, f: impl Fn(&str) -> String) -> Option<BTreeSet<String>> {
    v.as_ref().map(|xs| xs.iter().map(|x| f(x)).collect())
}

/// Compile one commission rule, reporting every problem of it. Long on
/// purpose: one check per key of `[[rules]]`, in the order of the file
/// format documented in docs/COMMISSIONS.md.
fn compile_one(file: &Path, key: &str, r: raw::Rule, p: &mut Problems) -> Option<Rule> {
    let before = p.items.len();
    if r.id.trim().is_empty() {
        p.error(file, format!("{key}.id"), "must not be empty");
    }
    let valid_from = date(&r.valid_from, file, &format!("{key}.valid_from"), p);
    let valid_to = r
        .valid_to
        .as_deref()
        .and_then(|s| date(s, file, &format!("{key}.valid_to"), p));
    if let (Some(f), Some(t)) = (valid_from, valid_to)
        && t < f
    {
        p.error(
            file,
            format!("{key}.valid_to"),
            format!("{t} is before valid_from {f}"),
        );
    }
    let w = &r.when;
    let mut sides = None;
    if let Some(xs) = &w.sides {
        let mut s = BTreeSet::new();
        for x in xs {
            match Side::parse(x) {
                Some(v) => {
                    s.insert(v);
                }
                None => p.error(
                    file,
                    format!("{key}.when.sides"),
                    format!("'{x}' is not a side (C buyer or V seller)"),
                ),
            }
        }
        sides = Some(s);
    }
    let states = w.states.as_ref().map(|xs| {
        xs.iter()
            .map(|x| {
                let s = ProcessingState::parse(x);
                if let ProcessingState::Other(o) = &s {
                    p.warn(
                        file,
                        format!("{key}.when.states"),
                        format!("'{o}' is not NATURAL, PROCESADO or TRANSFORMACION PRIMARIA"),
                    );
                }
                s
            })
            .collect::<BTreeSet<_>>()
    });
    for (name, v) in [
        ("groups", &w.groups),
        ("states", &w.states),
        ("codes", &w.codes),
        ("sides", &w.sides),
        ("clients", &w.clients),
    ] {
        if v.as_ref().is_some_and(|x| x.is_empty()) {
            p.error(
                file,
                format!("{key}.when.{name}"),
                "an empty list never matches; remove the key to match any value",
            );
        }
    }
    let line_value_min = w
        .line_value_min
        .as_deref()
        .and_then(|s| money(s, file, &format!("{key}.when.line_value_min"), p));
    let line_value_max = w
        .line_value_max
        .as_deref()
        .and_then(|s| money(s, file, &format!("{key}.when.line_value_max"), p));
    if let (Some(a), Some(b)) = (line_value_min, line_value_max)
        && b <= a
    {
        p.error(
            file,
            format!("{key}.when.line_value_max"),
            "must be greater than line_value_min",
        );
    }
    let expr = w
        .expr
        .as_deref()
        .and_then(|src| match super::Expr::compile(src) {
            Ok(e) => Some(e),
            Err(reason) => {
                p.error(file, format!("{key}.when.expr"), reason);
                None
            }
        });
    let when = Conditions {
        groups: set_of(&w.groups, |s| s.trim().to_uppercase()),
        states,
        codes: set_of(&w.codes, |s| s.trim().to_string()),
        sides,
        clients: set_of(&w.clients, normalize_nit),
        line_value_min,
        line_value_max,
        expr,
    };

    let f = &r.fee;
    let fk = format!("{key}.fee");
    let rounding = Rounding::parse(&f.rounding);
    if rounding.is_none() {
        p.error(
            file,
            format!("{fk}.rounding"),
            format!(
                "'{}' is not one of half-up, half-even, down, up",
                f.rounding
            ),
        );
    }
    let rate = match (&f.rate_bps, &f.tiers) {
        (Some(_), Some(_)) => {
            p.error(file, &fk, "give either rate_bps or tiers, not both");
            None
        }
        (None, None) => {
            p.error(file, &fk, "a fee needs rate_bps or tiers");
            None
        }
        (Some(r), None) => money(r, file, &format!("{fk}.rate_bps"), p).map(Rate::Flat),
        (None, Some(ts)) => {
            let mode = match f.tier_mode.as_deref() {
                None | Some("marginal") => Some(TierMode::Marginal),
                Some("bracket") => Some(TierMode::Bracket),
                Some(o) => {
                    p.error(
                        file,
                        format!("{fk}.tier_mode"),
                        format!("'{o}' is not marginal or bracket"),
                    );
                    None
                }
            };
            let mut tiers = Vec::new();
            let mut prev: Option<Decimal> = None;
            for (i, t) in ts.iter().enumerate() {
                let tk = format!("{fk}.tiers[{i}]");
                let rate_bps = money(&t.rate_bps, file, &format!("{tk}.rate_bps"), p);
                let up_to = t
                    .up_to
                    .as_deref()
                    .and_then(|s| money(s, file, &format!("{tk}.up_to"), p));
                if t.up_to.is_none() && i + 1 != ts.len() {
                    p.error(
                        file,
                        format!("{tk}.up_to"),
                        "only the last tier may omit up_to",
                    );
                }
                if let (Some(a), Some(b)) = (prev, up_to)
                    && b <= a
                {
                    p.error(file, format!("{tk}.up_to"), "tiers must ascend");
                }
                if up_to.is_some() {
                    prev = up_to;
                }
                if let Some(rate_bps) = rate_bps {
                    tiers.push(Tier { up_to, rate_bps });
                }
            }
            if ts.is_empty() {
                p.error(file, format!("{fk}.tiers"), "must list at least one tier");
            }
            if ts.last().is_some_and(|t| t.up_to.is_some()) {
                p.error(
                    file,
                    format!("{fk}.tiers"),
                    "the last tier must omit up_to (values above it would have no rate)",
                );
            }
            mode.map(|mode| Rate::Tiered { mode, tiers })
        }
    };
    let minimum = f
        .minimum
        .as_deref()
        .and_then(|s| money(s, file, &format!("{fk}.minimum"), p));
    let maximum = f
        .maximum
        .as_deref()
        .and_then(|s| money(s, file, &format!("{fk}.maximum"), p));
    if let (Some(a), Some(b)) = (minimum, maximum)
        && b < a
    {
        p.error(file, format!("{fk}.maximum"), "must not be below minimum");
    }
    if p.items[before..].iter().any(|e| !e.warning) {
        return None;
    }
    Some(Rule {
        id: r.id.trim().to_string(),
        version: r.version,
        valid_from: valid_from?,
        valid_to,
        priority: r.priority,
        description: r.description,
        when,
        fee: Fee {
            rate: rate?,
            minimum,
            maximum,
            rounding: rounding?,
        },
        file: file.to_path_buf(),
        key: key.to_string(),
    })
}

fn sets_meet<T: Ord>(a: &Option<BTreeSet<T>>, b: &Option<BTreeSet<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.intersection(b).next().is_some(),
        _ => true,
    }
}

fn periods_meet(a: &Rule, b: &Rule) -> bool {
    let a_ends_before_b = a.valid_to.is_some_and(|t| t < b.valid_from);
    let b_ends_before_a = b.valid_to.is_some_and(|t| t < a.valid_from);
    !a_ends_before_b && !b_ends_before_a
}

/// Can some line satisfy both rules' conditions? Exact for the declarative
/// conditions; a CEL expression is opaque and counts as "may be true", so two
/// rules that differ only by their expressions need different priorities.
fn conditions_meet(a: &Conditions, b: &Conditions) -> bool {
    let lo = match (a.line_value_min, b.line_value_min) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let hi = match (a.line_value_max, b.line_value_max) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let values_meet = match (lo, hi) {
        (Some(l), Some(h)) => l < h,
        _ => true,
    };
    sets_meet(&a.groups, &b.groups)
        && sets_meet(&a.states, &b.states)
        && sets_meet(&a.codes, &b.codes)
        && sets_meet(&a.sides, &b.sides)
        && sets_meet(&a.clients, &b.clients)
        && values_meet
}

pub(super) fn compile(
    entries: Vec<(PathBuf, String, raw::Rule)>,
    fingerprint: String,
) -> Result<CommissionRules, Vec<ConfigError>> {
    let mut p = Problems::default();
    let mut rules = Vec::new();
    for (file, key, r) in entries {
        if let Some(rule) = compile_one(&file, &key, r, &mut p) {
            rules.push(rule);
        }
    }
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            if a.id == b.id {
                if a.version == b.version {
                    p.error(
                        &b.file,
                        &b.key,
                        format!(
                            "rule {} version {} is declared twice (also {} {})",
                            b.id,
                            b.version,
                            a.file.display(),
                            a.key
                        ),
                    );
                } else if periods_meet(a, b) {
                    p.error(
                        &b.file,
                        &b.key,
                        format!(
                            "versions {} and {} of rule {} overlap in validity ({}..{} and {}..{}; also {} {})",
                            a.version,
                            b.version,
                            a.id,
                            a.valid_from,
                            a.valid_to.map(|d| d.to_string()).unwrap_or_default(),
                            b.valid_from,
                            b.valid_to.map(|d| d.to_string()).unwrap_or_default(),
                            a.file.display(),
                            a.key
                        ),
                    );
                }
            } else if a.priority == b.priority
                && periods_meet(a, b)
                && conditions_meet(&a.when, &b.when)
            {
                p.error(
                    &b.file,
                    &b.key,
                    format!(
                        "ambiguous: rule {} v{} and rule {} v{} ({} {}) have priority {} and can match the same line; make their conditions or validity disjoint, or give them different priorities",
                        b.id, b.version, a.id, a.version, a.file.display(), a.key, a.priority
                    ),
                );
            }
        }
    }
    if p.has_errors() {
        return Err(p.items);
    }
    let mut files: Vec<PathBuf> = rules.iter().map(|r| r.file.clone()).collect();
    files.dedup();
    Ok(CommissionRules {
        rules,
        fingerprint,
        files,
    })
}
