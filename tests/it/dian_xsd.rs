//! The optional XSD check (`[dian] xsd_dir`) against the UBL 2.1 schemas in
//! ../shared/schemas/ubl-2.1: the DIAN example and generated invoices and
//! notes pass; a document that breaks the schema is rejected with PAS37
//! naming the line; without `xsd_dir` nothing changes.

use crate::support::*;

fn config(xsd: bool) -> String {
    let dian = if xsd {
        format!(
            "[dian]\nxsd_dir = \"{}\"\n\n",
            shared().join("schemas/ubl-2.1").display()
        )
    } else {
        String::new()
    };
    basic_config("")
        .replace("steps = [\"classify\"]", "steps = [\"dian-validate\"]")
        .replace("[accounts.demo]", &format!("{dian}[accounts.demo]"))
}

/// `process --json` over files: (file name, codes) per document.
fn codes(env: &Env, files: &[std::path::PathBuf]) -> Vec<(String, Vec<String>)> {
    let mut args: Vec<String> = ["process", "--json", "--now", "2024-03-15T12:00:00-05:00"]
        .map(String::from)
        .to_vec();
    args.extend(files.iter().map(|f| f.display().to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.run(&argv);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["file"].as_str().unwrap_or_default().to_string(),
                v["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["code"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn valid_documents_pass_and_schema_violations_are_pas31() {
    let env = Env::new(&config(true));
    assert!(
        env.run(&["validate", "--no-environment"]).status.success(),
        "{}",
        String::from_utf8_lossy(&env.run(&["validate", "--no-environment"]).stderr)
    );
    let generated = env.path().join("gen");
    for (kind, seed) in [("invoice", "3"), ("credit-note", "4"), ("debit-note", "5")] {
        assert!(
            env.run(&[
                "generate", "--kind", kind, "--count", "2", "--seed", seed, "--out", "gen"
            ])
            .status
            .success()
        );
    }
    let example = shared().join("fixtures/dian/exento-de-iva-v1.9.xml");
    let mut good: Vec<std::path::PathBuf> = std::fs::read_dir(&generated)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    good.sort();
    good.push(example.clone());
    for (file, c) in codes(&env, &good) {
        assert!(!c.contains(&"PAS37".to_string()), "{file}: {c:?}");
    }

    // An impossible date breaks xs:date; an unknown element breaks the sequence.
    let text = std::fs::read_to_string(&good[0]).unwrap();
    let bad_date = text.replacen(
        "<cbc:IssueDate>2024-03-15<",
        "<cbc:IssueDate>2024-13-45<",
        1,
    );
    assert_ne!(
        bad_date, text,
        "the generated invoice has the expected issue date"
    );
    let bad_element = text.replacen(
        "<cbc:IssueDate>",
        "<cbc:NotInUbl>x</cbc:NotInUbl><cbc:IssueDate>",
        1,
    );
    let d = env.path().join("bad");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("bad-date.xml"), &bad_date).unwrap();
    std::fs::write(d.join("bad-element.xml"), &bad_element).unwrap();
    let bad = [d.join("bad-date.xml"), d.join("bad-element.xml")];
    for (file, c) in codes(&env, &bad) {
        assert!(c.contains(&"PAS37".to_string()), "{file}: {c:?}");
    }
    let out = env.run(&["process", "--json", bad[1].to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NotInUbl") && text.contains("línea"),
        "{text}"
    );

    // Without xsd_dir the same documents get no PAS37.
    let plain = Env::new(&config(false));
    for (file, c) in codes(&plain, &bad) {
        assert!(!c.contains(&"PAS37".to_string()), "{file}: {c:?}");
    }
}

#[test]
fn a_folder_without_the_schemas_is_a_config_error() {
    let env = Env::new(&config(false).replace(
        "[accounts.demo]",
        "[dian]\nxsd_dir = \"/nonexistent\"\n\n[accounts.demo]",
    ));
    let out = env.run(&["validate", "--no-environment"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dian.xsd_dir"), "{err}");
}
