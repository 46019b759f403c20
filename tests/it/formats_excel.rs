//! Broker spreadsheets: the shipped layouts against filled copies of the real
//! templates (.xls written by fixtures/formats/excel/make_xls.py) and xlsx
//! files written here with rust_xlsxwriter in the same layouts.

use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use pasarela::formats::excel::{self, BadRows, Layout, Side};
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, Workbook};

fn layouts() -> Vec<Layout> {
    excel::load_layouts(Path::new("rules/excel")).expect("shipped layouts compile")
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn codes(f: &[pasarela::result::Finding]) -> Vec<&str> {
    f.iter().map(|x| x.code.as_str()).collect()
}

#[test]
fn shipped_rule_files_match_the_builtin_copies() {
    let on_disk = layouts();
    let builtin = excel::builtin_layouts().unwrap();
    assert_eq!(on_disk.len(), builtin.len());
    for (a, b) in on_disk.iter().zip(&builtin) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.columns, b.columns);
    }
}

#[test]
fn comiagro_xls_rows_become_registration_lines() {
    let bytes = std::fs::read("fixtures/formats/excel/comiagro-filled.xls").unwrap();
    let wb = excel::read(&bytes, &layouts());
    assert_eq!(wb.sheets.len(), 1, "{:?}", wb.findings);
    let s = &wb.sheets[0];
    assert_eq!(s.layout, "comiagro-2024");
    assert_eq!(s.sheet, "Originales");
    assert_eq!(s.header_row, 12);
    assert_eq!(s.lines.len(), 2, "{:#?}", wb.findings);
    let a = &s.lines[0];
    assert_eq!(a.row, 14);
    assert_eq!(a.counterparty, "Cafés Especiales de Nariño Ltda.");
    assert_eq!(a.nit, "900373991");
    assert_eq!(a.dv, Some(9));
    assert_eq!(a.invoice_number, "FE1001");
    assert_eq!(a.date, NaiveDate::from_ymd_opt(2024, 3, 15).unwrap());
    assert_eq!(a.quantity, d("100"));
    assert_eq!(a.total, d("1250000"));
    assert_eq!(a.side, Side::Compra);
    assert_eq!(a.packaging.as_deref(), Some("Bulto x 50 kg"));
    let b = &s.lines[1];
    assert_eq!(
        b.date,
        NaiveDate::from_ymd_opt(2024, 3, 16).unwrap(),
        "DD/MM/YYYY text"
    );
    assert_eq!(b.unit_price, d("1500.5"));
    assert_eq!(b.iva_pct, d("5"));
    assert_eq!(b.side, Side::Venta);
    assert_eq!(s.rejected_rows, vec![16, 17]);
    // Errors name sheet, row and column, in Spanish.
    let dv = wb
        .findings
        .iter()
        .find(|f| f.message.contains("dígito de verificación"))
        .unwrap();
    assert_eq!(
        dv.location.as_deref(),
        Some("hoja 'Originales', fila 16, columna B (NIT USUARIO (CLIENTE DEL CLIENTE))")
    );
    assert!(
        wb.findings
            .iter()
            .any(|f| f.message.contains("Tarifa de IVA 7"))
    );
    assert!(
        wb.findings
            .iter()
            .any(|f| f.message.contains("no coincide con el total"))
    );
    assert!(
        wb.findings
            .iter()
            .any(|f| f.message.contains("La fecha '31/02/2024' no es válida"))
    );
    assert!(
        wb.findings
            .iter()
            .any(|f| f.message.contains("'TRUEQUE' no es un valor válido"))
    );
    // per-row: bad rows are notices, the file is not rejected.
    assert!(
        wb.findings
            .iter()
            .all(|f| f.severity == pasarela::result::Severity::Notify),
        "{:#?}",
        wb.findings
    );
    assert!(codes(&wb.findings).contains(&"PAS631"));
}

#[test]
fn plantilla51_xls_two_row_header_and_control_total() {
    let bytes = std::fs::read("fixtures/formats/excel/plantilla51-filled.xls").unwrap();
    let wb = excel::read(&bytes, &layouts());
    let s = &wb.sheets[0];
    assert_eq!(s.layout, "plantilla51");
    assert_eq!(s.header_row, 3);
    assert_eq!(s.lines.len(), 2, "{:#?}", wb.findings);
    assert!(wb.findings.is_empty(), "{:#?}", wb.findings);
    assert_eq!(s.control_total, Some(d("16200000")));
    let a = &s.lines[0];
    assert_eq!(
        a.date,
        NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
        "Excel serial"
    );
    assert_eq!(a.side, Side::Venta);
    assert_eq!(
        a.extra.get("product_code").map(String::as_str),
        Some("1050")
    );
    assert_eq!(a.extra.get("currency").map(String::as_str), Some("COP"));
    assert_eq!(s.lines[1].side, Side::Compra);
    assert_eq!(s.lines[1].nit, "800197268");
}

/// A plantilla-51 style xlsx; `control` is written in the control-total cell.
/// (name, nit, invoice, date serial, iva %, quantity, unit price, punta)
pub(crate) type Row<'a> = (&'a str, &'a str, &'a str, f64, f64, f64, f64, &'a str);

