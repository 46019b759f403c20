//! `rules/catalog.toml`: column mappings (layouts), eligibility declarations,
//! commission groups, unit and packaging conversions, normalisation word
//! lists and matching thresholds; and `rules/aliases/*.toml` (homologación).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::normalize::{Normalizer, fold};
use crate::problems::{ConfigError, Problems, section};

mod raw {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct File {
        /// Layout used when `catalog import` is not given `--layout`.
        pub default_layout: String,
        pub layouts: BTreeMap<String, super::Layout>,
        #[serde(default)]
        pub eligibility: Eligibility,
        /// Commission group → product-name prefixes (case and accents ignored).
        #[serde(default)]
        pub groups: BTreeMap<String, Vec<String>>,
        /// Unit spelling (UBL unitCode or word) → measure and factor.
        #[serde(default)]
        pub units: BTreeMap<String, Unit>,
        /// Product-specific packaging conversions; they win over `units`.
        #[serde(default)]
        pub conversions: Vec<Conversion>,
        #[serde(default)]
        pub normalise: Normalise,
        #[serde(default)]
        pub matching: Matching,
    }

    #[derive(Debug, Default, Deserialize)]
    pub struct Eligibility {
        /// PROCESADO codes declared primary transformation (eligible).
        #[serde(default)]
        pub primary_transformation_codes: Vec<String>,
        /// PROCESADO products (name prefixes) declared primary transformation.
        #[serde(default)]
        pub primary_transformation_products: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Unit {
        /// kg, l or unit.
        pub measure: String,
        /// How many kg / l / units one of this is (a decimal string).
        pub factor: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Conversion {
        /// Product-name prefix (e.g. "CAFE").
        pub product: String,
        /// Unit or packaging spelling (e.g. "bulto").
        pub unit: String,
        pub measure: String,
        pub factor: String,
    }

    #[derive(Debug, Default, Deserialize)]
    pub struct Normalise {
        #[serde(default)]
        pub stopwords: Vec<String>,
        #[serde(default)]
        pub unit_words: Vec<String>,
        #[serde(default)]
        pub packaging_words: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub struct Matching {
        /// Minimum score (0..1) to accept a description match. Default 0.6.
        pub threshold: Option<f64>,
        /// Candidates listed when a line goes to review. Default 5.
        pub candidates: Option<usize>,
    }
}

/// How to read one catalog file layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// `csv` or `excel`. Default csv.
    #[serde(default = "default_format")]
    pub format: String,
    /// CSV delimiter (one character). Default ",".
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// `utf-8` or `latin1` (Windows-1252 exports). Default utf-8.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// Excel sheet name; default the first sheet.
    #[serde(default)]
    pub sheet: Option<String>,
    /// `subyacentes`: split `description` as PRODUCT - VARIETY - UNIT - PACKAGING - STATE.
    #[serde(default)]
    pub description_layout: Option<String>,
    /// Field → header name in the file (code is required; product or description too).
    pub columns: BTreeMap<String, String>,
}

fn default_format() -> String {
    "csv".into()
}
fn default_delimiter() -> String {
    ",".into()
}
fn default_encoding() -> String {
    "utf-8".into()
}

pub const FIELDS: &[&str] = &[
    "code",
    "description",
    "product",
    "variety",
    "unit",
    "packaging",
    "state",
    "group",
];

/// Kilograms, litres or pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Kg,
    L,
    Unit,
}

impl Measure {
    pub fn parse(s: &str) -> Option<Measure> {
        match s {
            "kg" => Some(Measure::Kg),
            "l" => Some(Measure::L),
            "unit" => Some(Measure::Unit),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Kg => "kg",
            Measure::L => "L",
            Measure::Unit => "unidades",
        }
    }
}

#[derive(Debug, Clone)]
pub struct UnitDef {
    pub measure: Measure,
    pub factor: Decimal,
}

#[derive(Debug, Clone)]
pub struct Conversion {
    pub product_prefix: String,
    pub unit: String,
    pub def: UnitDef,
}

/// The compiled catalog configuration.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub source: PathBuf,
    pub default_layout: String,
    pub layouts: BTreeMap<String, Layout>,
    pub primary_codes: std::collections::HashSet<String>,
    pub primary_products: Vec<String>,
    /// (group, folded prefixes), in file order.
    pub groups: Vec<(String, Vec<String>)>,
    /// Folded spelling → definition.
    pub units: HashMap<String, UnitDef>,
    pub conversions: Vec<Conversion>,
    pub normalizer: Normalizer,
    pub threshold: f64,
    pub candidates: usize,
}

