//! Catalog value types (pure): a product ("subyacente") and its processing state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Processing state of a catalog product, the basis of eligibility.
/// Serialised with its catalog spelling (NATURAL, PROCESADO, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum ProcessingState {
    /// Natural state (NATURAL): eligible.
    Natural,
    /// Primary industrial transformation: eligible.
    PrimaryTransformation,
    /// Processed (PROCESADO): not eligible unless declared primary transformation.
    Processed,
    /// Any other catalog value (e.g. APOYOS): not eligible.
    Other(String),
}

impl ProcessingState {
    /// Parse a catalog or rule-file spelling (case and accents ignored).
    pub fn parse(s: &str) -> ProcessingState {
        let n = crate::catalog::normalize::fold(s.trim());
        match n.as_str() {
            "natural" => ProcessingState::Natural,
            "procesado" | "procesada" | "processed" => ProcessingState::Processed,
            "transformacion primaria"
            | "primaria"
            | "primary_transformation"
            | "primary transformation" => ProcessingState::PrimaryTransformation,
            _ => ProcessingState::Other(s.trim().to_uppercase()),
        }
    }

    /// The catalog spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ProcessingState::Natural => "NATURAL",
            ProcessingState::PrimaryTransformation => "TRANSFORMACION PRIMARIA",
            ProcessingState::Processed => "PROCESADO",
            ProcessingState::Other(s) => s,
        }
    }
}

impl From<String> for ProcessingState {
    fn from(s: String) -> Self {
        ProcessingState::parse(&s)
    }
}

impl From<ProcessingState> for String {
    fn from(s: ProcessingState) -> Self {
        s.as_str().to_string()
    }
}

impl fmt::Display for ProcessingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One catalog product as stored: the parts of the exchange's description
/// `PRODUCT - VARIETY - UNIT - PACKAGING - STATE` plus the commission group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub code: String,
    pub product: String,
    pub variety: String,
    /// Catalog unit: KILOGRAMO, UNIDAD, LITRO, ...
    pub unit: String,
    /// Packaging as written in the catalog (EN SACO, POR 500 GR, ...).
    pub packaging: String,
    pub state: ProcessingState,
    /// Commission group: from the catalog's group column when it has one,
    /// else empty in storage and filled from `[groups]` in catalog.toml (or
    /// the product name) by [`crate::catalog::CatalogConfig::resolve_group`].
    pub group: String,
}

/// Field separator inside a stored record (ASCII unit separator).
pub(crate) const SEP: u8 = 0x1f;

impl Product {
    /// The description in the exchange's layout.
    pub fn description(&self) -> String {
        let mut parts: Vec<&str> = vec![&self.product];
        if !self.variety.is_empty() {
            parts.push(&self.variety);
        }
        parts.push(&self.unit);
        parts.push(&self.packaging);
        parts.push(self.state.as_str());
        parts.join(" - ")
    }

    /// Encode the non-key fields for the on-disk store.
    pub(crate) fn encode_payload(&self, out: &mut Vec<u8>) {
        for (i, f) in [
            self.product.as_str(),
            self.variety.as_str(),
            self.unit.as_str(),
            self.packaging.as_str(),
            self.state.as_str(),
            self.group.as_str(),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                out.push(SEP);
            }
            out.extend_from_slice(f.as_bytes());
        }
    }

    /// Decode a stored record (inverse of [`Product::encode_payload`]).
    pub(crate) fn decode(code: &[u8], payload: &[u8]) -> Option<Product> {
        let mut it = payload
            .split(|b| *b == SEP)
            .map(|f| std::str::from_utf8(f).ok());
        let product = it.next()??.to_string();
        let variety = it.next()??.to_string();
        let unit = it.next()??.to_string();
        let packaging = it.next()??.to_string();
        let state = ProcessingState::parse(it.next()??);
        let group = it.next()??.to_string();
        Some(Product {
            code: std::str::from_utf8(code).ok()?.to_string(),
            product,
            variety,
            unit,
            packaging,
            state,
            group,
        })
    }

    /// Names of the fields that differ, with old and new values (for the history log).
    pub fn diff(&self, new: &Product) -> Vec<(&'static str, String, String)> {
        let mut d = Vec::new();
        let pairs = [
            ("product", &self.product, &new.product),
            ("variety", &self.variety, &new.variety),
            ("unit", &self.unit, &new.unit),
            ("packaging", &self.packaging, &new.packaging),
            ("group", &self.group, &new.group),
        ];
        for (name, a, b) in pairs {
            if a != b {
                d.push((name, a.clone(), b.clone()));
            }
        }
        if self.state != new.state {
            d.push(("state", self.state.to_string(), new.state.to_string()));
        }
        d
    }
}
