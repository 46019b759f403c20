//! Credit and debit notes change the registration of the invoice they refer
//! to (issue 17 item 4, docs/NOTES.md): never a registration of their own.

use std::process::Command;

use pasarela::dian::generator::{self, GenOptions, Spec};
use pasarela::dian::model::DocKind;
use rust_decimal::Decimal;

use crate::support::*;

const NOW: &str = "2024-03-15T12:00:00-05:00";

fn options() -> GenOptions {
    GenOptions {
        registrable: true,
        min_lines: 2,
        max_lines: 3,
        ..GenOptions::default()
    }
}

/// An invoice whose lines carry no line discount (so a note line built
/// with `with_quantity` prices exactly like the invoice's line).
fn invoice(seed: u64) -> Spec {
    let mut inv = generator::build(seed, DocKind::Invoice, &options());
    for l in &mut inv.lines {
        *l = l.with_quantity(l.quantity);
    }
    inv.recompute_totals();
    inv
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .unwrap()
}

fn pdf_text(env: &Env, r: &serde_json::Value) -> String {
    let pdf = env.home("demo").join(
        r["certificate"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no certificate: {r}")),
    );
    let out = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn notes_adjust_and_annul_the_registration_they_refer_to() {
    let env = Env::new(&registration_config(&["certify"], ""));
    env.import_catalog();
    let daemon = env.start_ready(&["--now", NOW]);

    let inv = invoice(120);
    let first = env.submit(&daemon, "demo", "factura.xml", inv.render().xml.as_bytes());
    assert_eq!(first["verdict"], "accepted", "{first}");
    let original = first["certificate"]["number"].as_str().unwrap().to_owned();
    let commission_0 = dec(&first["commission"]["total"]);
    let value_0: Decimal = inv.lines.iter().map(|l| l.line_extension).sum();

    // A partial return of one unit of the first line.
    let returned = inv.lines[0].with_quantity(Decimal::ONE);
    let credit = generator::note_for(
        &inv,
        DocKind::CreditNote,
        "1",
        7001,
        &options(),
        vec![returned.clone()],
    );
    let r = env.submit(
        &daemon,
        "demo",
        "nota-credito.xml",
        credit.render().xml.as_bytes(),
    );
    assert_eq!(r["verdict"], "accepted", "{r}");
    let note = &r["note"];
    assert_eq!(note["effect"], "adjust", "{r}");
    assert_eq!(note["refers_to"]["certificate"], original.as_str(), "{r}");
    assert_eq!(note["refers_to"]["job_id"], first["job_id"], "{r}");
    assert_eq!(dec(&note["value_before"]), value_0, "{r}");
    assert_eq!(
        dec(&note["value_after"]),
        value_0 - returned.line_extension,
        "{r}"
    );
    assert_eq!(dec(&note["commission_before"]), commission_0, "{r}");
    let adjusted = r["certificate"]["number"].as_str().unwrap().to_owned();
    assert_ne!(
        adjusted, original,
        "a reissued certificate has its own number"
    );
    let text = pdf_text(&env, &r).replace(char::is_whitespace, "");
    assert!(text.contains("AJUSTADOPORNOTA"), "{text}");
    assert!(
        text.contains(&format!("Reemplazaalcertificado No.{original}").replace(' ', "")),
        "{text}"
    );

    // The oracle: a fresh invoice that sold what is left registered gets
    // the same commission from the same rules.
    let mut fresh = inv.clone();
    fresh.number = "SETP990004242".into();
    fresh.lines[0] = inv.lines[0].with_quantity(inv.lines[0].quantity - Decimal::ONE);
    fresh.recompute_totals();
    let oracle = env.submit(
        &daemon,
        "demo",
        "equivalente.xml",
        fresh.render().xml.as_bytes(),
    );
    assert_eq!(oracle["verdict"], "accepted", "{oracle}");
    assert_eq!(
        dec(&note["commission_after"]),
        dec(&oracle["commission"]["total"]),
        "note {r}\noracle {oracle}"
    );

    // A debit note raising the second line by two units.
    let added = inv.lines[1].with_quantity(Decimal::TWO);
    let debit = generator::note_for(
        &inv,
        DocKind::DebitNote,
        "3",
        7002,
        &options(),
        vec![added.clone()],
    );
    let d = env.submit(
        &daemon,
        "demo",
        "nota-debito.xml",
        debit.render().xml.as_bytes(),
    );
    assert_eq!(d["verdict"], "accepted", "{d}");
    assert_eq!(d["note"]["refers_to"]["replaces"], adjusted.as_str(), "{d}");
    assert_eq!(
        dec(&d["note"]["value_after"]),
        value_0 - returned.line_extension + added.line_extension,
        "{d}"
    );
    assert!(dec(&d["note"]["commission_delta"]) >= Decimal::ZERO, "{d}");

    // Anulación: nothing registered, no commission.
    let annul = generator::note_for(
        &inv,
        DocKind::CreditNote,
        "2",
        7003,
        &options(),
        inv.lines.clone(),
    );
    let a = env.submit(
        &daemon,
        "demo",
        "anulacion.xml",
        annul.render().xml.as_bytes(),
    );
    assert_eq!(a["verdict"], "accepted", "{a}");
    assert_eq!(a["note"]["effect"], "cancel", "{a}");
    assert_eq!(dec(&a["note"]["value_after"]), Decimal::ZERO, "{a}");
    assert_eq!(dec(&a["note"]["commission_after"]), Decimal::ZERO, "{a}");
    assert!(pdf_text(&env, &a).contains("ANULACIÓN"), "{a}");

    // After the annulment, a further note is refused.
    let late = generator::note_for(
        &inv,
        DocKind::CreditNote,
        "4",
        7004,
        &options(),
        vec![inv.lines[0].with_quantity(Decimal::ONE)],
    );
    let l = env.submit(&daemon, "demo", "tardia.xml", late.render().xml.as_bytes());
    assert_eq!(l["verdict"], "rejected", "{l}");
    assert!(finding_codes(&l).contains(&"PAS74".to_owned()), "{l}");
    assert!(l.get("certificate").is_none(), "{l}");

    // A note about an invoice nobody registered waits for an operator.
    let stranger = invoice(121);
    let orphan = generator::note_for(
        &stranger,
        DocKind::CreditNote,
        "1",
        7005,
        &options(),
        vec![stranger.lines[0].with_quantity(Decimal::ONE)],
    );
    let o = env.submit(
        &daemon,
        "demo",
        "huerfana.xml",
        orphan.render().xml.as_bytes(),
    );
    assert_eq!(o["verdict"], "review", "{o}");
    assert!(finding_codes(&o).contains(&"PAS72".to_owned()), "{o}");

    // The daily report lists the ledger: the registration, its notes, and
    // the oracle invoice; the notes net the first registration to zero.
    let out = env.run(&["report", "--date", "2024-03-15"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = files_under(env.path())
        .into_iter()
        .find(|p| {
            p.to_string_lossy()
                .ends_with("registros-comisiones-2024-03-15.csv")
        })
        .expect("daily CSV");
    let text = std::fs::read_to_string(csv).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r[col("tipo")]).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "registro").count(),
        2,
        "{text}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "ajuste").count(),
        2,
        "{text}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "anulacion").count(),
        1,
        "{text}"
    );
    let first_job = first["job_id"].as_i64().unwrap().to_string();
    let net: Decimal = rows
        .iter()
        .filter(|r| r[col("job_id")] == first_job || r[col("ajusta_job_id")] == first_job)
        .map(|r| r[col("valor")].parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(net, Decimal::ZERO, "{text}");
    drop(daemon);
}

/// Six notes about one registration processed at the same time by every
/// daemon's workers: all applied, one after the other, never two from the
/// same starting point; the last leaves the registration net of all six.
fn concurrent_notes(env: &Env, daemons: &[&Daemon]) {
    let inv = invoice(130);
    let first = env.submit(
        daemons[0],
        "demo",
        "factura.xml",
        inv.render().xml.as_bytes(),
    );
    assert_eq!(first["verdict"], "accepted", "{first}");
    let value_0: Decimal = inv.lines.iter().map(|l| l.line_extension).sum();
    let mut credited = Decimal::ZERO;
    for i in 0..6u64 {
        let line = inv.lines[(i % 2) as usize].with_quantity(Decimal::new(1, 1));
        credited += line.line_extension;
        let n = generator::note_for(
            &inv,
            DocKind::CreditNote,
            "3",
            8000 + i,
            &options(),
            vec![line],
        );
        env.drop_file("demo", &format!("nota-{i}.xml"), n.render().xml.as_bytes());
    }
    let logs = || {
        daemons
            .iter()
            .map(|d| d.log_text())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut replaced = Vec::new();
    let mut lowest = value_0;
    for i in 0..6 {
        let name = format!("nota-{i}.xml");
        assert!(
            wait_until(std::time::Duration::from_secs(60), || env
                .result_path("demo", &name)
                .is_file()),
            "{}",
            logs()
        );
        let r = env.read_result("demo", &name);
        assert_eq!(r["verdict"], "accepted", "{r}\n{}", logs());
        replaced.push(
            r["note"]["refers_to"]["replaces"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        lowest = lowest.min(dec(&r["note"]["value_after"]));
    }
    let mut unique = replaced.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        6,
        "each note replaces a different certificate: {replaced:?}"
    );
    assert_eq!(lowest, value_0 - credited);
}

#[test]
fn concurrent_notes_on_one_registration_are_applied_in_turn() {
    let env = Env::new(
        &registration_config(&["certify"], "").replace("[daemon]", "[daemon]\nworkers = 4"),
    );
    env.import_catalog();
    let daemon = env.start_ready(&["--now", NOW]);
    concurrent_notes(&env, &[&daemon]);
}

#[test]
fn two_daemons_on_postgresql_apply_concurrent_notes_in_turn() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(schema) = rt.block_on(pasarela::store::testing::ScratchSchema::create()) else {
        return;
    };
    let base = registration_config(&["certify"], "");
    let env = Env::new(&crate::multi_daemon::daemon_config(
        &base,
        "a",
        &schema.url,
        None,
    ));
    std::fs::write(
        env.path().join("config/b.toml"),
        crate::multi_daemon::daemon_config(&base, "b", &schema.url, None),
    )
    .unwrap();
    env.import_catalog();
    let a = env.start_ready(&["--now", NOW]);
    let b = env.start_ready(&["--config", "config/b.toml", "--now", NOW]);
    concurrent_notes(&env, &[&a, &b]);
}
