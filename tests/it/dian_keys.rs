//! Issue 17 item 5 through the daemon: a document is claimed by its CUFE and
//! by its supplier key (supplier NIT + number); either one already held makes
//! the next submission a duplicate (rule 90) naming the first.

use chrono::Duration as Span;
use pasarela::dian::DocKind;
use pasarela::dian::generator::{self, GenOptions};

use crate::support::*;

/// One supplier key for every way a NIT and a number are written, so the XML
/// and the PDF/scan routes meet.
#[test]
fn supplier_key_normalises_nit_and_number() {
    use pasarela::dian::supplier_key;
    let want = Some("900373991/setp990000001".to_owned());
    assert_eq!(supplier_key("900373991", "SETP990000001"), want);
    assert_eq!(supplier_key("900.373.991-9", "setp-990000001"), want);
    assert_eq!(supplier_key(" 900373991 ", "SETP 990 000 001"), want);
    assert_ne!(supplier_key("900373991", "SETP990000002"), want);
    assert_eq!(supplier_key("", "SETP1"), None);
    assert_eq!(supplier_key("900373991", " - "), None);
}

/// The same invoice (supplier and number) generated twice with another issue
/// time: two valid documents with different CUFEs. The second one is a
/// duplicate of the first through the supplier key.
#[test]
fn same_supplier_and_number_with_another_cufe_is_a_duplicate() {
    let config = basic_config("").replace("steps = [\"classify\"]", "steps = [\"dian-validate\"]");
    let env = Env::new(&config);
    let daemon = env.start_ready(&["--now", "2024-03-15T14:00:00-05:00"]);
    let first_opts = GenOptions::default();
    let second_opts = GenOptions {
        issued_at: first_opts.issued_at + Span::minutes(30),
        ..GenOptions::default()
    };
    let a = generator::generate(31, DocKind::Invoice, &first_opts);
    let b = generator::generate(31, DocKind::Invoice, &second_opts);
    assert_eq!(a.number, b.number);
    assert_ne!(a.cufe, b.cufe);

    let first = env.submit(&daemon, "demo", "first.xml", a.xml.as_bytes());
    assert_eq!(first["verdict"], "accepted", "{first}");
    let second = env.submit(&daemon, "demo", "second.xml", b.xml.as_bytes());
    assert_eq!(second["verdict"], "duplicate", "{second}");
    assert_eq!(second["duplicate_of"], first["job_id"], "{second}");
    let f90 = second["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "90")
        .unwrap_or_else(|| panic!("no rule 90: {second}"));
    let msg = f90["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("NIT del emisor y número")
            && msg.contains(&format!("envío {}", first["job_id"])),
        "{f90}"
    );

    // Another invoice of the same supplier is an original; the same CUFE
    // again (different bytes) is a duplicate of the first by CUFE.
    let c = generator::generate(32, DocKind::Invoice, &first_opts);
    let third = env.submit(&daemon, "demo", "other.xml", c.xml.as_bytes());
    assert_eq!(third["verdict"], "accepted", "{third}");
    let again = a.xml.replacen("<Invoice", "<!-- reenviada --><Invoice", 1);
    let fourth = env.submit(&daemon, "demo", "again.xml", again.as_bytes());
    assert_eq!(fourth["verdict"], "duplicate", "{fourth}");
    assert_eq!(fourth["duplicate_of"], first["job_id"], "{fourth}");
    assert!(
        fourth["findings"].as_array().unwrap().iter().any(
            |f| f["code"] == "90" && f["message"].as_str().unwrap_or_default().contains("CUFE")
        ),
        "{fourth}"
    );
}
