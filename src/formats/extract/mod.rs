//! Invoice fields from text (a PDF text layer or OCR) and from the DIAN QR.
//!
//! Every field records its value, its source (`xml | qr | text | ocr`) and a
//! confidence in 0–1: the reader's word confidence, then raised or lowered by
//! cross-checks (NIT check digit, subtotal + taxes = total, Σ lines =
//! subtotal, tax rate × base = tax, quantity × unit price = line total,
//! agreement between repeated occurrences, CUFE shape). QR fields beat text
//! fields. Pure functions: text in, [`Extraction`] out; `assess` turns it
//! into findings and the review decision.

mod fields;
mod parse;

pub use fields::from_lines;

/// Month names as invoices print them (the test generator writes them too).
#[cfg(any(test, feature = "test-support"))]
pub(crate) use parse::MONTHS;
use parse::*;
pub use parse::{parse_date, parse_money};

use std::str::FromStr;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;
use serde::Serialize;

use super::qr::DianQr;
use super::text::Line;
use crate::dian::nit;
use crate::result::Finding;

/// Where a field's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Xml,
    Qr,
    Text,
    Ocr,
    /// Corrected by an operator in review (docs/REVIEW.md).
    Operator,
}

/// One extracted value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub value: String,
    pub source: Source,
    /// 0.0–1.0 after cross-checks.
    pub confidence: f32,
    /// Cross-checks applied: `dv`, `sum`, `lines`, `rate`, `repeat`, `qr`,
    /// `shape`; prefixed with `!` when failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
}

impl Field {
    fn new(value: impl Into<String>, source: Source, confidence: f32) -> Field {
        Field {
            value: value.into(),
            source,
            confidence: confidence.clamp(0.0, 1.0),
            checks: Vec::new(),
        }
    }
    /// A passed cross-check removes most of the residual doubt.
    fn pass(&mut self, check: &str) {
        self.confidence = 1.0 - (1.0 - self.confidence) * 0.2;
        self.checks.push(check.to_string());
    }
    /// A failed cross-check caps the confidence well below any threshold.
    fn fail(&mut self, check: &str) {
        self.confidence = self.confidence.min(0.3);
        self.checks.push(format!("!{check}"));
    }
    pub fn decimal(&self) -> Option<Decimal> {
        Decimal::from_str(&self.value).ok()
    }
}

/// One invoice line read from a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    pub description: String,
    pub quantity: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub unit_price: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<Decimal>,
    pub line_total: Decimal,
    pub confidence: f32,
}

/// Every field the reader found. Values are normalised: dates `YYYY-MM-DD`,
/// money as plain decimals with '.', identifications digits only.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Extraction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_date: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_time: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier_name: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier_nit: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier_dv: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<Field>,
    /// `nit` or `cc` (cédula) or `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id_type: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_dv: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_iva: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_other: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cufe: Option<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineItem>,
}

/// The key fields by name, in report order.
pub const KEY_FIELDS: &[&str] = &[
    "number",
    "issue_date",
    "supplier_nit",
    "customer_id",
    "total",
    "cufe",
];

impl Extraction {
    /// Replace field `name` with an operator's value (confidence 1). Returns
    /// the value it had, or `Err` naming a field that does not exist.
    pub fn correct(&mut self, name: &str, value: &str) -> Result<Option<String>, String> {
        let slot = match name {
            "number" => &mut self.number,
            "prefix" => &mut self.prefix,
            "issue_date" => &mut self.issue_date,
            "issue_time" => &mut self.issue_time,
            "due_date" => &mut self.due_date,
            "supplier_name" => &mut self.supplier_name,
            "supplier_nit" => &mut self.supplier_nit,
            "supplier_dv" => &mut self.supplier_dv,
            "customer_name" => &mut self.customer_name,
            "customer_id_type" => &mut self.customer_id_type,
            "customer_id" => &mut self.customer_id,
            "customer_dv" => &mut self.customer_dv,
            "subtotal" => &mut self.subtotal,
            "tax_iva" => &mut self.tax_iva,
            "tax_other" => &mut self.tax_other,
            "total" => &mut self.total,
            "cufe" => &mut self.cufe,
            other => return Err(format!("no field named '{other}'")),
        };
        let before = slot.as_ref().map(|f| f.value.clone());
        let mut f = Field::new(value, Source::Operator, 1.0);
        f.checks.push("operator".to_owned());
        *slot = Some(f);
        Ok(before)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        match name {
            "number" => self.number.as_ref(),
            "prefix" => self.prefix.as_ref(),
            "issue_date" => self.issue_date.as_ref(),
            "issue_time" => self.issue_time.as_ref(),
            "due_date" => self.due_date.as_ref(),
            "supplier_name" => self.supplier_name.as_ref(),
            "supplier_nit" => self.supplier_nit.as_ref(),
            "supplier_dv" => self.supplier_dv.as_ref(),
            "customer_name" => self.customer_name.as_ref(),
            "customer_id_type" => self.customer_id_type.as_ref(),
            "customer_id" => self.customer_id.as_ref(),
            "customer_dv" => self.customer_dv.as_ref(),
            "subtotal" => self.subtotal.as_ref(),
            "tax_iva" => self.tax_iva.as_ref(),
            "tax_other" => self.tax_other.as_ref(),
            "total" => self.total.as_ref(),
            "cufe" => self.cufe.as_ref(),
            _ => None,
        }
    }
}

