//! Parse + full DIAN validation throughput on generated invoices of 10–30
//! lines (plain std timing; `harness = false`).
//!
//! Run: `cargo bench --bench dian_validate` (optionally `-- <documents>`).

use std::hint::black_box;
use std::time::Instant;

use pasarela::dian::generator::{self, GenOptions};
use pasarela::dian::{self, DianSettings, DocKind};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    let opts = GenOptions {
        environment: "1".to_owned(),
        min_lines: 10,
        max_lines: 30,
        ..GenOptions::default()
    };
    let t = Instant::now();
    let docs: Vec<String> = (0..n as u64)
        .map(|seed| generator::generate(seed, DocKind::Invoice, &opts).xml)
        .collect();
    let gen_secs = t.elapsed().as_secs_f64();
    let bytes: usize = docs.iter().map(String::len).sum();
    let settings = DianSettings::default();
    let now = generator::default_issued_at() + chrono::Duration::hours(1);

    // Warm-up, and a correctness guard: every generated invoice is clean.
    for d in docs.iter().take(200) {
        let v = dian::validate(d.as_bytes(), &settings, now);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut findings = 0usize;
        for d in &docs {
            let v = dian::validate(black_box(d.as_bytes()), &settings, now);
            findings += v.findings.len();
        }
        black_box(findings);
        best = best.min(t.elapsed().as_secs_f64());
    }
    // Where the time goes: quick-xml's namespace-resolving event loop alone
    // (the floor for any tree built on it), then our tree, then everything.
    let limits = pasarela::dian::xml::Limits {
        max_bytes: settings.max_file_bytes,
        max_depth: 64,
        max_elements: 1 << 20,
    };
    let time_best = |f: &dyn Fn(&str) -> usize| {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut acc = 0usize;
            for d in &docs {
                acc += f(black_box(d));
            }
            black_box(acc);
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    };
    let events = time_best(&|d| {
        let mut r = quick_xml::reader::NsReader::from_str(d);
        let mut k = 0usize;
        loop {
            match r.read_resolved_event() {
                Ok((_, quick_xml::events::Event::Eof)) | Err(_) => break,
                Ok(_) => k += 1,
            }
        }
        k
    });
    let tree = time_best(&|d| {
        pasarela::dian::xml::parse(d.as_bytes(), &limits)
            .map(|t| t.element_count())
            .unwrap_or(0)
    });
    println!(
        "quick-xml events only: {events:.3} s = {:.0} docs/s; tree (xml::parse): {tree:.3} s = {:.0} docs/s",
        n as f64 / events,
        n as f64 / tree
    );
    println!(
        "generate: {n} invoices in {gen_secs:.3} s ({:.0} docs/s)",
        n as f64 / gen_secs
    );
    println!(
        "validate: {n} invoices ({:.1} KiB avg, 10–30 lines) best of 3: {best:.3} s = {:.0} docs/s, {:.1} MiB/s (one thread)",
        bytes as f64 / n as f64 / 1024.0,
        n as f64 / best,
        bytes as f64 / best / 1_048_576.0
    );
}
