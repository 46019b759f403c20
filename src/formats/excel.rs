//! Broker spreadsheets (xls, xlsx, ods through calamine) → registration
//! lines. Column layouts live in `rules/excel/*.toml`: header names and
//! aliases (never positions), how many rows the header spans, which sheets
//! to look at, the control-total row and what to do with bad rows. The two
//! real templates (Comiagro's registration format and the exchange's
//! "plantilla 51") ship as built-in layouts, so the step works without the
//! directory too.
//!
//! Pure: bytes + layouts in, lines + findings out. Errors name the sheet, row
//! and column, in Spanish.
//!
//! This file holds the layouts (raw shapes, compile, load); `excel/read.rs`
//! reads a workbook with them.

mod header;
mod homologation;
mod read;

#[cfg(test)]
use read::*;
pub use read::{
    DecodedBook, HomologationEntry, RegistrationLine, Sheet, Side, Workbook, col_name,
    decode_sheets, fill_merged, map_decoded, map_ranges, read, tidy,
};

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::str::FromStr;

use calamine::{Data, Range, Reader};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::extract::{parse_date, parse_money};
use crate::dian::nit;
use crate::problems::{ConfigError, Problems};
use crate::result::Finding;

/// Built-in layouts (the files under `rules/excel/` at build time).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "comiagro-2024.toml",
        include_str!("../../rules/excel/comiagro-2024.toml"),
    ),
    (
        "homologacion.toml",
        include_str!("../../rules/excel/homologacion.toml"),
    ),
    (
        "plantilla51.toml",
        include_str!("../../rules/excel/plantilla51.toml"),
    ),
];

/// The registration-line fields a layout can map.
pub const FIELDS: &[&str] = &[
    "counterparty",
    "nit",
    "address",
    "phone",
    "delivery_city",
    "invoice_number",
    "date",
    "payment_terms",
    "product",
    "packaging",
    "quantity",
    "unit_price",
    "total",
    "iva_pct",
    "side",
    "observations",
    "principal",
    "agency",
    "principal_name",
    "commission_pct",
    "warehouse",
    "incentive",
    "invoice_quantity",
    "invoice_unit",
    "currency",
    "product_code",
    "catalog_name",
];

const REQUIRED_FOR_LINE: &[&str] = &[
    "counterparty",
    "nit",
    "invoice_number",
    "date",
    "product",
    "quantity",
    "unit_price",
    "total",
    "iva_pct",
    "side",
];

/// The fields a homologation sheet must map (product text as the broker
/// writes it → catalog code); `nit` and `catalog_name` are optional there.
const REQUIRED_FOR_HOMOLOGATION: &[&str] = &["product", "product_code"];

/// Raw shape of a layout file.
#[derive(Debug, Deserialize)]
pub struct RawLayout {
    /// Short name reported in results.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `lines` (default): invoice rows → registration lines;
    /// `homologation`: product text (+ NIT) → catalog code entries.
    #[serde(default = "lines")]
    pub kind: String,
    /// Sheets where the layout is expected, in order of preference. Any
    /// other sheet is searched too (brokers rename sheets); a listed sheet
    /// only wins ties.
    #[serde(default)]
    pub sheets: Vec<String>,
    /// Rows the header usually spans (their texts are joined per column).
    /// Default 1. Headers spanning up to 3 rows are recognised whatever
    /// this says; it is the template's shape, for documentation.
    #[serde(default = "one")]
    pub header_rows: usize,
    /// How far down the header is searched. Default 40.
    #[serde(default = "forty")]
    pub max_header_row: usize,
    /// Columns that must be recognised for the header to count. Default: all required ones.
    #[serde(default)]
    pub min_columns: Option<usize>,
    /// A row whose key columns are all empty is not a data row (blank,
    /// instructions, formula-only rows). Default counterparty, nit, invoice_number.
    #[serde(default)]
    pub key_columns: Vec<String>,
    /// `per-row` (default): bad rows are reported and the rest processed;
    /// `all-or-nothing`: one bad row rejects the file.
    #[serde(default = "per_row")]
    pub on_bad_rows: String,
    /// Allowed IVA rates in percent. Default [0, 5, 19].
    #[serde(default)]
    pub iva_rates: Vec<Decimal>,
    /// Tolerance for quantity × unit price = total and the control total, in pesos. Default 1.
    #[serde(default)]
    pub tolerance: Option<Decimal>,
    /// Values meaning the client buys / sells.
    #[serde(default)]
    pub side_buy: Vec<String>,
    #[serde(default)]
    pub side_sell: Vec<String>,
    /// Labels of a totals row below the data ("TOTAL", "TOTALES", ...):
    /// compared without accents, case or spaces; a label cell may continue
    /// ("TOTAL GENERAL", "TOTALES MARZO"). Default: TOTAL, TOTALES,
    /// SUBTOTAL, GRAN TOTAL, SUMA, SUMAS.
    #[serde(default)]
    pub totals_labels: Vec<String>,
    /// Fields whose column a totals row is checked against (the sum of the
    /// data rows above it). Default: total, quantity.
    #[serde(default)]
    pub totals_fields: Vec<String>,
    pub columns: BTreeMap<String, RawColumn>,
    #[serde(default)]
    pub control_total: Option<RawControlTotal>,
}

