//! The `pasarela catalog` and `pasarela rules` commands, run as a user would.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pasarela() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pasarela"));
    c.current_dir(root());
    c
}

#[test]
fn import_prints_a_summary_with_rejected_lines_then_lookup_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("c.csv");
    std::fs::write(
        &csv,
        "A_codigo,B_descripcion,C,D,E,F\r\n1,ARROZ CASCARA - AMERICANO - KILOGRAMO - EN SACO - NATURAL,A,S,,\r\n2,SIN FORMATO,A,S,,\r\n7486,AREPA - AREPA CON QUESO - KILOGRAMO - EMPACADO(A) - PROCESADO,A,S,,\r\n",
    )
    .unwrap();
    let cat = dir.path().join("cat");
    let out = pasarela()
        .args(["catalog", "import"])
        .arg(&csv)
        .arg("--dir")
        .arg(&cat)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("filas leídas: 3"), "{stdout}");
    assert!(stdout.contains("insertados:   2"), "{stdout}");
    assert!(stdout.contains("rechazados:   1"), "{stdout}");
    assert!(
        stdout.contains("línea 3: la descripción 'SIN FORMATO'"),
        "{stdout}"
    );
    // No progress bar when stderr is not a terminal.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = pasarela()
        .args(["catalog", "lookup", "1", "--dir"])
        .arg(&cat)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"product\": \"ARROZ CASCARA\""));
    let out = pasarela()
        .args(["catalog", "lookup", "99", "--dir"])
        .arg(&cat)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));

    let out = pasarela()
        .args(["catalog", "history", "*", "--dir"])
        .arg(&cat)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\tload\t2 productos"));
    let xlsx = dir.path().join("c.xlsx");
    std::fs::write(&xlsx, b"PK").unwrap();
    let out = pasarela()
        .args(["catalog", "import"])
        .arg(&xlsx)
        .arg("--dir")
        .arg(&cat)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--layout"));

    let out = pasarela()
        .args([
            "catalog",
            "match",
            "AREPA CON QUESO MOZARELLA x 4 und",
            "--unit",
            "KGM",
            "--dir",
        ])
        .arg(&cat)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"code\": \"7486\""), "{stdout}");
    assert!(stdout.contains("PAS62"), "{stdout}");
}

#[test]
fn rules_test_command_runs_the_shipped_tests_and_fails_on_a_wrong_expectation() {
    let out = pasarela().args(["rules", "test"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.toml");
    std::fs::write(
        &t,
        "[[test]]\nname = \"wrong\"\ndate = \"2026-03-01\"\nclient = \"1\"\nside = \"V\"\nlines = [{ group = \"X\", state = \"NATURAL\", value = \"10000000\" }]\nexpect = { total = \"1\" }\n",
    )
    .unwrap();
    let out = pasarela().args(["rules", "test"]).arg(&t).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL") && stdout.contains("total: expected 1, got 28000"),
        "{stdout}"
    );

    // A broken rules file: exit 78 with file and key.
    let r = dir.path().join("commissions.toml");
    std::fs::write(&r, "[[rule]]\nid = \"x\"\nversion = 1\nvalid_from = \"2026-01-01\"\npriority = 0\nfee = { rate_bps = \"1\", rounding = \"sideways\" }\n").unwrap();
    let out = pasarela()
        .args(["rules", "test", "--rules"])
        .arg(&r)
        .arg(&t)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rule[0].fee.rounding"));
}

#[test]
fn rules_explain_prints_each_step() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("inv.json");
    std::fs::write(
        &input,
        r#"{"date": "2026-03-01", "client": "800111222", "side": "V",
            "lines": [{"code": "1", "group": "GRANOS", "state": "NATURAL", "quantity_kg": "1000", "value": "250000000"}]}"#,
    )
    .unwrap();
    let out = pasarela()
        .args(["rules", "explain"])
        .arg(&input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("línea 1 código 1: 475000 (granos-venta v1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no aplican (mayor prioridad): granos-lote-grande v1"),
        "{stdout}"
    );
    assert!(stdout.contains("total: 475000"), "{stdout}");
    let out = pasarela()
        .args(["rules", "explain", "--json"])
        .arg(&input)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["total"], "475000");
}

#[test]
fn the_shipped_rules_directory_is_valid_and_problems_are_all_reported() {
    assert!(pasarela::commands::rules::check_rules_dir(&root().join("rules")).is_empty());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("commissions.toml"),
        "[[rule]]\nid = \"x\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("catalog.toml"),
        "default_layout = \"nope\"\nlayouts = {}\n",
    )
    .unwrap();
    let p: Vec<String> = pasarela::commands::rules::check_rules_dir(dir.path())
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        p.iter().any(|e| e.contains("commissions.toml: rule[0]")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|e| e.contains("catalog.toml: default_layout: no layout named 'nope'")),
        "{p:?}"
    );
}