fn parse_unit(
    measure: &str,
    factor: &str,
    file: &Path,
    key: &str,
    p: &mut Problems,
) -> Option<UnitDef> {
    let m = Measure::parse(measure);
    if m.is_none() {
        p.error(
            file,
            format!("{key}.measure"),
            format!("'{measure}' is not kg, l or unit"),
        );
    }
    let f = match Decimal::from_str(factor) {
        Ok(f) if f > Decimal::ZERO => Some(f),
        _ => {
            p.error(
                file,
                format!("{key}.factor"),
                format!("'{factor}' is not a positive decimal"),
            );
            None
        }
    };
    Some(UnitDef {
        measure: m?,
        factor: f?,
    })
}

impl CatalogConfig {
    /// Read and compile `catalog.toml`; every problem at once.
    pub fn load(path: &Path) -> Result<CatalogConfig, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![ConfigError::new(path, "", format!("cannot read file: {e}"))])?;
        let value = toml::Value::Table(
            text.parse::<toml::Table>()
                .map_err(|e| vec![ConfigError::new(path, "", format!("not valid TOML: {e}"))])?,
        );
        let mut p = Problems::default();
        let Some(r) = section::<raw::File>(value, path, "", &mut p) else {
            return Err(p.items);
        };
        if !r.layouts.contains_key(&r.default_layout) {
            p.error(
                path,
                "default_layout",
                format!("no layout named '{}'", r.default_layout),
            );
        }
        for (name, l) in &r.layouts {
            let key = format!("layouts.{name}");
            for f in l.columns.keys() {
                if !FIELDS.contains(&f.as_str()) {
                    p.error(
                        path,
                        format!("{key}.columns.{f}"),
                        format!("unknown field; fields are {}", FIELDS.join(", ")),
                    );
                }
            }
            if !l.columns.contains_key("code") {
                p.error(
                    path,
                    format!("{key}.columns"),
                    "the code column is required",
                );
            }
            if !l.columns.contains_key("product") && !l.columns.contains_key("description") {
                p.error(path, format!("{key}.columns"), "map product or description");
            }
            if !["csv", "excel"].contains(&l.format.as_str()) {
                p.error(path, format!("{key}.format"), "must be csv or excel");
            }
            if l.delimiter.len() != 1 {
                p.error(
                    path,
                    format!("{key}.delimiter"),
                    "must be one ASCII character",
                );
            }
            if !["utf-8", "latin1"].contains(&l.encoding.as_str()) {
                p.error(path, format!("{key}.encoding"), "must be utf-8 or latin1");
            }
            if let Some(d) = &l.description_layout
                && d != "subyacentes"
            {
                p.error(
                    path,
                    format!("{key}.description_layout"),
                    "only 'subyacentes' is known",
                );
            }
        }
        let mut units = HashMap::new();
        for (name, u) in &r.units {
            if let Some(d) = parse_unit(
                &u.measure,
                &u.factor,
                path,
                &format!("units.{name}"),
                &mut p,
            ) {
                units.insert(fold(name), d);
            }
        }
        let mut conversions = Vec::new();
        for (i, c) in r.conversions.iter().enumerate() {
            if let Some(def) = parse_unit(
                &c.measure,
                &c.factor,
                path,
                &format!("conversions[{i}]"),
                &mut p,
            ) {
                conversions.push(Conversion {
                    product_prefix: fold(&c.product),
                    unit: fold(&c.unit),
                    def,
                });
            }
        }
        let threshold = r.matching.threshold.unwrap_or(0.6);
        if !(0.0..=1.0).contains(&threshold) {
            p.error(path, "matching.threshold", "must be between 0 and 1");
        }
        if p.has_errors() {
            return Err(p.items);
        }
        let n = &r.normalise;
        Ok(CatalogConfig {
            source: path.to_path_buf(),
            default_layout: r.default_layout,
            layouts: r.layouts,
            primary_codes: r
                .eligibility
                .primary_transformation_codes
                .iter()
                .map(|c| c.trim().to_string())
                .collect(),
            primary_products: r
                .eligibility
                .primary_transformation_products
                .iter()
                .map(|x| fold(x))
                .collect(),
            groups: r
                .groups
                .into_iter()
                .map(|(g, ps)| (g.to_uppercase(), ps.iter().map(|x| fold(x)).collect()))
                .collect(),
            units,
            conversions,
            normalizer: Normalizer::new(&n.stopwords, &n.unit_words, &n.packaging_words),
            threshold,
            candidates: r.matching.candidates.unwrap_or(5).max(1),
        })
    }

    /// Fill a product's group from `[groups]` when the catalog gave none.
    pub fn resolve_group(&self, mut p: super::model::Product) -> super::model::Product {
        if p.group.is_empty() {
            p.group = self.group_of(&p.product);
        }
        p
    }

    /// The commission group of a product name: the first `[groups]` entry
    /// with a matching prefix, else the product name itself.
    pub fn group_of(&self, product: &str) -> String {
        let f = fold(product);
        for (g, prefixes) in &self.groups {
            if prefixes.iter().any(|p| f.starts_with(p.as_str())) {
                return g.clone();
            }
        }
        product.trim().to_uppercase()
    }
}