fn one() -> usize {
    1
}
fn lines() -> String {
    "lines".into()
}
fn forty() -> usize {
    40
}
fn per_row() -> String {
    "per-row".into()
}

#[derive(Debug, Deserialize)]
pub struct RawColumn {
    /// Header texts that name this column (compared without accents, case
    /// or punctuation; a header may continue after the alias).
    pub headers: Vec<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Deserialize)]
pub struct RawControlTotal {
    /// Text of the label cell above the header, e.g. "Totales de Control".
    pub label: String,
    /// The field whose column sum it controls (default `total`).
    #[serde(default = "total_field")]
    pub field: String,
}

fn total_field() -> String {
    "total".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadRows {
    PerRow,
    AllOrNothing,
}

/// What a layout reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutKind {
    /// Invoice rows → registration lines.
    Lines,
    /// Product names as the broker writes them (per NIT) → catalog codes.
    Homologation,
}

/// A compiled layout.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    pub kind: LayoutKind,
    pub file: String,
    pub sheets: Vec<String>,
    pub header_rows: usize,
    pub max_header_row: usize,
    pub min_columns: usize,
    pub key_columns: Vec<String>,
    pub on_bad_rows: BadRows,
    pub iva_rates: Vec<Decimal>,
    pub tolerance: Decimal,
    pub side_buy: Vec<String>,
    pub side_sell: Vec<String>,
    /// Normalised totals-row labels, spaces removed.
    pub totals_labels: Vec<String>,
    pub totals_fields: Vec<String>,
    /// field → (normalised aliases, required)
    pub columns: Vec<(String, Vec<String>, bool)>,
    pub control_total: Option<(String, String)>,
}

/// Normalise a header or label: uppercase ASCII without accents, words
/// separated by single spaces, punctuation dropped.
pub fn norm(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = match c {
            'á' | 'à' | 'ä' | 'Á' | 'À' | 'Ä' => 'A',
            'é' | 'è' | 'ë' | 'É' | 'È' | 'Ë' => 'E',
            'í' | 'ì' | 'ï' | 'Í' | 'Ì' | 'Ï' => 'I',
            'ó' | 'ò' | 'ö' | 'Ó' | 'Ò' | 'Ö' => 'O',
            'ú' | 'ù' | 'ü' | 'Ú' | 'Ù' | 'Ü' => 'U',
            'ñ' | 'Ñ' => 'N',
            'â' | 'ã' | 'Â' | 'Ã' => 'A',
            'ê' | 'Ê' => 'E',
            'î' | 'Î' => 'I',
            'ô' | 'õ' | 'Ô' | 'Õ' => 'O',
            'û' | 'Û' => 'U',
            'ç' | 'Ç' => 'C',
            // "Nº", "N°": the ordinal marks are letters to Unicode.
            'º' | 'ª' | '°' => ' ',
            c if c.is_alphanumeric() => c.to_ascii_uppercase(),
            _ => ' ',
        };
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`norm`] without spaces: "VALORTOTAL", "VALOR  TOTAL" and "Valor total"
/// all become "VALORTOTAL".
pub fn compact(s: &str) -> String {
    norm(s).replace(' ', "")
}

