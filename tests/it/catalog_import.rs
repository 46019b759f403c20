//! Catalog import: the shipped subyacentes snapshot, malformed rows reported
//! by line, re-import with history, other layouts.

use std::path::{Path, PathBuf};

use pasarela::catalog::{self, CatalogConfig, ImportOptions, ProcessingState, store};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cfg() -> CatalogConfig {
    CatalogConfig::load(&root().join("rules/catalog.toml")).expect("shipped catalog.toml compiles")
}

fn fixture() -> PathBuf {
    let p = root().join("../shared/fixtures/bmc/subyacentes.csv");
    if p.exists() {
        p
    } else {
        PathBuf::from("/work/shared/fixtures/bmc/subyacentes.csv")
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn imports_the_shipped_subyacentes_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = catalog::import(dir.path(), &fixture(), &cfg(), &ImportOptions::default()).unwrap();
    assert_eq!(s.rows_read, 9029);
    // Code 10943 appears twice in the snapshot: the later line wins, the earlier is reported.
    assert_eq!(s.inserted, 9028);
    assert_eq!(s.total_products, 9028);
    assert_eq!(s.rejected, 1);
    assert_eq!(s.rejects[0].line, 7852);
    assert!(
        s.rejects[0]
            .reason
            .contains("10943 repetido: lo reemplaza la línea 7853"),
        "{:?}",
        s.rejects
    );

    let f = store::open(dir.path()).unwrap().unwrap();
    let p = f.get("1").unwrap().unwrap();
    assert_eq!(p.product, "ARROZ CASCARA IMPORTADO");
    assert_eq!(p.variety, "AMERICANO");
    assert_eq!(p.unit, "KILOGRAMO");
    assert_eq!(p.packaging, "EN SACO");
    assert_eq!(p.state, ProcessingState::Natural);
    assert_eq!(p.group, "", "derived groups are not stored");
    assert_eq!(cfg().resolve_group(p.clone()).group, "GRANOS");
    assert_eq!(
        p.description(),
        "ARROZ CASCARA IMPORTADO - AMERICANO - KILOGRAMO - EN SACO - NATURAL"
    );
    // Accents survive (the file is UTF-8).
    assert!(f.get("323").unwrap().unwrap().product.contains("CAÑA"));
    // Six-part descriptions split at the unit.
    let p = f.get("6099").unwrap().unwrap();
    assert_eq!((p.unit.as_str(), p.state.as_str()), ("UNIDAD", "PROCESADO"));
    assert_eq!(
        f.get("12303").unwrap().map(|p| p.code),
        Some("12303".to_string())
    );
    assert!(f.get("999999").unwrap().is_none());
    assert!(f.get("0").unwrap().is_none());
    // Every code of the file can be found.
    let text = std::fs::read_to_string(fixture()).unwrap();
    for l in text.lines().skip(1) {
        let code = l.split(',').next().unwrap();
        assert!(f.get(code).unwrap().is_some(), "code {code}");
    }
    assert_eq!(f.scan().unwrap().count(), 9028);
}

#[test]
fn malformed_rows_are_reported_by_line_and_do_not_stop_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let mut csv = b"A_codigo,B_descripcion,C,D,E,F\r\n".to_vec();
    csv.extend_from_slice(b"1,ARROZ CASCARA - AMERICANO - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n"); // line 2
    csv.extend_from_slice(b",PAPA - SC - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n"); // 3: no code
    csv.extend_from_slice(b"3,PAPA SIN FORMATO,A,S,,\r\n"); // 4: description not in layout
    csv.extend_from_slice(b"4\r\n"); // 5: missing columns
    csv.extend_from_slice(b"5,PAPA - SC - KILOGRAMO - EN SACO - NATURAL\xff,A,S,,\r\n"); // 6: not UTF-8
    csv.extend_from_slice(b"\r\n"); // blank line: skipped
    csv.extend_from_slice(
        b"7,\"LIMON, TAHITI - SC - KILOGRAMO - SIN EMPAQUE - NATURAL\",A,S,,\r\n",
    ); // 8: quoted comma, fine
    csv.extend_from_slice(b"8,\"YUCA - SC - KILOGRAMO - \r\n EN SACO - NATURAL\",A,S,,\r\n"); // 9-10: multi-line field, fine
    csv.extend_from_slice(b"9,MANGO -  - KILOGRAMO - SIN EMPAQUE - NATURAL,A,S,,\r\n"); // 11: empty part
    let file = write(src.path(), "cat.csv", &csv);
    let s = catalog::import(dir.path(), &file, &cfg(), &ImportOptions::default()).unwrap();
    assert_eq!(s.rows_read, 8);
    assert_eq!(s.inserted, 3, "{s:?}");
    let lines: Vec<u64> = s.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 11], "{:?}", s.rejects);
    assert!(s.rejects[0].reason.contains("código está vacío"));
    assert!(
        s.rejects[1]
            .reason
            .contains("PRODUCTO - VARIEDAD - UNIDAD - EMPAQUE - ESTADO")
    );
    assert!(s.rejects[2].reason.contains("faltan columnas"));
    assert!(s.rejects[3].reason.contains("UTF-8"));
    let f = store::open(dir.path()).unwrap().unwrap();
    assert_eq!(f.get("7").unwrap().unwrap().product, "LIMON, TAHITI");
    assert!(f.get("8").unwrap().is_some());
}

