//! Issue #9's fault "the PostgreSQL server restarted mid-batch": a daemon on a
//! PostgreSQL store keeps serving while the server restarts under it, and every
//! file still ends with exactly one result and one archived input.
//!
//! Restarts the PostgreSQL server, so this file holds this one test: cargo
//! runs test binaries one after another, and no other test uses the server
//! meanwhile. The server is the throwaway one scripts/test.sh started (its
//! restart command in `PASARELA_TEST_PG_RESTART`), or else the machine's
//! cluster on port 5432 (`pg_ctlcluster`, as root).

#[path = "it/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use pasarela::store::testing::ScratchSchema;
use support::*;

const FILES: usize = 1500;

/// The command that restarts the test server: `PASARELA_TEST_PG_RESTART`
/// (run by `sh -c`), or `pg_ctlcluster VERSION CLUSTER restart` for the
/// cluster on port 5432 that `pg_lsclusters` lists.
fn restart_command() -> Option<Command> {
    if let Some(cmd) = std::env::var_os("PASARELA_TEST_PG_RESTART") {
        let mut c = Command::new("sh");
        c.arg("-c").arg(cmd);
        return Some(c);
    }
    let out = Command::new("pg_lsclusters").arg("-h").output().ok()?;
    let (version, cluster) = String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 3 && f[2] == "5432").then(|| (f[0].to_string(), f[1].to_string()))
    })?;
    let mut c = Command::new("pg_ctlcluster");
    c.args([&version, &cluster, "restart", "-m", "fast"]);
    Some(c)
}

#[test]
fn a_postgres_restart_mid_batch_loses_and_duplicates_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(schema) = rt.block_on(ScratchSchema::create()) else {
        return;
    };
    let Some(mut restart) = restart_command() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no PASARELA_TEST_PG_RESTART and pg_lsclusters finds no cluster on port 5432"
        );
        eprintln!("no local PostgreSQL cluster to restart: case not run");
        return;
    };
    let config = basic_config("lease_secs = 3\nworkers = 4")
        .replace("[store]\n", &format!("[store]\nurl = \"{}\"\n", schema.url));
    let env = Env::new(&config);
    let daemon = env.start_ready(&[]);
    let text = String::from_utf8(dian_example()).unwrap();
    for i in 0..FILES {
        let (name, bytes) = if i % 10 == 0 {
            (
                format!("junk-{i:04}.bin"),
                format!("no invoice {i}").into_bytes(),
            )
        } else {
            (
                format!("inv-{i:04}.xml"),
                text.replacen("<Invoice", &format!("<!-- {i} --><Invoice"), 1)
                    .into_bytes(),
            )
        };
        env.drop_file("demo", &name, &bytes);
    }
    let outgoing = env.home("demo").join("outgoing");
    assert!(
        wait_until(Duration::from_secs(120), || files_under(&outgoing).len()
            >= 60),
        "no progress: {}",
        daemon.log_text()
    );
    let before = files_under(&outgoing).len();
    let restart = restart.output().expect("restart PostgreSQL");
    let at_restart = files_under(&outgoing).len();
    assert!(
        restart.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&restart.stderr)
    );
    assert!(at_restart < FILES, "the batch finished before the restart");

    let all = wait_until(Duration::from_secs(300), || {
        files_under(&outgoing).len() >= FILES
            && files_under(&env.path().join("var/spool")).is_empty()
    });
    assert!(
        all,
        "{} results ({before}..{at_restart} at the restart)\n{}",
        files_under(&outgoing).len(),
        daemon.log_text()
    );
    assert_eq!(files_under(&outgoing).len(), FILES);
    assert_eq!(files_under(&env.home("demo").join("archive")).len(), FILES);
    assert!(files_under(&env.home("demo").join("incoming")).is_empty());
    let log = daemon.log_text();
    assert!(
        log.contains("error") || log.contains("WARN"),
        "the restart went unnoticed; did it happen?\n{log}"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(
        status["jobs_by_state"],
        serde_json::json!([["done", FILES]]),
        "{status}"
    );
    let accepted_or_dup = status["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_i64().unwrap())
        .sum::<i64>();
    assert_eq!(accepted_or_dup as usize, FILES, "{status}");
    eprintln!(
        "postgres restarted between {before} and {at_restart} of {FILES} results; all {FILES} done once"
    );
    drop(daemon);
    rt.block_on(schema.drop_now());
}
