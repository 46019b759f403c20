//! The product catalog ("subyacentes"): import, storage, lookup, description
//! matching, eligibility and unit conversion.
//!
//! * [`import`]: CSV/Excel → a new immutable generation under
//!   `<state_dir>/catalog/` (external sort + merge, history of changes).
//! * [`store`]: the on-disk format and code lookup (sparse index + pread).
//! * [`matching`]: code → alias → description ranking, with scores.
//! * [`units`], [`eligibility`]: pure decisions from `rules/catalog.toml`.
//! * [`assess_line`]: the whole per-line decision with PAS findings, for
//!   the pricing step.
//!
//! **Architecture Invariant:** matching, eligibility and conversion are pure
//! over a [`matching::Lookup`]; only `import` and `store` touch the disk, and
//! nothing here speaks SQL.

pub mod config;
pub mod generate;
pub mod import;
pub mod invoice;
pub mod matching;
pub mod model;
pub mod normalize;
pub mod store;
pub mod units;

use std::io;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Serialize;

pub use config::{Aliases, CatalogConfig, Measure};
pub use import::{ImportOptions, ImportSummary, import};
pub use invoice::{InvoiceToPrice, PricedInvoice, assess_and_price, assess_and_price_with};
pub use matching::{
    Candidate, DescriptionIndex, LineQuery, Lookup, MatchOutcome, MatchVia, Matcher, MemCatalog,
    ProductMatch,
};
pub use model::{ProcessingState, Product};
pub use store::CatalogFile;
pub use units::{Converted, convert};

use crate::result::Finding;

/// Where the catalog lives under the daemon's state directory.
pub fn catalog_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("catalog")
}

/// Is a product eligible for registration, and why (Spanish)?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    pub eligible: bool,
    /// PAS code when not eligible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    pub reason: String,
}

/// Eligibility from the catalog: NATURAL or primary transformation;
/// PROCESADO only when `[eligibility]` declares it primary transformation.
pub fn eligibility(cfg: &CatalogConfig, p: &Product) -> Eligibility {
    match &p.state {
        ProcessingState::Natural => Eligibility {
            eligible: true,
            code: None,
            reason: "producto en estado natural".into(),
        },
        ProcessingState::PrimaryTransformation => Eligibility {
            eligible: true,
            code: None,
            reason: "producto con transformación primaria".into(),
        },
        ProcessingState::Processed => {
            let folded = normalize::fold(&p.product);
            if cfg.primary_codes.contains(&p.code)
                || cfg
                    .primary_products
                    .iter()
                    .any(|x| folded.starts_with(x.as_str()))
            {
                Eligibility {
                    eligible: true,
                    code: None,
                    reason: "producto procesado declarado de transformación primaria (rules/catalog.toml)".into(),
                }
            } else {
                Eligibility {
                    eligible: false,
                    code: Some("PAS62"),
                    reason: format!(
                        "el producto {} ({}) es PROCESADO: solo se registran productos en estado natural o con transformación primaria",
                        p.code,
                        p.description()
                    ),
                }
            }
        }
        ProcessingState::Other(s) => Eligibility {
            eligible: false,
            code: Some("PAS63"),
            reason: format!(
                "el código {} es de tipo '{s}', que no corresponde a un producto registrable",
                p.code
            ),
        },
    }
}

/// Everything decided about one invoice line.
#[derive(Debug, Clone, Serialize)]
pub struct LineAssessment {
    /// 1-based line number.
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<ProductMatch>,
    /// Candidates when the product could not be identified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
    pub eligible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Converted>,
    /// The line needs an operator (unidentified product, unconvertible quantity).
    pub review: bool,
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl LineAssessment {
    /// The line as the commission rules price it: only matched, eligible
    /// lines with a converted quantity (others carry findings instead).
    pub fn pricing_line(&self, value: Decimal) -> Option<crate::rules::PricingLine> {
        let m = self.matched.as_ref()?;
        if !self.eligible || self.review {
            return None;
        }
        Some(crate::rules::PricingLine {
            code: m.product.code.clone(),
            group: m.product.group.clone(),
            state: m.product.state.clone(),
            quantity_kg: self.quantity.as_ref().map_or(Decimal::ZERO, |q| q.quantity),
            value,
        })
    }
}

/// One invoice line as the pricing step sees it.
#[derive(Debug, Clone, Default)]
pub struct InvoiceLine<'a> {
    pub line: usize,
    pub query: LineQuery<'a>,
    pub quantity: Decimal,
    /// UBL unitCode (KGM, NIU, ...) or a word (bulto, arroba).
    pub unit: &'a str,
}

