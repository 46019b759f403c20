//! Rules files that steps compile (`rules/formats.toml`, `rules/excel/*.toml`)
//! are checked when the generation is built: by `validate`, at start-up and
//! on reload, never first by a job.

use std::time::Duration;

use crate::support::*;

/// `basic_config` with PDFs, images and spreadsheets read by the formats steps.
fn formats_config() -> String {
    basic_config("").replace(
        "steps = [\"hold-for-review\"]",
        "steps = [\"pdf-extract\", \"image-ocr\", \"excel-rows\"]",
    )
}

/// The shipped `rules/formats.toml` and Excel layouts under the test's base directory.
fn shipped_formats_rules(env: &Env) {
    let rules = env.path().join("rules");
    std::fs::create_dir_all(rules.join("excel")).unwrap();
    std::fs::copy(
        repo().join("rules/formats.toml"),
        rules.join("formats.toml"),
    )
    .unwrap();
    for f in ["comiagro-2024.toml", "plantilla51.toml"] {
        std::fs::copy(
            repo().join("rules/excel").join(f),
            rules.join("excel").join(f),
        )
        .unwrap();
    }
}

fn validate(env: &Env) -> (Option<i32>, String, String) {
    let out = env.run(&["validate", "--no-environment"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_formats_rules_validate() {
    let env = Env::new(&formats_config());
    shipped_formats_rules(&env);
    let (code, out, err) = validate(&env);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn a_broken_formats_file_fails_validate_naming_it_once() {
    let env = Env::new(&formats_config());
    shipped_formats_rules(&env);
    std::fs::write(
        env.path().join("rules/formats.toml"),
        "dpi = 5\nreview_treshold = 0.5\n",
    )
    .unwrap();
    let (code, _, err) = validate(&env);
    assert_eq!(code, Some(78), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    // Three steps use the file; each of its problems is reported once.
    assert!(
        errors
            .iter()
            .filter(|l| l.contains("rules/formats.toml: dpi: must be between 72 and 600"))
            .count()
            == 1,
        "{err}"
    );
    assert!(
        errors
            .iter()
            .filter(|l| l.contains("rules/formats.toml: review_treshold: unknown key"))
            .count()
            == 1,
        "{err}"
    );
    // Not TOML at all: one whole-file problem.
    std::fs::write(env.path().join("rules/formats.toml"), "dpi = = 3\n").unwrap();
    let (code, _, err) = validate(&env);
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("rules/formats.toml: not valid TOML"), "{err}");
}

#[test]
fn a_broken_excel_layout_fails_validate_naming_it() {
    let env = Env::new(&formats_config());
    shipped_formats_rules(&env);
    std::fs::write(env.path().join("rules/excel/broken.toml"), "name = [\n").unwrap();
    let (code, _, err) = validate(&env);
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("rules/excel/broken.toml"), "{err}");
    // The shipped layouts are not blamed.
    assert!(!err.contains("plantilla51.toml"), "{err}");
    // The daemon refuses to start with it too.
    let mut daemon = env.start(&[]);
    let mut child = daemon.child.take().unwrap();
    let exited = wait_until(Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(exited && !status.success(), "{}", daemon.log_text());
    assert!(
        daemon.log_text().contains("rules/excel/broken.toml"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn formats_rules_are_compiled_only_for_routes_that_read_formats() {
    // basic_config holds PDFs for review: no step reads rules/formats.toml.
    let env = Env::new(&basic_config(""));
    std::fs::create_dir_all(env.path().join("rules/excel")).unwrap();
    std::fs::write(env.path().join("rules/formats.toml"), "dpi = 5\n").unwrap();
    let (code, _, err) = validate(&env);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn reload_with_a_broken_formats_file_keeps_the_old_generation() {
    let env = Env::new(&formats_config());
    shipped_formats_rules(&env);
    let mut daemon = env.start_ready(&[]);
    std::fs::write(env.path().join("rules/formats.toml"), "ocr_psm = 99\n").unwrap();
    daemon.signal(1);
    assert!(
        wait_until(Duration::from_secs(20), || daemon
            .log_text()
            .contains("ocr_psm: must be between 0 and 13")),
        "{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("reload refused"),
        "{}",
        daemon.log_text()
    );
    // The previous generation keeps processing.
    env.submit_within(&daemon, "demo", "still.xml", &dian_example(), 20);
    assert_eq!(env.read_result("demo", "still.xml")["route"], "xml");
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn process_refuses_broken_formats_rules_before_reading_any_file() {
    let env = Env::new(&formats_config());
    shipped_formats_rules(&env);
    std::fs::write(env.path().join("rules/formats.toml"), "ocr_psm = 99\n").unwrap();
    std::fs::write(env.path().join("invoice.xml"), dian_example()).unwrap();
    let out = env.run(&["process", "invoice.xml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("rules/formats.toml: ocr_psm: must be between 0 and 13"),
        "{err}"
    );
    // Nothing was processed: no result line.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
