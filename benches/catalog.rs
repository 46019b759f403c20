//! Catalog benchmark (harness = false): generate, import, look up, match.
//!
//! `CATALOG_BENCH_ROWS` (default 1,000,000) sets the catalog size;
//! `CATALOG_BENCH_DIR` the scratch directory (default a temp dir, removed).
//! The 60 M figures in docs/BENCHMARKS.md come from the CLI commands
//! listed there (so `/usr/bin/time -v` measures each phase on its own).

use std::path::PathBuf;
use std::time::Instant;

use pasarela::catalog::{self, CatalogConfig, ImportOptions, LineQuery};

fn main() {
    let rows: u64 = std::env::var("CATALOG_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = std::env::var("CATALOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_path_buf());
    std::fs::create_dir_all(&base).expect("bench dir");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cfg = CatalogConfig::load(&root.join("rules/catalog.toml")).expect("catalog.toml");

    let csv = base.join("bench.csv");
    let t = Instant::now();
    catalog::generate::generate(&csv, rows).expect("generate");
    println!(
        "generate: {rows} rows in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let dir = base.join("catalog");
    let s = catalog::import(&dir, &csv, &cfg, &ImportOptions::default()).expect("import");
    println!(
        "import:   {} rows in {:.2} s = {:.0} rows/s (rejected {})",
        s.rows_read, s.seconds, s.rows_per_second, s.rejected
    );
    let s = catalog::import(&dir, &csv, &cfg, &ImportOptions::default()).expect("re-import");
    println!(
        "re-import (all unchanged): {:.2} s = {:.0} rows/s (unchanged {})",
        s.seconds, s.rows_per_second, s.unchanged
    );

    match pasarela::commands::catalog::bench_lookup(&dir, rows, 200_000) {
        Ok(r) => println!("lookup:   {r}"),
        Err(e) => println!("lookup failed: {e}"),
    }

    // Description index over the generated catalog (built by streaming the data file).
    let t = Instant::now();
    let before = pasarela::commands::catalog::rss_kib().0;
    match catalog::open_matcher(&dir, &cfg, catalog::Aliases::default()) {
        Ok(Some(m)) => println!(
            "description index over {rows} generated products: {} distinct texts, built in {:.2} s, RSS +{} KiB",
            m.index.len(),
            t.elapsed().as_secs_f64(),
            pasarela::commands::catalog::rss_kib()
                .0
                .saturating_sub(before)
        ),
        other => println!("description index: {:?}", other.err()),
    }

    // Pricing an invoice of 10 lines with the shipped rules.
    let rules = pasarela::rules::load_rules(&root.join("rules")).expect("rules");
    let lines: Vec<pasarela::rules::PricingLine> = (0..10)
        .map(|i| pasarela::rules::PricingLine {
            code: i.to_string(),
            group: if i % 2 == 0 {
                "GRANOS".into()
            } else {
                "PECUARIO".into()
            },
            state: catalog::ProcessingState::Natural,
            quantity_kg: rust_decimal::Decimal::from(1000),
            value: rust_decimal::Decimal::from(1_000_000 * (i + 1)),
        })
        .collect();
    let input = pasarela::rules::PricingInput {
        date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        client: "800111222".into(),
        side: pasarela::rules::Side::Seller,
        lines,
    };
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let _ = rules.price(&input);
    }
    println!(
        "pricing: {:.1} µs per 10-line invoice (with traces)",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );

    // Description matching over the real snapshot.
    let fixture = root.join("../shared/fixtures/bmc/subyacentes.csv");
    if fixture.exists() {
        let d2 = base.join("subyacentes");
        catalog::import(&d2, &fixture, &cfg, &ImportOptions::default()).expect("import fixture");
        let t = Instant::now();
        let m = catalog::open_matcher(&d2, &cfg, catalog::Aliases::default())
            .expect("matcher")
            .expect("catalog");
        println!(
            "description index over {} texts built in {:.1} ms",
            m.index.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
        let texts = [
            "AREPA CON QUESO MOZARELLA x 4 und",
            "PAPA PASTUSA BULTO 50 KG",
            "Limón Tahití",
            "Combo desayuno arepa huevo cafe",
        ];
        let n = 20_000;
        let t = Instant::now();
        for i in 0..n {
            let q = LineQuery {
                description: texts[i % texts.len()],
                ..Default::default()
            };
            let _ = m.match_line(&q);
        }
        println!(
            "description match: {:.1} µs per line",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    let _ = std::fs::remove_file(&csv);
}
