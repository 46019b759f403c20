//! One invoice end to end (pure over a lookup): match every line, check
//! eligibility, convert quantities, then price the eligible lines with one
//! rule-set snapshot. This is what a `price` pipeline step calls.

use std::io;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    Aliases, CatalogConfig, InvoiceLine, LineAssessment, Lookup, Matcher, assess_line_with,
};
use crate::result::Finding;
use crate::rules::{Commission, CommissionRules, PricingInput, Side};

/// An invoice as the pricing step sees it.
#[derive(Debug, Clone)]
pub struct InvoiceToPrice<'a> {
    /// Registration (pricing) date: selects rule versions.
    pub date: NaiveDate,
    /// The broker's client (mandante): supplier NIT when the punta is V, customer NIT when C.
    pub client: &'a str,
    pub side: Side,
    /// Each line with its registered value (before VAT).
    pub lines: Vec<(InvoiceLine<'a>, Decimal)>,
}

/// The outcome: per-line decisions, the commission of the eligible lines,
/// and every finding (PAS6x catalog, PAS70 pricing).
#[derive(Debug, Clone, Serialize)]
pub struct PricedInvoice {
    pub lines: Vec<LineAssessment>,
    /// `None` when no line is eligible or pricing failed (see findings).
    pub commission: Option<Commission>,
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// Some line needs an operator.
    pub review: bool,
}

/// Assess and price one invoice. `Err` only when the catalog cannot be read.
pub fn assess_and_price<L: Lookup>(
    m: &Matcher<L>,
    cfg: &CatalogConfig,
    rules: &CommissionRules,
    inv: &InvoiceToPrice<'_>,
) -> io::Result<PricedInvoice> {
    assess_and_price_with(m, cfg, rules, inv, &Aliases::default())
}

/// [`assess_and_price`] with the submitter's own aliases (the homologation
/// sheet of its spreadsheet, [`Aliases::from_homologation`]) looked up
/// before the configured ones.
pub fn assess_and_price_with<L: Lookup>(
    m: &Matcher<L>,
    cfg: &CatalogConfig,
    rules: &CommissionRules,
    inv: &InvoiceToPrice<'_>,
    submitter: &Aliases,
) -> io::Result<PricedInvoice> {
    let mut out = PricedInvoice {
        lines: Vec::new(),
        commission: None,
        findings: Vec::new(),
        review: false,
    };
    let mut priced_lines = Vec::new();
    let mut numbers = Vec::new();
    for (line, value) in &inv.lines {
        let mut a = assess_line_with(m, cfg, line, submitter)?;
        out.findings.append(&mut a.findings);
        out.review |= a.review;
        if let Some(p) = a.pricing_line(*value) {
            priced_lines.push(p);
            numbers.push(a.line);
        }
        out.lines.push(a);
    }
    if priced_lines.is_empty() {
        return Ok(out);
    }
    let input = PricingInput {
        date: inv.date,
        client: inv.client.to_string(),
        side: inv.side,
        lines: priced_lines,
    };
    match rules.price(&input) {
        Ok(mut c) => {
            // Report fees against the invoice's own line numbers.
            for (fee, n) in c.lines.iter_mut().zip(&numbers) {
                fee.line = *n;
            }
            out.commission = Some(c);
        }
        Err(e) => {
            out.findings.push(Finding::notify(
                "PAS70",
                format!("No se pudo calcular la comisión: {e}. Queda en revisión."),
            ));
            out.review = true;
        }
    }
    Ok(out)
}
