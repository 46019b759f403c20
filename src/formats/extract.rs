//! Invoice fields from text (a PDF text layer or OCR) and from the DIAN QR.
//!
//! Every field records its value, its source (`xml | qr | text | ocr`) and a
//! confidence in 0–1: the reader's word confidence, then raised or lowered by
//! cross-checks (NIT check digit, subtotal + taxes = total, Σ lines =
//! subtotal, tax rate × base = tax, quantity × unit price = line total,
//! agreement between repeated occurrences, CUFE shape). QR fields beat text
//! fields. Pure functions: text in, [`Extraction`] out; `assess` turns it
//! into findings and the review decision.

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

// ---------------------------------------------------------------- helpers

fn re(p: &str) -> Regex {
    // Invariant: every pattern is a constant covered by the unit tests.
    Regex::new(p).expect("constant regex")
}

/// Parse an amount as printed in Colombia ("$ 1.234.567,89") or in the
/// international form ("1,234,567.89"); a separator followed by 1–2 final
/// digits is the decimal one.
pub fn parse_money(s: &str) -> Option<Decimal> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '$')
        .collect();
    let t = t.trim_end_matches(['.', ',']);
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let last_sep = t.rfind(['.', ',']);
    let (int_part, frac) = match last_sep {
        Some(i) if t.len() - i - 1 <= 2 => (&t[..i], &t[i + 1..]),
        _ => (t, ""),
    };
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    if int_digits.is_empty() {
        return None;
    }
    let v = if frac.is_empty() {
        int_digits
    } else {
        format!("{int_digits}.{frac}")
    };
    Decimal::from_str(&v).ok().map(|d| d.round_dp(2))
}

fn money_str(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d.to_string()
}

/// Spanish month names, January first (also used by the invoice generator).
pub(crate) const MONTHS: &[&str] = &[
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// `2024-03-15`, `15/03/2024`, `15-03-2024`, `15 de marzo de 2024`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y/%m/%d") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%d/%m/%Y") {
        return Some(d);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%d-%m-%Y") {
        return Some(d);
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower
        .split_whitespace()
        .filter(|w| *w != "de" && *w != "del")
        .collect();
    if parts.len() == 3 {
        let day: u32 = parts[0].parse().ok()?;
        let m = MONTHS
            .iter()
            .position(|m| *m == parts[1] || (parts[1] == "setiembre" && *m == "septiembre"))?;
        let year: i32 = parts[2].parse().ok()?;
        return NaiveDate::from_ymd_opt(year, m as u32 + 1, day);
    }
    None
}

const DATE: &str = r"(\d{4}-\d{2}-\d{2}|\d{4}/\d{2}/\d{2}|\d{1,2}[/-]\d{1,2}[/-]\d{4}|\d{1,2}\s+de\s+[a-zA-ZáéíóúÁÉÍÓÚ]+\s+(?:de|del)\s+\d{4})";
const MONEY: &str = r"\$?\s?([0-9](?:[0-9.,]*[0-9])?)";

