//! The commands: one file per subcommand of [`crate::cli::Command`], each a
//! handler that returns an [`Exit`].
//!
//! Owns: parsing the command line into `cli` types, the async runtime, the
//! shared start of most commands (`load_config`, `open_store`) and the
//! mapping of outcomes to exit codes. Must not: hold logic a test or another
//! module needs (that lives in the owning module; a command prints and picks
//! an exit code). `run` is the daemon: start-up, main loop, reload, shutdown.

pub mod aws;
pub mod catalog;
pub mod generate;
pub mod process;
pub mod replay;
pub mod report;
pub mod review;
pub mod rules;
pub mod run;
pub mod status;
pub mod user;
pub mod validate;
pub mod verify_certificate;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, LogFormatArg};
use crate::config::{self, Config, ConfigError, LogFormat};
use crate::exit::Exit;
use crate::store::Store;

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // The sandboxed decoder child: no async runtime, no threads, no logging.
    if let Command::Decode { what } = cli.command {
        return crate::formats::decode::child_main(what).code();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Software.code();
        }
    };
    let log_format = cli.log_format.map(|f| match f {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    });
    runtime.block_on(dispatch(cli.command, log_format))
}

/// Run one command; returns the process exit code.
pub async fn dispatch(command: Command, log_format: Option<LogFormat>) -> i32 {
    let exit = match command {
        Command::Run { config, now } => run::run(&config, now, log_format).await,
        Command::Validate {
            config,
            no_environment,
        } => validate::validate(&config, !no_environment).await,
        Command::Process {
            files,
            config,
            json,
            account,
            now,
        } => process::process(&config, &files, json, account.as_deref(), now).await,
        Command::Status { config, json } => status::status(&config, json).await,
        Command::Replay { id, config } => replay::replay(&config, id).await,
        Command::Review { command } => review::review(command).await,
        Command::User(crate::cli::UserCommand::HashPassword { password_stdin }) => {
            user::hash_password(password_stdin)
        }
        Command::Generate {
            kind,
            count,
            seed,
            issued_at,
            today,
            registrable,
            out,
        } => {
            let issued_at = issued_at.or_else(|| {
                today.then(|| {
                    (chrono::Utc::now() - chrono::Duration::hours(1))
                        .with_timezone(&crate::clock::bogota())
                })
            });
            generate::generate(kind, count, seed, issued_at, registrable, &out)
        }
        Command::Catalog { command } => catalog::catalog(command),
        Command::Rules { command } => rules::rules(command),
        Command::VerifyCertificate { file, config } => {
            verify_certificate::verify_certificate(&config, &file).await
        }
        Command::Report {
            date,
            month,
            config,
        } => report::report(&config, date, month.as_deref()).await,
        Command::Aws { command } => aws::aws(command).await,
        // Handled before the runtime starts (`main`).
        Command::Decode { what } => crate::formats::decode::child_main(what),
    };
    exit.code()
}

/// Print configuration problems (and warnings), one per line, on stderr.
pub(crate) fn print_problems(problems: &[ConfigError]) {
    for p in problems {
        eprintln!("{p}");
    }
}

/// Load and compile a configuration; print its warnings, or on failure every
/// problem and a summary ([`Exit::Config`]). The one entry of every command
/// that reads `pasarela.toml`.
pub fn load_config(path: &Path) -> Result<Arc<Config>, Exit> {
    match config::load(path) {
        Ok((c, warnings)) => {
            print_problems(&warnings);
            // Step names are checked by the step registry, the authority on them.
            let unknown = crate::pipeline::steps::unknown_in(&c);
            if !unknown.is_empty() {
                print_problems(&unknown);
                return Err(Exit::Config);
            }
            Ok(Arc::new(c))
        }
        Err(problems) => {
            print_problems(&problems);
            let n = problems.iter().filter(|p| !p.warning).count();
            eprintln!("{}: {n} error(s); configuration refused", path.display());
            Err(Exit::Config)
        }
    }
}

/// Open the store a configuration names (`[store]`).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let s = &config.store;
    Store::open(&s.url, s.synchronous_full, s.busy_timeout)
        .await
        .with_context(|| format!("opening store {}", crate::store::redact_url(&s.url)))
}

/// [`load_config`] then [`open_store`], for the commands that only read or
/// change the store; a store that does not open is [`Exit::Unavailable`].
pub(crate) async fn config_and_store(path: &Path) -> Result<(Arc<Config>, Store), Exit> {
    let config = load_config(path)?;
    match open_store(&config).await {
        Ok(store) => Ok((config, store)),
        Err(e) => {
            eprintln!("error: {e:#}");
            Err(Exit::Unavailable)
        }
    }
}

pub(crate) use crate::clock::{bogota_time, bogota_time_as};
