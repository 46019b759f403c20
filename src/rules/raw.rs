//! Raw shapes of `rules/commissions.toml` and of rule test files, exactly as
//! written. Unknown keys are reported by `config::section`.

use serde::Deserialize;

/// One `[[rule]]` entry: one version of one rule.
#[derive(Debug, Deserialize)]
pub struct Rule {
    /// Stable identifier; several entries with the same id are its versions.
    pub id: String,
    /// Version number (1, 2, ...); recorded with every fee it computes.
    pub version: u32,
    /// First day the version applies (YYYY-MM-DD, inclusive).
    pub valid_from: String,
    /// Last day the version applies (inclusive); absent = open-ended.
    #[serde(default)]
    pub valid_to: Option<String>,
    /// Higher wins when rules of different priority match the same line.
    pub priority: i32,
    /// Free text for administrators; copied into the trace.
    #[serde(default)]
    pub description: Option<String>,
    /// Conditions; every one given must hold. Absent = always.
    #[serde(default)]
    pub when: When,
    pub fee: Fee,
}

#[derive(Debug, Default, Deserialize)]
pub struct When {
    /// Commission groups (catalog `group`), case-insensitive.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Processing states: NATURAL, PROCESADO, TRANSFORMACION PRIMARIA.
    #[serde(default)]
    pub states: Option<Vec<String>>,
    /// Catalog codes.
    #[serde(default)]
    pub codes: Option<Vec<String>>,
    /// Punta: "C" (buyer, compra) and/or "V" (seller, venta).
    #[serde(default)]
    pub sides: Option<Vec<String>>,
    /// Client NITs (dots, spaces and the check digit after '-' are ignored).
    #[serde(default)]
    pub clients: Option<Vec<String>>,
    /// Line value lower bound in pesos (inclusive).
    #[serde(default)]
    pub line_value_min: Option<String>,
    /// Line value upper bound in pesos (exclusive).
    #[serde(default)]
    pub line_value_max: Option<String>,
    /// Extra condition in CEL (Common Expression Language) over the line and
    /// invoice; see docs/COMMISSIONS.md for the variables.
    #[serde(default)]
    pub expr: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Fee {
    /// Flat rate in basis points of the line value (1 bp = 0.01 %).
    #[serde(default)]
    pub rate_bps: Option<String>,
    /// Tiers by line value, ascending; the last may omit `up_to`.
    #[serde(default)]
    pub tiers: Option<Vec<Tier>>,
    /// `marginal` (each slice of the value at its tier's rate, like income tax)
    /// or `bracket` (the whole value at the rate of the tier it falls in). Default marginal.
    #[serde(default)]
    pub tier_mode: Option<String>,
    /// Minimum fee per line in pesos.
    #[serde(default)]
    pub minimum: Option<String>,
    /// Maximum fee per line in pesos.
    #[serde(default)]
    pub maximum: Option<String>,
    /// Rounding to whole pesos: half-up, half-even, down, up. Required.
    pub rounding: String,
}

#[derive(Debug, Deserialize)]
pub struct Tier {
    /// Upper bound of the tier in pesos (exclusive); absent on the last tier.
    #[serde(default)]
    pub up_to: Option<String>,
    pub rate_bps: String,
}

/// One `[[test]]` in a rule test file.
#[derive(Debug, Deserialize)]
pub struct Test {
    pub name: String,
    pub date: String,
    pub client: String,
    pub side: String,
    pub lines: Vec<TestLine>,
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Expect pricing to fail with a message containing this text.
    #[serde(default)]
    pub expect_error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TestLine {
    #[serde(default)]
    pub code: String,
    pub group: String,
    pub state: String,
    #[serde(default)]
    pub quantity_kg: Option<String>,
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub struct Expect {
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub lines: Option<Vec<ExpectLine>>,
}

#[derive(Debug, Deserialize)]
pub struct ExpectLine {
    pub fee: String,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
}
