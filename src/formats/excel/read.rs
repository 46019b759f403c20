//! Reading a workbook with the compiled layouts: decoding the sheets (in the
//! sandboxed worker), finding each layout's header, mapping rows to
//! registration lines with Spanish errors, and the control totals.

use super::*;

/// Buyer or seller ("punta").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The client buys (punta compradora, C).
    Compra,
    /// The client sells (punta vendedora, V).
    Venta,
}

/// One spreadsheet row as a registration line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistrationLine {
    pub sheet: String,
    /// 1-based row number as the user sees it.
    pub row: u32,
    pub counterparty: String,
    pub nit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dv: Option<u8>,
    pub invoice_number: String,
    pub date: NaiveDate,
    pub product: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub iva_pct: Decimal,
    pub side: Side,
    /// Other mapped columns (delivery city, payment terms, product code...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// The result of reading a workbook.
#[derive(Debug, Clone, Serialize)]
pub struct Sheet {
    pub layout: String,
    pub sheet: String,
    /// 1-based row of the (first) header row.
    pub header_row: u32,
    pub lines: Vec<RegistrationLine>,
    pub rejected_rows: Vec<u32>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub control_total: Option<Decimal>,
    pub on_bad_rows: BadRows,
}

/// What the step reports.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Workbook {
    pub sheets: Vec<Sheet>,
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// Column letters as Excel shows them (0 → A, 27 → AB).
pub fn col_name(mut c: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    s.reverse();
    String::from_utf8_lossy(&s).into_owned()
}

pub(super) fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                format!("{f}")
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => dt.as_f64().to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(_) | Data::Empty => String::new(),
    }
}

pub(super) fn cell_decimal(d: &Data) -> Option<Decimal> {
    match d {
        Data::Int(i) => Some(Decimal::from(*i)),
        Data::Float(f) if f.is_finite() => Decimal::from_str(&format!("{f}")).ok(),
        Data::String(s) => {
            let t = s.trim().trim_end_matches('%').trim();
            parse_money(t)
                .or_else(|| Decimal::from_str(t).ok())
                .map(|v| if t.starts_with('-') { -v } else { v })
        }
        _ => None,
    }
}

/// Excel serial (1900 system) to a date.
pub(super) fn serial_date(serial: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    base.checked_add_signed(chrono::Duration::days(serial.floor() as i64))
}

pub(super) fn cell_date(d: &Data) -> Option<NaiveDate> {
    match d {
        Data::DateTime(dt) => serial_date(dt.as_f64()),
        Data::Float(f) => serial_date(*f),
        Data::Int(i) => serial_date(*i as f64),
        Data::DateTimeIso(s) => NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok(),
        Data::String(s) => parse_date(s.trim()),
        _ => None,
    }
}

/// (score, layout index, layout, sheet name, cells, header row, field → column)
pub(super) type Candidate<'a> = (
    usize,
    usize,
    &'a Layout,
    &'a String,
    &'a Range<Data>,
    u32,
    BTreeMap<String, u32>,
);

/// The cells of every sheet of a workbook, as the decoder read them, and
/// what went wrong. This is the part that parses untrusted bytes (the zip
/// container, XML or BIFF records): the daemon runs it in the sandboxed
/// worker (`formats::decode`), never in its own process.
#[derive(Debug, Default)]
pub struct DecodedBook {
    pub ranges: Vec<(String, Range<Data>)>,
    pub findings: Vec<Finding>,
    /// The workbook as a whole could not be read: nothing to map.
    pub unreadable: bool,
}

