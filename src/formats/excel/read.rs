//! Reading a workbook with the compiled layouts: decoding the sheets (in the
//! sandboxed worker: merged cells filled, blank and zero-only trailing rows
//! dropped), finding each layout's header on any sheet, mapping rows to
//! registration lines with Spanish errors, the control totals (a labelled
//! cell above the header, and "TOTAL" rows below the data), and the
//! homologation sheets.

use super::header::{self, Fields, HeaderMatch};
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
    /// Rows the header spans (1–3).
    pub header_depth: u32,
    pub lines: Vec<RegistrationLine>,
    pub rejected_rows: Vec<u32>,
    /// Totals rows ("TOTAL", "TOTALES", "SUBTOTAL" …) found among the rows:
    /// checked against the rows above them, never read as invoices.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub totals_rows: Vec<u32>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub control_total: Option<Decimal>,
    pub on_bad_rows: BadRows,
}

/// One row of a homologation sheet: the product as the broker (or its
/// client's counterparty) writes it, for one NIT or for all, and the
/// catalog code (subyacente) it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HomologationEntry {
    pub sheet: String,
    /// 1-based row.
    pub row: u32,
    /// NIT digits without the DV; `None`: every counterparty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nit: Option<String>,
    /// As written on the sheet (trimmed).
    pub product: String,
    /// The catalog code.
    pub code: String,
    /// The catalog's name for the code, when the sheet has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_name: Option<String>,
}

/// What the step reports.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Workbook {
    pub sheets: Vec<Sheet>,
    /// Entries of the homologation sheets, in sheet and row order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub homologation: Vec<HomologationEntry>,
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

/// Most merged regions filled per sheet, cells per region and cells in all
/// (a hostile file may declare millions of merges).
const MAX_MERGES: usize = 10_000;
const MAX_MERGE_AREA: u64 = 10_000;
const MAX_MERGE_FILL: u64 = 200_000;

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

/// Decode every sheet of a workbook (zip-bomb guard, then calamine): each
/// merged region gets its value in every cell, and the used area is cut to
/// the cells that say something (see [`tidy`]).
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
            Ok(Ok(mut r)) => {
                let merges = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    merged_regions(&mut book, n)
                }))
                .unwrap_or_default();
                fill_merged(&mut r, &merges);
                out.ranges.push((n.clone(), tidy(r)));
            }
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

/// The merged regions of a sheet (xls and xlsx; none for other formats or
/// when they cannot be read).
fn merged_regions(
    book: &mut calamine::Sheets<Cursor<Vec<u8>>>,
    name: &str,
) -> Vec<calamine::Dimensions> {
    let mut v = match book {
        calamine::Sheets::Xls(x) => x.merge_cells_by_sheet_name(name).unwrap_or_default(),
        calamine::Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(name).unwrap_or_default(),
        _ => Vec::new(),
    };
    v.truncate(MAX_MERGES);
    v
}

/// Give every cell of a merged region the value of its top-left cell (what
/// the user sees): a "FACTURA" merged over "No." and "FECHA", a client name
/// merged over the rows of one invoice. Bounded per region and in all;
/// cells outside the used area are left alone.
pub fn fill_merged(range: &mut Range<Data>, merges: &[calamine::Dimensions]) {
    let (Some((r0, c0)), Some((r1, c1))) = (range.start(), range.end()) else {
        return;
    };
    let mut budget = MAX_MERGE_FILL;
    for m in merges {
        let (top, left) = m.start;
        let (bottom, right) = (m.end.0.min(r1), m.end.1.min(c1));
        if top < r0 || left < c0 || top > bottom || left > right {
            continue;
        }
        let area = u64::from(bottom - top + 1) * u64::from(right - left + 1);
        if area > MAX_MERGE_AREA || area > budget {
            continue;
        }
        budget -= area;
        let Some(v) = range.get_value((top, left)).cloned() else {
            continue;
        };
        if v == Data::Empty {
            continue;
        }
        for r in top..=bottom {
            for c in left..=right {
                if range.get_value((r, c)) == Some(&Data::Empty) {
                    range.set_value((r, c), v.clone());
                }
            }
        }
    }
}

fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// What a formula copied down an empty row leaves: 0, or an error
/// (`=BUSCARV(...)` gives #N/A).
fn is_filler(d: &Data) -> bool {
    match d {
        Data::Int(0) | Data::Error(_) => true,
        Data::Float(f) => *f == 0.0,
        _ => false,
    }
}