/// Spanish names for messages.
pub fn field_label(name: &str) -> &'static str {
    match name {
        "number" => "número de factura",
        "prefix" => "prefijo",
        "issue_date" => "fecha de emisión",
        "issue_time" => "hora de emisión",
        "due_date" => "fecha de vencimiento",
        "supplier_name" => "nombre del emisor",
        "supplier_nit" => "NIT del emisor",
        "supplier_dv" => "DV del emisor",
        "customer_name" => "nombre del adquiriente",
        "customer_id" => "identificación del adquiriente",
        "customer_dv" => "DV del adquiriente",
        "subtotal" => "subtotal",
        "tax_iva" => "IVA",
        "tax_other" => "otros impuestos",
        "total" => "total a pagar",
        "cufe" => "CUFE",
        _ => "campo",
    }
}

/// Overlay the QR's fields: they beat text and OCR. A printed value that
/// disagrees with the QR is reported.
pub fn apply_qr(x: &mut Extraction, qr: &DianQr, findings: &mut Vec<Finding>) {
    let mut set = |slot: &mut Option<Field>, name: &str, value: Option<String>| {
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return;
        };
        if let Some(old) = slot.as_ref()
            && old.value != v
        {
            findings.push(Finding::notify(
                "PAS530",
                format!(
                    "El {} impreso ('{}') difiere del código QR ('{}'); se usa el del QR.",
                    field_label(name),
                    old.value,
                    v
                ),
            ));
        }
        let mut f = Field::new(v, Source::Qr, 1.0);
        f.checks.push("qr".into());
        *slot = Some(f);
    };
    let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
    set(
        &mut x.number,
        "number",
        qr.get("NumFac").map(|s| s.replace([' ', '-'], "")),
    );
    set(
        &mut x.issue_date,
        "issue_date",
        qr.get("FecFac")
            .and_then(parse_date)
            .map(|d| d.format("%Y-%m-%d").to_string()),
    );
    set(
        &mut x.issue_time,
        "issue_time",
        qr.get("HorFac").map(str::to_string),
    );
    set(
        &mut x.supplier_nit,
        "supplier_nit",
        qr.get("NitFac")
            .map(|s| digits(s.split('-').next().unwrap_or(s))),
    );
    set(
        &mut x.customer_id,
        "customer_id",
        qr.get("DocAdq")
            .map(|s| digits(s.split('-').next().unwrap_or(s))),
    );
    let money = |k: &str| qr.get(k).and_then(parse_money).map(money_str);
    set(&mut x.subtotal, "subtotal", money("ValFac"));
    set(&mut x.tax_iva, "tax_iva", money("ValIva"));
    if qr.get("ValOtroIm").is_some() {
        set(&mut x.tax_other, "tax_other", money("ValOtroIm"));
    }
    set(&mut x.total, "total", money("ValTolFac"));
    set(&mut x.cufe, "cufe", qr.cufe());
    if let Some(c) = x.cufe.as_mut()
        && (c.value.len() != 96 || !c.value.chars().all(|ch| ch.is_ascii_hexdigit()))
    {
        c.fail("shape");
    }
    // A prefix consistent with the QR number.
    if let (Some(n), Some(p)) = (x.number.as_ref(), x.prefix.as_ref())
        && !n.value.starts_with(&p.value)
    {
        x.prefix = None;
    }
    // The printed DV now checks the QR's NIT.
    if let (Some(nit), Some(dv)) = (x.supplier_nit.clone(), x.supplier_dv.as_mut())
        && nit::check_digit(&nit.value).map(|d| d.to_string()) != Some(dv.value.clone())
    {
        dv.fail("dv");
    }
}

