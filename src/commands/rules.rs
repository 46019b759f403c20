//! `pasarela rules ...`: run commission rule test files and explain the
//! pricing of one invoice (docs/COMMISSIONS.md).

use std::path::{Path, PathBuf};

use super::print_problems;
use crate::catalog::{Aliases, CatalogConfig};
use crate::cli::RulesCommand;
use crate::config::ConfigError;
use crate::exit::Exit;
use crate::rules;

/// Run one `rules` subcommand.
pub fn rules(cmd: RulesCommand) -> Exit {
    match cmd {
        RulesCommand::Test { files, rules } => run_rule_tests(&rules, &files),
        RulesCommand::Explain { input, rules, json } => explain(&input, &rules, json),
    }
}

/// Run rule test files; prints one line per test. [`Exit::Ok`] when all
/// pass, [`Exit::Failure`] on a failed test, [`Exit::Config`] on bad files.
pub fn run_rule_tests(rules_path: &Path, files: &[PathBuf]) -> Exit {
    let compiled = match rules::load_rules(rules_path) {
        Ok(r) => r,
        Err(p) => {
            print_problems(&p);
            return Exit::Config;
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
        Exit::Config
    } else if fail > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// Price the invoice in `input` (a `PricingInput` as JSON) and explain every
/// fee; [`Exit::Failure`] when the rules cannot price it.
fn explain(input: &Path, rules_path: &Path, json: bool) -> Exit {
    let compiled = match rules::load_rules(rules_path) {
        Ok(r) => r,
        Err(p) => {
            print_problems(&p);
            return Exit::Config;
        }
    };
    let parsed: Result<rules::PricingInput, String> = std::fs::read_to_string(input)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
    let inv = match parsed {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {}: {e}", input.display());
            return Exit::DataErr;
        }
    };
    match compiled.price(&inv) {
        Ok(c) if json => {
            println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
            Exit::Ok
        }
        Ok(c) => {
            println!("{c}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("{e}");
            Exit::Failure
        }
    }
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
