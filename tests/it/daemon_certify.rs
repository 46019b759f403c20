//! The whole registration route in the daemon: DIAN validation → catalog and
//! commission → certificate (PDF/A) in outgoing/certificates/, verifiable.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

#[test]
fn an_accepted_invoice_gets_a_verifiable_certificate_once() {
    let env = Env::new(&registration_config(&["certify"], ""));
    env.import_catalog();
    // Seed 120 yields an invoice whose every line is an eligible catalog product.
    assert!(
        env.run(&["generate", "--count", "1", "--seed", "120", "--out", "gen"])
            .status
            .success()
    );
    let name = "SETP990000120.xml";
    let xml = std::fs::read(env.path().join("gen").join(name)).unwrap();

    let mut daemon = env.start_ready(&["--now", "2024-03-15T12:00:00-05:00"]);
    env.submit(&daemon, "demo", name, &xml);
    let r = env.read_result("demo", name);
    assert_eq!(r["verdict"], "accepted", "{r}");
    let cert = &r["certificate"];
    let number = cert["number"].as_str().expect("certificate number");
    assert!(number.starts_with("2024-"), "{cert}");
    let pdf = env.home("demo").join(cert["path"].as_str().unwrap());
    assert!(
        pdf.starts_with(env.home("demo").join("outgoing/certificates")),
        "{}",
        pdf.display()
    );

    // A person reading the PDF sees the number and the CUFE.
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&text.stdout).replace(char::is_whitespace, "");
    assert!(text.contains(number), "{text}");
    let cufe = r["document"]["cufe"].as_str().unwrap();
    assert!(text.contains(&cufe[..32]), "CUFE not printed: {text}");

    // verify-certificate accepts it and refuses a copy with one data byte changed.
    let ok = env.run(&["verify-certificate", pdf.to_str().unwrap()]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let mut bytes = std::fs::read(&pdf).unwrap();
    let at = bytes
        .windows(cufe.len())
        .position(|w| w == cufe.as_bytes())
        .expect("canonical data embedded");
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    let forged = env.path().join("forged.pdf");
    std::fs::write(&forged, &bytes).unwrap();
    assert_eq!(
        env.run(&["verify-certificate", forged.to_str().unwrap()])
            .status
            .code(),
        Some(65)
    );

    // Replaying the job does not issue a second certificate.
    let id = r["job_id"].as_i64().unwrap().to_string();
    assert!(env.run(&["replay", &id]).status.success());
    assert!(
        wait_until(
            Duration::from_secs(20),
            || env.read_result("demo", name)["processed_at"] != r["processed_at"]
        ),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        env.read_result("demo", name)["certificate"]["number"],
        number
    );
    assert_eq!(
        files_under(&env.home("demo").join("outgoing/certificates")).len(),
        1
    );
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn the_pipeline_mails_the_certificate_and_the_rejection_notice() {
    let port = deliver::free_port();
    let smtp = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"Pasarela <certificados@bolsa.example>\"\nadmins = [\"ops@bolsa.example\"]\ntemplates_dir = \"{}\"\ninitial_backoff_ms = 200\nmax_backoff_secs = 1\n",
        repo().join("config/templates").display()
    );
    let config = registration_config(&["certify"], &smtp).replace(
        "home = \"var/home/demo\"",
        "home = \"var/home/demo\"\nemail = [\"broker@demo.example\"]",
    );
    let env = Env::new(&config);
    let mail_dir = env.path().join("mail");
    let _sink = deliver::SmtpSink::start(port, &mail_dir);
    env.import_catalog();
    assert!(
        env.run(&["generate", "--count", "1", "--seed", "120", "--out", "gen"])
            .status
            .success()
    );
    let good = std::fs::read(env.path().join("gen/SETP990000120.xml")).unwrap();
    // The same invoice with its payable amount tampered: FAU14 (and FAD06).
    let bad = String::from_utf8(good.clone()).unwrap().replacen(
        "<cbc:PayableAmount currencyID=\"COP\">",
        "<cbc:PayableAmount currencyID=\"COP\">9",
        1,
    );

    let daemon = env.start_ready(&["--now", "2024-03-15T12:00:00-05:00"]);
    env.drop_file("demo", "good.xml", &good);
    env.drop_file("demo", "bad.xml", bad.as_bytes());
    assert!(
        wait_until(Duration::from_secs(30), || deliver::received(&mail_dir)
            .len()
            >= 2),
        "{}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let mails = deliver::received(&mail_dir);
    assert_eq!(mails.len(), 2, "exactly one message per outcome");
    let cert = env.read_result("demo", "good.xml")["certificate"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (with_pdf, notice): (Vec<_>, Vec<_>) = mails
        .iter()
        .partition(|(_, raw)| raw.contains("application/pdf"));
    assert_eq!(with_pdf.len(), 1);
    assert!(
        with_pdf[0].1.contains(&cert),
        "the delivery names the certificate"
    );
    let rejected = env.read_result("demo", "bad.xml");
    assert_eq!(rejected["verdict"], "rejected", "{rejected}");
    assert!(
        notice[0].1.contains("FAU14"),
        "the notice lists the DIAN codes: {}",
        notice[0].1
    );
}

/// Every accepted invoice gets its certificate, also when its product is one
/// the catalog registers per unit (UNIDAD) rather than in kg or L: seed 2759
/// sells "Maíz amarillo" matched to a per-unit catalog product.
#[test]
fn an_invoice_registered_in_units_gets_its_certificate() {
    let env = Env::new(&registration_config(&["certify"], ""));
    env.import_catalog();
    assert!(
        env.run(&["generate", "--count", "1", "--seed", "2759", "--out", "gen"])
            .status
            .success()
    );
    let name = "SETP990002759.xml";
    let xml = std::fs::read(env.path().join("gen").join(name)).unwrap();
    let daemon = env.start_ready(&["--now", "2024-03-15T12:00:00-05:00"]);
    env.submit(&daemon, "demo", name, &xml);
    let r = env.read_result("demo", name);
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(
        r["registration_lines"][0]["quantity"]["measure"], "unit",
        "the case under test: {r}"
    );
    let pdf = env.home("demo").join(
        r["certificate"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("an accepted invoice without a certificate: {r}")),
    );
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("unidades"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}
