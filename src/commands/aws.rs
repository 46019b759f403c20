//! `pasarela aws sync`: keep an AWS Transfer Family server's users and keys
//! in step with the accounts (docs/AWS.md). The work is `crate::aws::sync`,
//! present only in builds with the cargo feature `aws`.

use crate::cli::AwsCommand;
use crate::exit::Exit;

/// Run one `aws` subcommand.
pub async fn aws(command: AwsCommand) -> Exit {
    match command {
        AwsCommand::Sync {
            config,
            dry_run,
            prune,
        } => sync(&config, dry_run, prune).await,
    }
}

#[cfg(feature = "aws")]
async fn sync(path: &std::path::Path, dry_run: bool, prune: bool) -> Exit {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::aws::sync::run(&config, dry_run, prune).await
}

#[cfg(not(feature = "aws"))]
async fn sync(_path: &std::path::Path, _dry_run: bool, _prune: bool) -> Exit {
    eprintln!(
        "error: this pasarela was built without AWS support; \
         rebuild it with `cargo build --release --features aws` to use `pasarela aws sync` (docs/AWS.md)"
    );
    Exit::Unavailable
}