static RE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:factura)(?:\s+(?i:electr[oó0]nica))?(?:\s+(?i:de\s+venta))?\s*(?:(?i:no|n[°º]|nro|n[uú]mero)\.?|#)?\s*:?\s*([A-Z]{1,4})?\s?-?\s?([0-9]{1,12})\b",
    )
});
static RE_ISSUE_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)fecha(?:\s+y\s+hora)?(?:\s+de)?\s+(?:emisi[oó]n|expedici[oó]n|factura(?:ci[oó]n)?)\s*:?\s*{DATE}"
    ))
});
static RE_DUE_DATE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)fecha\s+(?:de\s+)?vencimiento\s*:?\s*{DATE}")));
static RE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)hora(?:\s+de\s+(?:emisi[oó]n|expedici[oó]n))?\s*:?\s*(\d{2}:\d{2}(?::\d{2})?(?:\s?[-+]\d{2}:\d{2})?)",
    )
});
static RE_NIT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:NIT|N\.I\.T\.?)\s*(?:No\.?|n[°º])?\s*[:.;,]?\s*([0-9]{1,3}(?:[.,\s]?[0-9]{3}){1,4})\s?(?:-\s?([0-9]))?",
    )
});
static RE_CC: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\bC\.\s?C\.|\bCC\b|\bc[eé]dula(?:\s+de\s+ciudadan[ií]a)?)\s*(?:No\.?)?\s*[:.;,]?\s*([0-9]{1,3}(?:[.,\s]?[0-9]{3}){1,4})",
    )
});
static RE_CUSTOMER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:cliente|adquiri?ente|se[ñn]or(?:es)?|comprador|facturar\s+a|raz[oó]n\s+social\s+del\s+adquiri?ente)\b\s*:?\s*(.*)$",
    )
});
static RE_SUPPLIER_LABEL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*(?:raz[oó]n\s+social|emisor|proveedor|vendedor)\b\s*:?\s*(.*)$"));
static RE_SUBTOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:sub\s?-?\s?total|total\s+bruto|valor\s+bruto|total\s+base\s+gravable)\b\s*:?\s*{MONEY}"
    ))
});
static RE_IVA: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:total\s+)?iva\b(?:\s*\(?\s*\d{{1,2}}\s*%\s*\)?)?\s*:?\s*{MONEY}"
    ))
});
static RE_OTHER_TAX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:impuesto\s+(?:al\s+consumo|nacional\s+al\s+consumo)|INC|otros\s+impuestos)\b\s*:?\s*{MONEY}"
    ))
});
static RE_TOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(total\s+a\s+pagar|neto\s+a\s+pagar|valor\s+total|total\s+factura|total)\b\s*:?\s*{MONEY}"
    ))
});
static RE_CUFE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\bCUFE\b\s*:?\s*([0-9a-fA-F]*)"));
static RE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^\s*(\d{{1,3}})\s+(.+?)\s+([0-9][0-9.,]*)\s+([A-Za-z]{{1,8}}\.?)\s+{MONEY}\s+(\d{{1,2}})\s?%\s+{MONEY}\s*$"
    ))
});

/// A match: the captured string, its line index and its confidence.
struct Hit {
    text: String,
    line: usize,
    conf: f32,
}

fn hits(lines: &[Line], texts: &[String], re: &Regex, group: usize) -> Vec<Hit> {
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        for c in re.captures_iter(t) {
            if let Some(m) = c.get(group) {
                out.push(Hit {
                    text: m.as_str().to_string(),
                    line: i,
                    conf: lines[i].span_conf(m.start(), m.end()),
                });
            }
        }
    }
    out
}

