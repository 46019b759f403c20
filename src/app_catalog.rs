//! Handlers for `pasarela catalog ...` and `pasarela rules ...` (CLI glue).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::catalog::{self, Aliases, CatalogConfig, ImportOptions, InvoiceLine, LineQuery};
use crate::cli::DEFAULT_CONFIG;
use crate::config::{ConfigError, EX_CONFIG};
use crate::rules;

pub const DEFAULT_CATALOG_CONFIG: &str = "rules/catalog.toml";
pub const DEFAULT_RULES_DIR: &str = "rules";

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import a CSV or Excel catalog (re-import updates in place, with history).
    Import {
        file: PathBuf,
        #[command(flatten)]
        loc: CatalogLocation,
        /// Layout name in the catalog config (default: its default_layout).
        #[arg(long)]
        layout: Option<String>,
        /// Size of one sort buffer in MiB (two may be in use).
        #[arg(long, default_value_t = 256)]
        sort_buffer_mib: usize,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the product stored under a code.
    Lookup {
        code: String,
        #[command(flatten)]
        loc: CatalogLocation,
    },
    /// Match an invoice line (description, optional codes) against the catalog.
    Match {
        description: String,
        /// Codes carried by the line (StandardItemIdentification, SellersItemIdentification, CODIGO SUBYACENTE).
        #[arg(long = "code")]
        codes: Vec<String>,
        /// Client NIT (for aliases).
        #[arg(long)]
        client: Option<String>,
        #[arg(long, default_value = "1")]
        quantity: String,
        /// Unit code or word (KGM, NIU, bulto ...).
        #[arg(long, default_value = "NIU")]
        unit: String,
        /// Aliases directory.
        #[arg(long, default_value = "rules/aliases")]
        aliases: PathBuf,
        #[command(flatten)]
        loc: CatalogLocation,
    },
    /// Show the recorded changes of one code (or of every code with `*`).
    History {
        code: String,
        #[command(flatten)]
        loc: CatalogLocation,
    },
    /// Measure lookups by code on a generated catalog (codes 1..=max-code).
    BenchLookup {
        /// Highest code in the catalog (`catalog generate --rows`).
        #[arg(long)]
        max_code: u64,
        #[arg(long, default_value_t = 1_000_000)]
        samples: u64,
        #[command(flatten)]
        loc: CatalogLocation,
    },
    /// Write a synthetic catalog in the subyacentes layout (benchmarks).
    Generate {
        #[arg(long)]
        rows: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct CatalogLocation {
    /// Daemon configuration (its `[registration]` names the catalog's folder
    /// and the rules folder holding catalog.toml).
    #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Catalog configuration (layouts, units, groups, eligibility). Default:
    /// `<[registration] rules_dir>/catalog.toml` of the daemon configuration.
    #[arg(long)]
    pub catalog_config: Option<PathBuf>,
    /// Catalog directory (overrides `[registration] catalog_dir`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Price one invoice given as JSON (a PricingInput) and explain every fee.
    Explain {
        /// JSON file: {"date": "2026-03-01", "client": "900123456", "side": "V",
        /// "lines": [{"code": "1", "group": "GRANOS", "state": "NATURAL", "quantity_kg": "1000", "value": "2500000"}]}
        input: PathBuf,
        /// Rules directory or file.
        #[arg(long, default_value = DEFAULT_RULES_DIR)]
        rules: PathBuf,
        /// Print the commission object as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Run rule test files (default: RULES/tests/*.toml); exit 1 on a failure.
    Test {
        files: Vec<PathBuf>,
        /// Rules directory or file.
        #[arg(long, default_value = DEFAULT_RULES_DIR)]
        rules: PathBuf,
    },
}

fn print_problems(problems: &[ConfigError]) {
    for p in problems {
        eprintln!("{p}");
    }
}

fn resolve(loc: &CatalogLocation) -> Result<(PathBuf, CatalogConfig), i32> {
    let catalog_config = match &loc.catalog_config {
        Some(p) => p.clone(),
        None => match crate::config::load(&loc.config) {
            Ok((c, _)) => c.registration.rules_dir.join("catalog.toml"),
            Err(_) => PathBuf::from(DEFAULT_CATALOG_CONFIG),
        },
    };
    let cfg = CatalogConfig::load(&catalog_config).map_err(|p| {
        print_problems(&p);
        EX_CONFIG
    })?;
    let dir = match &loc.dir {
        Some(d) => d.clone(),
        None => match crate::config::load(&loc.config) {
            Ok((c, _)) => c.registration.catalog_dir.clone(),
            Err(p) => {
                print_problems(&p);
                return Err(EX_CONFIG);
            }
        },
    };
    Ok((dir, cfg))
}

pub fn catalog(cmd: CatalogCommand) -> i32 {
    match cmd {
        CatalogCommand::Import {
            file,
            loc,
            layout,
            sort_buffer_mib,
            json,
        } => {
            let (dir, cfg) = match resolve(&loc) {
                Ok(x) => x,
                Err(code) => return code,
            };
            if !file.exists() {
                eprintln!("error: {}: no such file", file.display());
                return 66;
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
                return 64;
            }
            let opts = ImportOptions {
                layout,
                sort_buffer_bytes: sort_buffer_mib.max(1) << 20,
                progress: true,
                ..Default::default()
            };
            match catalog::import(&dir, &file, &cfg, &opts) {
                Ok(s) => {
                    if json {
                        match serde_json::to_string_pretty(&s) {
                            Ok(t) => println!("{t}"),
                            Err(e) => eprintln!("error: {e}"),
                        }
                    } else {
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
                    0
                }
                Err(catalog::import::CatalogError::Layout(m)) => {
                    eprintln!("error: {m}");
                    65
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    70
                }
            }
        }
        CatalogCommand::Lookup { code, loc } => {
            let (dir, cfg) = match resolve(&loc) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match catalog::store::open(&dir) {
                Ok(Some(f)) => match f.get(&code) {
                    Ok(Some(p)) => {
                        let p = cfg.resolve_group(p);
                        println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
                        0
                    }
                    Ok(None) => {
                        eprintln!("código {code}: no está en el catálogo ({})", f.generation());
                        1
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        70
                    }
                },
                Ok(None) => {
                    eprintln!(
                        "no hay catálogo en {}; use `pasarela catalog import`",
                        dir.display()
                    );
                    66
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", dir.display());
                    70
                }
            }
        }
        CatalogCommand::Match {
            description,
            codes,
            client,
            quantity,
            unit,
            aliases,
            loc,
        } => {
            let (dir, cfg) = match resolve(&loc) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let al = match Aliases::load_dir(&aliases, &cfg.normalizer) {
                Ok(a) => a,
                Err(p) => {
                    print_problems(&p);
                    return EX_CONFIG;
                }
            };
            let Ok(qty) = quantity.parse::<rust_decimal::Decimal>() else {
                eprintln!("error: cantidad no válida '{quantity}'");
                return 64;
            };
            let m = match catalog::open_matcher(&dir, &cfg, al) {
                Ok(Some(m)) => m,
                Ok(None) => {
                    eprintln!("no hay catálogo en {}", dir.display());
                    return 66;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return 70;
                }
            };
            let line = InvoiceLine {
                line: 1,
                query: LineQuery {
                    client: client.as_deref(),
                    codes: codes.iter().map(|s| s.as_str()).collect(),
                    description: &description,
                    unit: None,
                },
                quantity: qty,
                unit: &unit,
            };
            match catalog::assess_line(&m, &cfg, &line) {
                Ok(a) => {
                    println!("{}", serde_json::to_string_pretty(&a).unwrap_or_default());
                    for f in &a.findings {
                        println!("{} [{:?}] {}", f.code, f.severity, f.message);
                    }
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    70
                }
            }
        }
        CatalogCommand::History { code, loc } => {
            let (dir, _) = match resolve(&loc) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match catalog::store::history(&dir, &code) {
                Ok(lines) if lines.is_empty() => {
                    eprintln!("código {code}: sin cambios registrados");
                    1
                }
                Ok(lines) => {
                    for l in lines {
                        println!("{l}");
                    }
                    0
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", dir.display());
                    70
                }
            }
        }
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
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    70
                }
            }
        }
        CatalogCommand::Generate { rows, out } => match catalog::generate::generate(&out, rows) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {}: {e}", out.display());
                70
            }
        },
    }
}