/// Per-client product names → catalog codes (the brokers' "homologación").
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    /// (normalised client NIT or "*", normalised name key) → code.
    map: HashMap<(String, String), String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasFile {
    /// Client NIT, or "*" for every client.
    client: String,
    #[serde(default)]
    alias: Vec<AliasEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasEntry {
    /// The client's product name as it appears on invoices.
    name: String,
    /// The catalog code it means.
    code: String,
}

impl Aliases {
    /// Load every `*.toml` in `dir` (missing dir = no aliases).
    pub fn load_dir(dir: &Path, normalizer: &Normalizer) -> Result<Aliases, Vec<ConfigError>> {
        let mut p = Problems::default();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|x| x.extension().is_some_and(|e| e == "toml"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        let mut out = Aliases::default();
        for f in files {
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    p.error(&f, "", format!("cannot read file: {e}"));
                    continue;
                }
            };
            let value = match text.parse::<toml::Table>() {
                Ok(v) => toml::Value::Table(v),
                Err(e) => {
                    p.error(&f, "", format!("not valid TOML: {e}"));
                    continue;
                }
            };
            let Some(af) = section::<AliasFile>(value, &f, "", &mut p) else {
                continue;
            };
            let client = if af.client.trim() == "*" {
                "*".to_string()
            } else {
                crate::rules::normalize_nit(&af.client)
            };
            for (i, a) in af.alias.iter().enumerate() {
                let key = normalizer.key(&a.name);
                if key.is_empty() {
                    p.error(
                        &f,
                        format!("alias[{i}].name"),
                        "nothing left after normalisation",
                    );
                    continue;
                }
                if let Some(prev) = out
                    .map
                    .insert((client.clone(), key), a.code.trim().to_string())
                    && prev != a.code.trim()
                {
                    p.error(
                        &f,
                        format!("alias[{i}].name"),
                        format!("'{}' already maps to {prev}", a.name),
                    );
                }
            }
        }
        if p.has_errors() {
            Err(p.items)
        } else {
            Ok(out)
        }
    }

    pub fn insert(&mut self, client: &str, key: String, code: String) {
        self.map.insert((client.to_string(), key), code);
    }

    /// A submitter's homologation (the `homologation` entries a broker
    /// spreadsheet's homologation sheet gives, docs/FORMATS.md) as aliases:
    /// `(nit, product as written, catalog code)`; an entry with a NIT
    /// applies to that client's lines, one without to every line the set is
    /// used for. Meant for [`Matcher::match_line_with`](super::Matcher::match_line_with)
    /// on that submitter's invoices only, never merged into the global
    /// `rules/aliases/`. Where two entries give one name two codes the
    /// first wins (the reader has already reported it, PAS641).
    pub fn from_homologation<'a>(
        entries: impl IntoIterator<Item = (Option<&'a str>, &'a str, &'a str)>,
        normalizer: &Normalizer,
    ) -> Aliases {
        let mut out = Aliases::default();
        for (nit, name, code) in entries {
            let key = normalizer.key(name);
            let code = code.trim();
            if key.is_empty() || code.is_empty() {
                continue;
            }
            let client = match nit.map(crate::rules::normalize_nit) {
                Some(n) if !n.is_empty() => n,
                _ => "*".to_string(),
            };
            out.map
                .entry((client, key))
                .or_insert_with(|| code.to_string());
        }
        out
    }

    /// The code a client's alias (or a global one) gives this normalised key.
    pub fn get(&self, client: Option<&str>, key: &str) -> Option<&str> {
        if let Some(c) = client {
            let c = crate::rules::normalize_nit(c);
            if let Some(v) = self.map.get(&(c, key.to_string())) {
                return Some(v);
            }
        }
        self.map
            .get(&("*".to_string(), key.to_string()))
            .map(|s| s.as_str())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
