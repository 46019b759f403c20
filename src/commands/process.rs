//! `pasarela process FILE...`: the daemon's pipeline on files, without a
//! daemon or a store; one result per file on standard output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

use super::{load_config, print_problems};
use crate::clock::Clock;
use crate::exit::Exit;
use crate::pipeline::{Generation, Pipeline, StepContext, Submission};

/// Process `files` in order. The exit code is the last failure seen
/// ([`Exit::NoInput`] for a file that cannot be read, [`Exit::Software`]
/// for one the pipeline could not process); rejected invoices are results.
pub async fn process(
    path: &Path,
    files: &[PathBuf],
    json: bool,
    account: Option<&str>,
    now: Option<DateTime<FixedOffset>>,
) -> Exit {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::telemetry::init(config.log.format, "warn");
    if let Some(a) = account
        && !config.accounts.contains_key(a)
    {
        eprintln!("error: no account named '{a}' in {}", path.display());
        return Exit::Usage;
    }
    let generation = match Generation::build(config.clone(), None) {
        Ok(g) => g,
        Err(errs) => {
            print_problems(&errs);
            return Exit::Config;
        }
    };
    let clock = now.map(Clock::starting_at).unwrap_or_default();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut code = Exit::Ok;
    for file in files {
        let bytes = match tokio::fs::read(file).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                code = Exit::NoInput;
                continue;
            }
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let id = crate::result::FileIdentity::of_bytes(&bytes);
        let sha = id.sha256.clone();
        let shown = file.display().to_string();
        let sub = Submission {
            account,
            rel_path: &name,
            job_id: None,
            duplicate_of: None,
            duplicate_note: seen
                .get(&sha)
                .map(|f| format!("al archivo {f} de este lote")),
            decision: None,
        };
        seen.entry(sha).or_insert_with(|| shown.clone());
        match process_one(
            &generation.pipeline,
            &generation,
            bytes,
            id,
            &sub,
            clock.now(),
        )
        .await
        {
            Ok(mut result) => {
                result.file = shown;
                if let Err(failed) = print_result(&result, json) {
                    code = failed;
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                code = Exit::Software;
            }
        }
    }
    code
}

/// One result: a JSON line, or a summary line and one line per finding.
fn print_result(result: &crate::result::ResultDoc, json: bool) -> Result<(), Exit> {
    if json {
        match serde_json::to_string(result) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(Exit::Software);
            }
        }
    } else {
        let codes: Vec<&str> = result.findings.iter().map(|f| f.code.as_str()).collect();
        println!(
            "{}: {} [{}] {}",
            result.file,
            result.verdict.as_str(),
            result.format.as_str(),
            codes.join(" ")
        );
        for f in &result.findings {
            println!("  {} ({:?}): {}", f.code, f.severity, f.message);
        }
    }
    Ok(())
}

async fn process_one(
    pipeline: &Pipeline,
    generation: &Generation,
    bytes: Vec<u8>,
    id: crate::result::FileIdentity,
    sub: &Submission<'_>,
    now: DateTime<FixedOffset>,
) -> Result<crate::result::ResultDoc, crate::pipeline::StepError> {
    let ctx = StepContext {
        now,
        services: generation.services.clone(),
    };
    // Hashed and sniffed once, above. Without a store, steps record nothing.
    pipeline
        .process_identified(Arc::new(bytes), sub, id, &ctx)
        .await
        .map(|(result, _)| result)
}