/// The sheet cut to the cells that say something: blank cells (empty, or
/// text of spaces, as formulas like `=SI(A5="";"";…)` leave them) are
/// dropped, and so are the trailing rows that hold nothing but blanks,
/// zeros and errors (a template's `=I14*J14` or a `=BUSCARV(…)` copied down
/// thousands of rows). A
/// formatted but empty tail therefore costs nothing after this.
pub fn tidy(range: Range<Data>) -> Range<Data> {
    let Some((r0, c0)) = range.start() else {
        return range;
    };
    let mut last_row: Option<u32> = None;
    let mut cols: Option<(u32, u32)> = None;
    let mut blanks = 0usize;
    for (r, c, d) in range.used_cells() {
        if is_blank(d) {
            blanks += 1;
            continue;
        }
        let (r, c) = (r0 + r as u32, c0 + c as u32);
        cols = Some(cols.map_or((c, c), |(a, b)| (a.min(c), b.max(c))));
        if !is_filler(d) {
            last_row = Some(last_row.map_or(r, |l| l.max(r)));
        }
    }
    let (Some(last_row), Some((first_col, last_col))) = (last_row, cols) else {
        return Range::empty();
    };
    let end = range.end().unwrap_or((r0, c0));
    if blanks == 0 && last_row == end.0 && first_col == c0 && last_col == end.1 {
        return range;
    }
    let cells: Vec<calamine::Cell<Data>> = range
        .used_cells()
        .map(|(r, c, d)| ((r0 + r as u32, c0 + c as u32), d))
        .filter(|((r, _), d)| *r <= last_row && !is_blank(d))
        .map(|(pos, d)| calamine::Cell::new(pos, d.clone()))
        .collect();
    Range::from_sparse(cells)
}

/// A sheet where an invoice layout recognises this many columns is an
/// invoice sheet, even when incomplete: never read as a homologation sheet.
const INVOICE_LIKE: usize = 5;

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

