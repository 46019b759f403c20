//! `[smtp]`, `[reports]`, `[certificates]` and `[accounts.NAME.notify]`:
//! every problem reported at once, with its key.

use crate::support::deliver::*;

fn errors(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    match pasarela::config::load_with_base(&path, dir.path()) {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .into_iter()
            .filter(|e| !e.warning)
            .map(|e| format!("{}: {}", e.key, e.reason))
            .collect(),
    }
}

#[test]
fn the_test_configuration_is_valid() {
    assert!(errors(&config_text(2525)).is_empty());
}

#[test]
fn every_delivery_problem_is_reported_with_its_key() {
    let text = config_text(2525)
        .replace(
            "host = \"127.0.0.1\"",
            "host = \"smtp.example.com\"\ncolour = 1",
        )
        .replace("admins = [\"ops@bolsa.example\"]", "admins = [\"nope\"]")
        .replace(
            "accounts = [\"regulador\"]",
            "accounts = [\"ghost\"]\ndaily_at = \"25:00\"",
        )
        .replace(
            "to = [\"tesoreria@demo.example\"]",
            "to = [\"x\"]\nfoo = true",
        )
        + "\n[certificates]\nissuer = \"Bolsa\"\nlogo = \"x\"\n";
    let errs = errors(&text);
    for key in [
        "smtp.colour: unknown key",
        "smtp.security: plain SMTP",
        "smtp.admins[0]",
        "reports.accounts[0]: no account named 'ghost'",
        "reports.daily_at",
        "accounts.demo.notify.to[0]",
        "accounts.demo.notify.foo: unknown key",
        "certificates.logo: unknown key",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(key)),
            "missing {key} in {errs:#?}"
        );
    }
}

#[test]
fn missing_templates_are_reported() {
    let text = config_text(2525).replace(
        &repo().join("config/templates").display().to_string(),
        "/nonexistent/templates",
    );
    let errs = errors(&text);
    assert_eq!(
        errs.iter()
            .filter(|e| e.starts_with("smtp.templates_dir"))
            .count(),
        4,
        "{errs:#?}"
    );
}

#[test]
fn a_relay_ca_file_must_hold_certificates_and_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let with = |security: &str, ca: &str| {
        config_text(2525).replace(
            "security = \"plain\"",
            &format!("security = \"{security}\"\nca_file = \"{ca}\""),
        )
    };
    let e = errors(&with("starttls", &junk.display().to_string()));
    assert!(
        e.iter()
            .any(|e| e.starts_with("smtp.ca_file: ") && e.contains("holds no PEM certificate")),
        "{e:?}"
    );
    let e = errors(&with("tls", "/nonexistent/ca.pem"));
    assert!(
        e.iter()
            .any(|e| e.starts_with("smtp.ca_file: ") && e.contains("cannot be read")),
        "{e:?}"
    );
    let e = errors(&with("plain", &junk.display().to_string()));
    assert!(
        e.iter()
            .any(|e| e.starts_with("smtp.ca_file: ") && e.contains("needs security")),
        "{e:?}"
    );
}
