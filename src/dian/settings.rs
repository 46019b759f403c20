//! `rules/dian.toml`: the administrator's DIAN settings, compiled.
//!
//! Raw serde shapes → [`DianSettings`], reporting every problem at once with
//! file, key path and reason (the crate's `config::section` helper reports
//! unknown keys and type errors). The only IO in `dian/` is
//! [`read_settings_file`], which reads this one file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::rules;
use crate::config::{ConfigError, Problems, section};
use crate::result::Severity;

/// The public habilitación (test) technical key from DIAN's examples.
pub const PUBLIC_TEST_TECHNICAL_KEY: &str = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c";
/// The SoftwareID of DIAN's v1.9 example (used by the generator too).
pub const EXAMPLE_SOFTWARE_ID: &str = "56f2ae4e-9812-4fad-9255-08fcfcd5ccb0";
/// The software PIN of DIAN's debit-note example (an example value only).
pub const EXAMPLE_SOFTWARE_PIN: &str = "10254102";

/// Where FAD09c takes the "reception" instant from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceptionReference {
    /// DIAN's reception: the ApplicationResponse date inside an
    /// AttachedDocument, else the signing time; not evaluated when neither is
    /// present (DIAN already applied its window when it validated the invoice).
    Dian,
    /// The gateway's own reception instant (`now`).
    Now,
}

/// An administrator's change to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleOverride {
    pub severity: Option<Severity>,
    pub enabled: bool,
}

/// A DIAN numbering range (resolución de facturación) with its technical key.
#[derive(Debug, Clone)]
pub struct NumberingRange {
    /// Issuer NIT (without DV); `None` = any issuer (e.g. the public test range).
    pub issuer_nit: Option<String>,
    /// InvoiceAuthorization number; `None` = match on prefix only.
    pub authorization: Option<String>,
    pub prefix: String,
    pub from: u64,
    pub to: u64,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// ClTec: the technical key DIAN assigned to this range.
    pub technical_key: String,
    /// When set, the SoftwareID that must issue this range (FAB05c).
    pub software_id: Option<String>,
}

/// A software PIN, used to recompute CUDEs of credit and debit notes.
#[derive(Debug, Clone)]
pub struct SoftwarePin {
    /// Matches DianExtensions/SoftwareProvider/SoftwareID; `None` = any.
    pub software_id: Option<String>,
    /// Matches the supplier NIT; `None` = any.
    pub issuer_nit: Option<String>,
    pub pin: String,
}

/// Compiled `rules/dian.toml`.
#[derive(Debug, Clone)]
pub struct DianSettings {
    pub max_file_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
    /// Money tolerance for FAU02/FAU04/FAU06/FAU14 comparisons.
    pub tolerance: Decimal,
    /// The exchange's registration age limit (PAS20).
    pub max_age_days: u32,
    /// FAD09c: days an issue date may precede reception.
    pub reception_window_days: u32,
    pub reception_reference: ReceptionReference,
    /// PAS23: how far in the future an issue instant may be.
    pub max_future_minutes: u32,
    /// Per-rule overrides keyed by code (base `FAD06` or note-specific `CAD06`).
    pub rules: HashMap<String, RuleOverride>,
    pub ranges: Vec<NumberingRange>,
    pub software: Vec<SoftwarePin>,
    /// `[signatures]`: XAdES verification (docs/DIAN.md, "Signatures").
    pub signatures: SignatureSettings,
}

/// What a failed signature check does to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Not verified at all.
    Off,
    /// Verified; failures are reported (notify) and the document may pass.
    Notify,
    /// Verified; a failure rejects the document.
    Reject,
}

/// `[signatures]` in the DIAN settings file.
#[derive(Debug, Clone)]
pub struct SignatureSettings {
    pub enforce: Enforcement,
    /// PEM file or folder of accredited CAs (resolved against the settings
    /// file's folder). Read by the caller into [`SignatureSettings::trust`]:
    /// `dian/` does no IO.
    pub trust_anchors: Option<PathBuf>,
    /// PEM/DER file or folder of offline CRLs, read by the caller likewise.
    pub crls: Option<PathBuf>,
    /// An AttachedDocument must carry DIAN's ApplicationResponse (PAS29).
    pub require_dian_response: bool,
    /// The trust anchors and CRLs, as the caller loaded them.
    pub trust: Arc<super::xades::TrustStore>,
}

impl Default for SignatureSettings {
    fn default() -> Self {
        Self {
            // Built-in default: not verified. The shipped rules/dian.toml
            // verifies and reports (notify); the production sample rejects.
            enforce: Enforcement::Off,
            trust_anchors: None,
            crls: None,
            require_dian_response: false,
            trust: Arc::new(super::xades::TrustStore::new()),
        }
    }
}