/// The row mapping of [`read`], on sheets already read. Every sheet is
/// searched with every layout, whatever its name (a layout's `sheets` only
/// win ties): each sheet recognised by an invoice layout is read (sheets
/// without rows are dropped when another has some); the other sheets
/// recognised by a homologation layout give homologation entries. Nothing
/// recognised is PAS601, saying what was expected and what the closest row
/// has. Public for the `excel_rows` fuzz target, which builds sheets
/// directly.
pub fn map_ranges(ranges: &[(String, Range<Data>)], layouts: &[Layout], wb: &mut Workbook) {
    let fields: Vec<Fields> = layouts.iter().map(Fields::new).collect();
    // Per sheet: the best complete invoice layout, the best complete
    // homologation layout; over all: the closest incomplete invoice header.
    type Pick<'a> = (usize, HeaderMatch, bool);
    let mut closest: Option<(usize, usize, HeaderMatch)> = None;
    let mut picks: Vec<(usize, Option<Pick>, Option<Pick>)> = Vec::new();
    let deepest = layouts.iter().map(|l| l.max_header_row).max().unwrap_or(0);
    let mut budget = header::HEADER_BUDGET;
    for (si, (name, range)) in ranges.iter().enumerate() {
        let mut lines: Option<Pick> = None;
        let mut homol: Option<Pick> = None;
        // Most columns an invoice layout recognises here, complete or not.
        let mut invoice_like = 0;
        let Some(cells) = header::HeaderCells::new(range, deepest, &mut budget) else {
            picks.push((si, None, None));
            continue;
        };
        for (li, f) in fields.iter().enumerate() {
            let layout = f.layout;
            let Some(m) = header::find_header(f, &cells) else {
                continue;
            };
            let preferred = layout.sheets.iter().any(|s| compact(s) == compact(name));
            if layout.kind == LayoutKind::Lines {
                invoice_like = invoice_like.max(m.cols.len());
            }
            if !m.complete {
                if layout.kind == LayoutKind::Lines
                    && closest.as_ref().is_none_or(|(_, _, b)| {
                        (m.cols.len(), m.quality) > (b.cols.len(), b.quality)
                    })
                {
                    closest = Some((li, si, m));
                }
                continue;
            }
            let slot = match layout.kind {
                LayoutKind::Lines => &mut lines,
                LayoutKind::Homologation => &mut homol,
            };
            let better = slot.as_ref().is_none_or(|(_, b, bp)| {
                (m.cols.len(), preferred, m.quality) > (b.cols.len(), *bp, b.quality)
            });
            if better {
                *slot = Some((li, m, preferred));
            }
        }
        // An invoice sheet missing a column (NOMBRE PRODUCTO and CODIGO
        // SUBYA are there too) is PAS601, not a homologation sheet.
        if invoice_like >= INVOICE_LIKE {
            homol = None;
        }
        picks.push((si, lines, homol));
    }
    let mut read: Vec<(Sheet, Vec<Finding>)> = Vec::new();
    for (si, lines, homol) in &picks {
        let (name, range) = &ranges[*si];
        if let Some((li, m, _)) = lines {
            let mut findings = Vec::new();
            let sheet = read_rows(&layouts[*li], name, range, m, &mut findings);
            read.push((sheet, findings));
        } else if let Some((li, m, _)) = homol {
            super::homologation::read_entries(&fields[*li], name, range, m, wb);
        }
    }
    if read.is_empty() && !wb.homologation.is_empty() {
        // A workbook of product names only: the submitter's homologation
        // table, recorded for its invoices; nothing to register here.
        wb.findings.push(Finding::notify(
            "PAS642",
            format!(
                "Se leyó la hoja de homologación ({} productos); se usará para identificar los productos de sus facturas. El libro no trae facturas para registrar.",
                wb.homologation.len()
            ),
        ));
        return;
    }
    if read.is_empty() {
        let c = closest
            .as_ref()
            .map(|(li, si, m)| (&layouts[*li], ranges[*si].0.as_str(), &ranges[*si].1, m));
        let mut msg = header::no_layout_message(layouts, ranges, c);
        if !wb.homologation.is_empty() {
            msg.push_str(&format!(
                " Se leyó la hoja de homologación ({} productos), pero no hay facturas para registrar.",
                wb.homologation.len()
            ));
        }
        wb.findings.push(Finding::reject("PAS601", msg));
        return;
    }
    let any_rows = read
        .iter()
        .any(|(s, _)| !s.lines.is_empty() || !s.rejected_rows.is_empty());
    let mut kept = 0;
    for (sheet, findings) in read {
        let has_rows = !sheet.lines.is_empty() || !sheet.rejected_rows.is_empty();
        // A blank copy of the template beside the filled sheet says nothing.
        if any_rows && !has_rows {
            continue;
        }
        if !any_rows && kept > 0 {
            continue;
        }
        kept += 1;
        wb.findings.extend(findings);
        wb.sheets.push(sheet);
    }
}

