//! Hostile input through the running daemon: XML bombs and external entities,
//! a zip-bomb spreadsheet, corrupt and bomb-sized PDFs and images, a TIFF whose
//! pages loop, 1 GiB of zeros, names with control characters
//! (tests/py/make_hostile.py writes them). Every file must end with a result
//! that carries a clear finding (never a dead letter, never a crash), nothing
//! may leak (the XXE target, forged log lines), and the daemon must go on
//! serving: the DIAN example dropped afterwards gets its result.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn hostile_config() -> String {
    basic_config("workers = 2")
        .replace("steps = [\"classify\"]", "steps = [\"dian-validate\"]")
        .replace(
            "steps = [\"hold-for-review\"]",
            "steps = [\"pdf-extract\", \"image-ocr\", \"excel-rows\"]",
        )
}

#[test]
fn every_hostile_file_gets_a_clear_finding_and_the_daemon_keeps_serving() {
    let env = Env::new(&hostile_config());
    // The shipped rules (dian.toml, formats.toml, excel layouts) at their
    // default place beside the config.
    std::os::unix::fs::symlink(repo().join("rules"), env.path().join("rules")).unwrap();
    let staging = env.path().join("hostile");
    let ok = Command::new("python3")
        .arg(repo().join("tests/py/make_hostile.py"))
        .arg(&staging)
        .status()
        .expect("python3 tests/py/make_hostile.py")
        .success();
    assert!(ok);
    let mut daemon = env.start_ready(&[]);
    let incoming = env.home("demo").join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    for n in &names {
        // Same filesystem: each file appears complete, at once.
        std::fs::rename(staging.join(n), incoming.join(n)).unwrap();
    }

    let all_done = wait_until(Duration::from_secs(600), || {
        names.iter().all(|n| env.result_path("demo", n).is_file())
    });
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !env.result_path("demo", n).is_file())
        .collect();
    assert!(all_done, "no result for {missing:?}\n{}", daemon.log_text());
    assert!(
        daemon.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the daemon is still running"
    );

    for n in &names {
        let r = env.read_result("demo", n);
        let verdict = r["verdict"].as_str().unwrap_or_default();
        assert!(
            verdict == "rejected" || verdict == "review",
            "{n:?}: verdict {verdict}: {r}"
        );
        let findings = r["findings"].as_array().cloned().unwrap_or_default();
        assert!(!findings.is_empty(), "{n:?}: no finding: {r}");
        for f in &findings {
            let code = f["code"].as_str().unwrap_or_default();
            let message = f["message"].as_str().unwrap_or_default();
            assert!(!code.is_empty() && message.len() > 10, "{n:?}: {f}");
            assert_ne!(code, "PAS90", "{n:?} was dead-lettered: {r}");
        }
        let text = r.to_string();
        assert!(!text.contains("root:x:0:0"), "{n:?} leaked /etc/passwd");
    }
    let codes = |n: &str| -> Vec<String> {
        env.read_result("demo", n)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(codes("zeros-1GiB.bin").contains(&"PAS83".to_string()));
    assert!(codes("zip-bomb.xlsx").contains(&"PAS603".to_string()));
    assert!(codes("billion-laughs.xml").contains(&"PAS04".to_string()));
    assert!(codes("xxe.xml").contains(&"PAS04".to_string()));
    assert_eq!(
        env.read_result("demo", "zeros-1GiB.bin")["size"],
        1u64 << 30,
        "size recorded without reading the file"
    );

    // The daemon still serves ordinary work.
    env.drop_file("demo", "after.xml", &dian_example());
    assert!(
        wait_until(Duration::from_secs(60), || env
            .result_path("demo", "after.xml")
            .is_file()),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        env.read_result("demo", "after.xml")["document_type"],
        "Invoice"
    );

    // A name cannot forge a log line, nor carry terminal escapes into the log.
    let log = daemon.log_text();
    assert!(
        !log.lines().any(|l| l.starts_with("FAKE-LOG-LINE")),
        "a file name forged a log line"
    );
    assert!(!log.contains('\u{1b}'), "raw escape sequence in the log");
    // Nothing left behind in the spool, every input archived.
    let spool = env.path().join("var/spool");
    assert!(
        wait_until(Duration::from_secs(10), || files_under(&spool).is_empty()),
        "{:?}",
        files_under(&spool)
    );
    assert_eq!(
        files_under(&env.home("demo").join("archive")).len(),
        names.len() + 1
    );
}