#[test]
fn reimport_updates_in_place_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let head = "A_codigo,B_descripcion,C,D,E,F\r\n";
    let v1 = format!(
        "{head}1,ARROZ CASCARA - AMERICANO - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n2,PAPA - SC - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n3,YUCA - SC - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n"
    );
    let f1 = write(src.path(), "v1.csv", v1.as_bytes());
    let s1 = catalog::import(dir.path(), &f1, &cfg(), &ImportOptions::default()).unwrap();
    assert_eq!((s1.inserted, s1.generation.as_str()), (3, "gen-00000001"));

    // Code 2 changes packaging and state, 4 is new, 3 is absent (kept), 1 is unchanged.
    let v2 = format!(
        "{head}2,PAPA - SC - KILOGRAMO - A GRANEL - PROCESADO,A,S,,\r\n1,ARROZ CASCARA - AMERICANO - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n4,MANGO - TOMMY - KILOGRAMO - SIN EMPAQUE - NATURAL,A,S,,\r\n"
    );
    let f2 = write(src.path(), "v2.csv", v2.as_bytes());
    let s2 = catalog::import(dir.path(), &f2, &cfg(), &ImportOptions::default()).unwrap();
    assert_eq!(
        (
            s2.inserted,
            s2.updated,
            s2.unchanged,
            s2.kept,
            s2.total_products
        ),
        (1, 1, 1, 1, 4),
        "{s2:?}"
    );
    assert_eq!(s2.generation, "gen-00000002");
    assert!(
        !dir.path().join("gen-00000001").exists(),
        "the old generation is removed"
    );

    let f = store::open(dir.path()).unwrap().unwrap();
    let p = f.get("2").unwrap().unwrap();
    assert_eq!(
        (p.packaging.as_str(), p.state.clone()),
        ("A GRANEL", ProcessingState::Processed)
    );
    assert!(f.get("3").unwrap().is_some());

    let history = std::fs::read_to_string(dir.path().join("history.log")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(
        lines[0].contains("\tgen-00000001\t*\tload\t3 productos"),
        "{history}"
    );
    assert!(
        lines[1].contains(
            "\tgen-00000002\t2\tupdate\tpackaging: EN SACO → A GRANEL; state: NATURAL → PROCESADO"
        ),
        "{history}"
    );
    assert!(
        lines[2].contains(
            "\tgen-00000002\t4\tinsert\tMANGO - TOMMY - KILOGRAMO - SIN EMPAQUE - NATURAL"
        ),
        "{history}"
    );
    let h2 = store::history(dir.path(), "2").unwrap();
    assert_eq!(h2.len(), 1);
    assert!(h2[0].contains("packaging: EN SACO → A GRANEL"));
    assert_eq!(store::history(dir.path(), "*").unwrap().len(), 3);
    let imports = std::fs::read_to_string(dir.path().join("imports.log")).unwrap();
    assert_eq!(imports.lines().count(), 2);

    // A reader opened before a re-import keeps working on its generation.
    let before = store::open(dir.path()).unwrap().unwrap();
    let s3 = catalog::import(dir.path(), &f1, &cfg(), &ImportOptions::default()).unwrap();
    assert_eq!(s3.updated, 1);
    assert_eq!(before.get("2").unwrap().unwrap().packaging, "A GRANEL");
    assert_eq!(
        store::open(dir.path())
            .unwrap()
            .unwrap()
            .get("2")
            .unwrap()
            .unwrap()
            .packaging,
        "EN SACO"
    );
}

