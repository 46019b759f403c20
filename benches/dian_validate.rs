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
    // The signature check on a real signed document: DIAN's example (one
    // RSA-2048 signature, three references, C14N; its CA is not trusted),
    // when ../shared is checked out beside the project.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/dian/exento-de-iva-v1.9.xml");
    if let Ok(x) = std::fs::read(&example) {
        let trust = pasarela::dian::xades::TrustStore::new();
        let rounds = 500;
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            for _ in 0..rounds {
                black_box(pasarela::dian::xades::verify_all(
                    black_box(&x),
                    &trust,
                    now,
                    &pasarela::dian::xades::DEFAULT_LIMITS,
                ));
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "signature (xades::verify_all, DIAN example {:.1} KiB): {:.3} ms per document, best of 3 x {rounds}",
            x.len() as f64 / 1024.0,
            best * 1000.0 / rounds as f64
        );
    }
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
