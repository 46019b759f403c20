//! Registration through the daemon: DIAN validation, catalog matching,
//! eligibility and the commission, recorded per invoice and line.

use std::time::Duration;

use crate::support::*;

#[test]
fn invoices_are_matched_priced_and_commissions_recorded() {
    let env = Env::new(&registration_config(&[], ""));
    env.import_catalog();
    let out = env.run(&["generate", "--count", "3", "--seed", "11", "--out", "gen"]);
    assert!(out.status.success());

    let daemon = env.start_ready(&["--now", "2024-03-15T12:00:00-05:00"]);
    let names: Vec<String> = std::fs::read_dir(env.path().join("gen"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for n in &names {
        env.drop_file(
            "demo",
            n,
            &std::fs::read(env.path().join("gen").join(n)).unwrap(),
        );
    }
    assert!(
        wait_until(Duration::from_secs(60), || names
            .iter()
            .all(|n| env.result_path("demo", n).is_file())),
        "{}",
        daemon.log_text()
    );
    let mut priced = 0;
    for n in &names {
        let r = env.read_result("demo", n);
        assert!(
            ["accepted", "review"].contains(&r["verdict"].as_str().unwrap()),
            "{r}"
        );
        let lines = r["registration_lines"]
            .as_array()
            .expect("line assessments");
        assert_eq!(
            lines.len() as u64,
            r["document"]["line_count"].as_u64().unwrap(),
            "{r}"
        );
        // Every line is either matched with an eligibility decision, or listed for review with candidates.
        for l in lines {
            assert!(l["matched"].is_object() || l["review"] == true, "{l}");
        }
        if let Some(c) = r["commission"].as_object() {
            priced += 1;
            assert!(c["total"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
            for line in c["lines"].as_array().unwrap() {
                assert!(
                    line["rule_id"].is_string() && line["rule_version"].is_number()
                        || line["rule_version"].is_string(),
                    "{line}"
                );
            }
        }
    }
    assert!(priced > 0, "no invoice had an eligible, priced line");
    let db = env.path().join("var/pasarela.db");
    let query = |sql: &str| {
        let out = std::process::Command::new("sqlite3")
            .arg(&db)
            .arg(sql)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // A result file is written just before its outcome is committed, and a
    // job's commission is committed with its outcome: count once every
    // outcome is in.
    assert!(
        wait_until(Duration::from_secs(30), || query(
            "SELECT COUNT(*) FROM jobs WHERE state = 'done'"
        ) == names.len().to_string()),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        query("SELECT COUNT(*) FROM commissions"),
        priced.to_string()
    );
}

/// `generate --registrable` writes invoices the shipped catalog and rules
/// register: every line matched to a natural product, eligible, in kg.
#[test]
fn registrable_generated_invoices_are_accepted_line_by_line() {
    let env = Env::new(&registration_config(&[], ""));
    env.import_catalog();
    assert!(
        env.run(&[
            "generate",
            "--count",
            "20",
            "--seed",
            "7",
            "--registrable",
            "--out",
            "gen"
        ])
        .status
        .success()
    );
    let mut files: Vec<String> = std::fs::read_dir(env.path().join("gen"))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["process", "--json", "--now", "2024-03-15T12:00:00-05:00"];
    args.extend(files.iter().map(String::as_str));
    let out = env.run(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 20);
    for d in &docs {
        assert_eq!(d["verdict"], "accepted", "{d}");
        for l in d["registration_lines"].as_array().unwrap() {
            assert_eq!(l["eligible"], true, "{l}");
            assert_eq!(l["quantity"]["measure"], "kg", "{l}");
        }
    }
}
