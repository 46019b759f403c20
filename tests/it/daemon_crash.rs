//! The foundation's proof (and issue #9's kill -9 fault): 2,000 files (valid XML, junk, duplicates) dropped into
//! a running daemon that is killed with SIGKILL part-way and restarted. Every
//! file must end with exactly one result and one archived input; duplicates
//! must say so; nothing is lost.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::*;

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

/// Pids whose parent is `pid` (read from /proc), recursively.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces; parse after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if ppid == Some(parent) {
                out.push(p);
                parents.push(p);
            }
        }
    }
    out
}

/// kill -9 the daemon, then its decoder children (each in its own process
/// group), which would otherwise run on until their own limits.
fn kill9_with_children(daemon: &mut Daemon) {
    let Some(pid) = daemon.child.as_ref().map(|c| c.id()) else {
        return;
    };
    let orphans = descendants(pid);
    daemon.kill9();
    for p in orphans {
        let _ = std::process::Command::new("kill")
            .args(["-9", "--", &format!("-{p}")])
            .status();
    }
}

fn jobs_by_state(env: &Env) -> serde_json::Value {
    let out = env.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    status["jobs_by_state"].clone()
}

/// Poppler stand-ins that hang (no CPU) like a decoder stuck on a hostile
/// PDF, put first on the daemon's PATH: the job stays running until the
/// daemon is killed under it.
fn hanging_decoders(env: &Env) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = env.path().join("hanging-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["pdfdetach", "pdftotext", "pdfinfo", "pdftoppm", "pdfimages"] {
        let p = bin.join(tool);
        std::fs::write(&p, "#!/bin/sh\nexec sleep 300\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A daemon whose decoder children are killed with it, even when an
/// assertion fails first.
struct WithChildren(Daemon);

impl Drop for WithChildren {
    fn drop(&mut self) {
        kill9_with_children(&mut self.0);
    }
}

/// `Env::start_ready` with `PATH` set.
fn start_with_path(env: &Env, path: &str) -> WithChildren {
    let log = env.next_log();
    let child = env
        .cmd(&["run"])
        .env("PATH", path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start daemon");
    let daemon = Daemon {
        child: Some(child),
        log,
    };
    let ready = wait_until(Duration::from_secs(20), || {
        daemon.log_text().contains("pasarela running")
    });
    let daemon = WithChildren(daemon);
    assert!(ready, "daemon did not start: {}", daemon.0.log_text());
    daemon
}

fn running_with_child(env: &Env, daemon: &Daemon) -> bool {
    let pid = daemon.child.as_ref().unwrap().id();
    wait_until(Duration::from_secs(30), || {
        jobs_by_state(env)
            .as_array()
            .is_some_and(|s| s.contains(&serde_json::json!(["running", 1])))
            && !descendants(pid).is_empty()
    })
}

/// Issue 16: a file that kills the daemon every time it is worked on (here:
/// kill -9 while its PDF decoder runs, standing for an allocation abort or
/// an OOM kill) is started `retry.max_starts` times, then dead-lettered with
/// PAS91 and a result file instead of being run again; the daemon comes up
/// clean and a valid invoice sent afterwards gets its result. Before the
/// fix, start-up requeued the job and every later daemon ran it again.
#[test]
fn a_job_that_kills_the_daemon_is_dead_lettered_after_max_starts() {
    let config = basic_config("heavy_workers = 1")
        .replace(
            "steps = [\"hold-for-review\"]",
            "steps = [\"pdf-extract\", \"image-ocr\", \"excel-rows\"]",
        )
        .replace("[retry]\n", "[retry]\nmax_starts = 3\n");
    let env = Env::new(&config);
    std::os::unix::fs::symlink(repo().join("rules"), env.path().join("rules")).unwrap();
    let path = hanging_decoders(&env);
    env.drop_file("demo", "veneno.pdf", &page_loop_pdf(16));
    for start in 1..=3 {
        let mut daemon = start_with_path(&env, &path);
        let running = running_with_child(&env, &daemon.0);
        kill9_with_children(&mut daemon.0);
        assert!(
            running,
            "start {start}: job never ran\n{}",
            daemon.0.log_text()
        );
        assert!(
            !env.result_path("demo", "veneno.pdf").exists(),
            "start {start}: the job finished; nothing was interrupted"
        );
    }

    let mut daemon = start_with_path(&env, &path);
    let result = env.result_path("demo", "veneno.pdf");
    assert!(
        wait_until(Duration::from_secs(30), || result.is_file()),
        "no dead-letter result after the fourth start\n{}",
        daemon.0.log_text()
    );
    let r = env.read_result("demo", "veneno.pdf");
    assert_eq!(r["verdict"], "review", "{r}");
    assert_eq!(r["findings"][0]["code"], "PAS91", "{r}");
    let message = r["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("3 veces"), "{message}");

    // A valid invoice sent afterwards gets its result: the daemon serves.
    env.drop_file("demo", "factura.xml", &dian_example());
    assert!(
        wait_until(Duration::from_secs(30), || env
            .result_path("demo", "factura.xml")
            .is_file()),
        "{}",
        daemon.0.log_text()
    );
    assert_eq!(
        env.read_result("demo", "factura.xml")["verdict"],
        "accepted"
    );

    // `status` shows the dead letter with its reason; it never ran a 4th time.
    let out = env.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dead = status["dead"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{status}");
    assert!(
        dead[0]["last_error"].as_str().unwrap().starts_with("PAS91"),
        "{status}"
    );
    assert_eq!(dead[0]["attempts"], 4, "{status}");
    let text = String::from_utf8(env.run(&["status"]).stdout).unwrap();
    assert!(text.contains("PAS91"), "{text}");

    // `pasarela replay` puts it back with a fresh count: it runs again.
    let id = dead[0]["id"].as_i64().unwrap().to_string();
    let out = env.run(&["replay", &id]);
    assert!(out.status.success(), "{out:?}");
    let ran = running_with_child(&env, &daemon.0);
    kill9_with_children(&mut daemon.0);
    assert!(ran, "the replayed job did not run\n{}", daemon.0.log_text());
}
