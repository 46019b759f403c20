//! Commission rule engine (pure): load, compile, evaluate, explain.
//!
//! `rules/commissions.toml` declares dated, versioned, prioritised rules; see
//! docs/COMMISSIONS.md. [`CommissionRules::compile`] turns the raw files into an
//! immutable value and refuses ambiguous configurations (two rules of the same
//! priority that can match the same line, or overlapping versions of a rule).
//! [`CommissionRules::price`] computes one invoice's fees with `rust_decimal`
//! only and records, for every line, the rule id + version and each step of
//! the arithmetic.
//!
//! **Architecture Invariant:** this module does no IO except reading rule
//! files in [`load_rules`] / [`testfile`]; pricing is a pure function of the
//! compiled rules and the input. A reload builds a new `Arc<CommissionRules>`
//! and swaps it in [`RulesHandle`]; an invoice priced with one snapshot never
//! sees another.

mod compile;
mod expr;
pub mod raw;
pub mod testfile;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::catalog::ProcessingState;
use crate::problems::ConfigError;

pub use compile::{compile_files, load_rules, rule_files};
pub use expr::Expr;

/// Punta: which side of the trade the client is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    /// "C": buyer (compras).
    #[serde(rename = "C")]
    Buyer,
    /// "V": seller (ventas).
    #[serde(rename = "V")]
    Seller,
}

impl Side {
    /// Accepts C/V, COMPRA(S)/VENTA(S), BUYER/SELLER (case-insensitive).
    pub fn parse(s: &str) -> Option<Side> {
        match s.trim().to_uppercase().as_str() {
            "C" | "COMPRA" | "COMPRAS" | "BUYER" => Some(Side::Buyer),
            "V" | "VENTA" | "VENTAS" | "SELLER" => Some(Side::Seller),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buyer => "C",
            Side::Seller => "V",
        }
    }
}

/// How a fee is rounded to whole pesos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    HalfUp,
    HalfEven,
    Down,
    Up,
}

impl Rounding {
    pub fn parse(s: &str) -> Option<Rounding> {
        Some(match s {
            "half-up" => Rounding::HalfUp,
            "half-even" => Rounding::HalfEven,
            "down" => Rounding::Down,
            "up" => Rounding::Up,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half-up",
            Rounding::HalfEven => "half-even",
            Rounding::Down => "down",
            Rounding::Up => "up",
        }
    }
    /// Round to whole pesos. Fees are never negative, so down = toward zero.
    pub fn apply(self, v: Decimal) -> Decimal {
        let strategy = match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::Up => RoundingStrategy::AwayFromZero,
        };
        v.round_dp_with_strategy(0, strategy)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierMode {
    Marginal,
    Bracket,
}

#[derive(Debug, Clone)]
pub struct Tier {
    /// Exclusive upper bound; `None` = unbounded (last tier).
    pub up_to: Option<Decimal>,
    pub rate_bps: Decimal,
}

#[derive(Debug, Clone)]
pub enum Rate {
    Flat(Decimal),
    Tiered { mode: TierMode, tiers: Vec<Tier> },
}

#[derive(Debug, Clone)]
pub struct Fee {
    pub rate: Rate,
    pub minimum: Option<Decimal>,
    pub maximum: Option<Decimal>,
    pub rounding: Rounding,
}

/// Compiled conditions; `None` = any value.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub groups: Option<BTreeSet<String>>,
    pub states: Option<BTreeSet<ProcessingState>>,
    pub codes: Option<BTreeSet<String>>,
    pub sides: Option<BTreeSet<Side>>,
    pub clients: Option<BTreeSet<String>>,
    pub line_value_min: Option<Decimal>,
    pub line_value_max: Option<Decimal>,
    /// A CEL expression that must also be true.
    pub expr: Option<Expr>,
}

/// One version of one rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub version: u32,
    pub valid_from: NaiveDate,
    /// Inclusive; `None` = open-ended.
    pub valid_to: Option<NaiveDate>,
    pub priority: i32,
    pub description: Option<String>,
    pub when: Conditions,
    pub fee: Fee,
    /// Where it was declared (file and `rule[i]`), for messages.
    pub file: PathBuf,
    pub key: String,
}

