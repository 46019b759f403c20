//! Every document reaches a decision (issue 18, docs/REVIEW.md): readings of
//! PDFs are tied to their electronic invoice or wait for it; the review
//! queue's decisions (approve with corrections, reject with a reason) finish
//! them through the running daemon.

use std::time::Duration;

use pasarela::dian::generator::{self, GenOptions};
use pasarela::dian::model::DocKind;
use pasarela::formats::generate::{self as fgen, Invoice};

use crate::support::*;

/// Products the shipped catalog identifies by description as natural
/// (registrable) products sold by weight.
pub(crate) const REGISTRABLE: &[&str] = &[
    "Arroz paddy verde",
    "Panela pulverizada",
    "Papa criolla lavada",
    "Plátano hartón verde",
    "Tomate chonto",
    "Cebolla cabezona blanca",
];

/// The first printed invoice from seed `from` on numbered in the test
/// authorisation range (prefix SETP) that `ok` accepts.
pub(crate) fn printed(from: u64, ok: impl Fn(&fgen::InvoiceTruth) -> bool) -> (u64, Invoice) {
    (from..from + 20_000)
        .map(|s| (s, fgen::invoice(s, true)))
        .find(|(_, i)| i.truth.prefix == "SETP" && ok(&i.truth))
        .expect("a seed with such a printed invoice")
}

pub(crate) fn registrable(t: &fgen::InvoiceTruth) -> bool {
    t.lines
        .iter()
        .all(|l| l.unit == "KG" && REGISTRABLE.contains(&l.description.as_str()))
}

pub(crate) fn day(t: &fgen::InvoiceTruth) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(&t.issue_date, "%Y-%m-%d").unwrap()
}

/// "now" for the daemon: the day after the invoice was issued.
pub(crate) fn now_after(inv: &Invoice) -> String {
    format!("{}T12:00:00-05:00", day(&inv.truth) + chrono::Days::new(1))
}

pub(crate) fn config(smtp_port: Option<u16>) -> String {
    let smtp = smtp_port.map_or(String::new(), |port| {
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"Pasarela <certificados@bolsa.example>\"\nadmins = [\"ops@bolsa.example\"]\ntemplates_dir = \"{}\"\ninitial_backoff_ms = 200\nmax_backoff_secs = 1\npoll_interval_ms = 100\n",
            repo().join("config/templates").display()
        )
    });
    registration_config(&["certify"], &smtp)
        .replace(
            "steps = [\"hold-for-review\"]",
            "steps = [\"pdf-extract\", \"image-ocr\", \"excel-rows\", \"price\", \"certify\"]",
        )
        .replace(
            "home = \"var/home/demo\"",
            "home = \"var/home/demo\"\nemail = [\"broker@demo.example\"]",
        )
}

/// A printed invoice with one line the catalog reads as a processed product
/// (café pergamino seco: not registrable until an operator names the natural
/// product, 130) among registrable ones; that line's number (from 1); and
/// another printed invoice issued up to 60 days before it.
pub(crate) fn lone_coffee_and_another() -> (Invoice, usize, Invoice) {
    let (seed, lone) = printed(300, |t| {
        t.lines
            .iter()
            .filter(|l| l.description == "Café pergamino seco")
            .count()
            == 1
            && t.lines.iter().all(|l| {
                l.unit == "KG"
                    && (l.description == "Café pergamino seco"
                        || REGISTRABLE.contains(&l.description.as_str()))
            })
    });
    let coffee = lone
        .truth
        .lines
        .iter()
        .position(|l| l.description == "Café pergamino seco")
        .unwrap()
        + 1;
    let d = day(&lone.truth);
    let (_, other) = printed(seed + 1, |t| day(t) <= d && (d - day(t)).num_days() <= 60);
    (lone, coffee, other)
}

pub(crate) fn certificates(env: &Env) -> usize {
    files_under(&env.home("demo").join("outgoing/certificates")).len()
}