#[test]
fn small_sort_buffers_spill_many_runs_and_merge_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("gen.csv");
    catalog::generate::generate(&file, 20_000).unwrap();
    let opts = ImportOptions {
        sort_buffer_bytes: 64 * 1024,
        ..Default::default()
    };
    let s = catalog::import(dir.path(), &file, &cfg(), &opts).unwrap();
    assert_eq!((s.rows_read, s.inserted, s.rejected), (20_000, 20_000, 0));
    let f = store::open(dir.path()).unwrap().unwrap();
    for code in [1u64, 9, 10, 99, 100, 12_345, 19_999, 20_000] {
        assert!(f.get(&code.to_string()).unwrap().is_some(), "{code}");
    }
    assert!(f.get("20001").unwrap().is_none());
    // Codes come back in byte order.
    let codes: Vec<String> = f.scan().unwrap().map(|p| p.unwrap().code).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted);
    // Re-import of the same file: all unchanged.
    let s = catalog::import(dir.path(), &file, &cfg(), &opts).unwrap();
    assert_eq!((s.unchanged, s.inserted, s.updated), (20_000, 0, 0));
}

#[test]
fn latin1_semicolon_layout_and_separate_columns() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    // "CAÑA" in Windows-1252 is 0xD1.
    let file = write(src.path(), "excel.csv", b"A_codigo;B_descripcion;C;D;E;F\r\n323;CA\xd1A DE AZUCAR - PANELERA - KILOGRAMO - SIN EMPAQUE - NATURAL;A;S;;\r\n");
    let opts = ImportOptions {
        layout: Some("subyacentes-excel-csv".into()),
        ..Default::default()
    };
    let s = catalog::import(dir.path(), &file, &cfg(), &opts).unwrap();
    assert_eq!(s.inserted, 1, "{s:?}");
    let p = store::open(dir.path())
        .unwrap()
        .unwrap()
        .get("323")
        .unwrap()
        .unwrap();
    assert_eq!(p.product, "CAÑA DE AZUCAR");

    // A wrong layout is an error naming the missing column, not a silent empty import.
    let e = catalog::import(dir.path(), &file, &cfg(), &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no column 'A_codigo'"), "{e}");
}

/// A minimal .xlsx (inline strings) written with `zip`, to exercise the Excel path.
fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    use std::io::Write;
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, v) in row.iter().enumerate() {
            let col = (b'A' + c as u8) as char;
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                sheet.push_str(&format!("<c r=\"{col}{}\"><v>{v}</v></c>", r + 1));
            } else {
                sheet.push_str(&format!(
                    "<c r=\"{col}{}\" t=\"inlineStr\"><is><t>{v}</t></is></c>",
                    r + 1
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    let files = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string(),
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string(),
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Catalogo" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_string(),
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn excel_layout_with_one_column_per_field() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let book = xlsx(&[
        &[
            "CODIGO", "PRODUCTO", "VARIEDAD", "UNIDAD", "EMPAQUE", "ESTADO", "GRUPO",
        ],
        &[
            "130",
            "CAFE PERGAMINO",
            "SC",
            "KILOGRAMO",
            "EN SACO",
            "NATURAL",
            "",
        ],
        &[
            "",
            "SIN CODIGO",
            "SC",
            "KILOGRAMO",
            "EN SACO",
            "NATURAL",
            "",
        ],
        &[
            "5326",
            "AREPA",
            "Arepa Blanca",
            "UNIDAD",
            "EMPACADO(A)",
            "PROCESADO",
            "ESPECIAL",
        ],
        &["77", "MANGO", "TOMMY", "KILOGRAMO", "SIN EMPAQUE", "", ""],
    ]);
    let file = write(src.path(), "catalogo.xlsx", &book);
    let opts = ImportOptions {
        layout: Some("excel".into()),
        ..Default::default()
    };
    let s = catalog::import(dir.path(), &file, &cfg(), &opts).unwrap();
    assert_eq!((s.rows_read, s.inserted, s.rejected), (4, 2, 2), "{s:?}");
    let lines: Vec<u64> = s.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 5], "{:?}", s.rejects);
    assert!(s.rejects[1].reason.contains("falta el estado"));
    let f = store::open(dir.path()).unwrap().unwrap();
    let cafe = f.get("130").unwrap().unwrap();
    assert_eq!(
        (cafe.group.as_str(), cafe.state.clone()),
        ("", ProcessingState::Natural)
    );
    assert_eq!(cfg().resolve_group(cafe).group, "CAFE_CACAO");
    assert_eq!(f.get("5326").unwrap().unwrap().group, "ESPECIAL");
}
