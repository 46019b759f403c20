//! Delivery glue for the daemon and the CLI: the background tasks (outbox
//! sender, report scheduler) and the `verify-certificate` / `report` commands.

use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::certificate::Verification;
use crate::config::Config;
use crate::store::Store;

/// Start the delivery tasks; the handle ends when both have stopped after
/// `shutdown`. Without `[smtp]` no sender runs (messages wait in the outbox);
/// without `[reports]` no scheduler runs.
pub fn start_delivery(
    config: Arc<Config>,
    store: Store,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        if config.smtp.is_some() {
            match crate::outbox::Sender::new(store.clone(), config.clone()) {
                Ok(sender) => {
                    tasks.spawn(sender.run(shutdown.clone()));
                }
                Err(e) => warn!(error = %e, "e-mail sender not started; messages stay queued"),
            }
        }
        if config.reports.as_ref().is_some_and(|r| r.scheduled) {
            tasks.spawn(crate::reports::run_scheduler(
                store.clone(),
                config.clone(),
                shutdown.clone(),
            ));
        }
        info!(tasks = tasks.len(), "delivery started");
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                warn!(error = %e, "a delivery task ended unexpectedly");
            }
        }
        // The daemon treats the end of a task as a failure: stay until shutdown.
        shutdown.cancelled().await;
    })
}

async fn open_store(config: &Config) -> Result<Store, i32> {
    let s = &config.store;
    Store::open(&s.url, s.synchronous_full, s.busy_timeout)
        .await
        .map_err(|e| {
            eprintln!(
                "error: opening store {}: {e}",
                crate::store::redact_url(&s.url)
            );
            69
        })
}

fn load(path: &Path) -> Result<Config, i32> {
    match crate::config::load(path) {
        Ok((c, _)) => Ok(c),
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            Err(crate::config::EX_CONFIG)
        }
    }
}

/// `pasarela verify-certificate FILE.pdf`: 0 genuine, 65 altered/unknown/unreadable.
pub async fn verify_certificate(config_path: &Path, file: &Path) -> i32 {
    let bytes = match tokio::fs::read(file).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return 66;
        }
    };
    let config = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match open_store(&config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let record = match crate::certificate::extract(&bytes) {
        Ok((data, _)) => match store.certificate_by_number(&data.number).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return 69;
            }
        },
        Err(_) => None,
    };
    let stored = record.as_ref().map(|r| r.digest.clone());
    let v = crate::certificate::verify(&bytes, |_| stored.clone());
    let file_sha = crate::fsutil::sha256_hex(&bytes);
    match v {
        Verification::Genuine { number, digest } => {
            let same_file = record.as_ref().is_some_and(|r| r.pdf_sha256 == file_sha);
            if same_file {
                println!("GENUINO: certificado {number} auténtico e inalterado (código {digest})");
                0
            } else {
                // The data is intact but other bytes of the file differ from
                // the issued PDF: the visible page may have been edited.
                println!(
                    "ALTERADO: los datos del certificado {number} son auténticos, pero el archivo no es el emitido (SHA-256 {file_sha})"
                );
                65
            }
        }
        Verification::Altered {
            number,
            computed,
            stored,
        } => {
            println!(
                "ALTERADO: certificado {number}: los datos no coinciden con el registro (calculado {computed}, registrado {stored})"
            );
            65
        }
        Verification::Unknown { number } => {
            println!("DESCONOCIDO: no hay un certificado {number} en el registro");
            65
        }
        Verification::Unreadable(e) => {
            println!("ILEGIBLE: {e}");
            65
        }
    }
}

/// `pasarela report --date YYYY-MM-DD [--month YYYY-MM]`.
pub async fn report(
    config_path: &Path,
    date: Option<chrono::NaiveDate>,
    month: Option<&str>,
) -> i32 {
    let config = match load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match open_store(&config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut code = 0;
    let mut outputs = Vec::new();
    if let Some(day) = date {
        outputs.push(crate::reports::publish_daily(&store, &config, day).await);
    }
    if let Some(m) = month {
        let parsed = chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d");
        match parsed {
            Ok(first) => {
                use chrono::Datelike;
                outputs.push(
                    crate::reports::publish_monthly(&store, &config, first.year(), first.month())
                        .await,
                )
            }
            Err(_) => {
                eprintln!("error: --month must be YYYY-MM, got '{m}'");
                return 64;
            }
        }
    }
    if outputs.is_empty() {
        eprintln!("error: give --date YYYY-MM-DD and/or --month YYYY-MM");
        return 64;
    }
    for o in outputs {
        match o {
            Ok(p) => {
                println!(
                    "{} {}: {} registro(s), valor {}, comisión {}, sha256 {}{}",
                    p.kind,
                    p.period,
                    p.rows,
                    p.value,
                    p.commission,
                    p.sha256,
                    if p.newly_published {
                        ""
                    } else {
                        " (sin cambios)"
                    }
                );
                for f in p.files {
                    println!("  {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = 70;
            }
        }
    }
    store.close().await;
    code
}

/// Environment checks for `pasarela validate`: the SMTP relay answers (EHLO,
/// STARTTLS/TLS and AUTH as configured) and the report folders are writable.
pub async fn check_environment(config: &Config) -> Vec<crate::config::ConfigError> {
    let mut problems = Vec::new();
    let file = &config.source;
    if let Some(smtp) = &config.smtp {
        match crate::outbox::transport(smtp) {
            Ok(t) => match tokio::time::timeout(smtp.timeout, t.test_connection()).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => problems.push(crate::config::ConfigError::new(
                    file,
                    "smtp.host",
                    format!(
                        "the relay {}:{} did not accept a connection",
                        smtp.host, smtp.port
                    ),
                )),
                Ok(Err(e)) => problems.push(crate::config::ConfigError::new(
                    file,
                    "smtp.host",
                    format!("the relay {}:{} cannot be used: {e}", smtp.host, smtp.port),
                )),
                Err(_) => problems.push(crate::config::ConfigError::new(
                    file,
                    "smtp.host",
                    format!(
                        "the relay {}:{} did not answer in time",
                        smtp.host, smtp.port
                    ),
                )),
            },
            Err(e) => problems.push(crate::config::ConfigError::new(file, "smtp", e.to_string())),
        }
    }
    problems
}