pub(crate) fn plantilla_xlsx(rows: &[Row], control: f64) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Datos a cargar").unwrap();
    ws.write(0, 6, "Totales de Control:").unwrap();
    ws.write(0, 10, control).unwrap();
    ws.write(1, 0, "Sobre el archivo REGISTRO, para TERMINAR...")
        .unwrap();
    let top = [
        "NOMBRE",
        "NIT",
        "DIRECCION",
        "TEL.",
        "No.",
        "FECHA DE",
        "NOMBRE",
        "IVA",
        "CANTIDAD",
        "PRECIO",
        "TOTAL",
        "SITIO DE ",
        "OBSERVACIONES",
        "PUNTA",
    ];
    let bottom = [
        "CLIENTE", "CLIENTE", "CLIENTE", "CLIENTE", "FACTURA", "FACTURA", "PRODUCTO", "PRODUCTO",
        "O KILOS", "UNITARIO", "FACTURA", "ENTREGA", "", "",
    ];
    for (c, (t, b)) in top.iter().zip(bottom).enumerate() {
        ws.write(2, c as u16, *t).unwrap();
        if !b.is_empty() {
            ws.write(3, c as u16, b).unwrap();
        }
    }
    let date_fmt = Format::new().set_num_format("dd/mm/yyyy");
    for (i, (name, nit, fact, serial, iva, qty, price, punta)) in rows.iter().enumerate() {
        let r = 4 + i as u32;
        ws.write(r, 0, *name).unwrap();
        ws.write(r, 1, *nit).unwrap();
        ws.write(r, 4, *fact).unwrap();
        ws.write_number_with_format(r, 5, *serial, &date_fmt)
            .unwrap();
        ws.write(r, 6, "CAFE PERGAMINO").unwrap();
        ws.write(r, 7, *iva).unwrap();
        ws.write(r, 8, *qty).unwrap();
        ws.write(r, 9, *price).unwrap();
        ws.write(r, 10, qty * price).unwrap();
        ws.write(r, 13, *punta).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

#[test]
fn xlsx_in_the_same_layout_and_control_total_mismatch() {
    let rows = [
        (
            "Uno S.A.S.",
            "900373991-9",
            "A1",
            45366.0,
            0.0,
            10.0,
            100.0,
            "V",
        ),
        (
            "Dos S.A.S.",
            "860028580",
            "A2",
            45367.0,
            19.0,
            3.0,
            2500.0,
            "C",
        ),
    ];
    let ok = plantilla_xlsx(&rows, 8500.0);
    let wb = excel::read(&ok, &layouts());
    assert_eq!(wb.sheets[0].lines.len(), 2, "{:#?}", wb.findings);
    assert!(wb.findings.is_empty(), "{:#?}", wb.findings);
    assert_eq!(
        wb.sheets[0].lines[0].date,
        NaiveDate::from_ymd_opt(2024, 3, 15).unwrap()
    );

    let bad = plantilla_xlsx(&rows, 9000.0);
    let wb = excel::read(&bad, &layouts());
    let f = wb
        .findings
        .iter()
        .find(|f| f.code == "PAS620")
        .expect("control total checked");
    assert_eq!(f.severity, pasarela::result::Severity::Reject);
    assert!(
        f.location.as_deref().unwrap().contains("fila 1, columna K"),
        "{f:?}"
    );
}

#[test]
fn all_or_nothing_rejects_the_file_for_one_bad_row() {
    let text = std::fs::read_to_string("rules/excel/plantilla51.toml")
        .unwrap()
        .replace(
            "on_bad_rows = \"per-row\"",
            "on_bad_rows = \"all-or-nothing\"",
        );
    let layout = Layout::parse(&text, Path::new("test.toml")).unwrap();
    assert_eq!(layout.on_bad_rows, BadRows::AllOrNothing);
    let rows = [
        (
            "Uno S.A.S.",
            "900373991-9",
            "A1",
            45366.0,
            0.0,
            10.0,
            100.0,
            "V",
        ),
        (
            "Dos S.A.S.",
            "860028580",
            "A2",
            45367.0,
            12.0,
            3.0,
            2500.0,
            "X",
        ),
    ];
    let wb = excel::read(&plantilla_xlsx(&rows, 8500.0), &[layout]);
    assert!(wb.sheets[0].lines.is_empty());
    assert!(
        wb.findings
            .iter()
            .any(|f| f.severity == pasarela::result::Severity::Reject && f.code == "PAS610")
    );
    assert!(
        wb.findings.iter().any(|f| f
            .location
            .as_deref()
            .is_some_and(|l| l.contains("fila 6, columna H"))),
        "{:#?}",
        wb.findings
    );
}

#[test]
fn unknown_layout_and_bad_rule_files_are_reported() {
    let mut wb = Workbook::new();
    wb.add_worksheet().write(0, 0, "hola").unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let r = excel::read(&bytes, &layouts());
    assert_eq!(codes(&r.findings), vec!["PAS601"]);

    let e = Layout::parse("name = 'x'\nbogus = 1\non_bad_rows = 'sometimes'\n[columns]\nnit = { headers = ['NIT'] }\nshoe = { headers = ['X'] }\n", Path::new("x.toml")).unwrap_err();
    let text: Vec<String> = e.iter().map(|x| x.to_string()).collect();
    assert!(text.iter().any(|t| t.contains("bogus")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("sometimes")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("columns.shoe")), "{text:?}");
    assert!(
        text.iter().any(|t| t.contains("'counterparty' is needed")),
        "{text:?}"
    );
}

// ---------------------------------------------------------------------------
// Realistic filled sheets: the two real templates' cells (copied verbatim
// below; `template_cells_are_the_real_ones` checks them against
// ../shared/fixtures/bmc/ when it is there), filled the way brokers really
// fill them: renamed and extra sheets, headers split differently across the
// two header rows, joined or split words, accents, case and spacing, merged
// cells, formulas (read by their cached values), a TOTAL row, thousands of
// formatted empty rows, a homologation sheet.
// ---------------------------------------------------------------------------

use pasarela::formats::excel::HomologationEntry;
use pasarela::result::Severity;
use rust_xlsxwriter::{Formula, Worksheet};

/// Formato_Registro_Comiagro_SA_2024.xls, sheet "Originales": (row, column,
/// text), 0-based, every text cell of the first 13 rows.
const COMIAGRO: &[(u32, u16, &str)] = &[
    (
        1,
        6,
        "NOMBRE / RAZON SOCIAL DEL CLIENTE (CLIENTE COMIAGRO A QUIEN SE LE FACTURA EL SERVICIO): ",
    ),
    (2, 0, "FORMATO PARA REGISTRO DE FACTURAS - COMIAGRO SA"),
    (4, 6, "C.C. /  NIT :"),
    (4, 9, "FECHA:"),
    (6, 6, "TELEFONO:"),
    (6, 9, "CIUDAD:"),
    (7, 6, "AUTORIZADO POR:"),
    (
        11,
        0,
        "NOMBRE USUARIO (CLIENTE DEL CLIENTE A QUIEN LE VENDE O COMPRA)",
    ),
    (11, 1, "NIT USUARIO (CLIENTE DEL CLIENTE)"),
    (11, 2, "CIUDAD DE ENTREGA DEL PRODUCTO"),
    (11, 3, "FACT NRO"),
    (11, 4, "FECHA"),
    (11, 5, "FORMA DE PAGO"),
    (11, 6, "PRODUCTO"),
    (11, 7, "PRESENTACION "),
    (11, 8, "CANTIDAD"),
    (11, 9, "VALOR\nUNITARIO"),
    (11, 10, "TOTAL"),
    (11, 11, "% IVA PRODUCTO"),
    (11, 12, "ROL DEL CLIENTE DE COMIAGRO "),
    (11, 13, "OBSERVACION"),
    (12, 4, "DD/MM/YYYY"),
    (12, 5, "Expresado en # de días"),
    (12, 10, "OPERACIÓN"),
    (12, 11, "0 - 5 - 19"),
    (12, 12, "COMPRAS / VENTAS"),
];

/// The template's merged regions ((top, left), (bottom, right)): the title
/// and the client's name.
/// A merged region: (top, left), (bottom, right).
type Merge = ((u32, u32), (u32, u32));
const COMIAGRO_MERGES: &[Merge] = &[((2, 0), (2, 3)), ((1, 6), (2, 10))];

/// PLANTILLA51_SIMONA.xls, sheet "Datos a cargar": every text cell.
const PLANTILLA51: &[(u32, u16, &str)] = &[
    (0, 6, "Totales de Control:"),
    (
        1,
        0,
        "Sobre el archivo REGISTRO, para TERMINAR, NO OLVIDE: Control-Shift-G (de Grabar, simultáneamente). Luego guardar como \"Excel 5.0/95\"",
    ),
    (2, 0, "NOMBRE"),
    (2, 1, "NIT"),
    (2, 2, "DIRECCION"),
    (2, 3, "TEL."),
    (2, 4, "No."),
    (2, 5, "FECHA DE"),
    (2, 6, "NOMBRE"),
    (2, 7, "IVA"),
    (2, 8, "CANTIDAD"),
    (2, 9, "PRECIO"),
    (2, 10, "TOTAL"),
    (2, 11, "SITIO DE "),
    (2, 12, "OBSERVACIONES"),
    (2, 13, "PUNTA"),
    (2, 14, "MANDANTE"),
    (2, 15, "AGENCIA"),
    (2, 16, "FORMA"),
    (2, 17, "NOMBRE"),
    (2, 18, "%Comis. x Punta"),
    (2, 19, "BODEGA"),
    (2, 21, "cantidad"),
    (2, 22, "unidad de "),
    (2, 23, "moneda"),
    (3, 0, "CLIENTE"),
    (3, 1, "CLIENTE"),
    (3, 2, "CLIENTE"),
    (3, 3, "CLIENTE"),
    (3, 4, "FACTURA"),
    (3, 5, "FACTURA"),
    (3, 6, "PRODUCTO"),
    (3, 7, "PRODUCTO"),
    (3, 8, "O KILOS"),
    (3, 9, "UNITARIO"),
    (3, 10, "FACTURA"),
    (3, 11, "ENTREGA"),
    (3, 14, "PRINCIPAL"),
    (3, 16, "DE PAGO"),
    (3, 17, "PRINCIPAL"),
    (3, 18, "%Comis. x Punta"),
    (3, 19, "BODEGA"),
    (3, 20, "INCENTIVO"),
    (3, 21, "factura real"),
    (3, 22, "medida factura"),
    (3, 24, "X"),
    (3, 25, "X"),
    (3, 26, "X"),
    (3, 27, "CODIGO SUBYA"),
];

#[test]
fn template_cells_are_the_real_ones() {
    for (file, sheet, cells, upto) in [
        (
            "../shared/fixtures/bmc/Formato_Registro_Comiagro_SA_2024.xls",
            "Originales",
            COMIAGRO,
            13,
        ),
        (
            "../shared/fixtures/bmc/PLANTILLA51_SIMONA.xls",
            "Datos a cargar",
            PLANTILLA51,
            4,
        ),
    ] {
        let Ok(bytes) = std::fs::read(file) else {
            eprintln!("{file} not here: template cells not re-checked");
            continue;
        };
        // calamine directly: the reader fills merged regions.
        let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let range = calamine::Reader::worksheet_range(&mut book, sheet).unwrap();
        if let calamine::Sheets::Xls(x) = &book {
            let merges: Vec<_> = x
                .merge_cells_by_sheet_name(sheet)
                .unwrap()
                .iter()
                .map(|d| (d.start, d.end))
                .collect();
            let ours: Vec<_> = if sheet == "Originales" {
                COMIAGRO_MERGES.to_vec()
            } else {
                Vec::new()
            };
            assert_eq!(merges, ours, "{file}");
        }
        let mut real: Vec<(u32, u16, String)> = Vec::new();
        let (r0, c0) = range.start().unwrap();
        for (r, c, d) in range.used_cells() {
            let (r, c) = (r0 + r as u32, c0 + c as u32);
            if let calamine::Data::String(s) = d
                && r < upto
            {
                real.push((r, c as u16, s.clone()));
            }
        }
        real.sort();
        let mut ours: Vec<(u32, u16, String)> = cells
            .iter()
            .map(|(r, c, s)| (*r, *c, s.to_string()))
            .collect();
        ours.sort();
        assert_eq!(ours, real, "{file}");
    }
}

fn put(ws: &mut Worksheet, cells: &[(u32, u16, &str)]) {
    for (r, c, s) in cells {
        ws.write(*r, *c, *s).unwrap();
    }
}

/// A text cell: (row, column, text).
type Cell<'a> = (u32, u16, &'a str);