/// Extract fields from text lines. `ocr` tells the source (`ocr` or `text`).
pub fn from_lines(lines: &[Line], ocr: bool) -> Extraction {
    let src = if ocr { Source::Ocr } else { Source::Text };
    // A text layer can still be wrong (a bad ToUnicode map): not quite 1.0.
    let cap = |c: f32| if ocr { c } else { c.min(0.98) };
    let texts: Vec<String> = lines.iter().map(Line::text).collect();
    let mut x = Extraction::default();

    // Number and prefix: every occurrence; agreement raises confidence.
    let mut numbers: Vec<(String, String, f32)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        for c in RE_NUMBER.captures_iter(t) {
            let Some(digits) = c.get(2) else { continue };
            let Some(whole) = c.get(0) else { continue };
            // "Fecha factura: 10/03/2024" is a date, not a number.
            let before = t[..whole.start()].trim_end().to_lowercase();
            let after = &t[digits.end()..];
            if before.ends_with("fecha")
                || before.ends_with("fecha de")
                || after.starts_with('/')
                || (after.starts_with('-')
                    && after[1..].starts_with(|ch: char| ch.is_ascii_digit()))
            {
                continue;
            }
            let prefix = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let start = c.get(1).map(|m| m.start()).unwrap_or(digits.start());
            let conf = lines[i].span_conf(start, digits.end());
            numbers.push((prefix.to_string(), digits.as_str().to_string(), cap(conf)));
        }
    }
    if let Some((p, d, conf)) = numbers.first().cloned() {
        let mut f = Field::new(format!("{p}{d}"), src, conf);
        let others: Vec<_> = numbers.iter().skip(1).collect();
        if others.iter().any(|(op, od, _)| *op == p && *od == d) {
            f.pass("repeat");
        } else if others
            .iter()
            .any(|(op, od, _)| format!("{op}{od}") != format!("{p}{d}") && !od.is_empty())
        {
            f.fail("repeat");
        }
        if !p.is_empty() {
            x.prefix = Some(Field::new(p, src, conf));
        }
        x.number = Some(f);
    }

    // Dates.
    let dates: Vec<(NaiveDate, f32)> = hits(lines, &texts, &RE_ISSUE_DATE, 1)
        .into_iter()
        .filter_map(|h| parse_date(&h.text).map(|d| (d, cap(h.conf))))
        .collect();
    if let Some((d, conf)) = dates.first().copied() {
        let mut f = Field::new(d.format("%Y-%m-%d").to_string(), src, conf);
        if dates.iter().skip(1).any(|(o, _)| *o == d) {
            f.pass("repeat");
        } else if dates.iter().skip(1).any(|(o, _)| *o != d) {
            f.fail("repeat");
        }
        x.issue_date = Some(f);
    }
    if let Some(h) = hits(lines, &texts, &RE_DUE_DATE, 1).into_iter().next()
        && let Some(d) = parse_date(&h.text)
    {
        x.due_date = Some(Field::new(
            d.format("%Y-%m-%d").to_string(),
            src,
            cap(h.conf),
        ));
    }
    if let Some(h) = hits(lines, &texts, &RE_TIME, 1).into_iter().next() {
        x.issue_time = Some(Field::new(h.text.replace(' ', ""), src, cap(h.conf)));
    }

    // Parties: the customer block starts at the first customer label.
    let customer_at = texts.iter().position(|t| RE_CUSTOMER.is_match(t));
    let split = customer_at.unwrap_or(texts.len());
    let nits = hits(lines, &texts, &RE_NIT, 1);
    let nit_dvs = hits(lines, &texts, &RE_NIT, 2);
    let dv_on = |line: usize| nit_dvs.iter().find(|h| h.line == line);
    if let Some(h) = nits
        .iter()
        .find(|h| h.line < split)
        .or(if customer_at.is_none() {
            nits.first()
        } else {
            None
        })
    {
        let digits: String = h.text.chars().filter(char::is_ascii_digit).collect();
        let mut f = Field::new(digits.clone(), src, cap(h.conf));
        if let Some(dv) = dv_on(h.line) {
            let mut dvf = Field::new(dv.text.clone(), src, cap(dv.conf));
            check_dv(&mut f, &mut dvf, &digits, &dv.text);
            x.supplier_dv = Some(dvf);
        }
        x.supplier_nit = Some(f);
    }
    x.supplier_name = supplier_name(lines, &texts, split, cap, src);
    if let Some(at) = customer_at {
        // The customer's name: the rest of the label line.
        if let Some(c) = RE_CUSTOMER.captures(&texts[at])
            && let Some(m) = c.get(1)
        {
            let name = cut_at_labels(m.as_str());
            if name.chars().filter(|c| c.is_alphabetic()).count() >= 3 {
                x.customer_name = Some(Field::new(
                    name,
                    src,
                    cap(lines[at].span_conf(m.start(), m.end())),
                ));
            }
        }
        // The first identification at or after the label, within a few lines.
        let window = at..(at + 6).min(texts.len());
        let nit = nits.iter().find(|h| window.contains(&h.line));
        let cc = hits(lines, &texts, &RE_CC, 1)
            .into_iter()
            .find(|h| window.contains(&h.line));
        let pick_nit = match (&nit, &cc) {
            (Some(n), Some(c)) => n.line <= c.line,
            (Some(_), None) => true,
            _ => false,
        };
        if pick_nit {
            if let Some(h) = nit {
                let digits: String = h.text.chars().filter(char::is_ascii_digit).collect();
                let mut f = Field::new(digits.clone(), src, cap(h.conf));
                if let Some(dv) = dv_on(h.line) {
                    let mut dvf = Field::new(dv.text.clone(), src, cap(dv.conf));
                    check_dv(&mut f, &mut dvf, &digits, &dv.text);
                    x.customer_dv = Some(dvf);
                }
                x.customer_id = Some(f);
                x.customer_id_type = Some(Field::new("nit", src, 1.0));
            }
        } else if let Some(h) = cc {
            let digits: String = h.text.chars().filter(char::is_ascii_digit).collect();
            x.customer_id = Some(Field::new(digits, src, cap(h.conf)));
            x.customer_id_type = Some(Field::new("cc", src, 1.0));
        }
    }

    // Totals: the last occurrence of each label (summaries come last).
    let money_field = |re: &Regex, group: usize| -> Option<Field> {
        let h = hits(lines, &texts, re, group)
            .into_iter()
            .rev()
            .find(|h| parse_money(&h.text).is_some())?;
        let v = parse_money(&h.text)?;
        Some(Field::new(money_str(v), src, cap(h.conf)))
    };
    x.subtotal = money_field(&RE_SUBTOTAL, 1);
    x.tax_iva = money_field(&RE_IVA, 1);
    x.tax_other = money_field(&RE_OTHER_TAX, 1);
    // Total: the most specific label wins.
    let mut best: Option<(usize, Field)> = None;
    for (i, t) in texts.iter().enumerate() {
        for c in RE_TOTAL.captures_iter(t) {
            let (Some(label), Some(m)) = (c.get(1), c.get(2)) else {
                continue;
            };
            let Some(v) = parse_money(m.as_str()) else {
                continue;
            };
            let rank = match label
                .as_str()
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str()
            {
                "total a pagar" | "neto a pagar" => 3,
                "valor total" | "total factura" => 2,
                _ => 1,
            };
            if best.as_ref().is_none_or(|(r, _)| rank >= *r) {
                best = Some((
                    rank,
                    Field::new(
                        money_str(v),
                        src,
                        cap(lines[i].span_conf(m.start(), m.end())),
                    ),
                ));
            }
        }
    }
    x.total = best.map(|(_, f)| f);

    // CUFE: 96 hex characters after the label, possibly wrapped over lines.
    for (i, t) in texts.iter().enumerate() {
        let Some(c) = RE_CUFE.captures(t) else {
            continue;
        };
        let Some(m) = c.get(1) else { continue };
        let mut hex = m.as_str().to_string();
        let mut conf = lines[i].span_conf(m.start(), m.end());
        let mut j = i + 1;
        while hex.len() < 96 && j < texts.len() && j <= i + 3 {
            let next = texts[j].trim();
            let token = next.split_whitespace().next().unwrap_or("");
            if token.len() >= 8 && token.chars().all(|c| c.is_ascii_hexdigit()) {
                hex.push_str(token);
                conf = conf.min(lines[j].span_conf(0, token.len()));
                j += 1;
            } else {
                break;
            }
        }
        if hex.is_empty() {
            continue;
        }
        let mut f = Field::new(hex.to_ascii_lowercase(), src, cap(conf));
        if hex.len() == 96 {
            f.pass("shape");
        } else {
            f.fail("shape");
        }
        x.cufe = Some(f);
        break;
    }

    // Lines of the items table.
    for (i, t) in texts.iter().enumerate() {
        let Some(c) = RE_LINE.captures(t) else {
            continue;
        };
        let get = |k: usize| c.get(k).map(|m| m.as_str()).unwrap_or("");
        let (Some(q), Some(up), Some(tot)) = (
            parse_money(get(3)),
            parse_money(get(5)),
            parse_money(get(7)),
        ) else {
            continue;
        };
        let rate = Decimal::from_str(get(6)).ok();
        let mut conf = cap(lines[i].span_conf(0, t.len()));
        if (q * up - tot).abs() <= Decimal::ONE {
            conf = 1.0 - (1.0 - conf) * 0.2;
        } else {
            conf = conf.min(0.3);
        }
        x.lines.push(LineItem {
            description: get(2).to_string(),
            quantity: q,
            unit: Some(get(4).to_string()).filter(|s| !s.is_empty()),
            unit_price: up,
            tax_rate: rate,
            line_total: tot,
            confidence: conf,
        });
    }
    cross_check_totals(&mut x, Decimal::ONE);
    x
}

