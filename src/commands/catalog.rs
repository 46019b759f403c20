//! `pasarela catalog ...`: import, lookup, match, history, generate and
//! measure the product catalog (docs/CATALOG.md). One function per
//! subcommand; the catalog itself lives in `crate::catalog`.

use std::path::{Path, PathBuf};

use super::print_problems;
use crate::catalog::{self, Aliases, CatalogConfig, ImportOptions, InvoiceLine, LineQuery};
use crate::cli::{CatalogCommand, CatalogLocation, DEFAULT_CATALOG_CONFIG};
use crate::exit::Exit;

/// Run one `catalog` subcommand.
pub fn catalog(cmd: CatalogCommand) -> Exit {
    match cmd {
        CatalogCommand::Import {
            file,
            loc,
            layout,
            sort_buffer_mib,
            json,
        } => import(&file, &loc, layout, sort_buffer_mib, json),
        CatalogCommand::Lookup { code, loc } => lookup(&code, &loc),
        CatalogCommand::Match {
            description,
            codes,
            client,
            quantity,
            unit,
            aliases,
            loc,
        } => {
            let query = LineQuery {
                client: client.as_deref(),
                codes: codes.iter().map(|s| s.as_str()).collect(),
                description: &description,
                unit: None,
            };
            match_line(query, &quantity, &unit, &aliases, &loc)
        }
        CatalogCommand::History { code, loc } => history(&code, &loc),
        CatalogCommand::BenchLookup {
            max_code,
            samples,
            loc,
        } => {
            let (dir, _) = match resolve(&loc) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match bench_lookup(&dir, max_code, samples) {
                Ok(report) => {
                    println!("{report}");
                    Exit::Ok
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Exit::Software
                }
            }
        }
        CatalogCommand::Generate { rows, out } => match catalog::generate::generate(&out, rows) {
            Ok(()) => Exit::Ok,
            Err(e) => {
                eprintln!("error: {}: {e}", out.display());
                Exit::Software
            }
        },
    }
}

/// The catalog folder and the catalog configuration a command works on:
/// flags first, then the daemon configuration (read once). Without a
/// readable daemon configuration the catalog configuration falls back to
/// `rules/catalog.toml`, but the folder must be given with `--dir`.
fn resolve(loc: &CatalogLocation) -> Result<(PathBuf, CatalogConfig), Exit> {
    let loaded = std::cell::OnceCell::new();
    let daemon_config = || loaded.get_or_init(|| crate::config::load(&loc.config));
    let catalog_config = match &loc.catalog_config {
        Some(p) => p.clone(),
        None => match daemon_config() {
            Ok((c, _)) => c.registration.rules_dir.join("catalog.toml"),
            Err(_) => PathBuf::from(DEFAULT_CATALOG_CONFIG),
        },
    };
    let cfg = CatalogConfig::load(&catalog_config).map_err(|p| {
        print_problems(&p);
        Exit::Config
    })?;
    let dir = match &loc.dir {
        Some(d) => d.clone(),
        None => match daemon_config() {
            Ok((c, _)) => c.registration.catalog_dir.clone(),
            Err(p) => {
                print_problems(p);
                return Err(Exit::Config);
            }
        },
    };
    Ok((dir, cfg))
}

fn import(
    file: &Path,
    loc: &CatalogLocation,
    layout: Option<String>,
    sort_buffer_mib: usize,
    json: bool,
) -> Exit {
    let (dir, cfg) = match resolve(loc) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if !file.exists() {
        eprintln!("error: {}: no such file", file.display());
        return Exit::NoInput;
    }
    let excel = file.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["xls", "xlsx", "xlsm", "xlsb", "ods"].contains(&e.to_ascii_lowercase().as_str())
    });
    let chosen = layout.as_deref().unwrap_or(&cfg.default_layout);
    if excel && cfg.layouts.get(chosen).is_some_and(|l| l.format != "excel") {
        eprintln!(
            "error: {} is a workbook but layout '{chosen}' reads CSV; choose an Excel layout with --layout (e.g. excel)",
            file.display()
        );
        return Exit::Usage;
    }
    let opts = ImportOptions {
        layout,
        sort_buffer_bytes: sort_buffer_mib.max(1) << 20,
        progress: true,
        ..Default::default()
    };
    match catalog::import(&dir, file, &cfg, &opts) {
        Ok(s) if json => {
            match serde_json::to_string_pretty(&s) {
                Ok(t) => println!("{t}"),
                Err(e) => eprintln!("error: {e}"),
            }
            Exit::Ok
        }
        Ok(s) => {
            print_import_summary(&s);
            Exit::Ok
        }
        Err(catalog::import::CatalogError::Layout(m)) => {
            eprintln!("error: {m}");
            Exit::DataErr
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Software
        }
    }
}

