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
type Row<'a> = (&'a str, &'a str, &'a str, f64, f64, f64, f64, &'a str);

fn plantilla_xlsx(rows: &[Row], control: f64) -> Vec<u8> {
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
