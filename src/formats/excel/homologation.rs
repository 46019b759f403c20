//! Homologation sheets: the broker's table of product names (as it or its
//! client's counterparties write them, per NIT) → catalog codes. Each
//! usable row becomes a [`HomologationEntry`]; a row without a code or with
//! a bad NIT is a notice (PAS640) and is left out; the same product for the
//! same NIT with two codes is a notice (PAS641) and the first row wins.

use super::header::{Fields, HeaderMatch, HeaderText, header_label};
use super::read::{HomologationEntry, Workbook, cell_text};
use super::*;

pub(super) fn read_entries(
    fields: &Fields<'_>,
    sheet: &str,
    range: &Range<Data>,
    header: &HeaderMatch,
    wb: &mut Workbook,
) {
    let layout = fields.layout;
    let cols = &header.cols;
    let Some((r1, _)) = range.end() else {
        return;
    };
    let header_name = |field: &str| -> String {
        cols.get(field)
            .map(|c| header_label(range, header.row, header.depth, *c))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| field.to_string())
    };
    let loc = |row_no: u32, field: &str| -> String {
        let c = cols.get(field).copied().unwrap_or(0);
        format!(
            "hoja '{sheet}', fila {row_no}, columna {} ({})",
            col_name(c),
            header_name(field)
        )
    };
    // (nit, product key) → index in wb.homologation (earlier sheets too)
    let mut seen: BTreeMap<(Option<String>, String), usize> = wb
        .homologation
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.nit.clone(), compact(&e.product)), i))
        .collect();
    for r in (header.row + header.depth)..=r1 {
        let get = |field: &str| -> String {
            cols.get(field)
                .and_then(|c| range.get_value((r, *c)))
                .map(cell_text)
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        if layout.key_columns.iter().all(|k| get(k).is_empty()) {
            continue;
        }
        let row_no = r + 1;
        let (product, code, nit_raw) = (get("product"), get("product_code"), get("nit"));
        // The header repeated further down.
        if fields.quality_for("product", &HeaderText::new(&product)) >= 5
            && fields.quality_for("product_code", &HeaderText::new(&code)) >= 5
        {
            continue;
        }
        if product.is_empty() || code.is_empty() {
            let (what, field) = if product.is_empty() {
                ("el nombre del producto", "product")
            } else {
                ("el código del catálogo", "product_code")
            };
            wb.findings.push(
                Finding::notify(
                    "PAS640",
                    format!(
                        "Homologación: falta {what} en la fila {row_no} de la hoja '{sheet}'; la fila no se usa."
                    ),
                )
                .at(loc(row_no, field)),
            );
            continue;
        }
        let nit = if nit_raw.is_empty() {
            None
        } else {
            match nit::parse_typed(&nit_raw) {
                Some(t)
                    if t.dv
                        .is_none_or(|d| nit::printed_dv_matches(&t.digits, d).is_some()) =>
                {
                    Some(t.digits.to_string())
                }
                _ => {
                    wb.findings.push(
                        Finding::notify(
                            "PAS640",
                            format!(
                                "Homologación: el NIT '{nit_raw}' de la fila {row_no} no es válido; la fila no se usa."
                            ),
                        )
                        .at(loc(row_no, "nit")),
                    );
                    continue;
                }
            }
        };
        let key = (nit.clone(), compact(&product));
        if let Some(&i) = seen.get(&key) {
            let first = &wb.homologation[i];
            if first.code != code {
                wb.findings.push(
                    Finding::notify(
                        "PAS641",
                        format!(
                            "Homologación: el producto '{product}' tiene el código {} en la fila {} de la hoja '{}' y {code} en la fila {row_no}; se usa {}.",
                            first.code, first.row, first.sheet, first.code
                        ),
                    )
                    .at(loc(row_no, "product_code")),
                );
            }
            continue;
        }
        let catalog_name = Some(get("catalog_name")).filter(|s| !s.is_empty());
        seen.insert(key, wb.homologation.len());
        wb.homologation.push(HomologationEntry {
            sheet: sheet.to_string(),
            row: row_no,
            nit,
            product,
            code,
            catalog_name,
        });
    }
}