impl Rule {
    pub fn valid_on(&self, d: NaiveDate) -> bool {
        d >= self.valid_from && self.valid_to.is_none_or(|t| d <= t)
    }
}

/// The compiled, immutable rule set. Share it as `Arc<CommissionRules>`.
#[derive(Debug, Clone)]
pub struct CommissionRules {
    pub rules: Vec<Rule>,
    /// SHA-256 over the rule files' bytes: identifies the rule set in results.
    pub fingerprint: String,
    pub files: Vec<PathBuf>,
}

/// One line to price. `group` and `state` come from the catalog match.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PricingLine {
    pub code: String,
    pub group: String,
    pub state: ProcessingState,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity_kg: Decimal,
    /// Registered value of the line in pesos (before VAT).
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
}

/// One invoice to price.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PricingInput {
    /// Pricing date (the registration date): selects rule versions.
    pub date: NaiveDate,
    /// The client's NIT (the broker's mandante).
    pub client: String,
    pub side: Side,
    pub lines: Vec<PricingLine>,
}

/// The fee of one line and how it was computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineFee {
    /// 1-based position in the input.
    pub line: usize,
    pub code: String,
    pub rule_id: String,
    pub rule_version: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub base: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub fee: Decimal,
    /// Which rule matched and why, then each arithmetic step (Spanish).
    pub trace: Vec<String>,
}

/// The `commission` object of the result JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commission {
    pub lines: Vec<LineFee>,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// Fingerprint of the rule set used (every line priced with this one).
    pub rule_set: String,
    pub trace: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("línea {line} (código {code}): ninguna regla de comisión aplica ({reason})")]
    NoRule {
        line: usize,
        code: String,
        reason: String,
    },
    #[error("línea {line} (código {code}): {reason}")]
    InvalidLine {
        line: usize,
        code: String,
        reason: String,
    },
}

/// Normalise a NIT for comparison (the one definition is in `dian::nit`).
pub use crate::dian::nit::normalize as normalize_nit;

fn fmt_money(d: Decimal) -> String {
    d.normalize().to_string()
}

impl Conditions {
    /// `Ok(reasons)` when every condition holds (the reasons explain why),
    /// `Err(first failing condition)` otherwise.
    fn check(
        &self,
        input: &PricingInput,
        client: &str,
        line: &PricingLine,
    ) -> Result<Vec<String>, String> {
        let mut why = Vec::new();
        if let Some(g) = &self.groups {
            let up = line.group.to_uppercase();
            if !g.contains(&up) {
                return Err(format!("grupo {up} no está en {g:?}"));
            }
            why.push(format!("grupo {up} ∈ {g:?}"));
        }
        if let Some(s) = &self.states {
            if !s.contains(&line.state) {
                return Err(format!("estado {} no incluido", line.state));
            }
            why.push(format!("estado {}", line.state));
        }
        if let Some(c) = &self.codes {
            if !c.contains(&line.code) {
                return Err(format!("código {} no incluido", line.code));
            }
            why.push(format!("código {}", line.code));
        }
        if let Some(s) = &self.sides {
            if !s.contains(&input.side) {
                return Err(format!("punta {} no incluida", input.side.as_str()));
            }
            why.push(format!("punta {}", input.side.as_str()));
        }
        if let Some(c) = &self.clients {
            if !c.contains(client) {
                return Err(format!("cliente {client} no incluido"));
            }
            why.push(format!("cliente {client}"));
        }
        if let Some(min) = self.line_value_min {
            if line.value < min {
                return Err(format!(
                    "valor {} < {}",
                    fmt_money(line.value),
                    fmt_money(min)
                ));
            }
            why.push(format!(
                "valor {} ≥ {}",
                fmt_money(line.value),
                fmt_money(min)
            ));
        }
        if let Some(max) = self.line_value_max {
            if line.value >= max {
                return Err(format!(
                    "valor {} ≥ {}",
                    fmt_money(line.value),
                    fmt_money(max)
                ));
            }
            why.push(format!(
                "valor {} < {}",
                fmt_money(line.value),
                fmt_money(max)
            ));
        }
        if let Some(e) = &self.expr {
            match e.eval(input, client, line) {
                Ok(true) => why.push(format!("expresión `{}`", e.source())),
                Ok(false) => return Err(format!("expresión `{}` es falsa", e.source())),
                Err(err) => return Err(format!("expresión `{}` falló: {err}", e.source())),
            }
        }
        Ok(why)
    }
}

