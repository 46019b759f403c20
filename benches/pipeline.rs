//! Bare-pipeline throughput and latency of the real daemon binary.
//!
//! `cargo bench --bench pipeline` (env `PASARELA_BENCH_FILES`, default 5000):
//! starts `pasarela run` in a temp dir, renames N files of 20 KB into the demo
//! account's `incoming/` at once and measures the time until N result files
//! exist; then drops the DIAN example 50 times, one at a time, and reports the
//! latency from rename to result file. Prints a Markdown table for
//! docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pasarela");

fn config(workers: usize, synchronous: &str) -> String {
    format!(
        r#"
[daemon]
state_dir = "var"
workers = {workers}
scan_interval_secs = 3600
poll_interval_ms = 1000

[store]
synchronous = "{synchronous}"

[log]
level = "warn"

[accounts.demo]
home = "var/home/demo"

[[routes]]
name = "xml"
formats = ["xml"]
steps = ["classify"]

[[routes]]
name = "unsupported"
steps = ["reject-unsupported"]
"#
    )
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, cfg: &str) -> Daemon {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/pasarela.toml"), cfg).unwrap();
    let child = Command::new(BIN)
        .arg("run")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let incoming = dir.join("var/home/demo/incoming");
    let t = Instant::now();
    while !incoming.is_dir() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    Daemon(child)
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn example() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/dian/exento-de-iva-v1.9.xml");
    std::fs::read_to_string(p).unwrap_or_else(|_| "<?xml version=\"1.0\"?><Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>".into())
}

/// Files of ~20 KB: a UBL invoice padded with a unique comment.
fn make_files(stage: &Path, n: usize) {
    std::fs::create_dir_all(stage).unwrap();
    let base = example();
    let base = &base[..base.len().min(19_000)];
    for i in 0..n {
        let pad = "x".repeat(20_480usize.saturating_sub(base.len() + 40));
        let body = format!(
            "<?xml version=\"1.0\"?><!-- {i:08} {pad} --><Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>"
        );
        std::fs::write(stage.join(format!("f{i:06}.xml")), body).unwrap();
    }
}

fn throughput(n: usize, workers: usize, synchronous: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    make_files(&stage, n);
    let _d = start(dir.path(), &config(workers, synchronous));
    let incoming = dir.path().join("var/home/demo/incoming");
    let outgoing = dir.path().join("var/home/demo/outgoing");
    let t = Instant::now();
    for e in std::fs::read_dir(&stage).unwrap().flatten() {
        std::fs::rename(e.path(), incoming.join(e.file_name())).unwrap();
    }
    while count(&outgoing) < n {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "stalled at {}",
            count(&outgoing)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn latency(rounds: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let _d = start(dir.path(), &config(4, "full"));
    let incoming = dir.path().join("var/home/demo/incoming");
    let outgoing = dir.path().join("var/home/demo/outgoing");
    let stage = dir.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    let text = example();
    let mut out = Vec::new();
    for i in 0..rounds {
        let name = format!("lat{i:03}.xml");
        std::fs::write(
            stage.join(&name),
            text.replacen("<Invoice", &format!("<!-- {i} --><Invoice"), 1),
        )
        .unwrap();
        let result = outgoing.join(format!("{name}.result.json"));
        let t = Instant::now();
        std::fs::rename(stage.join(&name), incoming.join(&name)).unwrap();
        while !result.exists() {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_micros(200));
        }
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("PASARELA_BENCH_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    println!("| workers | store.synchronous | files (20 KB) | files/s |");
    println!("|---|---|---|---|");
    for (workers, sync) in [(4, "full"), (4, "normal"), (8, "normal")] {
        let fps = throughput(n, workers, sync);
        println!("| {workers} | {sync} | {n} | {fps:.0} |");
    }
    let lat = latency(50);
    println!();
    println!(
        "DIAN example, one file at a time, rename into incoming/ → result file (ms): p50 {:.1}, p95 {:.1}, max {:.1}",
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        pct(&lat, 1.0)
    );
}
