//! `pasarela validate`: every problem of a configuration and its rule files
//! at once; with the environment, also folders, the store and the SMTP relay.

use std::path::{Path, PathBuf};

use super::{open_store, print_problems};
use crate::config::{Config, ConfigError};
use crate::exit::Exit;
use crate::pipeline::Generation;

/// Check the files (and unless `environment` is false, what they point at);
/// [`Exit::Config`] when anything is wrong.
pub async fn validate(path: &Path, environment: bool) -> Exit {
    // Not `load_config`: an unknown step name is reported beside every other
    // problem (by the registry, through `Generation::build`), not on its own.
    let config = match crate::config::load(path) {
        Ok((c, warnings)) => {
            print_problems(&warnings);
            std::sync::Arc::new(c)
        }
        Err(mut problems) => {
            let routes = crate::config::route_step_names(path);
            problems.extend(crate::pipeline::steps::unknown_steps(path, &routes));
            print_problems(&problems);
            eprintln!(
                "{}: {} error(s)",
                path.display(),
                problems.iter().filter(|p| !p.warning).count()
            );
            return Exit::Config;
        }
    };
    let mut problems = Vec::new();
    if let Err(errs) = Generation::build(config.clone(), None) {
        problems.extend(errs);
    }
    if environment {
        problems.extend(check_environment(&config).await);
        problems.extend(check_smtp(&config).await);
    }
    print_problems(&problems);
    if problems.iter().any(|p| !p.warning) {
        eprintln!(
            "{}: {} error(s)",
            path.display(),
            problems.iter().filter(|p| !p.warning).count()
        );
        return Exit::Config;
    }
    println!(
        "{}: configuration OK ({} account(s), {} route(s))",
        path.display(),
        config.accounts.len(),
        config.routes.len()
    );
    Exit::Ok
}

/// Folders exist (or can be created) and are writable; the store opens.
pub async fn check_environment(config: &Config) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let file = &config.source;
    let mut dirs: Vec<(String, PathBuf)> =
        vec![("daemon.state_dir".into(), config.daemon.state_dir.clone())];
    for a in config.accounts.values() {
        for sub in ["incoming", "outgoing", "archive"] {
            dirs.push((format!("accounts.{}.home", a.name), a.home.join(sub)));
        }
    }
    for (key, dir) in dirs {
        if let Err(e) = probe_writable(&dir) {
            problems.push(ConfigError::new(
                file,
                key,
                format!("{} is not a writable folder: {e}", dir.display()),
            ));
        }
    }
    if let Err(e) = open_store(config).await {
        problems.push(ConfigError::new(file, "store.url", format!("{e:#}")));
    }
    problems
}

fn probe_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".pasarela-probe-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// The SMTP relay answers (EHLO, STARTTLS/TLS and AUTH as configured).
pub async fn check_smtp(config: &Config) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let file = &config.source;
    if let Some(smtp) = &config.smtp {
        match crate::outbox::transport(smtp) {
            Ok(t) => match tokio::time::timeout(smtp.timeout, t.test_connection()).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => problems.push(ConfigError::new(
                    file,
                    "smtp.host",
                    format!(
                        "the relay {}:{} did not accept a connection",
                        smtp.host, smtp.port
                    ),
                )),
                Ok(Err(e)) => problems.push(ConfigError::new(
                    file,
                    "smtp.host",
                    format!("the relay {}:{} cannot be used: {e}", smtp.host, smtp.port),
                )),
                Err(_) => problems.push(ConfigError::new(
                    file,
                    "smtp.host",
                    format!(
                        "the relay {}:{} did not answer in time",
                        smtp.host, smtp.port
                    ),
                )),
            },
            Err(e) => problems.push(ConfigError::new(file, "smtp", e.to_string())),
        }
    }
    problems
}
