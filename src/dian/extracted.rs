//! A document read from a PDF, scan or spreadsheet rather than received as
//! an electronic invoice: the typed model the registration steps (`price`,
//! `certify`) work on once an operator approved it (docs/REVIEW.md), and the
//! DIAN rules that can still be checked on it. Pure.

use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;

use super::model::{DocKind, Document, Line, MonetaryTotal, Party, Uuid};
use super::settings::DianSettings;
use crate::result::Finding;

/// What was read (and corrected), as plain values.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    pub number: Option<String>,
    pub issue_date: Option<String>,
    pub issue_time: Option<String>,
    pub due_date: Option<String>,
    pub supplier_name: Option<String>,
    pub supplier_nit: Option<String>,
    pub supplier_dv: Option<String>,
    pub customer_name: Option<String>,
    /// `nit`, `cc` or `other`.
    pub customer_id_type: Option<String>,
    pub customer_id: Option<String>,
    pub customer_dv: Option<String>,
    pub cufe: Option<String>,
    pub subtotal: Option<Decimal>,
    pub total: Option<Decimal>,
    pub lines: Vec<ExtractedLine>,
}

#[derive(Debug, Clone, Default)]
pub struct ExtractedLine {
    pub description: String,
    pub quantity: Decimal,
    /// As printed (`KG`, `kg`, `bulto`, ...).
    pub unit: Option<String>,
    pub line_total: Decimal,
    /// A catalog code (an operator's correction, a sheet's product code).
    pub code: Option<String>,
}

fn party(name: &Option<String>, id: &Option<String>, dv: &Option<String>, id_type: &str) -> Party {
    Party {
        registration_name: name.clone(),
        names: name.iter().cloned().collect(),
        company_id: id.clone(),
        dv: dv.clone(),
        id_type: Some(id_type.to_owned()),
        ..Party::default()
    }
}

/// The typed invoice an extracted document stands for.
pub fn document(e: &Extracted) -> Document {
    let customer_type = match e.customer_id_type.as_deref() {
        Some("cc") => "13",
        Some("other") => "43",
        _ => "31",
    };
    let lines: Vec<Line> = e
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| Line {
            id: Some((i + 1).to_string()),
            quantity: Some(l.quantity),
            unit_code: l.unit.clone(),
            line_extension: Some(l.line_total),
            description: Some(l.description.clone()),
            standard_item_id: l.code.clone(),
            ..Line::default()
        })
        .collect();
    let line_sum: Decimal = e.lines.iter().map(|l| l.line_total).sum();
    Document {
        kind: DocKind::Invoice,
        ubl_version: None,
        customization_id: None,
        profile_id: None,
        profile_execution_id: None,
        id: e.number.clone(),
        uuid: e.cufe.as_ref().map(|c| Uuid {
            value: c.clone(),
            ..Uuid::default()
        }),
        issue_date: e.issue_date.clone(),
        issue_time: e.issue_time.clone(),
        due_date: e.due_date.clone(),
        type_code: Some("01".to_owned()),
        notes: Vec::new(),
        currency: Some("COP".to_owned()),
        line_count_numeric: None,
        billing_references: Vec::new(),
        discrepancy: None,
        supplier: Some(party(
            &e.supplier_name,
            &e.supplier_nit,
            &e.supplier_dv,
            "31",
        )),
        customer: Some(party(
            &e.customer_name,
            &e.customer_id,
            &e.customer_dv,
            customer_type,
        )),
        payment_means: Vec::new(),
        prepaid_payments: Vec::new(),
        allowance_charges: Vec::new(),
        tax_totals: Vec::new(),
        withholding_tax_totals: Vec::new(),
        totals: Some(MonetaryTotal {
            line_extension: e.subtotal.or((!e.lines.is_empty()).then_some(line_sum)),
            payable: e.total,
            ..MonetaryTotal::default()
        }),
        lines,
        dian: None,
        signing_time: None,
        dian_response: None,
        malformed: Vec::new(),
    }
}

/// The DIAN and registration rules that apply to a document that is not an
/// electronic invoice: its dates (PAS23 issued in the future, PAS20 older
/// than the registration window). The rest (CUFE, signature, structure)
/// cannot be checked without the XML; an operator approved it.
pub fn check(doc: &Document, settings: &DianSettings, now: DateTime<FixedOffset>) -> Vec<Finding> {
    super::rules::check_dates(doc, settings, now)
}
