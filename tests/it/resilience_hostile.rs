//! Hostile input through the running daemon and through `pasarela process`:
//! XML bombs and external entities, mixed-content XML, zip-bomb spreadsheets
//! (with junk before the archive too), sheets with far-apart cells or a
//! shared-strings table announcing billions of strings, a PDF whose attachment
//! name climbs out of any folder, corrupt and bomb-sized PDFs and images, TIFFs
//! whose pages loop or flood, 1 GiB of zeros, names with control characters
//! (tests/py/make_hostile.py writes them; issue 16). Every file must end with a
//! result that carries a clear finding (never a dead letter, never a crash),
//! nothing may leak (the XXE target, forged log lines) or be written outside
//! the job's scratch (the climbing attachment), the daemon stays under 1 GiB
//! resident and goes on serving (the DIAN example dropped afterwards gets its
//! result), and a restart with those jobs in the store comes up clean.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

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
    shipped_rules_with_1gib_workers(&env);
    let staging = env.path().join("hostile");
    make_hostile(&staging);
    let _ = std::fs::remove_file(PLANTED);
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
    let pid = daemon.child.as_ref().unwrap().id();
    let peak = peak_resident_kib(pid);
    assert!(peak < 1 << 20, "daemon peak resident {peak} KiB");
    assert!(
        !std::path::Path::new(PLANTED).exists(),
        "a PDF attachment was written outside the job's scratch"
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
    // The spreadsheets that made calamine ask for hundreds of GiB: their
    // decoder child hit its memory limit; the daemon reports it.
    assert!(codes("far-cells.xlsx").contains(&"PAS600".to_string()));
    assert!(codes("announced-strings.xlsx").contains(&"PAS600".to_string()));
    // A page flood is read up to the document's pixel budget, then reviewed.
    assert!(codes("page-flood.tiff").contains(&"PAS421".to_string()));
    assert_eq!(
        env.read_result("demo", "page-flood.tiff")["verdict"],
        "review"
    );
    assert_eq!(
        env.read_result("demo", "zeros-1GiB.bin")["size"],
        1u64 << 30,
        "size recorded without reading the file"
    );

    // The daemon still serves ordinary work.
    env.submit_within(&daemon, "demo", "after.xml", &dian_example(), 60);
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

    // A restart with all of that in the store comes up clean: nothing is
    // re-run, nothing is lost, and it serves again.
    let before: Vec<String> = names
        .iter()
        .map(|n| std::fs::read_to_string(env.result_path("demo", n)).unwrap())
        .collect();
    assert_eq!(daemon.terminate(), Some(0), "{}", daemon.log_text());
    // Decoders worked under the state directory and cleaned up after
    // themselves; what a crash would leave there is removed at start-up.
    let scratch = env.path().join("var/scratch");
    assert!(scratch.is_dir());
    assert!(
        files_under(&scratch).is_empty(),
        "{:?}",
        files_under(&scratch)
    );
    let leftover = scratch.join("pasarela-fmt-left-by-a-crash");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("in.pdf"), b"%PDF-1.4").unwrap();
    let mut daemon = env.start_ready(&[]);
    assert!(
        !leftover.exists(),
        "a crashed job's scratch survived the restart"
    );
    env.submit_within(&daemon, "demo", "after-restart.xml", &dian_example(), 60);
    for (n, b) in names.iter().zip(&before) {
        let now = std::fs::read_to_string(env.result_path("demo", n)).unwrap();
        assert_eq!(&now, b, "{n:?} was processed again after the restart");
    }
    assert!(daemon.child.as_mut().unwrap().try_wait().unwrap().is_none());
}

/// The same files through `pasarela process`: one result with a finding for
/// each, a normal exit, nothing written outside the scratch directories.
#[test]
fn every_hostile_file_through_process_gets_a_finding() {
    let env = Env::new(&hostile_config());
    shipped_rules_with_1gib_workers(&env);
    let staging = env.path().join("hostile");
    make_hostile(&staging);
    let _ = std::fs::remove_file(PLANTED);
    let mut files: Vec<String> = std::fs::read_dir(&staging)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["process", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = env.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        results.len(),
        files.len(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    for r in &results {
        let findings = r["findings"].as_array().cloned().unwrap_or_default();
        assert!(!findings.is_empty(), "no finding: {r}");
        assert_ne!(r["verdict"], "accepted", "{r}");
    }
    assert!(
        !std::path::Path::new(PLANTED).exists(),
        "a PDF attachment was written outside the job's scratch"
    );
}

/// Where the climbing attachment of `climbing-attachment.pdf` would land.
const PLANTED: &str = "/tmp/pasarela-hostile-planted.xml";

fn make_hostile(dir: &std::path::Path) {
    let ok = Command::new("python3")
        .arg(repo().join("tests/py/make_hostile.py"))
        .arg(dir)
        .status()
        .expect("python3 tests/py/make_hostile.py")
        .success();
    assert!(ok);
}

/// The shipped rules (dian.toml, formats.toml, excel layouts) at their
/// default place beside the config, with decoding children limited to 1 GiB
/// of address space (so no child can be resident beyond it).
fn shipped_rules_with_1gib_workers(env: &Env) {
    let rules = env.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for e in std::fs::read_dir(repo().join("rules")).unwrap() {
        let e = e.unwrap();
        let to = rules.join(e.file_name());
        if e.file_name() == "formats.toml" {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let text = text.replace("worker_memory_mb = 1536", "worker_memory_mb = 1024");
            assert!(text.contains("worker_memory_mb = 1024"));
            std::fs::write(to, text).unwrap();
        } else {
            std::os::unix::fs::symlink(e.path(), to).unwrap();
        }
    }
}

/// Peak resident set (VmHWM) of a process, in KiB.
fn peak_resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}