pub(super) fn open(bytes: &[u8]) -> Result<calamine::Sheets<Cursor<Vec<u8>>>, String> {
    calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|e| e.to_string())
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
    header: &HeaderMatch,
    findings: &mut Vec<Finding>,
) -> Sheet {
    let (header_row, cols) = (header.row, &header.cols);
    let fields = Fields::new(layout);
    let (_, c0) = range.start().unwrap_or((0, 0));
    let (r1, c1) = range.end().unwrap_or((0, 0));
    let mut out = Sheet {
        layout: layout.name.clone(),
        sheet: sheet.to_string(),
        header_row: header_row + 1,
        header_depth: header.depth,
        lines: Vec::new(),
        rejected_rows: Vec::new(),
        totals_rows: Vec::new(),
        control_total: None,
        on_bad_rows: layout.on_bad_rows,
    };
    let bad_sev = |msg: String, loc: String| match layout.on_bad_rows {
        BadRows::AllOrNothing => Finding::reject("PAS610", msg).at(loc),
        BadRows::PerRow => Finding::notify("PAS610", msg).at(loc),
    };
    let header_name = |field: &str| -> String {
        cols.get(field)
            .map(|c| header::header_label(range, header_row, header.depth, *c))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| field.to_string())
    };
    let mut sum_totals = Decimal::ZERO;
    // Sums of the totals fields over the data rows: since the last totals
    // row, and over the whole sheet.
    let mut segment: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut grand: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut segment_rows = 0usize;
    for r in (header_row + header.depth)..=r1 {
        let get = |field: &str| {
            cols.get(field)
                .and_then(|c| range.get_value((r, *c)))
                .unwrap_or(&Data::Empty)
        };
        let is_empty = |d: &Data| cell_text(d).is_empty();
        let row_no = r + 1;
        if is_totals_row(layout, range, r, (c0, c1), &get) {
            out.totals_rows.push(row_no);
            check_totals_row(
                layout,
                sheet,
                row_no,
                &get,
                (&segment, &grand),
                segment_rows,
                &|f| {
                    let c = cols.get(f).copied().unwrap_or(c0);
                    (col_name(c), header_name(f))
                },
                findings,
            );
            segment.clear();
            segment_rows = 0;
            continue;
        }
        if layout.key_columns.iter().all(|k| is_empty(get(k))) {
            continue;
        }
        // The header repeated further down (two blocks pasted one under
        // the other) is not a data row.
        let keys: Vec<&Data> = layout
            .key_columns
            .iter()
            .map(|k| get(k))
            .filter(|d| !is_empty(d))
            .collect();
        if keys.len() >= 2
            && layout.key_columns.iter().all(|k| {
                let d = get(k);
                is_empty(d) || fields.quality_for(k, &header::HeaderText::new(&cell_text(d))) >= 3
            })
        {
            continue;
        }
        segment_rows += 1;
        for f in &layout.totals_fields {
            if let Some(v) = cell_decimal(get(f)) {
                *segment.entry(f.as_str()).or_default() += v;
                *grand.entry(f.as_str()).or_default() += v;
            }
        }
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

/// A totals row: a text cell reading one of the layout's totals labels
/// ("TOTAL", "TOTALES", "TOTAL GENERAL", "SUBTOTAL", …), on a row whose NIT
/// and invoice number hold no digits (a counterparty called "TOTAL AGRO
/// S.A.S." still has a NIT).
fn is_totals_row<'a>(
    layout: &Layout,
    range: &'a Range<Data>,
    r: u32,
    (c0, c1): (u32, u32),
    get: &dyn Fn(&str) -> &'a Data,
) -> bool {
    let digits = |f: &str| cell_text(get(f)).chars().any(|c| c.is_ascii_digit());
    if digits("nit") || digits("invoice_number") {
        return false;
    }
    (c0..=c1).any(|c| {
        let Some(Data::String(s)) = range.get_value((r, c)) else {
            return false;
        };
        // Cheap first: the first letter of some label ("T", "S", "G").
        let first = s
            .chars()
            .find(|ch| ch.is_alphanumeric())
            .map(|ch| norm(&ch.to_string()));
        if !first.is_some_and(|f| {
            layout
                .totals_labels
                .iter()
                .any(|l| !f.is_empty() && l.starts_with(&f))
        }) {
            return false;
        }
        let k = compact(s);
        layout
            .totals_labels
            .iter()
            .any(|l| k.starts_with(l.as_str()) && k.len() <= l.len() + 24)
    })
}

/// Check each totals field of a totals row against the data rows above it
/// (since the previous totals row, or the whole sheet: a grand total under
/// subtotals). A difference is PAS623 (reject), in Spanish.
#[allow(clippy::too_many_arguments)]
fn check_totals_row<'a>(
    layout: &Layout,
    sheet: &str,
    row_no: u32,
    get: &dyn Fn(&str) -> &'a Data,
    (segment, grand): (&BTreeMap<&str, Decimal>, &BTreeMap<&str, Decimal>),
    segment_rows: usize,
    column: &dyn Fn(&str) -> (String, String),
    findings: &mut Vec<Finding>,
) {
    for f in &layout.totals_fields {
        let Some(v) = cell_decimal(get(f)) else {
            continue;
        };
        let seg = segment.get(f.as_str()).copied().unwrap_or_default();
        let all = grand.get(f.as_str()).copied().unwrap_or_default();
        if (v - seg).abs() <= layout.tolerance || (v - all).abs() <= layout.tolerance {
            continue;
        }
        let (letter, header) = column(f);
        let (sum, scope) = if segment_rows > 0 && seg != all {
            (seg, " desde la fila de totales anterior")
        } else {
            (all, "")
        };
        findings.push(
            Finding::reject(
                "PAS623",
                format!(
                    "La fila de totales (fila {row_no}) dice {} en '{header}', pero las filas de facturas{scope} suman {} (diferencia {}). Corrija la fila de totales o las filas de facturas.",
                    fmt_es(v),
                    fmt_es(sum),
                    fmt_es((v - sum).abs())
                ),
            )
            .at(format!(
                "hoja '{sheet}', fila {row_no}, columna {letter} ({header})"
            )),
        );
    }
}