impl Layout {
    pub fn compile(raw: RawLayout, file: &Path, p: &mut Problems) -> Layout {
        let mut columns = Vec::new();
        for (field, c) in raw.columns {
            if !FIELDS.contains(&field.as_str()) {
                p.error(
                    file,
                    format!("columns.{field}"),
                    format!("unknown field (one of: {})", FIELDS.join(", ")),
                );
            }
            if c.headers.is_empty() {
                p.error(
                    file,
                    format!("columns.{field}.headers"),
                    "at least one header name is required",
                );
            }
            columns.push((
                field,
                c.headers.iter().map(|h| norm(h)).collect(),
                c.required,
            ));
        }
        // The registration-line order of FIELDS (close to the templates'
        // column order), for messages that list them.
        columns.sort_by_key(|(f, _, _)| FIELDS.iter().position(|x| x == f));
        let kind = match raw.kind.as_str() {
            "lines" => LayoutKind::Lines,
            "homologation" => LayoutKind::Homologation,
            other => {
                p.error(
                    file,
                    "kind",
                    format!("'{other}' is not one of: lines, homologation"),
                );
                LayoutKind::Lines
            }
        };
        let (needed, what) = match kind {
            LayoutKind::Lines => (REQUIRED_FOR_LINE, "a registration line"),
            LayoutKind::Homologation => (REQUIRED_FOR_HOMOLOGATION, "a homologation entry"),
        };
        for r in needed {
            if !columns.iter().any(|(f, _, _)| f == r) {
                p.error(file, "columns", format!("field '{r}' is needed for {what}"));
            }
        }
        let on_bad_rows = match raw.on_bad_rows.as_str() {
            "per-row" => BadRows::PerRow,
            "all-or-nothing" => BadRows::AllOrNothing,
            other => {
                p.error(
                    file,
                    "on_bad_rows",
                    format!("'{other}' is not one of: per-row, all-or-nothing"),
                );
                BadRows::PerRow
            }
        };
        if raw.header_rows == 0 || raw.header_rows > 3 {
            p.error(file, "header_rows", "must be 1, 2 or 3");
        }
        let required = columns.iter().filter(|c| c.2).count();
        let key_columns = if !raw.key_columns.is_empty() {
            raw.key_columns
        } else if kind == LayoutKind::Homologation {
            vec!["product".into(), "product_code".into()]
        } else {
            vec!["counterparty".into(), "nit".into(), "invoice_number".into()]
        };
        let totals_fields = if raw.totals_fields.is_empty() {
            ["total", "quantity"]
                .into_iter()
                .filter(|f| columns.iter().any(|(c, _, _)| c == f))
                .map(String::from)
                .collect()
        } else {
            raw.totals_fields
        };
        for f in &totals_fields {
            if !columns.iter().any(|(c, _, _)| c == f) {
                p.error(
                    file,
                    "totals_fields",
                    format!("'{f}' is not a declared column"),
                );
            }
        }
        let totals_labels: Vec<String> = if raw.totals_labels.is_empty() {
            [
                "TOTAL",
                "TOTALES",
                "SUBTOTAL",
                "GRAN TOTAL",
                "SUMA",
                "SUMAS",
            ]
            .into_iter()
            .map(compact)
            .collect()
        } else {
            raw.totals_labels.iter().map(|l| compact(l)).collect()
        };
        for k in &key_columns {
            if !columns.iter().any(|(f, _, _)| f == k) {
                p.error(
                    file,
                    "key_columns",
                    format!("'{k}' is not a declared column"),
                );
            }
        }
        let control_total = raw.control_total.map(|c| {
            if !columns.iter().any(|(f, _, _)| *f == c.field) {
                p.error(
                    file,
                    "control_total.field",
                    format!("'{}' is not a declared column", c.field),
                );
            }
            (norm(&c.label), c.field)
        });
        Layout {
            name: raw.name,
            kind,
            file: file.display().to_string(),
            sheets: raw.sheets,
            header_rows: raw.header_rows.clamp(1, 3),
            max_header_row: raw.max_header_row,
            min_columns: raw.min_columns.unwrap_or(required.max(1)),
            key_columns,
            on_bad_rows,
            iva_rates: if raw.iva_rates.is_empty() {
                vec![Decimal::ZERO, Decimal::from(5), Decimal::from(19)]
            } else {
                raw.iva_rates
            },
            tolerance: raw.tolerance.unwrap_or(Decimal::ONE),
            side_buy: if raw.side_buy.is_empty() {
                vec![
                    "C".into(),
                    "COMPRA".into(),
                    "COMPRAS".into(),
                    "COMPRADOR".into(),
                ]
            } else {
                raw.side_buy.iter().map(|s| norm(s)).collect()
            },
            side_sell: if raw.side_sell.is_empty() {
                vec![
                    "V".into(),
                    "VENTA".into(),
                    "VENTAS".into(),
                    "VENDEDOR".into(),
                ]
            } else {
                raw.side_sell.iter().map(|s| norm(s)).collect()
            },
            totals_labels,
            totals_fields,
            columns,
            control_total,
        }
    }