/// Decode every sheet of a workbook (zip-bomb guard, then calamine).
pub fn decode_sheets(bytes: &[u8]) -> DecodedBook {
    let mut out = DecodedBook::default();
    if let Err(refusal) =
        crate::formats::zipguard::check(bytes, crate::formats::zipguard::ZipLimits::default())
    {
        out.findings.push(Finding::reject(
            "PAS603",
            format!("La hoja de cálculo no se procesó: {refusal}."),
        ));
        out.unreadable = true;
        return out;
    }
    let result = std::panic::catch_unwind(|| open(bytes));
    let mut book = match result {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            out.findings.push(Finding::reject(
                "PAS600",
                format!("La hoja de cálculo no se pudo leer: {e}."),
            ));
            out.unreadable = true;
            return out;
        }
        Err(_) => {
            out.findings.push(Finding::reject(
                "PAS600",
                "La hoja de cálculo no se pudo leer: el archivo está dañado.",
            ));
            out.unreadable = true;
            return out;
        }
    };
    let names = book.sheet_names();
    for n in &names {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| book.worksheet_range(n))) {
            Ok(Ok(r)) => out.ranges.push((n.clone(), r)),
            Ok(Err(e)) => out.findings.push(
                Finding::notify("PAS600", format!("La hoja '{n}' no se pudo leer: {e}."))
                    .at(format!("hoja '{n}'")),
            ),
            Err(_) => out.findings.push(
                Finding::notify("PAS600", format!("La hoja '{n}' no se pudo leer (dañada)."))
                    .at(format!("hoja '{n}'")),
            ),
        }
    }
    out
}

/// Map decoded sheets to registration lines with the first layout that
/// recognises one of them.
pub fn map_decoded(book: DecodedBook, layouts: &[Layout]) -> Workbook {
    let mut wb = Workbook {
        findings: book.findings,
        ..Workbook::default()
    };
    if !book.unreadable {
        map_ranges(&book.ranges, layouts, &mut wb);
    }
    wb
}

/// Read a workbook in this process ([`decode_sheets`] then [`map_decoded`]).
/// For tests, benchmarks and fuzzing; the daemon decodes in the worker.
pub fn read(bytes: &[u8], layouts: &[Layout]) -> Workbook {
    map_decoded(decode_sheets(bytes), layouts)
}

/// The row mapping of [`read`], on sheets already read: pick the best
/// (layout, sheet, header row) and turn its rows into registration lines.
/// Public for the `excel_rows` fuzz target, which builds sheets directly.
pub fn map_ranges(ranges: &[(String, Range<Data>)], layouts: &[Layout], wb: &mut Workbook) {
    // Best (layout, sheet, header row) by number of recognised columns.
    let mut best: Option<Candidate> = None;
    for (li, layout) in layouts.iter().enumerate() {
        for (name, range) in ranges {
            if !layout.sheets.is_empty() && !layout.sheets.iter().any(|s| norm(s) == norm(name)) {
                continue;
            }
            if let Some((row, cols)) = find_header(layout, range) {
                let score = cols.len();
                if best
                    .as_ref()
                    .is_none_or(|b| score > b.0 || (score == b.0 && li < b.1))
                {
                    best = Some((score, li, layout, name, range, row, cols));
                }
            }
        }
    }
    let Some((_, _, layout, name, range, header_row, cols)) = best else {
        let known: Vec<&str> = layouts.iter().map(|l| l.name.as_str()).collect();
        wb.findings.push(Finding::reject(
            "PAS601",
            format!("Ninguna hoja tiene los encabezados de un formato conocido ({}); revise los nombres de las columnas.", known.join(", ")),
        ));
        return;
    };
    let sheet = read_rows(layout, name, range, header_row, &cols, &mut wb.findings);
    wb.sheets.push(sheet);
}

pub(super) fn open(bytes: &[u8]) -> Result<calamine::Sheets<Cursor<Vec<u8>>>, String> {
    calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|e| e.to_string())
}