/// Run rule test files; prints one line per test. 0 = all pass, 1 = failures, 78 = bad files.
pub fn run_rule_tests(rules_path: &Path, files: &[PathBuf]) -> i32 {
    let compiled = match rules::load_rules(rules_path) {
        Ok(r) => r,
        Err(p) => {
            print_problems(&p);
            return EX_CONFIG;
        }
    };
    let files = if files.is_empty() {
        let base = if rules_path.is_dir() {
            rules_path.to_path_buf()
        } else {
            rules_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        rules::testfile::default_test_files(&base)
    } else {
        files.to_vec()
    };
    let (mut pass, mut fail, mut bad) = (0, 0, false);
    for f in &files {
        match rules::testfile::run_file(&compiled, f) {
            Ok(outcomes) => {
                for o in outcomes {
                    if o.passed() {
                        pass += 1;
                        println!("ok    {}: {}", f.display(), o.name);
                    } else {
                        fail += 1;
                        println!("FAIL  {}: {}", f.display(), o.name);
                        for m in o.failures {
                            println!("        {m}");
                        }
                    }
                }
            }
            Err(p) => {
                print_problems(&p);
                bad = true;
            }
        }
    }
    println!("{pass} passed, {fail} failed");
    if bad {
        EX_CONFIG
    } else if fail > 0 {
        1
    } else {
        0
    }
}

pub fn rules(cmd: RulesCommand) -> i32 {
    match cmd {
        RulesCommand::Test { files, rules } => run_rule_tests(&rules, &files),
        RulesCommand::Explain { input, rules, json } => {
            let compiled = match rules::load_rules(&rules) {
                Ok(r) => r,
                Err(p) => {
                    print_problems(&p);
                    return EX_CONFIG;
                }
            };
            let parsed: Result<rules::PricingInput, String> = std::fs::read_to_string(&input)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
            let inv = match parsed {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("error: {}: {e}", input.display());
                    return 65;
                }
            };
            match compiled.price(&inv) {
                Ok(c) if json => {
                    println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
                    0
                }
                Ok(c) => {
                    println!("{c}");
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
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

/// Everything under a rules directory that `validate` should compile:
/// `commissions.toml` (+ `commissions.d/`), `catalog.toml` and `aliases/`.
/// Returns every problem (warnings included); empty = valid.
pub fn check_rules_dir(dir: &Path) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    if let Err(p) = rules::load_rules(dir) {
        problems.extend(p);
    }
    match CatalogConfig::load(&dir.join("catalog.toml")) {
        Ok(cfg) => {
            if let Err(p) = Aliases::load_dir(&dir.join("aliases"), &cfg.normalizer) {
                problems.extend(p);
            }
        }
        Err(p) => problems.extend(p),
    }
    problems
}