    /// Compile one layout from TOML text.
    pub fn parse(text: &str, file: &Path) -> Result<Layout, Vec<ConfigError>> {
        let mut p = Problems::default();
        let value: toml::Value = toml::from_str(text)
            .map_err(|e| vec![ConfigError::new(file, "", format!("not valid TOML: {e}"))])?;
        let raw: Option<RawLayout> = crate::problems::section(value, file, "", &mut p);
        let layout = raw.map(|r| Layout::compile(r, file, &mut p));
        match layout {
            Some(l) if !p.has_errors() => Ok(l),
            _ => Err(p.items),
        }
    }
}

/// Every `*.toml` in `dir` (sorted), or the built-in layouts when `dir`
/// does not exist. All problems are returned at once.
pub fn load_layouts(dir: &Path) -> Result<Vec<Layout>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    if !dir.is_dir() {
        return builtin_layouts();
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| {
            vec![ConfigError::new(
                dir,
                "",
                format!("cannot read directory: {e}"),
            )]
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => match Layout::parse(&t, &f) {
                Ok(l) => out.push(l),
                Err(e) => errors.extend(e),
            },
            Err(e) => errors.push(ConfigError::new(&f, "", format!("cannot read file: {e}"))),
        }
    }
    if errors.iter().any(|e| !e.warning) {
        return Err(errors);
    }
    Ok(out)
}

pub fn builtin_layouts() -> Result<Vec<Layout>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in BUILTIN {
        match Layout::parse(text, Path::new(&format!("rules/excel/{name}"))) {
            Ok(l) => out.push(l),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_layouts_compile() {
        let l = builtin_layouts().unwrap();
        let kinds: Vec<_> = l.iter().map(|l| (l.name.as_str(), l.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("comiagro-2024", LayoutKind::Lines),
                ("homologacion", LayoutKind::Homologation),
                ("plantilla51", LayoutKind::Lines),
            ]
        );
    }

    #[test]
    fn names() {
        assert_eq!(col_name(0), "A");
        assert_eq!(col_name(10), "K");
        assert_eq!(col_name(27), "AB");
        assert_eq!(norm("VALOR\nUNITARIO *"), "VALOR UNITARIO");
        assert_eq!(norm("% IVA PRODUCTO"), "IVA PRODUCTO");
        assert_eq!(norm("No. FACTURA"), "NO FACTURA");
        assert_eq!(serial_date(45366.0), NaiveDate::from_ymd_opt(2024, 3, 15));
    }

    #[test]
    fn blank_templates_are_recognised() {
        let layouts = builtin_layouts().unwrap();
        for (file, layout, header_row) in [
            (
                "../shared/fixtures/bmc/Formato_Registro_Comiagro_SA_2024.xls",
                "comiagro-2024",
                12,
            ),
            (
                "../shared/fixtures/bmc/PLANTILLA51_SIMONA.xls",
                "plantilla51",
                3,
            ),
        ] {
            let Ok(bytes) = std::fs::read(file) else {
                continue;
            };
            let wb = read(&bytes, &layouts);
            let codes: Vec<_> = wb.findings.iter().map(|f| f.code.as_str()).collect();
            assert_eq!(wb.sheets.len(), 1, "{file}: {:?}", wb.findings);
            assert_eq!(wb.sheets[0].layout, layout);
            assert_eq!(wb.sheets[0].header_row, header_row);
            // Blank: no rows to register.
            assert!(codes.contains(&"PAS621"), "{codes:?}");
        }
    }

    #[test]
    fn garbage_is_a_finding() {
        let wb = read(b"PK\x03\x04 not a zip", &builtin_layouts().unwrap());
        assert_eq!(wb.findings[0].code, "PAS600");
        let wb = read(
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0],
            &builtin_layouts().unwrap(),
        );
        assert_eq!(wb.findings[0].code, "PAS600");
    }
}