fn cut_at_labels(s: &str) -> String {
    static RE_CUT: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?i)\s+(?:NIT|N\.I\.T|C\.\s?C\.|CC|c[eé]dula|direcci[oó]n|tel[eé]fono|tel\.)\b.*$")
    });
    RE_CUT
        .replace(s.trim(), "")
        .trim()
        .trim_end_matches([',', ';', ':'])
        .to_string()
}

fn supplier_name(
    lines: &[Line],
    texts: &[String],
    split: usize,
    cap: impl Fn(f32) -> f32,
    src: Source,
) -> Option<Field> {
    // An explicit label first, else the first line of the page that reads
    // like a name (letters, not a label or a title).
    for (i, t) in texts.iter().enumerate().take(split) {
        if let Some(c) = RE_SUPPLIER_LABEL.captures(t)
            && let Some(m) = c.get(1)
        {
            let name = cut_at_labels(m.as_str());
            if name.len() >= 3 {
                return Some(Field::new(
                    name,
                    src,
                    cap(lines[i].span_conf(m.start(), m.end())),
                ));
            }
        }
    }
    static RE_NOT_NAME: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)factura|nit\b|fecha|direcci[oó]n|tel[eé]fono|p[aá]gina|representaci[oó]n|cufe|r[eé]gimen|responsable",
        )
    });
    for (i, t) in texts.iter().enumerate().take(split.min(6)) {
        let letters = t.chars().filter(|c| c.is_alphabetic()).count();
        if letters >= 6 && letters * 10 >= t.chars().count() * 6 && !RE_NOT_NAME.is_match(t) {
            let name = cut_at_labels(t);
            // A layout page may put the title at the right of the name.
            let name = name.split("   ").next().unwrap_or(&name).trim().to_string();
            return Some(Field::new(
                name,
                src,
                cap(lines[i].span_conf(0, t.len())) * 0.95,
            ));
        }
    }
    None
}