/// Match, check eligibility and convert one line; findings carry PAS codes
/// and Spanish messages. `Err` only when the catalog cannot be read.
pub fn assess_line<L: Lookup>(
    m: &Matcher<L>,
    cfg: &CatalogConfig,
    l: &InvoiceLine<'_>,
) -> io::Result<LineAssessment> {
    assess_line_with(m, cfg, l, &Aliases::default())
}

/// [`assess_line`] with a submitter's own aliases (its homologation sheet)
/// looked up before the configured ones ([`Matcher::match_line_with`]).
pub fn assess_line_with<L: Lookup>(
    m: &Matcher<L>,
    cfg: &CatalogConfig,
    l: &InvoiceLine<'_>,
    submitter: &Aliases,
) -> io::Result<LineAssessment> {
    let loc = format!("línea {}", l.line);
    let mut a = LineAssessment {
        line: l.line,
        matched: None,
        candidates: Vec::new(),
        eligible: false,
        quantity: None,
        review: false,
        findings: Vec::new(),
    };
    let mut q = l.query.clone();
    if q.unit.is_none() {
        q.unit = cfg.units.get(&normalize::fold(l.unit)).map(|d| d.measure);
    }
    match m.match_line_with(&q, submitter)? {
        MatchOutcome::Review { candidates } => {
            let list = candidates
                .iter()
                .map(|c| format!("{} {} ({:.2})", c.code, c.description, c.score))
                .collect::<Vec<_>>()
                .join("; ");
            a.findings.push(
                Finding::notify(
                    "PAS61",
                    if candidates.is_empty() {
                        format!("No se identificó el producto '{}' en el catálogo; queda en revisión.", l.query.description)
                    } else {
                        format!("No se identificó con certeza el producto '{}'; queda en revisión. Candidatos: {list}", l.query.description)
                    },
                )
                .at(loc),
            );
            a.candidates = candidates;
            a.review = true;
            return Ok(a);
        }
        MatchOutcome::Matched(mut pm) => {
            pm.product = cfg.resolve_group(pm.product);
            let carried: Vec<&str> = l
                .query
                .codes
                .iter()
                .copied()
                .filter(|c| !c.trim().is_empty())
                .collect();
            if pm.via != MatchVia::Code && !carried.is_empty() {
                a.findings.push(
                    Finding::notify("PAS65", format!("El código {} de la factura no está en el catálogo; se identificó el producto por descripción.", carried.join("/")))
                        .at(loc.clone()),
                );
            }
            if pm.via == MatchVia::Description {
                a.findings.push(
                    Finding::notify(
                        "PAS60",
                        format!(
                            "Producto '{}' identificado como {} {} (puntaje {:.2}).",
                            l.query.description,
                            pm.product.code,
                            pm.product.description(),
                            pm.score
                        ),
                    )
                    .at(loc.clone()),
                );
            }
            let e = eligibility(cfg, &pm.product);
            a.eligible = e.eligible;
            if let Some(code) = e.code {
                a.findings.push(
                    Finding::reject(code, format!("Producto no elegible: {}.", e.reason))
                        .at(loc.clone()),
                );
            }
            match convert(cfg, l.quantity, l.unit, &pm.product) {
                Ok(c) => a.quantity = Some(c),
                Err(why) => {
                    a.findings.push(
                        Finding::notify(
                            "PAS64",
                            format!(
                                "No se pudo convertir la cantidad a kilogramos o litros: {why}."
                            ),
                        )
                        .at(loc),
                    );
                    a.review = true;
                }
            }
            a.matched = Some(pm);
        }
    }
    Ok(a)
}

/// A matcher over the catalog at `dir` with the description index built by
/// scanning it once (memory grows with the number of distinct texts).
pub fn open_matcher(
    dir: &Path,
    cfg: &CatalogConfig,
    aliases: Aliases,
) -> io::Result<Option<Matcher<CatalogFile>>> {
    let Some(file) = store::open(dir)? else {
        return Ok(None);
    };
    // One sequential scan; memory grows with distinct texts only.
    let index = DescriptionIndex::build_from_file(cfg.normalizer.clone(), &file)?;
    Ok(Some(Matcher {
        lookup: file,
        index,
        aliases,
        normalizer: cfg.normalizer.clone(),
        threshold: cfg.threshold,
        candidates: cfg.candidates,
    }))
}