/// A number as Colombians write it: "16.200.000", "1.500,5".
pub(super) fn fmt_es(d: Decimal) -> String {
    let s = d.normalize().abs().to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(ch);
    }
    if !frac.is_empty() {
        out.push(',');
        out.push_str(frac);
    }
    if d.is_sign_negative() && !d.is_zero() {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> Data {
        Data::String(t.into())
    }

    #[test]
    fn merged_regions_are_filled_within_bounds() {
        let mut r = Range::new((0, 0), (3, 3));
        r.set_value((0, 1), s("FACTURA"));
        r.set_value((1, 1), s("No."));
        r.set_value((3, 3), Data::Float(1.0));
        let merges = [
            calamine::Dimensions {
                start: (0, 1),
                end: (0, 2),
            },
            // Reaches past the used area: clipped, never grown.
            calamine::Dimensions {
                start: (3, 3),
                end: (9, 9),
            },
            // An empty top-left cell fills nothing.
            calamine::Dimensions {
                start: (2, 0),
                end: (2, 2),
            },
        ];
        fill_merged(&mut r, &merges);
        assert_eq!(r.get_value((0, 2)), Some(&s("FACTURA")));
        assert_eq!(r.get_value((1, 1)), Some(&s("No.")), "filled cells kept");
        assert_eq!(r.end(), Some((3, 3)));
        assert_eq!(r.get_value((2, 1)), Some(&Data::Empty));
        // A region over the per-region bound is left alone.
        let mut big = Range::new((0, 0), (200, 100));
        big.set_value((0, 0), s("X"));
        fill_merged(
            &mut big,
            &[calamine::Dimensions {
                start: (0, 0),
                end: (200, 100),
            }],
        );
        assert_eq!(big.get_value((1, 1)), Some(&Data::Empty));
    }

    #[test]
    fn tidy_cuts_blanks_and_the_zero_tail() {
        let mut r = Range::new((2, 1), (5000, 6));
        r.set_value((2, 1), s("NIT"));
        r.set_value((3, 1), s("900373991"));
        r.set_value((3, 2), Data::Float(0.0));
        r.set_value((4, 5), s("   "));
        for row in 4..=5000 {
            r.set_value((row, 3), Data::Float(0.0));
            r.set_value((row, 6), s(""));
            r.set_value((row, 4), Data::Error(calamine::CellErrorType::NA));
        }
        let t = tidy(r);
        assert_eq!(t.start(), Some((2, 1)));
        assert_eq!(t.end(), Some((3, 2)), "zero tail and blank columns cut");
        assert_eq!(
            t.get_value((3, 2)),
            Some(&Data::Float(0.0)),
            "inner zero kept"
        );
        assert_eq!(t.get_value((3, 1)), Some(&s("900373991")));
        // Nothing but blanks and zeros: nothing.
        let mut z = Range::new((0, 0), (10, 0));
        z.set_value((10, 0), Data::Int(0));
        assert!(tidy(z).is_empty());
    }

    #[test]
    fn spanish_numbers() {
        assert_eq!(fmt_es(Decimal::from(16_200_000)), "16.200.000");
        assert_eq!(fmt_es(Decimal::new(15005, 1)), "1.500,5");
        assert_eq!(fmt_es(Decimal::new(-1000, 0)), "-1.000");
        assert_eq!(fmt_es(Decimal::ZERO), "0");
        assert_eq!(fmt_es(Decimal::from(999)), "999");
    }

    #[test]
    fn the_header_search_budget_is_shared_by_the_sheets() {
        let mut r = Range::new((0, 0), (0, 9));
        for c in 0..10 {
            r.set_value((0, c), s(&format!("COL {c}")));
        }
        let mut budget = 15;
        assert!(header::HeaderCells::new(&r, 40, &mut budget).is_some());
        assert_eq!(budget, 5);
        assert!(header::HeaderCells::new(&r, 40, &mut budget).is_some());
        assert_eq!(budget, 0);
        assert!(header::HeaderCells::new(&r, 40, &mut budget).is_none());
    }
}