/// Settings for the review decision.
#[derive(Debug, Clone)]
pub struct ReviewPolicy {
    /// Fields below this confidence send the document to review (0–1).
    pub threshold: f32,
    /// Fields that must be present and confident.
    pub required: Vec<String>,
    /// Fields checked for confidence when present (not required).
    pub checked: Vec<String>,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            threshold: 0.90,
            required: ["number", "issue_date", "supplier_nit", "total"]
                .map(String::from)
                .to_vec(),
            checked: ["customer_id", "subtotal", "tax_iva", "cufe"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Findings for missing or doubtful fields; true when review is needed.
pub fn assess(x: &Extraction, policy: &ReviewPolicy) -> (Vec<Finding>, bool) {
    let mut out = Vec::new();
    let mut review = false;
    for name in &policy.required {
        match x.field(name) {
            None => {
                review = true;
                out.push(
                    Finding::notify(
                        "PAS501",
                        format!("No se encontró el {} en el documento.", field_label(name)),
                    )
                    .at(name.clone()),
                );
            }
            Some(f) => review |= doubt(name, f, policy, &mut out),
        }
    }
    for name in &policy.checked {
        if let Some(f) = x.field(name) {
            review |= doubt(name, f, policy, &mut out);
        }
    }
    if x.customer_id.is_none() {
        out.push(
            Finding::notify(
                "PAS502",
                "No se encontró la identificación del adquiriente.",
            )
            .at("customer_id"),
        );
    }
    (out, review)
}

fn doubt(name: &str, f: &Field, policy: &ReviewPolicy, out: &mut Vec<Finding>) -> bool {
    let mut review = false;
    for c in f.checks.iter().filter_map(|c| c.strip_prefix('!')) {
        let (code, msg) = match c {
            "dv" => (
                "PAS512",
                format!(
                    "El dígito de verificación no corresponde al {} '{}'.",
                    field_label(name),
                    f.value
                ),
            ),
            "sum" => (
                "PAS520",
                "Subtotal más impuestos no coincide con el total a pagar.".to_string(),
            ),
            "lines" => (
                "PAS521",
                "La suma de las líneas no coincide con el subtotal.".to_string(),
            ),
            "rate" => (
                "PAS522",
                "El IVA no corresponde a las tarifas de las líneas.".to_string(),
            ),
            "repeat" => (
                "PAS523",
                format!(
                    "El {} aparece con valores distintos en el documento.",
                    field_label(name)
                ),
            ),
            "shape" => (
                "PAS513",
                "El CUFE no tiene la forma esperada (96 caracteres hexadecimales).".to_string(),
            ),
            _ => continue,
        };
        if !out
            .iter()
            .any(|x: &Finding| x.code == code && x.message == msg)
        {
            out.push(Finding::notify(code, msg).at(name.to_string()));
        }
        review = true;
    }
    if f.confidence < policy.threshold {
        out.push(
            Finding::notify(
                "PAS503",
                format!(
                    "Confianza baja en el {} ('{}', {:.0} %, fuente {}).",
                    field_label(name),
                    f.value,
                    f.confidence * 100.0,
                    match f.source {
                        Source::Xml => "xml",
                        Source::Qr => "qr",
                        Source::Text => "texto",
                        Source::Ocr => "ocr",
                        Source::Operator => "operador",
                    }
                ),
            )
            .at(name.to_string()),
        );
        review = true;
    }
    review
}

#[cfg(test)]
mod tests {
    use super::fields::*;
    use super::*;
    use crate::formats::text::lines_from_text;

    const SAMPLE: &str = "\
DISTRIBUIDORA AGROPECUARIA DEL LLANO S.A.S.
NIT: 900.373.991-9
Dirección: Calle 12 # 34-56, Villavicencio
FACTURA ELECTRÓNICA DE VENTA No. SETP990000123
Fecha de emisión: 15/03/2025 Hora: 10:53:10-05:00
Fecha de vencimiento: 14 de abril de 2025
Cliente: CAFÉS ESPECIALES DE NARIÑO LTDA.
NIT: 860.028.580-2
1 Café pergamino seco 120,00 KG $ 12.500,00 5% $ 1.500.000,00
2 Panela pulverizada 10 UND $ 3.000,00 19% $ 30.000,00
Subtotal: $ 1.530.000,00
IVA: $ 80.700,00
Total a pagar: $ 1.610.700,00
CUFE: 8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179
179e9b33381030bcd4c3c3f156c506ed5908f9276f5bd9b4
Representación gráfica de la factura electrónica SETP990000123
";

    #[test]
    fn money_forms() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(parse_money("$ 1.234.567,89"), Some(d("1234567.89")));
        assert_eq!(parse_money("1,234,567.89"), Some(d("1234567.89")));
        assert_eq!(parse_money("1.500.000"), Some(d("1500000")));
        assert_eq!(parse_money("1500000.00"), Some(d("1500000.00")));
        assert_eq!(parse_money("1.234567,00"), Some(d("1234567.00")));
        assert_eq!(parse_money("abc"), None);
    }

    #[test]
    fn date_forms() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 15);
        assert_eq!(parse_date("2025-03-15"), d);
        assert_eq!(parse_date("15/03/2025"), d);
        assert_eq!(parse_date("15 de marzo de 2025"), d);
        assert_eq!(parse_date("31/02/2025"), None);
    }

    #[test]
    fn extracts_a_text_invoice() {
        let x = from_lines(&lines_from_text(SAMPLE), false);
        let v = |f: &Option<Field>| f.as_ref().map(|f| f.value.clone()).unwrap_or_default();
        assert_eq!(v(&x.number), "SETP990000123");
        assert_eq!(v(&x.prefix), "SETP");
        assert_eq!(v(&x.issue_date), "2025-03-15");
        assert_eq!(v(&x.due_date), "2025-04-14");
        assert_eq!(v(&x.issue_time), "10:53:10-05:00");
        assert_eq!(v(&x.supplier_nit), "900373991");
        assert_eq!(v(&x.supplier_dv), "9");
        assert_eq!(
            v(&x.supplier_name),
            "DISTRIBUIDORA AGROPECUARIA DEL LLANO S.A.S."
        );
        assert_eq!(v(&x.customer_id), "860028580");
        assert_eq!(v(&x.customer_name), "CAFÉS ESPECIALES DE NARIÑO LTDA.");
        assert_eq!(v(&x.subtotal), "1530000.00");
        assert_eq!(v(&x.tax_iva), "80700.00");
        assert_eq!(v(&x.total), "1610700.00");
        assert_eq!(v(&x.cufe).len(), 96);
        assert_eq!(x.lines.len(), 2);
        let (findings, review) = assess(&x, &ReviewPolicy::default());
        assert!(!review, "{findings:?}");
        assert!(
            x.total
                .as_ref()
                .unwrap()
                .checks
                .contains(&"sum".to_string())
        );
    }

    #[test]
    fn a_date_after_factura_is_not_a_number() {
        let text = SAMPLE.replace("Fecha de emisión: 15/03/2025", "Fecha factura: 15/03/2025");
        let lines = lines_from_text(&text);
        // Put the date line first so it is the first candidate.
        let mut lines2 = vec![lines[4].clone()];
        lines2.extend(lines);
        let x = from_lines(&lines2, false);
        assert_eq!(x.number.unwrap().value, "SETP990000123");
        assert_eq!(x.issue_date.unwrap().value, "2025-03-15");
    }

    #[test]
    fn wrong_dv_and_sum_go_to_review() {
        let bad = SAMPLE
            .replace("900.373.991-9", "900.373.991-8")
            .replace("1.610.700,00", "1.610.780,00");
        let x = from_lines(&lines_from_text(&bad), false);
        let (findings, review) = assess(&x, &ReviewPolicy::default());
        assert!(review);
        let codes: Vec<_> = findings.iter().map(|f| f.code.as_str()).collect();
        assert!(codes.contains(&"PAS512"), "{codes:?}");
        assert!(codes.contains(&"PAS520"), "{codes:?}");
    }

    #[test]
    fn qr_beats_text() {
        let mut x = from_lines(&lines_from_text(SAMPLE), true);
        let qr = crate::formats::qr::parse("NumFac: SETP990000124\nFecFac: 2025-03-15\nNitFac: 900373991\nDocAdq: 860028580\nValFac: 1530000.00\nValIva: 80700.00\nValTolFac: 1610700.00\nCUFE: 8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179179e9b33381030bcd4c3c3f156c506ed5908f9276f5bd9b4").unwrap();
        let mut f = Vec::new();
        apply_qr(&mut x, &qr, &mut f);
        assert_eq!(x.number.as_ref().unwrap().value, "SETP990000124");
        assert_eq!(x.number.as_ref().unwrap().source, Source::Qr);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, "PAS530");
    }
}
