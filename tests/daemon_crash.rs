//! The foundation's proof (and issue #9's kill -9 fault): 2,000 files (valid XML, junk, duplicates) dropped into
//! a running daemon that is killed with SIGKILL part-way and restarted. Every
//! file must end with exactly one result and one archived input; duplicates
//! must say so; nothing is lost.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

const FILES: usize = 2000;

#[test]
fn kill_9_mid_batch_loses_and_duplicates_nothing() {
    let env = Env::new(&basic_config("workers = 2"));
    let mut daemon = env.start(&[]);
    let outgoing = env.home("demo").join("outgoing");
    assert!(
        wait_until(Duration::from_secs(20), || env
            .home("demo")
            .join("incoming")
            .is_dir()),
        "daemon did not start: {}",
        daemon.log_text()
    );

    let xml = dian_example();
    let text = String::from_utf8(xml.clone()).unwrap();
    // name -> content group (files of one group have identical bytes)
    let mut groups: HashMap<String, usize> = HashMap::new();
    for i in 0..FILES {
        let (name, bytes, group) = match i % 10 {
            // junk
            0 => (
                format!("junk-{i:04}.bin"),
                format!("not an invoice {i}").into_bytes(),
                i,
            ),
            // duplicate of the XML written just before (same bytes, other name)
            9 => {
                let g = i - 1;
                (
                    format!("dup-{i:04}.xml"),
                    text.replacen("<Invoice", &format!("<!-- {g} --><Invoice"), 1)
                        .into_bytes(),
                    g,
                )
            }
            // distinct valid XML
            _ => (
                format!("inv-{i:04}.xml"),
                text.replacen("<Invoice", &format!("<!-- {i} --><Invoice"), 1)
                    .into_bytes(),
                i,
            ),
        };
        env.drop_file("demo", &name, &bytes);
        groups.insert(name, group);
    }
    // Kill once part of the batch has results, but not all.
    let some = wait_until(Duration::from_secs(60), || {
        files_under(&outgoing).len() >= 60
    });
    daemon.kill9();
    assert!(some, "no progress before the kill: {}", daemon.log_text());
    let before = files_under(&outgoing).len();
    assert!(
        before < FILES,
        "the kill came after the batch finished; nothing was interrupted"
    );

    let daemon2 = env.start(&[]);
    let all = wait_until(Duration::from_secs(600), || {
        files_under(&outgoing).len() >= FILES
            && files_under(&env.path().join("var/spool")).is_empty()
    });
    assert!(
        all,
        "only {} results after restart (had {before} at kill)\n{}",
        files_under(&outgoing).len(),
        daemon2.log_text()
    );

    // Exactly one result per input, named after it.
    let results = files_under(&outgoing);
    assert_eq!(results.len(), FILES);
    for name in groups.keys() {
        assert!(
            env.result_path("demo", name).is_file(),
            "no result for {name}"
        );
    }
    // Exactly one archived input per file; incoming and spool are empty.
    let archived = files_under(&env.home("demo").join("archive"));
    assert_eq!(
        archived.len(),
        FILES,
        "archive holds {} files",
        archived.len()
    );
    for name in groups.keys() {
        let n = archived
            .iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .ends_with(&format!("-{name}"))
            })
            .count();
        assert_eq!(n, 1, "{name} archived {n} times");
    }
    assert!(files_under(&env.home("demo").join("incoming")).is_empty());

    // Verdicts: junk rejected, one original per content group, the rest duplicates.
    let mut originals: HashMap<usize, usize> = HashMap::new();
    for (name, group) in &groups {
        let r = env.read_result("demo", name);
        let verdict = r["verdict"].as_str().unwrap().to_string();
        assert_eq!(r["file"], name.as_str());
        if name.starts_with("junk") {
            assert_eq!(verdict, "rejected", "{name}: {r}");
            assert_eq!(r["format"], "unknown");
        } else if verdict == "duplicate" {
            assert_eq!(r["findings"][0]["code"], "90", "{name}: {r}");
        } else {
            assert_eq!(verdict, "accepted", "{name}: {r}");
            *originals.entry(*group).or_default() += 1;
        }
    }
    let xml_groups: std::collections::HashSet<usize> = groups
        .iter()
        .filter(|(n, _)| !n.starts_with("junk"))
        .map(|(_, g)| *g)
        .collect();
    for g in &xml_groups {
        assert_eq!(
            originals.get(g).copied().unwrap_or(0),
            1,
            "content group {g} must have exactly one non-duplicate result"
        );
    }
    let duplicates = groups
        .keys()
        .filter(|n| env.read_result("demo", n)["verdict"] == "duplicate")
        .count();
    assert_eq!(duplicates, FILES / 10);

    // The store agrees: every job done.
    let out = env.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["jobs_by_state"],
        serde_json::json!([["done", FILES]]),
        "{status}"
    );
}
