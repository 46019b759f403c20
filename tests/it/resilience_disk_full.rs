//! The state directory's disk fills up mid-batch, then space comes back: no
//! file is lost or processed twice, and the daemon never stops serving. The
//! state directory (store, spool) is a small tmpfs, so this test needs root
//! (CAP_SYS_ADMIN) to mount it, as in CI here; elsewhere it says so and fails.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill `dir`'s filesystem with a ballast file until it refuses more.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        if f.write_all(&chunk).and_then(|()| f.sync_all()).is_err() {
            break;
        }
    }
    // And the last few bytes.
    while f
        .write_all(&chunk[..512])
        .and_then(|()| f.sync_all())
        .is_ok()
    {}
    path
}

#[test]
fn a_full_state_disk_loses_nothing_and_processing_resumes_when_space_returns() {
    let env = Env::new(&basic_config("").replace("state_dir = \"var\"", "state_dir = \"state\""));
    let state = env.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(&state)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        mounted,
        "mounting a tmpfs needs root (CAP_SYS_ADMIN); CI runs as root here"
    );
    let _mount = Mount(state.clone());

    assert!(
        env.run(&[
            "generate", "--count", "120", "--seed", "500", "--out", "gen"
        ])
        .status
        .success()
    );
    let mut names: Vec<String> = std::fs::read_dir(env.path().join("gen"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut daemon = env.start_ready(&[]);

    // A first batch with space, to have a warm store.
    for n in &names[..20] {
        env.drop_file(
            "demo",
            n,
            &std::fs::read(env.path().join("gen").join(n)).unwrap(),
        );
    }
    assert!(wait_until(Duration::from_secs(60), || names[..20]
        .iter()
        .all(|n| env.result_path("demo", n).is_file())));

    // Disk full, then the rest of the batch arrives.
    let ballast = fill(&state);
    for n in &names[20..] {
        env.drop_file(
            "demo",
            n,
            &std::fs::read(env.path().join("gen").join(n)).unwrap(),
        );
    }
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        daemon.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the daemon survives a full disk: {}",
        daemon.log_text()
    );
    // Nothing could be taken while the disk was full, and the log says why.
    let early: Vec<&String> = names[20..]
        .iter()
        .filter(|n| env.result_path("demo", n).is_file())
        .collect();
    assert!(early.is_empty(), "processed without spool space: {early:?}");
    assert!(
        daemon.log_text().contains("No space left on device"),
        "{}",
        daemon.log_text()
    );
    // Space returns.
    std::fs::remove_file(&ballast).unwrap();
    let done = wait_until(Duration::from_secs(180), || {
        names.iter().all(|n| env.result_path("demo", n).is_file())
    });
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !env.result_path("demo", n).is_file())
        .collect();
    assert!(done, "no result for {missing:?}: {}", daemon.log_text());
    assert!(daemon.child.as_mut().unwrap().try_wait().unwrap().is_none());

    // Exactly once: one done job per file, all inputs archived, spool empty.
    let out = env.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let done_jobs = status["jobs_by_state"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "done")
        .map(|p| p[1].as_i64().unwrap())
        .unwrap_or(0);
    assert_eq!(done_jobs, names.len() as i64, "{status}");
    assert!(wait_until(Duration::from_secs(20), || files_under(
        &env.home("demo").join("archive")
    )
    .len()
        == names.len()));
    assert!(files_under(&state.join("spool")).is_empty());
    let incoming = files_under(&env.home("demo").join("incoming"));
    assert!(incoming.is_empty(), "{incoming:?}");
    daemon.terminate();
}
