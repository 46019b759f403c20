//! AWS Transfer Family: `pasarela aws sync` makes a Transfer server's users,
//! their SSH keys and home mappings match Pasarela's accounts (docs/AWS.md).
//!
//! Owns: the `[aws]` section (`config`, parsed on every build), the pure
//! planning of changes (`plan`), and the SDK calls (`sync`, only with the
//! cargo feature `aws`). Must not: touch the pipeline, the store or the
//! account homes; log or print credentials or private keys.

pub mod config;
pub mod plan;
#[cfg(feature = "aws")]
mod sync;

use std::path::PathBuf;

use clap::Subcommand;

/// `pasarela aws ...`
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Make the Transfer Family server's users, SSH keys and home mappings match
    /// the accounts (and import the host keys with `[aws] import_host_key`).
    Sync {
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = crate::cli::DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete users on the server that are no Pasarela account with keys.
        #[arg(long)]
        prune: bool,
    },
}

/// Exit code when AWS cannot be reached or refuses, or the feature is absent
/// (sysexits EX_UNAVAILABLE).
pub const EX_UNAVAILABLE: i32 = 69;

/// Run an `aws` command; returns the exit code.
pub async fn run(command: AwsCommand) -> i32 {
    match command {
        AwsCommand::Sync {
            config,
            dry_run,
            prune,
        } => sync_command(&config, dry_run, prune).await,
    }
}

#[cfg(feature = "aws")]
async fn sync_command(path: &std::path::Path, dry_run: bool, prune: bool) -> i32 {
    sync::run(path, dry_run, prune).await
}

#[cfg(not(feature = "aws"))]
async fn sync_command(_path: &std::path::Path, _dry_run: bool, _prune: bool) -> i32 {
    eprintln!(
        "error: this pasarela was built without AWS support; \
         rebuild it with `cargo build --release --features aws` to use `pasarela aws sync` (docs/AWS.md)"
    );
    EX_UNAVAILABLE
}