/// The header row (absolute, 0-based) and the column of each recognised field.
pub(super) fn find_header(
    layout: &Layout,
    range: &Range<Data>,
) -> Option<(u32, BTreeMap<String, u32>)> {
    let (r0, c0) = range.start()?;
    let (r1, c1) = range.end()?;
    let mut best: Option<(u32, BTreeMap<String, u32>)> = None;
    for r in r0..=r1.min(r0 + layout.max_header_row as u32) {
        let mut texts: BTreeMap<u32, String> = BTreeMap::new();
        for c in c0..=c1 {
            let mut parts = Vec::new();
            for k in 0..layout.header_rows as u32 {
                if let Some(d) = range.get_value((r + k, c)) {
                    let t = norm(&cell_text(d));
                    if !t.is_empty() && !t.chars().all(|ch| ch.is_ascii_digit()) {
                        parts.push(t);
                    }
                }
            }
            if !parts.is_empty() {
                texts.insert(c, parts.join(" "));
            }
        }
        let mut cols = BTreeMap::new();
        for (field, aliases, _) in &layout.columns {
            // Exact match first, then "header starts with alias".
            let exact = texts
                .iter()
                .find(|(c, t)| aliases.iter().any(|a| *t == a) && !cols.values().any(|x| x == *c));
            let prefix = || {
                texts.iter().find(|(c, t)| {
                    aliases.iter().any(|a| t.starts_with(&format!("{a} ")))
                        && !cols.values().any(|x| x == *c)
                })
            };
            if let Some((c, _)) = exact.or_else(prefix) {
                cols.insert(field.clone(), *c);
            }
        }
        let required_ok = layout
            .columns
            .iter()
            .filter(|c| c.2)
            .all(|c| cols.contains_key(&c.0));
        if required_ok
            && cols.len() >= layout.min_columns
            && best.as_ref().is_none_or(|b| cols.len() > b.1.len())
        {
            best = Some((r, cols));
        }
    }
    best
}