impl Default for DianSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: 20 * 1024 * 1024,
            max_depth: 100,
            max_elements: 1_000_000,
            tolerance: Decimal::new(100, 2),
            max_age_days: 180,
            reception_window_days: 10,
            reception_reference: ReceptionReference::Dian,
            max_future_minutes: 10,
            rules: HashMap::new(),
            ranges: vec![NumberingRange {
                issuer_nit: None,
                authorization: Some("18760000001".to_owned()),
                prefix: "SETP".to_owned(),
                from: 990_000_000,
                to: 995_000_000,
                valid_from: NaiveDate::from_ymd_opt(2019, 1, 19).unwrap_or_default(),
                valid_to: NaiveDate::from_ymd_opt(2030, 1, 19).unwrap_or_default(),
                technical_key: PUBLIC_TEST_TECHNICAL_KEY.to_owned(),
                software_id: None,
            }],
            software: vec![SoftwarePin {
                software_id: Some(EXAMPLE_SOFTWARE_ID.to_owned()),
                issuer_nit: None,
                pin: EXAMPLE_SOFTWARE_PIN.to_owned(),
            }],
            signatures: SignatureSettings::default(),
        }
    }
}

impl DianSettings {
    /// Effective severity of a rule as emitted (`code`) with its catalog
    /// `base` code; `None` when the administrator disabled it.
    pub fn severity(&self, code: &str, base: &str, default: Severity) -> Option<Severity> {
        let o = self.rules.get(code).or_else(|| self.rules.get(base));
        match o {
            Some(o) if !o.enabled => None,
            Some(o) => Some(o.severity.unwrap_or(default)),
            None => Some(default),
        }
    }

    /// The configured range that applies to a document, if any.
    pub fn range_for(
        &self,
        supplier_nit: Option<&str>,
        prefix: &str,
        authorization: Option<&str>,
    ) -> Option<&NumberingRange> {
        let candidates = self.ranges.iter().filter(|r| {
            r.prefix == prefix
                && r.issuer_nit
                    .as_deref()
                    .is_none_or(|n| Some(n) == supplier_nit)
        });
        let mut fallback = None;
        for r in candidates {
            match (&r.authorization, authorization) {
                (Some(a), Some(b)) if a == b => return Some(r),
                (Some(_), Some(_)) => {}
                _ => {
                    fallback.get_or_insert(r);
                }
            }
        }
        fallback
    }

    pub fn pin_for(&self, supplier_nit: Option<&str>, software_id: Option<&str>) -> Option<&str> {
        self.software
            .iter()
            .find(|s| {
                s.software_id
                    .as_deref()
                    .is_none_or(|x| Some(x) == software_id)
                    && s.issuer_nit
                        .as_deref()
                        .is_none_or(|x| Some(x) == supplier_nit)
            })
            .map(|s| s.pin.as_str())
    }
}

// ---- raw shapes (what the file says) ----

const TOP_KEYS: &[&str] = &[
    "signatures",
    "max_file_bytes",
    "max_depth",
    "max_elements",
    "tolerance",
    "max_age_days",
    "reception_window_days",
    "reception_reference",
    "max_future_minutes",
    "rules",
    "ranges",
    "software",
];

struct RawSettings {
    max_file_bytes: Option<u64>,
    max_depth: Option<u64>,
    max_elements: Option<u64>,
    tolerance: Option<String>,
    max_age_days: Option<u32>,
    reception_window_days: Option<u32>,
    reception_reference: Option<String>,
    max_future_minutes: Option<u32>,
    rules: BTreeMap<String, RawRule>,
    ranges: Vec<RawRange>,
    software: Vec<RawSoftware>,
    signatures: Option<RawSignatures>,
}

#[derive(Debug, Deserialize)]
struct RawSignatures {
    enforce: Option<String>,
    trust_anchors: Option<String>,
    crls: Option<String>,
    require_dian_response: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RawRule {
    severity: Option<String>,
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RawRange {
    issuer_nit: Option<String>,
    authorization: Option<String>,
    prefix: String,
    from: u64,
    to: u64,
    valid_from: String,
    valid_to: String,
    technical_key: String,
    software_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSoftware {
    software_id: Option<String>,
    issuer_nit: Option<String>,
    pin: String,
}

/// **IO:** the one place `dian/` touches the filesystem.
fn read_settings_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, "", format!("cannot read file: {e}")))
}

/// Read and compile `rules/dian.toml`; every problem is reported at once.
pub fn load_settings(path: &Path) -> Result<DianSettings, Vec<ConfigError>> {
    let text = read_settings_file(path).map_err(|e| vec![e])?;
    parse_settings(&text, path)
}