impl Fee {
    /// Compute the fee on `base`, appending each step to `trace`.
    pub fn compute(&self, base: Decimal, trace: &mut Vec<String>) -> Decimal {
        let bp = Decimal::new(10_000, 0);
        let mut fee = match &self.rate {
            Rate::Flat(r) => {
                let f = base * r / bp;
                trace.push(format!(
                    "{} × {} pb / 10000 = {}",
                    fmt_money(base),
                    fmt_money(*r),
                    fmt_money(f)
                ));
                f
            }
            Rate::Tiered {
                mode: TierMode::Bracket,
                tiers,
            } => {
                let tier = tiers
                    .iter()
                    .find(|t| t.up_to.is_none_or(|u| base < u))
                    .or(tiers.last());
                match tier {
                    Some(t) => {
                        let f = base * t.rate_bps / bp;
                        let bound = t.up_to.map(fmt_money).unwrap_or_else(|| "∞".into());
                        trace.push(format!(
                            "tramo hasta {bound}: {} × {} pb / 10000 = {}",
                            fmt_money(base),
                            fmt_money(t.rate_bps),
                            fmt_money(f)
                        ));
                        f
                    }
                    None => Decimal::ZERO,
                }
            }
            Rate::Tiered {
                mode: TierMode::Marginal,
                tiers,
            } => {
                let mut total = Decimal::ZERO;
                let mut lower = Decimal::ZERO;
                for t in tiers {
                    if base <= lower {
                        break;
                    }
                    let upper = t.up_to.map_or(base, |u| u.min(base));
                    let slice = upper - lower;
                    let f = slice * t.rate_bps / bp;
                    trace.push(format!(
                        "tramo {}–{}: {} × {} pb / 10000 = {}",
                        fmt_money(lower),
                        t.up_to.map(fmt_money).unwrap_or_else(|| "∞".into()),
                        fmt_money(slice),
                        fmt_money(t.rate_bps),
                        fmt_money(f)
                    ));
                    total += f;
                    match t.up_to {
                        Some(u) => lower = u,
                        None => break,
                    }
                }
                trace.push(format!("suma de tramos = {}", fmt_money(total)));
                total
            }
        };
        if let Some(min) = self.minimum
            && fee < min
        {
            trace.push(format!(
                "{} < mínimo {}: se cobra el mínimo",
                fmt_money(fee),
                fmt_money(min)
            ));
            fee = min;
        }
        if let Some(max) = self.maximum
            && fee > max
        {
            trace.push(format!(
                "{} > máximo {}: se cobra el máximo",
                fmt_money(fee),
                fmt_money(max)
            ));
            fee = max;
        }
        let rounded = self.rounding.apply(fee);
        trace.push(format!(
            "redondeo {} a pesos: {} → {}",
            self.rounding.as_str(),
            fmt_money(fee),
            fmt_money(rounded)
        ));
        rounded
    }
}

impl CommissionRules {
    /// Compile parsed rule entries (`(file, key, raw)`); every problem is returned.
    pub fn compile(
        entries: Vec<(PathBuf, String, raw::Rule)>,
        fingerprint: String,
    ) -> Result<CommissionRules, Vec<ConfigError>> {
        compile::compile(entries, fingerprint)
    }