/// Map the rows of one sheet under its header to registration lines.
///
/// Long on purpose: one loop over the rows whose per-field closures share
/// the row, its location and its error list (each field's conversion and
/// Spanish error is a few lines, in the templates' column order), followed
/// by the control total and the bad-rows decision for the sheet.
pub(super) fn read_rows(
    layout: &Layout,
    sheet: &str,
    range: &Range<Data>,
    header_row: u32,
    cols: &BTreeMap<String, u32>,
    findings: &mut Vec<Finding>,
) -> Sheet {
    let (_, c0) = range.start().unwrap_or((0, 0));
    let (r1, _) = range.end().unwrap_or((0, 0));
    let mut out = Sheet {
        layout: layout.name.clone(),
        sheet: sheet.to_string(),
        header_row: header_row + 1,
        lines: Vec::new(),
        rejected_rows: Vec::new(),
        control_total: None,
        on_bad_rows: layout.on_bad_rows,
    };
    let bad_sev = |msg: String, loc: String| match layout.on_bad_rows {
        BadRows::AllOrNothing => Finding::reject("PAS610", msg).at(loc),
        BadRows::PerRow => Finding::notify("PAS610", msg).at(loc),
    };
    let header_name = |field: &str| -> String {
        cols.get(field)
            .and_then(|c| range.get_value((header_row, *c)))
            .map(|d| cell_text(d).replace('\n', " ").trim().to_string())
            .unwrap_or_else(|| field.to_string())
    };
    let mut sum_totals = Decimal::ZERO;
    for r in (header_row + layout.header_rows as u32)..=r1 {
        let get = |field: &str| {
            cols.get(field)
                .and_then(|c| range.get_value((r, *c)))
                .unwrap_or(&Data::Empty)
        };
        let is_empty = |d: &Data| cell_text(d).is_empty();
        if layout.key_columns.iter().all(|k| is_empty(get(k))) {
            continue;
        }
        let row_no = r + 1;
        let loc = |field: &str| -> String {
            let c = cols.get(field).copied().unwrap_or(c0);
            format!(
                "hoja '{sheet}', fila {row_no}, columna {} ({})",
                col_name(c),
                header_name(field)
            )
        };
        let mut errors: Vec<Finding> = Vec::new();
        let text = |field: &str, errors: &mut Vec<Finding>| -> Option<String> {
            let t = cell_text(get(field));
            if t.is_empty() {
                errors.push(bad_sev(
                    format!(
                        "Falta el valor de '{}' en la fila {row_no}.",
                        header_name(field)
                    ),
                    loc(field),
                ));
                None
            } else {
                Some(t)
            }
        };
        let counterparty = text("counterparty", &mut errors);
        let nit_raw = text("nit", &mut errors);
        let invoice_number = text("invoice_number", &mut errors).map(|s| s.replace(' ', ""));
        let product = text("product", &mut errors);
        let number = |field: &str, errors: &mut Vec<Finding>| -> Option<Decimal> {
            let d = get(field);
            if is_empty(d) {
                errors.push(bad_sev(
                    format!(
                        "Falta el valor de '{}' en la fila {row_no}.",
                        header_name(field)
                    ),
                    loc(field),
                ));
                return None;
            }
            let v = cell_decimal(d);
            if v.is_none() {
                errors.push(bad_sev(
                    format!(
                        "'{}' no es un número válido en '{}'.",
                        cell_text(d),
                        header_name(field)
                    ),
                    loc(field),
                ));
            }
            v
        };
        let quantity = number("quantity", &mut errors);
        let unit_price = number("unit_price", &mut errors);
        let total = number("total", &mut errors);
        let iva_raw = number("iva_pct", &mut errors);
        if let Some(t) = total {
            sum_totals += t;
        }
        // Dates: Excel serial or DD/MM/YYYY text.
        let date_cell = get("date");
        let date = if is_empty(date_cell) {
            errors.push(bad_sev(
                format!("Falta la fecha de la factura en la fila {row_no}."),
                loc("date"),
            ));
            None
        } else {
            let d = cell_date(date_cell);
            if d.is_none() {
                errors.push(bad_sev(
                    format!(
                        "La fecha '{}' no es válida; use DD/MM/AAAA.",
                        cell_text(date_cell)
                    ),
                    loc("date"),
                ));
            }
            d
        };
        // NIT with optional DV ("900373991-9").
        let (nit, dv) = match &nit_raw {
            Some(raw) => {
                match nit::parse_typed(raw) {
                    None => {
                        errors.push(bad_sev(format!("El NIT '{raw}' no es válido."), loc("nit")));
                        (None, None)
                    }
                    Some(typed) => {
                        let dv = match typed.dv {
                            Some(d) => match nit::printed_dv_matches(&typed.digits, d) {
                                Some(p) => Some(p),
                                None => {
                                    errors.push(bad_sev(format!("El dígito de verificación del NIT '{raw}' no corresponde."), loc("nit")));
                                    None
                                }
                            },
                            None => None,
                        };
                        (Some(typed.digits), dv)
                    }
                }
            }
            None => (None, None),
        };
        let iva = iva_raw
            .map(|v| {
                if v > Decimal::ZERO && v < Decimal::ONE {
                    v * Decimal::ONE_HUNDRED
                } else {
                    v
                }
            })
            .map(|v| v.normalize());
        if let Some(v) = iva
            && !layout.iva_rates.contains(&v)
        {
            let rates: Vec<String> = layout.iva_rates.iter().map(|r| r.to_string()).collect();
            errors.push(bad_sev(
                format!(
                    "Tarifa de IVA {v} % no admitida (valores válidos: {}).",
                    rates.join(", ")
                ),
                loc("iva_pct"),
            ));
        }
        let side_cell = norm(&cell_text(get("side")));
        let side = if side_cell.is_empty() {
            errors.push(bad_sev(
                format!(
                    "Falta '{}' (compra o venta) en la fila {row_no}.",
                    header_name("side")
                ),
                loc("side"),
            ));
            None
        } else if layout.side_buy.contains(&side_cell) {
            Some(Side::Compra)
        } else if layout.side_sell.contains(&side_cell) {
            Some(Side::Venta)
        } else {
            errors.push(bad_sev(
                format!(
                    "'{side_cell}' no es un valor válido para '{}'.",
                    header_name("side")
                ),
                loc("side"),
            ));
            None
        };
        if let (Some(q), Some(p), Some(t)) = (quantity, unit_price, total) {
            let base = q * p;
            let with_iva = iva.map(|i| base * (Decimal::ONE_HUNDRED + i) / Decimal::ONE_HUNDRED);
            let ok = (base - t).abs() <= layout.tolerance
                || with_iva.is_some_and(|w| (w - t).abs() <= layout.tolerance);
            if !ok {
                errors.push(bad_sev(
                    format!(
                        "Cantidad × valor unitario ({}) no coincide con el total ({t}).",
                        base.round_dp(2)
                    ),
                    loc("total"),
                ));
            }
        }
        if !errors.is_empty() {
            out.rejected_rows.push(row_no);
            findings.extend(errors);
            continue;
        }
        let (
            Some(counterparty),
            Some(nit),
            Some(invoice_number),
            Some(date),
            Some(product),
            Some(quantity),
            Some(unit_price),
            Some(total),
            Some(iva_pct),
            Some(side),
        ) = (
            counterparty,
            nit,
            invoice_number,
            date,
            product,
            quantity,
            unit_price,
            total,
            iva,
            side,
        )
        else {
            continue;
        };
        let packaging = cols
            .get("packaging")
            .and_then(|c| range.get_value((r, *c)))
            .map(cell_text)
            .filter(|s| !s.is_empty());
        let mut extra = BTreeMap::new();
        for (field, c) in cols {
            if REQUIRED_FOR_LINE.contains(&field.as_str()) || field == "packaging" {
                continue;
            }
            if let Some(d) = range.get_value((r, *c)) {
                let t = cell_text(d);
                if !t.is_empty() {
                    extra.insert(field.clone(), t);
                }
            }
        }
        out.lines.push(RegistrationLine {
            sheet: sheet.to_string(),
            row: row_no,
            counterparty,
            nit,
            dv,
            invoice_number,
            date,
            product,
            packaging,
            quantity,
            unit_price,
            total,
            iva_pct,
            side,
            extra,
        });
    }
    // Control total: a labelled cell above the header.
    if let Some((label, field)) = &layout.control_total {
        let col = cols.get(field).copied();
        let (r0, c0) = range.start().unwrap_or((0, 0));
        let (_, c1) = range.end().unwrap_or((0, 0));
        'search: for r in r0..header_row {
            for c in c0..=c1 {
                let Some(d) = range.get_value((r, c)) else {
                    continue;
                };
                if !norm(&cell_text(d)).starts_with(label.as_str()) {
                    continue;
                }
                let value = col
                    .and_then(|k| range.get_value((r, k)))
                    .and_then(cell_decimal)
                    .or_else(|| {
                        ((c + 1)..=c1).find_map(|k| range.get_value((r, k)).and_then(cell_decimal))
                    });
                let loc = format!(
                    "hoja '{sheet}', fila {}, columna {}",
                    r + 1,
                    col_name(col.unwrap_or(c))
                );
                match value {
                    Some(v) => {
                        out.control_total = Some(v);
                        if (v - sum_totals).abs() > layout.tolerance {
                            findings.push(
                                Finding::reject(
                                    "PAS620",
                                    format!("El total de control ({v}) no coincide con la suma de la columna '{}' ({sum_totals}).", header_name(field)),
                                )
                                .at(loc),
                            );
                        }
                    }
                    None => findings.push(
                        Finding::notify("PAS622", "No se pudo leer el valor del total de control.")
                            .at(loc),
                    ),
                }
                break 'search;
            }
        }
    }
    if out.lines.is_empty() && out.rejected_rows.is_empty() {
        findings.push(
            Finding::reject(
                "PAS621",
                format!("La hoja '{sheet}' no tiene filas de facturas para registrar."),
            )
            .at(format!("hoja '{sheet}'")),
        );
    } else if out.lines.is_empty() {
        findings.push(
            Finding::reject(
                "PAS630",
                format!(
                    "Ninguna fila de la hoja '{sheet}' es válida ({} con errores).",
                    out.rejected_rows.len()
                ),
            )
            .at(format!("hoja '{sheet}'")),
        );
    } else if !out.rejected_rows.is_empty() {
        let msg = match layout.on_bad_rows {
            BadRows::PerRow => format!(
                "{} fila(s) con errores no se registran; se procesan las {} restantes.",
                out.rejected_rows.len(),
                out.lines.len()
            ),
            BadRows::AllOrNothing => format!(
                "{} fila(s) con errores: el archivo se rechaza completo (todo o nada).",
                out.rejected_rows.len()
            ),
        };
        findings.push(Finding::notify("PAS631", msg).at(format!("hoja '{sheet}'")));
        if layout.on_bad_rows == BadRows::AllOrNothing {
            out.lines.clear();
        }
    }
    out
}
