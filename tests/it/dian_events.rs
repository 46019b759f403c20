//! RADIAN events (issue 17 item 6, docs/NOTES.md): recorded per invoice,
//! checked (CUDE, reference), and acting on registrations: a reclamo holds,
//! an endorsement flags, an acceptance releases invoices a route holds.

use pasarela::dian::generator::{self, GenOptions, Spec};
use pasarela::dian::model::DocKind;

use crate::support::*;

const NOW: &str = "2024-03-15T12:00:00-05:00";

fn invoice(seed: u64) -> Spec {
    generator::build(
        seed,
        DocKind::Invoice,
        &GenOptions {
            registrable: true,
            min_lines: 1,
            max_lines: 2,
            ..GenOptions::default()
        },
    )
}

fn event(inv: &Spec, code: &str, n: u32) -> String {
    generator::event(inv, code, &format!("EV{code}-{n}"), "2024-03-15").xml
}

#[test]
fn events_are_recorded_checked_and_act_on_registrations() {
    let env = Env::new(&registration_config(&["certify"], ""));
    env.import_catalog();
    let daemon = env.start_ready(&["--now", NOW]);

    let a = invoice(120);
    let reg = env.submit(&daemon, "demo", "a.xml", a.render().xml.as_bytes());
    assert_eq!(reg["verdict"], "accepted", "{reg}");

    // Acuse de recibo: recorded against the registration.
    let r = env.submit(&daemon, "demo", "acuse.xml", event(&a, "030", 1).as_bytes());
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["document_type"], "ApplicationResponse", "{r}");
    let ev = &r["document"]["event"];
    assert_eq!(ev["code"], "030", "{r}");
    assert_eq!(ev["cude_checked"], true, "{r}");
    assert_eq!(ev["effect"], "recorded", "{r}");
    assert_eq!(ev["registration"]["job_id"], reg["job_id"], "{r}");
    assert!(
        r.get("certificate").is_none(),
        "an event is never certified: {r}"
    );

    // The same event again is DIAN's "documento procesado anteriormente".
    let again = env.submit(
        &daemon,
        "demo",
        "acuse-otra-vez.xml",
        event(&a, "030", 1).as_bytes(),
    );
    assert_eq!(again["verdict"], "duplicate", "{again}");

    // An endorsement flags the registration.
    let e = env.submit(
        &daemon,
        "demo",
        "endoso.xml",
        event(&a, "037", 2).as_bytes(),
    );
    assert_eq!(e["verdict"], "accepted", "{e}");
    assert!(finding_codes(&e).contains(&"PAS85".to_owned()), "{e}");
    assert_eq!(e["document"]["event"]["effect"], "flagged", "{e}");

    // A reclamo on a registered invoice goes to an operator.
    let c = env.submit(
        &daemon,
        "demo",
        "reclamo.xml",
        event(&a, "031", 3).as_bytes(),
    );
    assert_eq!(c["verdict"], "review", "{c}");
    assert!(finding_codes(&c).contains(&"PAS87".to_owned()), "{c}");
    // The operator keeps the registration: the reclamo is acknowledged.
    let id = c["job_id"].as_i64().unwrap().to_string();
    let ok = env.run(&["review", "approve", &id, "--operator", "ana"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let kept = env.await_verdict(&daemon, "demo", "reclamo.xml", "accepted");
    assert_eq!(
        kept["document"]["event"]["effect"], "acknowledged",
        "{kept}"
    );

    // A forged CUDE and a missing CUFE are refused.
    let good = event(&a, "032", 4);
    let cude = generator::event(&a, "032", "EV032-4", "2024-03-15").cufe;
    let forged = good.replacen(&cude, &"0".repeat(96), 1);
    let f = env.submit(&daemon, "demo", "forjado.xml", forged.as_bytes());
    assert_eq!(f["verdict"], "rejected", "{f}");
    assert!(finding_codes(&f).contains(&"PAS41".to_owned()), "{f}");
    let blank = good.replacen(&cude, "", 1);
    let n = env.submit(&daemon, "demo", "sin-cude.xml", blank.as_bytes());
    assert_eq!(n["verdict"], "rejected", "{n}");
    assert!(finding_codes(&n).contains(&"PAS41".to_owned()), "{n}");
    let cufe = a.computed_key();
    let blind = good.replacen(&format!(">{cufe}<"), "><", 1);
    let b = env.submit(&daemon, "demo", "sin-cufe.xml", blind.as_bytes());
    assert_eq!(b["verdict"], "rejected", "{b}");
    assert!(finding_codes(&b).contains(&"PAS40".to_owned()), "{b}");

    // A reclamo recorded before its invoice arrives holds the invoice.
    let later = invoice(121);
    let early = env.submit(
        &daemon,
        "demo",
        "reclamo-previo.xml",
        event(&later, "031", 5).as_bytes(),
    );
    assert_eq!(early["verdict"], "accepted", "{early}");
    assert!(
        early["document"]["event"]["registration"].is_null(),
        "{early}"
    );
    let held = env.submit(&daemon, "demo", "b.xml", later.render().xml.as_bytes());
    assert_eq!(held["verdict"], "review", "{held}");
    assert!(finding_codes(&held).contains(&"PAS84".to_owned()), "{held}");
    assert!(held.get("certificate").is_none(), "{held}");

    // An event as DIAN delivers it: inside an AttachedDocument with DIAN's
    // response about the event.
    let inner = generator::event(&a, "032", "EV032-9", "2024-03-15");
    let response = generator::application_response(&inner.number, &inner.cufe, "02", "2024-03-15");
    let wrapped = generator::attached_document(&inner, Some(&response));
    let w = env.submit(&daemon, "demo", "evento-adjunto.xml", wrapped.as_bytes());
    assert_eq!(w["verdict"], "accepted", "{w}");
    assert_eq!(w["document_type"], "AttachedDocument", "{w}");
    assert_eq!(w["document"]["event"]["code"], "032", "{w}");
    drop(daemon);
}

#[test]
fn a_route_that_requires_acceptance_holds_the_invoice_until_the_buyer_accepts() {
    let config = registration_config(&["certify"], "").replace(
        "\"price\", \"certify\"",
        "\"require-acceptance\", \"price\", \"certify\"",
    );
    assert!(config.contains("require-acceptance"));
    let env = Env::new(&config);
    env.import_catalog();
    let daemon = env.start_ready(&["--now", NOW]);
    let inv = invoice(122);
    let first = env.submit(&daemon, "demo", "factura.xml", inv.render().xml.as_bytes());
    assert_eq!(first["verdict"], "review", "{first}");
    assert!(
        finding_codes(&first).contains(&"PAS86".to_owned()),
        "{first}"
    );
    assert!(first.get("certificate").is_none(), "{first}");

    // An acceptance from someone who is not the buyer does not count: the
    // invoice runs again and is held again.
    let mut stranger = inv.clone();
    stranger.uuid_override = Some(inv.computed_key());
    stranger.customer.id = "900000001".into();
    let forged = generator::event(&stranger, "033", "EV033-9", "2024-03-15").xml;
    let f = env.submit(&daemon, "demo", "aceptacion-ajena.xml", forged.as_bytes());
    assert_eq!(f["verdict"], "accepted", "recorded as received: {f}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let still = env.await_verdict(&daemon, "demo", "factura.xml", "review");
    assert!(
        finding_codes(&still).contains(&"PAS86".to_owned()),
        "{still}"
    );
    assert!(still.get("certificate").is_none(), "{still}");

    // A receipt acknowledgement does not release it; the buyer's acceptance does.
    let ack = env.submit(
        &daemon,
        "demo",
        "acuse.xml",
        event(&inv, "030", 1).as_bytes(),
    );
    assert_eq!(
        ack["document"]["event"]["released_jobs"],
        serde_json::json!([]),
        "{ack}"
    );
    let ok = env.submit(
        &daemon,
        "demo",
        "aceptacion.xml",
        event(&inv, "033", 2).as_bytes(),
    );
    assert_eq!(ok["verdict"], "accepted", "{ok}");
    assert_eq!(
        ok["document"]["event"]["released_jobs"],
        serde_json::json!([first["job_id"]]),
        "{ok}"
    );
    let r = env.await_verdict(&daemon, "demo", "factura.xml", "accepted");
    assert!(r["certificate"]["number"].is_string(), "{r}");
    assert!(!finding_codes(&r).contains(&"PAS86".to_owned()), "{r}");
    drop(daemon);
}