fn review_list(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["review", "list", "--json"];
    a.extend_from_slice(args);
    let out = env.run(&a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn xml_then_pdf_and_pdf_then_xml_give_one_registration() {
    let env = Env::new(&config(None));
    env.import_catalog();
    let (seed, first) = printed(100, registrable);
    // Issued up to 60 days before the first: both within the registration window.
    let d = day(&first.truth);
    let (_, second) = printed(seed + 1, |t| {
        registrable(t) && day(t) <= d && (d - day(t)).num_days() <= 60
    });
    let daemon = env.start_ready(&["--now", &now_after(&first)]);

    // XML then PDF: the PDF is tied to the registration.
    let x = env.submit(&daemon, "demo", "a.xml", first.electronic().as_bytes());
    assert_eq!(x["verdict"], "accepted", "{x}");
    let p = env.submit(&daemon, "demo", "a.pdf", &first.pdf());
    assert_eq!(p["verdict"], "duplicate", "{p}");
    assert_eq!(p["duplicate_of"], x["job_id"], "{p}");
    assert!(finding_codes(&p).contains(&"90".to_owned()), "{p}");
    assert_eq!(certificates(&env), 1);

    // PDF then XML: the PDF waits, then resolves itself when the XML registers.
    let p2 = env.submit(&daemon, "demo", "b.pdf", &second.pdf());
    assert_eq!(p2["verdict"], "review", "{p2}");
    assert!(finding_codes(&p2).contains(&"PAS88".to_owned()), "{p2}");
    let queue = review_list(&env, &["--reason", "awaiting_xml"]);
    assert_eq!(queue["counts"]["awaiting_xml"], 1, "{queue}");
    assert_eq!(queue["items"][0]["job_id"], p2["job_id"], "{queue}");
    let x2 = env.submit(&daemon, "demo", "b.xml", second.electronic().as_bytes());
    assert_eq!(x2["verdict"], "accepted", "{x2}");
    let resolved = env.await_verdict(&daemon, "demo", "b.pdf", "duplicate");
    assert_eq!(resolved["duplicate_of"], x2["job_id"], "{resolved}");
    assert_eq!(certificates(&env), 2, "one certificate per invoice");
    let queue = review_list(&env, &[]);
    assert!(queue["items"].as_array().unwrap().is_empty(), "{queue}");
}

#[test]
fn operators_approve_with_corrections_or_reject_with_a_reason() {
    let port = free_port();
    let env = Env::new(&config(Some(port)));
    let mail_dir = env.path().join("mail");
    let _sink = deliver::SmtpSink::start(port, &mail_dir);
    env.import_catalog();
    // One line the catalog reads as a processed product (not registrable):
    // the operator names the natural product's code (130, café pergamino en saco).
    let (lone, coffee, refused) = lone_coffee_and_another();
    let daemon = env.start_ready(&["--now", &now_after(&lone)]);

    let r = env.submit(&daemon, "demo", "lone.pdf", &lone.pdf());
    assert_eq!(r["verdict"], "review", "{r}");
    let id = r["job_id"].as_i64().unwrap().to_string();

    // Unknown fields and a missing operator are refused at the command line.
    let bad = env.run(&[
        "review",
        "approve",
        &id,
        "--set",
        "price=1",
        "--operator",
        "ana",
    ]);
    assert_eq!(
        bad.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Approve with a corrected total: registered, certificate and e-mail.
    let total = lone.truth.total.clone();
    let ok = env.run(&[
        "review",
        "approve",
        &id,
        "--set",
        &format!("total={total}"),
        "--set",
        &format!("line.{coffee}.code=130"),
        "--operator",
        "ana",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // A second decision while the first is pending is refused.
    let again = env.run(&[
        "review",
        "reject",
        &id,
        "--reason",
        "x",
        "--operator",
        "ana",
    ]);
    assert_ne!(again.status.code(), Some(0));
    env.await_verdict(&daemon, "demo", "lone.pdf", "accepted");
    let done = env.read_result("demo", "lone.pdf");
    assert!(done["certificate"]["number"].is_string(), "{done}");
    assert_eq!(
        done["extraction"]["corrections"]["total"]["operator"], "ana",
        "{done}"
    );
    assert_eq!(
        done["extraction"]["fields"]["total"]["source"], "operator",
        "{done}"
    );
    let number = done["certificate"]["number"].as_str().unwrap().to_owned();
    assert!(
        wait_until(Duration::from_secs(30), || deliver::received(&mail_dir)
            .iter()
            .any(
                |(_, raw)| raw.contains(&number) && raw.contains("application/pdf")
            )),
        "no certificate e-mail: {}",
        daemon.log_text()
    );

    // The decision and its application are in the audit trail.
    let show = env.run(&["review", "show", &id, "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let events: Vec<&str> = show["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"review.approve"), "{events:?}");
    assert!(events.contains(&"review.applied"), "{events:?}");
    let approve = show["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["event"] == "review.approve")
        .unwrap();
    assert_eq!(approve["detail"]["operator"], "ana", "{approve}");
    assert_eq!(
        approve["detail"]["before"]["verdict"], "review",
        "{approve}"
    );
    assert_eq!(show["decisions"][0]["outcome"], "accepted", "{show}");

    // Reject: the sender's result says why, and a notice goes out.
    let r2 = env.submit(&daemon, "demo", "refused.pdf", &refused.pdf());
    assert_eq!(r2["verdict"], "review", "{r2}");
    let id2 = r2["job_id"].as_i64().unwrap().to_string();
    let why = "La factura no corresponde a una venta de productos agropecuarios";
    let no = env.run(&[
        "review",
        "reject",
        &id2,
        "--reason",
        why,
        "--operator",
        "luis",
    ]);
    assert!(
        no.status.success(),
        "{}",
        String::from_utf8_lossy(&no.stderr)
    );
    env.await_verdict(&daemon, "demo", "refused.pdf", "rejected");
    let rejected = env.read_result("demo", "refused.pdf");
    let f = &rejected["findings"][0];
    assert_eq!(f["code"], "PAS89", "{rejected}");
    assert!(f["message"].as_str().unwrap().contains(why), "{rejected}");
    assert!(
        wait_until(Duration::from_secs(30), || deliver::received(&mail_dir)
            .iter()
            .any(|(_, raw)| raw.contains("PAS89"))),
        "no rejection notice: {}",
        daemon.log_text()
    );
    // Nothing left for an operator; a decided job cannot be decided again.
    assert!(
        review_list(&env, &[])["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let late = env.run(&["review", "approve", &id2, "--operator", "ana"]);
    assert_eq!(late.status.code(), Some(65));
    let status = env.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("in review: none"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

/// An electronic invoice from `nit` numbered `number` (issued 2024-03-15).
fn xml_from(nit: &str, number: &str, seed: u64) -> String {
    let mut spec = generator::build(
        seed,
        DocKind::Invoice,
        &GenOptions {
            registrable: true,
            min_lines: 1,
            max_lines: 1,
            ..GenOptions::default()
        },
    );
    spec.number = number.to_owned();
    spec.supplier.id = nit.to_owned();
    spec.supplier.dv = pasarela::dian::nit::check_digit(nit).unwrap().to_string();
    spec.render().xml
}

/// A filled broker sheet whose invoices are partly known as XML: the known
/// ones are tied, the others wait; the missing XML arriving resolves the sheet.
#[test]
fn a_sheet_partly_known_as_xml_waits_for_the_rest() {
    let env = Env::new(&config(None));
    env.import_catalog();
    let daemon = env.start_ready(&["--now", "2024-03-16T12:00:00-05:00"]);
    // The client bought (punta C): the counterparty NIT is the supplier's.
    let rows: [crate::formats_excel::Row; 3] = [
        (
            "Arrocera del Sur S.A.S.",
            "900373991-9",
            "SETP990000701",
            45366.0,
            0.0,
            1000.0,
            2000.0,
            "C",
        ),
        (
            "Arrocera del Sur S.A.S.",
            "900373991-9",
            "SETP990000701",
            45366.0,
            0.0,
            500.0,
            2000.0,
            "C",
        ),
        (
            "Molino La Esperanza",
            "860028580",
            "SETP990000702",
            45366.0,
            0.0,
            300.0,
            2500.0,
            "C",
        ),
    ];
    let control = 1000.0 * 2000.0 + 500.0 * 2000.0 + 300.0 * 2500.0;
    let book = crate::formats_excel::plantilla_xlsx(&rows, control);
    let first = env.submit(
        &daemon,
        "demo",
        "a.xml",
        xml_from("900373991", "SETP990000701", 21).as_bytes(),
    );
    assert_eq!(first["verdict"], "accepted", "{first}");

    let sheet = env.submit(&daemon, "demo", "registro.xlsx", &book);
    assert_eq!(sheet["verdict"], "review", "{sheet}");
    assert!(
        finding_codes(&sheet).contains(&"PAS88".to_owned()),
        "{sheet}"
    );
    let invoices = sheet["extraction"]["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 2, "rows grouped per invoice: {sheet}");
    assert_eq!(invoices[0]["status"], "tied", "{sheet}");
    assert_eq!(invoices[0]["registration_job"], first["job_id"], "{sheet}");
    assert_eq!(invoices[0]["rows"].as_array().unwrap().len(), 2, "{sheet}");
    assert_eq!(invoices[1]["status"], "awaiting_xml", "{sheet}");

    let second = env.submit(
        &daemon,
        "demo",
        "b.xml",
        xml_from("860028580", "SETP990000702", 22).as_bytes(),
    );
    assert_eq!(second["verdict"], "accepted", "{second}");
    env.await_verdict(&daemon, "demo", "registro.xlsx", "duplicate");
    let resolved = env.read_result("demo", "registro.xlsx");
    let invoices = resolved["extraction"]["invoices"].as_array().unwrap();
    assert!(invoices.iter().all(|i| i["status"] == "tied"), "{resolved}");
    assert_eq!(certificates(&env), 2, "the sheet never registers by itself");
}

/// A broker's homologation sheet names its products in the catalog: the
/// same submitter's invoices are then matched through it.
#[test]
fn a_homologation_sheet_feeds_the_submitters_catalog_aliases() {
    let env = Env::new(&config(None));
    env.import_catalog();
    let daemon = env.start_ready(&["--now", "2024-03-16T12:00:00-05:00"]);
    let mut spec = generator::build(
        31,
        DocKind::Invoice,
        &GenOptions {
            registrable: true,
            min_lines: 1,
            max_lines: 1,
            ..GenOptions::default()
        },
    );
    // A name the catalog does not know, and no product codes on the line.
    spec.lines[0].description = "Maíz amarillo tecnificado".into();
    spec.lines[0].standard_item_id = None;
    spec.lines[0].sellers_item_id = None;
    let unknown = env.submit(&daemon, "demo", "antes.xml", spec.render().xml.as_bytes());
    assert_eq!(unknown["verdict"], "review", "{unknown}");

    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Homologación").unwrap();
    for (c, h) in ["NIT", "PRODUCTO", "CODIGO SUBYACENTE"].iter().enumerate() {
        ws.write(0, c as u16, *h).unwrap();
    }
    ws.write(1, 0, spec.supplier.id.as_str()).unwrap();
    ws.write(1, 1, "MAIZ AMARILLO TECNIFICADO").unwrap();
    ws.write(1, 2, "10865").unwrap();
    let book = wb.save_to_buffer().unwrap();
    let h = env.submit(&daemon, "demo", "homologacion.xlsx", &book);
    assert_eq!(h["extraction"]["homologation"][0]["code"], "10865", "{h}");
    assert_ne!(h["verdict"], "rejected", "{h}");

    spec.number = "SETP990000777".into();
    let r = env.submit(&daemon, "demo", "despues.xml", spec.render().xml.as_bytes());
    assert_eq!(r["verdict"], "accepted", "{r}");
    let line = &r["registration_lines"][0]["matched"];
    assert_eq!(line["via"], "alias", "{r}");
    assert_eq!(line["product"]["code"], "10865", "{r}");
    drop(daemon);
}