/// `cells` with the cell at each position removed, and its replacement
/// (anywhere) added when there is one.
fn drift<'a>(cells: &'a [Cell<'a>], changes: &[((u32, u16), Option<Cell<'a>>)]) -> Vec<Cell<'a>> {
    let mut out: Vec<(u32, u16, &str)> = cells
        .iter()
        .filter(|(r, c, _)| !changes.iter().any(|(at, _)| *at == (*r, *c)))
        .copied()
        .collect();
    out.extend(changes.iter().filter_map(|(_, new)| *new));
    out
}

/// Formatted, bordered, empty rows with the template's formula copied down
/// (cached 0) and an `=SI(...;"";...)` style formula (cached ""): what a
/// real sheet carries below its data.
fn formatted_tail(ws: &mut Worksheet, from: u32, rows: u32, cols: u16, total_col: u16) {
    let border = Format::new().set_border(rust_xlsxwriter::FormatBorder::Thin);
    for r in from..from + rows {
        for c in 0..cols {
            ws.write_blank(r, c, &border).unwrap();
        }
        let formula = format!("=I{n}*J{n}", n = r + 1);
        ws.write_formula(r, total_col, Formula::new(formula).set_result("0"))
            .unwrap();
        ws.write_formula(
            r,
            cols - 1,
            Formula::new(format!("=IF(A{n}=\"\",\"\",A{n})", n = r + 1)).set_result(""),
        )
        .unwrap();
    }
}