/// Compile settings from TOML text (`file` names the source in errors).
///
/// Long on purpose: one short block per key or table of `rules/dian.toml`,
/// each adding to the same `Problems` so every error is reported at once.
pub fn parse_settings(text: &str, file: &Path) -> Result<DianSettings, Vec<ConfigError>> {
    let mut p = Problems::default();
    let value: toml::Value = match text.parse::<toml::Table>() {
        Ok(t) => toml::Value::Table(t),
        Err(e) => {
            return Err(vec![ConfigError::new(
                file,
                "",
                format!("not valid TOML: {e}"),
            )]);
        }
    };
    let toml::Value::Table(mut table) = value else {
        return Err(p.items);
    };
    for k in table.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            p.error(file, k.as_str(), "unknown key");
        }
    }
    // Each key is deserialized on its own so a type error names its key path.
    let raw = RawSettings {
        max_file_bytes: table
            .remove("max_file_bytes")
            .and_then(|v| section(v, file, "max_file_bytes", &mut p)),
        max_depth: table
            .remove("max_depth")
            .and_then(|v| section(v, file, "max_depth", &mut p)),
        max_elements: table
            .remove("max_elements")
            .and_then(|v| section(v, file, "max_elements", &mut p)),
        tolerance: table
            .remove("tolerance")
            .and_then(|v| section(v, file, "tolerance", &mut p)),
        max_age_days: table
            .remove("max_age_days")
            .and_then(|v| section(v, file, "max_age_days", &mut p)),
        reception_window_days: table
            .remove("reception_window_days")
            .and_then(|v| section(v, file, "reception_window_days", &mut p)),
        reception_reference: table
            .remove("reception_reference")
            .and_then(|v| section(v, file, "reception_reference", &mut p)),
        max_future_minutes: table
            .remove("max_future_minutes")
            .and_then(|v| section(v, file, "max_future_minutes", &mut p)),
        rules: match table.remove("rules") {
            Some(toml::Value::Table(t)) => t
                .into_iter()
                .filter_map(|(code, v)| {
                    let key = format!("rules.{code}");
                    section::<RawRule>(v, file, &key, &mut p).map(|r| (code, r))
                })
                .collect(),
            Some(_) => {
                p.error(file, "rules", "must be a table of rule codes");
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        },
        ranges: match table.remove("ranges") {
            Some(toml::Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| section::<RawRange>(v, file, &format!("ranges[{i}]"), &mut p))
                .collect(),
            Some(_) => {
                p.error(file, "ranges", "must be an array of tables ([[ranges]])");
                Vec::new()
            }
            None => Vec::new(),
        },
        software: match table.remove("software") {
            Some(toml::Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    section::<RawSoftware>(v, file, &format!("software[{i}]"), &mut p)
                })
                .collect(),
            Some(_) => {
                p.error(
                    file,
                    "software",
                    "must be an array of tables ([[software]])",
                );
                Vec::new()
            }
            None => Vec::new(),
        },
        signatures: table
            .remove("signatures")
            .and_then(|v| section(v, file, "signatures", &mut p)),
    };
    let mut s = DianSettings {
        ranges: Vec::new(),
        software: Vec::new(),
        ..DianSettings::default()
    };
    let bounded = |p: &mut Problems, key: &str, v: u64, lo: u64, hi: u64| -> Option<usize> {
        if v < lo || v > hi {
            p.error(file, key, format!("must be between {lo} and {hi}, got {v}"));
            None
        } else {
            usize::try_from(v).ok()
        }
    };
    if let Some(v) = raw.max_file_bytes
        && let Some(v) = bounded(&mut p, "max_file_bytes", v, 1024, 1 << 30)
    {
        s.max_file_bytes = v;
    }
    if let Some(v) = raw.max_depth
        && let Some(v) = bounded(&mut p, "max_depth", v, 16, 10_000)
    {
        s.max_depth = v;
    }
    if let Some(v) = raw.max_elements
        && let Some(v) = bounded(&mut p, "max_elements", v, 1_000, 100_000_000)
    {
        s.max_elements = v;
    }
    if let Some(t) = raw.tolerance {
        match super::model::parse_decimal(&t) {
            Some(d) if d >= Decimal::ZERO => s.tolerance = d,
            _ => p.error(
                file,
                "tolerance",
                format!(
                    "must be a non-negative decimal written as a string, e.g. \"1.00\"; got \"{t}\""
                ),
            ),
        }
    }
    if let Some(v) = raw.max_age_days {
        s.max_age_days = v;
    }
    if let Some(v) = raw.reception_window_days {
        s.reception_window_days = v;
    }
    if let Some(v) = raw.max_future_minutes {
        s.max_future_minutes = v;
    }
    if let Some(r) = raw.reception_reference {
        match r.as_str() {
            "dian" => s.reception_reference = ReceptionReference::Dian,
            "now" => s.reception_reference = ReceptionReference::Now,
            _ => p.error(
                file,
                "reception_reference",
                format!("must be \"dian\" or \"now\", got \"{r}\""),
            ),
        }
    }
    for (code, rule) in raw.rules {
        let key = format!("rules.{code}");
        if rules::base_code(&code).is_none() {
            p.error(
                file,
                &key,
                "unknown rule code (see docs/DIAN.md for the catalog)",
            );
            continue;
        }
        let severity = match rule.severity.as_deref() {
            None => None,
            Some("reject") => Some(Severity::Reject),
            Some("notify") => Some(Severity::Notify),
            Some(other) => {
                p.error(
                    file,
                    format!("{key}.severity"),
                    format!("must be \"reject\" or \"notify\", got \"{other}\""),
                );
                None
            }
        };
        s.rules.insert(
            code,
            RuleOverride {
                severity,
                enabled: rule.enabled.unwrap_or(true),
            },
        );
    }
    for (i, r) in raw.ranges.into_iter().enumerate() {
        let key = |k: &str| format!("ranges[{i}].{k}");
        let mut ok = true;
        let date =
            |p: &mut Problems, k: &str, v: &str| match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    p.error(
                        file,
                        key(k),
                        format!("must be a date \"YYYY-MM-DD\", got \"{v}\""),
                    );
                    None
                }
            };
        let valid_from = date(&mut p, "valid_from", &r.valid_from);
        let valid_to = date(&mut p, "valid_to", &r.valid_to);
        if let (Some(a), Some(b)) = (valid_from, valid_to)
            && a > b
        {
            p.error(file, key("valid_to"), "is before valid_from");
            ok = false;
        }
        if r.from > r.to {
            p.error(
                file,
                key("to"),
                format!("({}) is below from ({})", r.to, r.from),
            );
            ok = false;
        }
        if !r.prefix.chars().all(|c| c.is_ascii_alphanumeric()) || r.prefix.len() > 4 {
            p.error(file, key("prefix"), "must be 0–4 letters or digits");
            ok = false;
        }
        if r.technical_key.trim().is_empty() {
            p.error(file, key("technical_key"), "must not be empty");
            ok = false;
        }
        if let Some(n) = &r.issuer_nit
            && (n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            p.error(file, key("issuer_nit"), "must be the NIT digits without DV");
            ok = false;
        }
        if let (true, Some(valid_from), Some(valid_to)) = (ok, valid_from, valid_to) {
            s.ranges.push(NumberingRange {
                issuer_nit: r.issuer_nit,
                authorization: r.authorization,
                prefix: r.prefix,
                from: r.from,
                to: r.to,
                valid_from,
                valid_to,
                technical_key: r.technical_key.trim().to_owned(),
                software_id: r.software_id,
            });
        }
    }
    for (i, sw) in raw.software.into_iter().enumerate() {
        if sw.pin.trim().is_empty() {
            p.error(file, format!("software[{i}].pin"), "must not be empty");
            continue;
        }
        s.software.push(SoftwarePin {
            software_id: sw.software_id,
            issuer_nit: sw.issuer_nit,
            pin: sw.pin.trim().to_owned(),
        });
    }
    if let Some(sig) = raw.signatures {
        compile_signatures(sig, file, &mut s.signatures, &mut p);
    }
    if p.has_errors() { Err(p.items) } else { Ok(s) }
}

fn compile_signatures(
    raw: RawSignatures,
    file: &Path,
    out: &mut SignatureSettings,
    p: &mut Problems,
) {
    match raw.enforce.as_deref() {
        None => {}
        Some("off") => out.enforce = Enforcement::Off,
        Some("notify") => out.enforce = Enforcement::Notify,
        Some("reject") => out.enforce = Enforcement::Reject,
        Some(other) => p.error(
            file,
            "signatures.enforce",
            format!("must be \"off\", \"notify\" or \"reject\", got \"{other}\""),
        ),
    }
    // Relative paths resolve against the settings file's folder.
    let base = file.parent().unwrap_or(Path::new("."));
    let resolve = |v: String| -> PathBuf {
        let path = PathBuf::from(v);
        if path.is_absolute() {
            path
        } else {
            base.join(path)
        }
    };
    out.trust_anchors = raw.trust_anchors.map(resolve);
    out.crls = raw.crls.map(resolve);
    out.require_dian_response = raw.require_dian_response.unwrap_or(false);
}