fn print_import_summary(s: &catalog::import::ImportSummary) {
    println!("archivo:      {}", s.file);
    println!(
        "generación:   {} ({} productos en total)",
        s.generation, s.total_products
    );
    println!("filas leídas: {}", s.rows_read);
    println!("insertados:   {}", s.inserted);
    println!("actualizados: {}", s.updated);
    println!("sin cambios:  {}", s.unchanged);
    println!(
        "conservados:  {} (del catálogo anterior, ausentes del archivo)",
        s.kept
    );
    println!("rechazados:   {}", s.rejected);
    for r in &s.rejects {
        println!("  línea {}: {}", r.line, r.reason);
    }
    if s.rejected as usize > s.rejects.len() {
        println!("  ... y {} más", s.rejected as usize - s.rejects.len());
    }
    println!(
        "tiempo:       {:.1} s ({:.0} filas/s)",
        s.seconds, s.rows_per_second
    );
}

fn lookup(code: &str, loc: &CatalogLocation) -> Exit {
    let (dir, cfg) = match resolve(loc) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match catalog::store::open(&dir) {
        Ok(Some(f)) => match f.get(code) {
            Ok(Some(p)) => {
                let p = cfg.resolve_group(p);
                println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
                Exit::Ok
            }
            Ok(None) => {
                eprintln!("código {code}: no está en el catálogo ({})", f.generation());
                Exit::Failure
            }
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Software
            }
        },
        Ok(None) => {
            eprintln!(
                "no hay catálogo en {}; use `pasarela catalog import`",
                dir.display()
            );
            Exit::NoInput
        }
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            Exit::Software
        }
    }
}

fn match_line(
    query: LineQuery<'_>,
    quantity: &str,
    unit: &str,
    aliases: &Path,
    loc: &CatalogLocation,
) -> Exit {
    let (dir, cfg) = match resolve(loc) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let al = match Aliases::load_dir(aliases, &cfg.normalizer) {
        Ok(a) => a,
        Err(p) => {
            print_problems(&p);
            return Exit::Config;
        }
    };
    let Ok(qty) = quantity.parse::<rust_decimal::Decimal>() else {
        eprintln!("error: cantidad no válida '{quantity}'");
        return Exit::Usage;
    };
    let m = match catalog::open_matcher(&dir, &cfg, al) {
        Ok(Some(m)) => m,
        Ok(None) => {
            eprintln!("no hay catálogo en {}", dir.display());
            return Exit::NoInput;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Software;
        }
    };
    let line = InvoiceLine {
        line: 1,
        query,
        quantity: qty,
        unit,
    };
    match catalog::assess_line(&m, &cfg, &line) {
        Ok(a) => {
            println!("{}", serde_json::to_string_pretty(&a).unwrap_or_default());
            for f in &a.findings {
                println!("{} [{:?}] {}", f.code, f.severity, f.message);
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Software
        }
    }
}

fn history(code: &str, loc: &CatalogLocation) -> Exit {
    let (dir, _) = match resolve(loc) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match catalog::store::history(&dir, code) {
        Ok(lines) if lines.is_empty() => {
            eprintln!("código {code}: sin cambios registrados");
            Exit::Failure
        }
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            Exit::Software
        }
    }
}

/// VmRSS and VmHWM of this process in KiB (Linux).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Random lookups by code; latency percentiles, throughput and memory.
pub fn bench_lookup(dir: &Path, max_code: u64, samples: u64) -> std::io::Result<String> {
    let t0 = std::time::Instant::now();
    let Some(f) = catalog::store::open(dir)? else {
        return Err(std::io::Error::other(format!(
            "no catalog in {}",
            dir.display()
        )));
    };
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut lat = Vec::with_capacity(samples as usize);
    let mut found = 0u64;
    let start = std::time::Instant::now();
    for _ in 0..samples {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let code = (x % max_code.max(1) + 1).to_string();
        let t = std::time::Instant::now();
        if f.get(&code)?.is_some() {
            found += 1;
        }
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1e3
    };
    let (rss, hwm) = rss_kib();
    Ok(format!(
        "products {}; index {:.1} MiB; open {:.1} ms; {} lookups ({} found) in {:.2} s = {:.0}/s; latency µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}; VmRSS {} KiB, VmHWM {} KiB",
        f.len(),
        f.index_bytes() as f64 / 1048576.0,
        open_ms,
        samples,
        found,
        total,
        samples as f64 / total,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        lat.last().copied().unwrap_or(0) as f64 / 1e3,
        rss,
        hwm
    ))
}
