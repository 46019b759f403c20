//! Command-line contracts: `validate` and `process`.

use crate::support::*;

#[test]
fn sample_config_validates() {
    let out = std::process::Command::new(BIN)
        .args(["validate", "--no-environment"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn three_mistakes_three_errors_exit_78() {
    let broken = basic_config("")
        .replace(
            "poll_interval_ms = 100",
            "poll_interval_ms = 100\nwrokers = 3",
        )
        .replace("max_attempts = 2", "max_attempts = \"five\"")
        .replace("steps = [\"classify\"]", "steps = [\"clasify\"]");
    let env = Env::new(&broken);
    let out = env.run(&["validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 3, "{err}");
    assert!(
        err.contains("config/pasarela.toml: daemon.wrokers: unknown key"),
        "{err}"
    );
    assert!(err.contains("retry: "), "{err}");
    assert!(
        err.contains("routes[0].steps[0]: no step named 'clasify'"),
        "{err}"
    );
    // run refuses it too, with the same exit code.
    assert_eq!(env.run(&["run"]).status.code(), Some(78));
}

#[test]
fn validate_checks_the_environment() {
    let env = Env::new(&basic_config(""));
    std::fs::create_dir_all(env.path().join("var/home")).unwrap();
    std::fs::write(env.home("demo"), b"a file where the home should be").unwrap();
    let out = env.run(&["validate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("accounts.demo.home") && err.contains("not a writable folder"),
        "{err}"
    );
    assert!(env.run(&["validate", "--no-environment"]).status.success());
}

#[test]
fn process_prints_one_result_per_file_detected_by_content() {
    let env = Env::new(&basic_config(""));
    let dir = env.path();
    std::fs::write(dir.join("invoice.xml"), dian_example()).unwrap();
    std::fs::write(dir.join("really-a-pdf.xml"), b"%PDF-1.7\n...").unwrap();
    std::fs::write(dir.join("same-invoice.txt"), dian_example()).unwrap();
    std::fs::write(dir.join("notes.xml"), b"<?xml version=\"1.0\"?><notes/>").unwrap();
    let out = env.run(&[
        "process",
        "invoice.xml",
        "really-a-pdf.xml",
        "same-invoice.txt",
        "notes.xml",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["format"], "xml");
    assert_eq!(lines[0]["document_type"], "Invoice");
    assert_eq!(lines[0]["file"], "invoice.xml");
    assert_eq!(lines[1]["format"], "pdf");
    assert_eq!(lines[1]["verdict"], "review");
    assert_eq!(lines[2]["verdict"], "duplicate");
    assert_eq!(lines[2]["findings"][0]["code"], "90");
    assert_eq!(lines[3]["verdict"], "rejected");
    assert_eq!(lines[3]["findings"][0]["code"], "PAS11");
    // Nothing was recorded or moved: process needs no daemon and leaves no state.
    assert!(!dir.join("var").exists());
    // A missing file is an error for that file only.
    let out = env.run(&["process", "missing.xml", "invoice.xml", "--json"]);
    assert_eq!(out.status.code(), Some(66));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

fn rejects(r: &serde_json::Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "reject")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dian_example_is_rejected_today_only_for_its_age_and_accepted_near_its_date() {
    let example = shared().join("fixtures/dian/exento-de-iva-v1.9.xml");
    let example = example.to_str().unwrap();
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["process", example, "--json"];
        args.extend_from_slice(extra);
        let out = std::process::Command::new(BIN)
            .args(&args)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let today = run(&[]);
    assert_eq!(today["verdict"], "rejected");
    assert_eq!(rejects(&today), ["PAS20"], "{today}");
    assert_eq!(today["document"]["cufe"].as_str().unwrap().len(), 96);
    // With DIAN validation alone it is accepted.
    let env = Env::new(&dian_only_config());
    let out = env.run(&[
        "process",
        example,
        "--json",
        "--now",
        "2024-03-16T09:00:00-05:00",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["verdict"], "accepted", "{r}");
    assert_eq!(r["document_type"], "Invoice");
    assert_eq!(r["document"]["number"], "SETP990000001");
}

/// Routes XML through `dian-validate` only, with the shipped rules/dian.toml.
fn dian_only_config() -> String {
    basic_config("")
        .replace("steps = [\"classify\"]", "steps = [\"dian-validate\"]")
        .replace(
            "[accounts.demo]",
            &format!(
                "[dian]\nrules = \"{}\"\n\n[accounts.demo]",
                repo().join("rules/dian.toml").display()
            ),
        )
}

#[test]
fn generated_documents_of_every_kind_validate_clean() {
    let env = Env::new("");
    for kind in ["invoice", "credit-note", "debit-note"] {
        let out = env.run(&[
            "generate", "--kind", kind, "--count", "3", "--seed", "7", "--out", kind,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let files: Vec<String> = files_under(env.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 9);
    std::fs::write(env.path().join("config/pasarela.toml"), dian_only_config()).unwrap();
    let mut args = vec!["process", "--json", "--now", "2024-03-15T12:00:00-05:00"];
    args.extend(files.iter().map(String::as_str));
    let out = env.run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 9);
    for r in &results {
        assert_eq!(r["verdict"], "accepted", "{r}");
    }
    let types: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|r| r["document_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["CreditNote", "DebitNote", "Invoice"].into_iter().collect()
    );
}