/// A filled Comiagro registration format as brokers send it: the data sheet
/// renamed, a blank copy of the template left beside it, the notes sheet,
/// a homologation sheet; headers drifted (spacing, case, "Factura Nº",
/// "VALOR" / "UNITARIO" split across the header and hint rows,
/// "VALORTOTAL", "% I.V.A. Producto"); one invoice of two products with
/// its name, NIT, number, date and role merged over both rows; totals as
/// formulas with cached values; a "TOTALES" row; 5,000 formatted empty
/// rows below. `totals_off` is added to the TOTALES row's value total.
fn comiagro_filled(totals_off: f64) -> Vec<u8> {
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let merged = Format::new().set_align(rust_xlsxwriter::FormatAlign::VerticalCenter);
    // The notes sheet first, a blank copy of the template, then the data.
    {
        let ws = wb.add_worksheet();
        ws.set_name("NOTAS ").unwrap();
        ws.write(0, 0, "NOTAS ACLARATORIAS").unwrap();
        ws.write(2, 0, "FACT NRO").unwrap();
        ws.write(2, 1, "Debe incluir el prefijo en caso que lo tenga")
            .unwrap();
        ws.write(3, 0, "PRODUCTO").unwrap();
        ws.write(3, 1, "Debe ser tal cual como esta descrito en la factura ")
            .unwrap();
    }
    {
        let ws = wb.add_worksheet();
        ws.set_name("Originales").unwrap();
        put(ws, COMIAGRO);
        for r in 12..200 {
            ws.write_formula(
                r,
                10,
                Formula::new(format!("=I{0}*J{0}", r + 1)).set_result("0"),
            )
            .unwrap();
        }
    }
    let ws = wb.add_worksheet();
    ws.set_name("Facturas marzo").unwrap();
    let cells = drift(
        COMIAGRO,
        &[
            ((11, 1), Some((11, 1, "Nit  Usuario"))),
            ((11, 3), Some((11, 3, "Factura Nº"))),
            ((11, 8), Some((11, 8, "cantidad"))),
            ((11, 9), Some((11, 9, "VALOR"))),
            ((11, 10), Some((11, 10, "VALORTOTAL"))),
            ((11, 11), Some((11, 11, "% I.V.A. Producto"))),
            ((11, 13), Some((11, 13, "Observaciones"))),
            ((2, 0), None),
            ((1, 6), None),
        ],
    );
    put(ws, &cells);
    ws.write(12, 9, "UNITARIO").unwrap();
    // The template's merges: the title and the client-name label.
    for ((top, left), (bottom, right)) in COMIAGRO_MERGES {
        let text = COMIAGRO
            .iter()
            .find(|(r, c, _)| (*r, u32::from(*c)) == (*top, *left))
            .map_or("", |x| x.2);
        ws.merge_range(
            *top,
            *left as u16,
            *bottom,
            *right as u16,
            text,
            &Format::new(),
        )
        .unwrap();
    }
    ws.write(1, 11, "AGROPECUARIA EL EDÉN S.A.S.").unwrap();
    // One invoice, two products: the invoice's cells merged over both rows.
    for (c, v) in [
        (0, "Cafés Especiales de Nariño Ltda."),
        (1, "900373991-9"),
        (2, "Pasto"),
        (3, "FE 2001"),
        (12, "COMPRAS"),
    ] {
        ws.merge_range(13, c, 14, c, v, &merged).unwrap();
    }
    ws.merge_range(13, 4, 14, 4, "", &date).unwrap();
    ws.write_number_with_format(13, 4, 45366.0, &date).unwrap();
    ws.write(13, 5, 30).unwrap();
    ws.write(14, 5, 30).unwrap();
    let products = [
        (
            13,
            "Café pergamino seco",
            "Bulto x 50 kg",
            100.0,
            12500.0,
            0.0,
        ),
        (14, "Café excelso", "Kilos", 500.0, 18000.0, 0.0),
    ];
    for (r, product, pres, qty, price, iva) in products {
        ws.write(r, 6, product).unwrap();
        ws.write(r, 7, pres).unwrap();
        ws.write(r, 8, qty).unwrap();
        ws.write(r, 9, price).unwrap();
        ws.write_formula(
            r,
            10,
            Formula::new(format!("=I{0}*J{0}", r + 1)).set_result((qty * price).to_string()),
        )
        .unwrap();
        ws.write(r, 11, iva).unwrap();
    }
    // A NIT typed as a number, a date as text, a unit price as Colombian text.
    ws.write(15, 0, "Arrocera La Esperanza S.A.").unwrap();
    ws.write(15, 1, 860028580.0).unwrap();
    ws.write(15, 2, "Ibagué").unwrap();
    ws.write(15, 3, "SETP990000123").unwrap();
    ws.write(15, 4, "16/03/2024").unwrap();
    ws.write(15, 5, 8).unwrap();
    ws.write(15, 6, "Arroz paddy verde").unwrap();
    ws.write(15, 7, "Kilos").unwrap();
    ws.write(15, 8, 2000).unwrap();
    ws.write(15, 9, "1.500,50").unwrap();
    ws.write_formula(15, 10, Formula::new("=I16*1500.5").set_result("3001000"))
        .unwrap();
    ws.write(15, 11, 5).unwrap();
    ws.write(15, 12, "ventas").unwrap();
    ws.write(15, 13, "Entrega parcial").unwrap();
    ws.write(16, 0, "Lácteos del Páramo S.A.S.").unwrap();
    ws.write(16, 1, "890903938-8").unwrap();
    ws.write(16, 2, "Bogotá").unwrap();
    ws.write(16, 3, "LP 9").unwrap();
    ws.write_number_with_format(16, 4, 45368.0, &date).unwrap();
    ws.write(16, 6, "Leche cruda").unwrap();
    ws.write(16, 7, "Litros").unwrap();
    ws.write(16, 8, 500).unwrap();
    ws.write(16, 9, 1800).unwrap();
    ws.write_formula(16, 10, Formula::new("=I17*J17").set_result("900000"))
        .unwrap();
    ws.write(16, 11, 0).unwrap();
    ws.write(16, 12, "Ventas").unwrap();
    // The totals row: label in the product column, sums as formulas.
    ws.write(17, 6, "TOTALES").unwrap();
    ws.write_formula(17, 8, Formula::new("=SUM(I14:I17)").set_result("3100"))
        .unwrap();
    let sum = 1_250_000.0 + 9_000_000.0 + 3_001_000.0 + 900_000.0 + totals_off;
    ws.write_formula(
        17,
        10,
        Formula::new("=SUM(K14:K17)").set_result(sum.to_string()),
    )
    .unwrap();
    formatted_tail(ws, 18, 5_000, 14, 10);
    // The homologation sheet.
    let ws = wb.add_worksheet();
    ws.set_name("Homologación").unwrap();
    ws.merge_range(
        0,
        0,
        0,
        3,
        "HOMOLOGACIÓN DE PRODUCTOS - AGROPECUARIA EL EDÉN",
        &merged,
    )
    .unwrap();
    for (c, h) in [
        "NIT",
        "PRODUCTO (como aparece en la factura)",
        "CÓDIGO SUBYACENTE",
        "Nombre subyacente",
    ]
    .iter()
    .enumerate()
    {
        ws.write(2, c as u16, *h).unwrap();
    }
    let rows: [(&str, &str, Option<f64>, &str); 5] = [
        (
            "900373991-9",
            "Café pergamino seco",
            Some(10781.0),
            "CAFE PERGAMINO - CAFE PERGAMINO SECO - KILOGRAMO - EMPACADO(A) - PROCESADO",
        ),
        (
            "900373991-9",
            "Café  excelso",
            Some(131.0),
            "CAFE EXCELSO - SC - KILOGRAMO - EN SACO - NATURAL",
        ),
        ("", "Leche cruda", Some(1140.0), ""),
        ("860028580", "Arroz paddy verde", None, ""),
        ("900.373.991-9", "CAFÉ PERGAMINO SECO", Some(130.0), ""),
    ];
    for (i, (nit, product, code, name)) in rows.iter().enumerate() {
        let r = 3 + i as u32;
        if !nit.is_empty() {
            ws.write(r, 0, *nit).unwrap();
        }
        ws.write(r, 1, *product).unwrap();
        if let Some(code) = code {
            ws.write(r, 2, *code).unwrap();
        }
        if !name.is_empty() {
            ws.write(r, 3, *name).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

#[test]
fn filled_comiagro_as_brokers_send_it() {
    let bytes = comiagro_filled(0.0);
    // 5,000 formatted rows with formulas below the data (and 200 in the
    // blank copy) are cut off when the sheets are decoded.
    let book = excel::decode_sheets(&bytes);
    let ends: Vec<(&str, u32)> = book
        .ranges
        .iter()
        .map(|(n, r)| (n.as_str(), r.end().map_or(0, |e| e.0)))
        .collect();
    assert_eq!(
        ends,
        vec![
            ("NOTAS ", 3),
            ("Originales", 12),
            ("Facturas marzo", 17),
            ("Homologación", 7)
        ]
    );
    let wb = excel::read(&bytes, &layouts());
    let findings = codes(&wb.findings);
    assert_eq!(wb.sheets.len(), 1, "{:#?}", wb.findings);
    let s = &wb.sheets[0];
    assert_eq!(s.layout, "comiagro-2024");
    assert_eq!(
        s.sheet, "Facturas marzo",
        "renamed sheet, blank copy dropped"
    );
    assert_eq!(s.header_row, 12);
    assert_eq!(s.header_depth, 2, "VALOR / UNITARIO over two rows");
    assert!(s.rejected_rows.is_empty(), "{:#?}", wb.findings);
    let rows: Vec<u32> = s.lines.iter().map(|l| l.row).collect();
    assert_eq!(rows, vec![14, 15, 16, 17]);
    assert_eq!(s.totals_rows, vec![18], "TOTALES is not an invoice row");
    // Merged invoice cells give both product rows their invoice.
    for l in &s.lines[..2] {
        assert_eq!(l.counterparty, "Cafés Especiales de Nariño Ltda.");
        assert_eq!(l.nit, "900373991");
        assert_eq!(l.dv, Some(9));
        assert_eq!(l.invoice_number, "FE2001");
        assert_eq!(l.date, NaiveDate::from_ymd_opt(2024, 3, 15).unwrap());
        assert_eq!(l.side, Side::Compra);
    }
    assert_eq!(s.lines[1].product, "Café excelso");
    // Formulas by their cached values.
    assert_eq!(s.lines[0].total, d("1250000"));
    assert_eq!(s.lines[1].total, d("9000000"));
    let arroz = &s.lines[2];
    assert_eq!(arroz.nit, "860028580");
    assert_eq!(arroz.unit_price, d("1500.5"));
    assert_eq!(arroz.total, d("3001000"));
    assert_eq!(arroz.side, Side::Venta);
    assert_eq!(
        arroz.extra.get("observations").map(String::as_str),
        Some("Entrega parcial")
    );
    assert_eq!(
        s.lines[3].date,
        NaiveDate::from_ymd_opt(2024, 3, 17).unwrap()
    );
    // The homologation sheet: three usable rows, two notices.
    let expected = [
        (4, Some("900373991"), "Café pergamino seco", "10781"),
        (5, Some("900373991"), "Café excelso", "131"),
        (6, None, "Leche cruda", "1140"),
    ];
    let got: Vec<(u32, Option<&str>, &str, &str)> = wb
        .homologation
        .iter()
        .map(|e| (e.row, e.nit.as_deref(), e.product.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        wb.homologation[0],
        HomologationEntry {
            sheet: "Homologación".into(),
            row: 4,
            nit: Some("900373991".into()),
            product: "Café pergamino seco".into(),
            code: "10781".into(),
            catalog_name: Some(
                "CAFE PERGAMINO - CAFE PERGAMINO SECO - KILOGRAMO - EMPACADO(A) - PROCESADO".into()
            ),
        }
    );
    assert_eq!(findings, vec!["PAS640", "PAS641"], "{:#?}", wb.findings);
    assert!(wb.findings.iter().all(|f| f.severity == Severity::Notify));
    assert!(
        wb.findings[0]
            .message
            .contains("falta el código del catálogo en la fila 7"),
        "{}",
        wb.findings[0].message
    );
    assert!(
        wb.findings[1].message.contains(
            "tiene el código 10781 en la fila 4 de la hoja 'Homologación' y 130 en la fila 8"
        ),
        "{}",
        wb.findings[1].message
    );
    // The extraction output carries both.
    let json = serde_json::to_value(&wb).unwrap();
    assert_eq!(json["homologation"][2]["code"], "1140");
    assert!(json["homologation"][2].get("nit").is_none());
    assert_eq!(json["sheets"][0]["totals_rows"][0], 18);
}

#[test]
fn a_totals_row_that_does_not_add_up_is_reported_in_spanish() {
    let wb = excel::read(&comiagro_filled(100_000.0), &layouts());
    let f: Vec<_> = wb.findings.iter().filter(|f| f.code == "PAS623").collect();
    assert_eq!(f.len(), 1, "{:#?}", wb.findings);
    assert_eq!(f[0].severity, Severity::Reject);
    assert_eq!(
        f[0].message,
        "La fila de totales (fila 18) dice 14.251.000 en 'VALORTOTAL OPERACIÓN', pero las filas de \
         facturas suman 14.151.000 (diferencia 100.000). Corrija la fila de totales o las filas de \
         facturas."
    );
    assert_eq!(
        f[0].location.as_deref(),
        Some("hoja 'Facturas marzo', fila 18, columna K (VALORTOTAL OPERACIÓN)")
    );
    // Still never an invoice row.
    assert_eq!(wb.sheets[0].lines.len(), 4);
}

/// A filled plantilla 51 as brokers send it: an instructions sheet first,
/// the data sheet renamed "Hoja1", the two-row header split differently
/// from the template ("NOMBRE CLIENTE" on one row, "FECHA" / "DE FACTURA",
/// "NOMBRE DEL" / "PRODUCTO", "CODIGO" / "SUBYACENTE"), "FACTURA" merged
/// over "No." and "FECHA", joined and doubled spaces ("TOTALFACTURA",
/// "PRECIO  UNITARIO"), the control total and line totals as formulas, a
/// TOTAL row under the data, formatted rows below. `total_row` is what the
/// TOTAL row says in TOTAL FACTURA.
fn plantilla_filled(total_row: f64) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Instrucciones").unwrap();
    ws.write(
        0,
        0,
        "Diligencie la hoja de datos; no cambie los encabezados.",
    )
    .unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("Hoja1").unwrap();
    let header: Vec<(u32, u16, &str)> = drift(
        PLANTILLA51,
        &[
            ((2, 0), Some((2, 0, "NOMBRE CLIENTE"))),
            ((3, 0), None),
            ((2, 3), Some((2, 3, "TELÉFONO"))),
            ((2, 4), None),
            ((2, 5), None),
            ((3, 4), Some((3, 4, "No."))),
            ((3, 5), Some((3, 5, "FECHA"))),
            ((2, 6), Some((2, 6, "NOMBRE DEL"))),
            ((2, 8), Some((2, 8, "CANTIDAD O"))),
            ((3, 8), Some((3, 8, "KILOS"))),
            ((2, 9), Some((2, 9, "PRECIO  UNITARIO"))),
            ((3, 9), None),
            ((2, 10), Some((2, 10, "TOTALFACTURA"))),
            ((3, 10), None),
            ((3, 27), Some((3, 27, "SUBYACENTE"))),
        ],
    );
    put(ws, &header);
    ws.write(2, 27, "CODIGO").unwrap();
    ws.merge_range(2, 4, 2, 5, "FACTURA", &Format::new())
        .unwrap();
    ws.write_formula(0, 10, Formula::new("=SUM(K5:K7)").set_result("16950000"))
        .unwrap();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let rows = [
        (
            "Comercializadora Agrícola Santa Bárbara S.A.S.",
            "900374637",
            "FE1",
            45366.0,
            "MAIZ AMARILLO",
            1000.0,
            1200.0,
            "V",
            "1050",
        ),
        (
            "Ganadería Los Guayacanes S.A.S.",
            "800197268",
            "GL-22",
            45371.0,
            "NOVILLOS EN PIE",
            5.0,
            3000000.0,
            "C",
            "12000",
        ),
        (
            "Frigorífico del Sinú S.A.",
            "890903938-8",
            "FS 100",
            45372.0,
            "LECHE CRUDA",
            300.0,
            2500.0,
            "c",
            "1140",
        ),
    ];
    for (i, (name, nit, fact, serial, product, qty, price, punta, code)) in rows.iter().enumerate()
    {
        let r = 4 + i as u32;
        ws.write(r, 0, *name).unwrap();
        ws.write(r, 1, *nit).unwrap();
        ws.write(r, 4, *fact).unwrap();
        ws.write_number_with_format(r, 5, *serial, &date).unwrap();
        ws.write(r, 6, *product).unwrap();
        ws.write(r, 7, 0).unwrap();
        ws.write(r, 8, *qty).unwrap();
        ws.write(r, 9, *price).unwrap();
        ws.write_formula(
            r,
            10,
            Formula::new(format!("=I{0}*J{0}", r + 1)).set_result((qty * price).to_string()),
        )
        .unwrap();
        ws.write(r, 13, *punta).unwrap();
        ws.write(r, 23, "COP").unwrap();
        ws.write(r, 27, *code).unwrap();
    }
    ws.write(7, 0, "TOTAL").unwrap();
    ws.write_formula(7, 8, Formula::new("=SUM(I5:I7)").set_result("1305"))
        .unwrap();
    ws.write_formula(
        7,
        10,
        Formula::new("=SUM(K5:K7)").set_result(total_row.to_string()),
    )
    .unwrap();
    formatted_tail(ws, 8, 3_000, 28, 10);
    wb.save_to_buffer().unwrap()
}

#[test]
fn filled_plantilla51_as_brokers_send_it() {
    let wb = excel::read(&plantilla_filled(16_950_000.0), &layouts());
    assert!(wb.findings.is_empty(), "{:#?}", wb.findings);
    assert_eq!(wb.sheets.len(), 1);
    let s = &wb.sheets[0];
    assert_eq!(
        (s.layout.as_str(), s.sheet.as_str()),
        ("plantilla51", "Hoja1")
    );
    assert_eq!((s.header_row, s.header_depth), (3, 2));
    assert_eq!(s.control_total, Some(d("16950000")));
    assert_eq!(s.totals_rows, vec![8]);
    type Got<'a> = (&'a str, &'a str, NaiveDate, Decimal, Side, Option<&'a str>);
    let got: Vec<Got> = s
        .lines
        .iter()
        .map(|l| {
            (
                l.invoice_number.as_str(),
                l.nit.as_str(),
                l.date,
                l.total,
                l.side,
                l.extra.get("product_code").map(String::as_str),
            )
        })
        .collect();
    let day = |d| NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    assert_eq!(
        got,
        vec![
            (
                "FE1",
                "900374637",
                day(15),
                d("1200000"),
                Side::Venta,
                Some("1050")
            ),
            (
                "GL-22",
                "800197268",
                day(20),
                d("15000000"),
                Side::Compra,
                Some("12000")
            ),
            (
                "FS100",
                "890903938",
                day(21),
                d("750000"),
                Side::Compra,
                Some("1140")
            ),
        ]
    );
    assert_eq!(
        s.lines[0].counterparty,
        "Comercializadora Agrícola Santa Bárbara S.A.S."
    );
    assert_eq!(s.lines[2].product, "LECHE CRUDA");
}

#[test]
fn plantilla51_totals_row_mismatch_and_the_control_total_still_checked() {
    let wb = excel::read(&plantilla_filled(17_000_000.0), &layouts());
    assert_eq!(codes(&wb.findings), vec!["PAS623"], "{:#?}", wb.findings);
    let f = &wb.findings[0];
    assert_eq!(
        f.location.as_deref(),
        Some("hoja 'Hoja1', fila 8, columna K (TOTALFACTURA)")
    );
    assert!(
        f.message
            .contains("dice 17.000.000 en 'TOTALFACTURA', pero las filas de facturas suman 16.950.000 (diferencia 50.000)"),
        "{}",
        f.message
    );
    assert_eq!(wb.sheets[0].lines.len(), 3);
}

#[test]
fn subtotals_and_a_grand_total_both_add_up() {
    // Rows grouped by counterparty with a SUBTOTAL under each group and a
    // TOTAL GENERAL at the end: each checked against its own rows.
    let rows = [
        (
            "Uno S.A.S.",
            "900373991-9",
            "A1",
            45366.0,
            0.0,
            10.0,
            100.0,
            "V",
        ),
        (
            "Uno S.A.S.",
            "900373991-9",
            "A2",
            45366.0,
            0.0,
            5.0,
            100.0,
            "V",
        ),
    ];
    let bytes = plantilla_xlsx(&rows, 1500.0);
    let mut book = excel::decode_sheets(&bytes);
    let range = &mut book.ranges[0].1;
    let extra = [
        (6u32, 0u32, calamine::Data::String("Subtotal Uno".into())),
        (6, 10, calamine::Data::Float(1500.0)),
        (7, 0, calamine::Data::String("Dos S.A.S.".into())),
        (7, 1, calamine::Data::String("860028580".into())),
        (7, 4, calamine::Data::String("B1".into())),
        (7, 5, calamine::Data::Float(45367.0)),
        (7, 6, calamine::Data::String("CAFE".into())),
        (7, 7, calamine::Data::Float(19.0)),
        (7, 8, calamine::Data::Float(2.0)),
        (7, 9, calamine::Data::Float(1000.0)),
        (7, 10, calamine::Data::Float(2000.0)),
        (7, 13, calamine::Data::String("C".into())),
        (8, 0, calamine::Data::String("SUBTOTAL Dos".into())),
        (8, 10, calamine::Data::Float(2000.0)),
        (9, 0, calamine::Data::String("TOTAL GENERAL".into())),
        (9, 10, calamine::Data::Float(3500.0)),
    ];
    let mut grown = calamine::Range::new((0, 0), (9, 13));
    for (r, c, v) in range.used_cells() {
        grown.set_value((r as u32, c as u32), v.clone());
    }
    for (r, c, v) in extra {
        grown.set_value((r, c), v);
    }
    *range = grown;
    // The control total above the header says 1,500: it is checked too.
    let wb = excel::map_decoded(book, &layouts());
    let s = &wb.sheets[0];
    assert_eq!(s.lines.len(), 3, "{:#?}", wb.findings);
    assert_eq!(s.totals_rows, vec![7, 9, 10]);
    assert_eq!(codes(&wb.findings), vec!["PAS620"], "{:#?}", wb.findings);
}

#[test]
fn no_known_layout_says_what_was_expected_and_what_was_found() {
    // The plantilla's header without PUNTA and PRECIO UNITARIO.
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Registro").unwrap();
    put(
        ws,
        &drift(
            PLANTILLA51,
            &[((2, 9), None), ((3, 9), None), ((2, 13), None)],
        ),
    );
    ws.write(4, 0, "Uno S.A.S.").unwrap();
    let r = excel::read(&wb.save_to_buffer().unwrap(), &layouts());
    assert_eq!(codes(&r.findings), vec!["PAS601"]);
    let m = &r.findings[0].message;
    assert!(m.starts_with("Ninguna hoja tiene los encabezados de un formato conocido. Se esperaban los encabezados de: comiagro-2024 (NOMBRE USUARIO, NIT USUARIO, FACT NRO, FECHA, PRODUCTO, CANTIDAD, VALOR UNITARIO, TOTAL, IVA PRODUCTO, ROL DEL CLIENTE)"), "{m}");
    assert!(
        m.contains("plantilla51 (NOMBRE CLIENTE, NIT CLIENTE,"),
        "{m}"
    );
    assert!(
        m.contains("Lo más parecido es la hoja 'Registro', fila 3, para el formato plantilla51: se encontraron 'NOMBRE', 'NIT', 'DIRECCION', 'TEL.', 'No.',"),
        "{m}"
    );
    assert!(m.ends_with("faltan: PRECIO UNITARIO, PUNTA."), "{m}");
    // NOMBRE PRODUCTO and CODIGO SUBYA are there, but an invoice sheet
    // missing two columns is not a homologation sheet.
    assert!(r.homologation.is_empty(), "{:?}", r.homologation);

    // Nothing like a header at all: the first texts are quoted.
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write(3, 1, "Lista de precios").unwrap();
    ws.write(3, 2, "Marzo").unwrap();
    let r = excel::read(&wb.save_to_buffer().unwrap(), &layouts());
    let m = &r.findings[0].message;
    assert!(
        m.ends_with("Se encontró en la hoja 'Sheet1', fila 4: 'Lista de precios', 'Marzo'."),
        "{m}"
    );
}

/// Hostile: a sheet claiming a million rows (a formatted row and a formula
/// cached as "" at row 1,048,576, under real data), read through the
/// sandboxed worker as the daemon does: the tail is cut in the worker and
/// the rows are read; a sheet with cells at opposite corners of the largest
/// sheet is refused (never allocated in the daemon).
#[test]
fn a_sheet_claiming_a_million_rows_stays_bounded() {
    let rows = [(
        "Uno S.A.S.",
        "900373991-9",
        "A1",
        45366.0,
        0.0,
        10.0,
        100.0,
        "V",
    )];
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Datos a cargar").unwrap();
    put(ws, PLANTILLA51);
    for (i, (name, nit, fact, serial, iva, qty, price, punta)) in rows.iter().enumerate() {
        let r = 4 + i as u32;
        ws.write(r, 0, *name).unwrap();
        ws.write(r, 1, *nit).unwrap();
        ws.write(r, 4, *fact).unwrap();
        ws.write(r, 5, *serial).unwrap();
        ws.write(r, 6, "CAFE").unwrap();
        ws.write(r, 7, *iva).unwrap();
        ws.write(r, 8, *qty).unwrap();
        ws.write(r, 9, *price).unwrap();
        ws.write(r, 10, qty * price).unwrap();
        ws.write(r, 13, *punta).unwrap();
    }
    let last = 1_048_575;
    ws.set_row_format(last, &Format::new().set_bold()).unwrap();
    ws.write_formula(last, 13, Formula::new("=\"\"").set_result(""))
        .unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let book = rt
        .block_on(pasarela::formats::decode::excel(
            &bytes,
            pasarela::formats::worker::Limits::default(),
        ))
        .expect("the worker reads it");
    assert_eq!(book.ranges[0].1.end(), Some((4, 27)));
    let wb = excel::map_decoded(book, &layouts());
    assert_eq!(wb.sheets[0].lines.len(), 1, "{:#?}", wb.findings);

    // Far corners: refused in the worker, a finding here.
    let mut far = Workbook::new();
    let ws = far.add_worksheet();
    put(ws, PLANTILLA51);
    ws.write(last, 16_383, 1).unwrap();
    let book = rt.block_on(pasarela::formats::decode::excel(
        &far.save_to_buffer().unwrap(),
        pasarela::formats::worker::Limits::default(),
    ));
    match book {
        Ok(book) => {
            let wb = excel::map_decoded(book, &layouts());
            assert!(wb.sheets.is_empty());
            assert!(!wb.findings.is_empty());
        }
        Err(e) => assert!(!e.is_environment(), "{e}"),
    }
}

/// The homologation read from a filled sheet, fed into the catalog for that
/// submitter's invoices: a line whose product the index could not place is
/// matched by the broker's own name, per NIT; another client's line with
/// the same name is not; an entry without NIT applies to every line.
#[test]
fn homologation_entries_feed_the_submitters_aliases() {
    use pasarela::catalog::{
        Aliases, CatalogConfig, DescriptionIndex, LineQuery, MatchOutcome, MatchVia, Matcher,
        MemCatalog, ProcessingState, Product,
    };
    let wb = excel::read(&comiagro_filled(0.0), &layouts());
    let cfg = CatalogConfig::load(Path::new("rules/catalog.toml")).unwrap();
    let submitter = Aliases::from_homologation(
        wb.homologation
            .iter()
            .map(|e| (e.nit.as_deref(), e.product.as_str(), e.code.as_str())),
        &cfg.normalizer,
    );
    assert_eq!(submitter.len(), 3);
    let product = |code: &str, name: &str, variety: &str, unit: &str| Product {
        code: code.into(),
        product: name.into(),
        variety: variety.into(),
        unit: unit.into(),
        packaging: "EN SACO".into(),
        state: ProcessingState::Natural,
        group: String::new(),
    };
    let m = Matcher {
        lookup: MemCatalog(
            [
                product(
                    "10781",
                    "CAFE PERGAMINO",
                    "CAFE PERGAMINO SECO",
                    "KILOGRAMO",
                ),
                product("131", "CAFE EXCELSO", "SC", "KILOGRAMO"),
                product("1140", "LECHE CRUDA", "SC", "LITRO"),
            ]
            .into_iter()
            .map(|p| (p.code.clone(), p))
            .collect(),
        ),
        index: DescriptionIndex::default(),
        aliases: Aliases::default(),
        normalizer: cfg.normalizer.clone(),
        threshold: cfg.threshold,
        candidates: 5,
    };
    let matched = |client: Option<&str>, description: &str, aliases: &Aliases| {
        let q = LineQuery {
            client,
            description,
            ..Default::default()
        };
        match m.match_line_with(&q, aliases).unwrap() {
            MatchOutcome::Matched(p) => Some((p.product.code, p.via)),
            MatchOutcome::Review { .. } => None,
        }
    };
    let alias = |code: &str| Some((code.to_string(), MatchVia::Alias));
    // The broker's spelling, another case and spacing: the submitter's code.
    assert_eq!(
        matched(Some("900373991-9"), "CAFE PERGAMINO  SECO", &submitter),
        alias("10781")
    );
    assert_eq!(
        matched(Some("900373991"), "café excelso", &submitter),
        alias("131")
    );
    // Only for that NIT …
    assert_eq!(matched(Some("800197268"), "Café excelso", &submitter), None);
    // … unless the entry has none.
    assert_eq!(
        matched(Some("800197268"), "Leche cruda", &submitter),
        alias("1140")
    );
    // Without the submitter's set nothing of it leaks.
    assert_eq!(
        matched(Some("900373991"), "Café excelso", &Aliases::default()),
        None
    );
}

/// The same drifts in a BIFF .xls (fixtures/formats/excel/make_xls.py,
/// plantilla51_drifted): merged cells and the zero tail as .xls stores
/// them, a renamed homologation sheet.
#[test]
fn drifted_plantilla51_xls() {
    let bytes = std::fs::read("fixtures/formats/excel/plantilla51-drifted.xls").unwrap();
    let book = excel::decode_sheets(&bytes);
    let data = &book.ranges.iter().find(|(n, _)| n == "Hoja1").unwrap().1;
    assert_eq!(data.end().map(|e| e.0), Some(7), "1,000 zero rows cut");
    let wb = excel::map_decoded(book, &layouts());
    assert_eq!(codes(&wb.findings), vec!["PAS640"], "{:#?}", wb.findings);
    assert_eq!(
        wb.findings[0].message,
        "Homologación: falta el código del catálogo en la fila 5 de la hoja 'Homologacion'; la fila no se usa."
    );
    let s = &wb.sheets[0];
    assert_eq!(
        (s.sheet.as_str(), s.header_row, s.header_depth),
        ("Hoja1", 3, 2)
    );
    assert_eq!(s.control_total, Some(d("19750000")));
    assert_eq!(s.totals_rows, vec![8]);
    let got: Vec<(u32, &str, &str, &str, Decimal)> = s
        .lines
        .iter()
        .map(|l| {
            (
                l.row,
                l.counterparty.as_str(),
                l.invoice_number.as_str(),
                l.product.as_str(),
                l.total,
            )
        })
        .collect();
    let huila = "Cooperativa de Caficultores del Huila";
    assert_eq!(
        got,
        vec![
            (5, huila, "CH501", "CAFE PERGAMINO SECO", d("12500000")),
            (6, huila, "CH501", "CAFE EXCELSO", d("4500000")),
            (
                7,
                "Lácteos del Páramo S.A.S.",
                "LP77",
                "LECHE CRUDA",
                d("2750000")
            ),
        ]
    );
    assert_eq!(s.lines[1].nit, "891100208");
    assert_eq!(
        s.lines[1].date,
        NaiveDate::from_ymd_opt(2024, 3, 4).unwrap()
    );
    assert_eq!(s.lines[2].side, Side::Compra);
    let h: Vec<(Option<&str>, &str, &str)> = wb
        .homologation
        .iter()
        .map(|e| (e.nit.as_deref(), e.product.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        h,
        vec![
            (Some("891100208"), "CAFE PERGAMINO SECO", "10781"),
            (Some("891100208"), "CAFE EXCELSO", "131"),
            (None, "LECHE CRUDA", "1140"),
        ]
    );
}

#[test]
fn every_filled_sheet_is_read_and_a_sheet_of_notes_is_not() {
    // March and April on two sheets of one workbook, the notes between.
    let mut wb = Workbook::new();
    for (name, fact, serial) in [
        ("Marzo", "M-1", 45366.0),
        ("Notas", "", 0.0),
        ("Abril", "A-1", 45397.0),
    ] {
        let ws = wb.add_worksheet();
        ws.set_name(name).unwrap();
        if fact.is_empty() {
            ws.write(0, 0, "NOMBRE CLIENTE: razón social del cliente")
                .unwrap();
            ws.write(1, 0, "PUNTA: V vendedor, C comprador").unwrap();
            // The broker's own price list: its codes are not catalog codes,
            // never homologation entries.
            for (c, h) in ["CODIGO", "PRODUCTO", "PRECIO"].iter().enumerate() {
                ws.write(3, c as u16, *h).unwrap();
            }
            ws.write(4, 0, 17).unwrap();
            ws.write(4, 1, "CAFE PERGAMINO").unwrap();
            ws.write(4, 2, 12500).unwrap();
            continue;
        }
        put(ws, PLANTILLA51);
        for (c, v) in [
            (0u16, "Uno S.A.S."),
            (1, "900373991-9"),
            (4, fact),
            (6, "CAFE"),
            (13, "V"),
        ] {
            ws.write(4, c, v).unwrap();
        }
        for (c, v) in [
            (5u16, serial),
            (7, 0.0),
            (8, 10.0),
            (9, 100.0),
            (10, 1000.0),
        ] {
            ws.write(4, c, v).unwrap();
        }
        ws.write(0, 10, 1000.0).unwrap();
    }
    let r = excel::read(&wb.save_to_buffer().unwrap(), &layouts());
    let sheets: Vec<(&str, &str)> = r
        .sheets
        .iter()
        .map(|s| (s.sheet.as_str(), s.lines[0].invoice_number.as_str()))
        .collect();
    assert_eq!(sheets, vec![("Marzo", "M-1"), ("Abril", "A-1")]);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.homologation.is_empty());
}