    /// The versions in force on `date`.
    pub fn active_on(&self, date: NaiveDate) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(move |r| r.valid_on(date))
    }

    /// Price one invoice. Each line is priced by the highest-priority rule
    /// version in force on `input.date` whose conditions hold; compilation
    /// guarantees it is unique.
    pub fn price(&self, input: &PricingInput) -> Result<Commission, PricingError> {
        let client = normalize_nit(&input.client);
        let mut lines = Vec::with_capacity(input.lines.len());
        let mut total = Decimal::ZERO;
        for (i, line) in input.lines.iter().enumerate() {
            let n = i + 1;
            if line.value < Decimal::ZERO {
                return Err(PricingError::InvalidLine {
                    line: n,
                    code: line.code.clone(),
                    reason: format!("valor negativo {}", line.value),
                });
            }
            let mut best: Option<(&Rule, Vec<String>)> = None;
            let mut rejected = Vec::new();
            for rule in self.active_on(input.date) {
                match rule.when.check(input, &client, line) {
                    Ok(why) => {
                        if best
                            .as_ref()
                            .is_none_or(|(b, _)| rule.priority > b.priority)
                        {
                            best = Some((rule, why));
                        }
                    }
                    Err(reason) => rejected.push((
                        rule.priority,
                        format!("{} v{}: {reason}", rule.id, rule.version),
                    )),
                }
            }
            let Some((rule, why)) = best else {
                let reason = if rejected.is_empty() {
                    format!("no hay reglas vigentes el {}", input.date)
                } else {
                    rejected
                        .iter()
                        .map(|(_, r)| r.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                return Err(PricingError::NoRule {
                    line: n,
                    code: line.code.clone(),
                    reason,
                });
            };
            let mut trace = vec![format!(
                "regla {} v{} (prioridad {}, vigente {}..{}): {}",
                rule.id,
                rule.version,
                rule.priority,
                rule.valid_from,
                rule.valid_to.map(|d| d.to_string()).unwrap_or_default(),
                if why.is_empty() {
                    "sin condiciones".to_string()
                } else {
                    why.join(", ")
                }
            )];
            // Why rules that would have won did not apply.
            let outranked: Vec<&str> = rejected
                .iter()
                .filter(|(p, _)| *p > rule.priority)
                .map(|(_, r)| r.as_str())
                .collect();
            if !outranked.is_empty() {
                trace.push(format!(
                    "no aplican (mayor prioridad): {}",
                    outranked.join("; ")
                ));
            }
            let fee = rule.fee.compute(line.value, &mut trace);
            total += fee;
            lines.push(LineFee {
                line: n,
                code: line.code.clone(),
                rule_id: rule.id.clone(),
                rule_version: rule.version,
                base: line.value,
                fee,
                trace,
            });
        }
        let trace = vec![format!(
            "total = {} ({} líneas, reglas {} al {})",
            fmt_money(total),
            lines.len(),
            &self.fingerprint[..self.fingerprint.len().min(12)],
            input.date
        )];
        Ok(Commission {
            lines,
            total,
            rule_set: self.fingerprint.clone(),
            trace,
        })
    }
}

/// The rule set currently in force, swappable atomically on reload.
///
/// Take a snapshot with [`RulesHandle::current`] when an invoice starts and
/// price all of it with that snapshot; [`RulesHandle::swap`] never changes a
/// snapshot already taken.
#[derive(Debug, Clone)]
pub struct RulesHandle {
    inner: Arc<RwLock<Arc<CommissionRules>>>,
}

impl RulesHandle {
    pub fn new(rules: CommissionRules) -> RulesHandle {
        RulesHandle {
            inner: Arc::new(RwLock::new(Arc::new(rules))),
        }
    }
    pub fn current(&self) -> Arc<CommissionRules> {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
    /// Install a new rule set; returns the previous one.
    pub fn swap(&self, rules: Arc<CommissionRules>) -> Arc<CommissionRules> {
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *g, rules)
    }
    /// Reload from disk; on failure the running set stays and the problems are returned.
    pub fn reload(&self, path: &Path) -> Result<Arc<CommissionRules>, Vec<ConfigError>> {
        let new = Arc::new(load_rules(path)?);
        self.swap(new.clone());
        Ok(new)
    }
}

impl fmt::Display for Commission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(
                f,
                "línea {} código {}: {} ({} v{})",
                l.line, l.code, l.fee, l.rule_id, l.rule_version
            )?;
            for t in &l.trace {
                writeln!(f, "    {t}")?;
            }
        }
        write!(f, "total: {}", self.total)
    }
}