fn check_dv(nit: &mut Field, dv: &mut Field, digits: &str, printed: &str) {
    if nit::printed_dv_matches(digits, printed).is_some() {
        nit.pass("dv");
        dv.pass("dv");
    } else {
        nit.fail("dv");
        dv.fail("dv");
    }
}

/// subtotal + taxes = total; Σ lines = subtotal; Σ line × rate = IVA.
fn cross_check_totals(x: &mut Extraction, tol: Decimal) {
    let sub = x.subtotal.as_ref().and_then(Field::decimal);
    let iva = x.tax_iva.as_ref().and_then(Field::decimal);
    let other = x
        .tax_other
        .as_ref()
        .and_then(Field::decimal)
        .unwrap_or_default();
    let total = x.total.as_ref().and_then(Field::decimal);
    if let (Some(s), Some(t)) = (sub, total) {
        let taxes = iva.unwrap_or_default() + other;
        let ok = (s + taxes - t).abs() <= tol;
        for f in [&mut x.subtotal, &mut x.tax_iva, &mut x.total]
            .into_iter()
            .flatten()
        {
            if ok {
                f.pass("sum");
            } else {
                f.fail("sum");
            }
        }
    }
    if !x.lines.is_empty() {
        let sum: Decimal = x.lines.iter().map(|l| l.line_total).sum();
        if let Some(f) = x.subtotal.as_mut()
            && let Some(s) = sub
        {
            if (sum - s).abs() <= tol {
                f.pass("lines");
            } else {
                f.fail("lines");
            }
        }
        if x.lines.iter().all(|l| l.tax_rate.is_some()) {
            let tax: Decimal = x
                .lines
                .iter()
                .map(|l| {
                    (l.line_total * l.tax_rate.unwrap_or_default() / Decimal::ONE_HUNDRED)
                        .round_dp(2)
                })
                .sum();
            if let (Some(f), Some(i)) = (x.tax_iva.as_mut(), iva) {
                // Rounding per line vs on the total: allow one peso per line.
                let lt = tol * Decimal::from(x.lines.len() as u64);
                if (tax - i).abs() <= lt {
                    f.pass("rate");
                } else {
                    f.fail("rate");
                }
            }
        }
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
