//! Command-line interface: parse arguments, dispatch to `app`, map outcomes to
//! exit codes (sysexits: 64 usage, 65 bad input data, 66 no input, 69
//! unavailable, 70 internal error, 78 bad configuration).

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use clap::{Parser, Subcommand, ValueEnum};

pub const DEFAULT_CONFIG: &str = "config/pasarela.toml";

#[derive(Debug, Parser)]
#[command(
    name = "pasarela",
    version,
    about = "File-gateway daemon for invoice registration: SFTP intake, DIAN validation, results."
)]
pub struct Cli {
    /// Log format (overrides `[log] format`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Print an argon2id hash of a password read from standard input, for
    /// `[accounts.NAME.sftp] password_hash`.
    HashPassword {
        /// Accepted for scripts; the password is always read from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// The decoders of untrusted bytes, run by the daemon as sandboxed children
/// of itself (`formats::decode`). Internal: not for people.
#[derive(Debug, Subcommand)]
pub enum DecodeCommand {
    /// Read a workbook's sheets; print them as JSON.
    Excel { input: PathBuf },
    /// Decode one page of an image, prepare it for OCR (written to
    /// `page.pgm` in the working directory) and look for the DIAN QR.
    Image {
        input: PathBuf,
        /// 0-based page.
        #[arg(long, default_value_t = 0)]
        page: usize,
        #[arg(long)]
        qr: bool,
        /// Only decode the DIAN QR of the page (no prepared page).
        #[arg(long)]
        qr_only: bool,
        #[arg(long)]
        deskew: bool,
        #[arg(long)]
        binarise: bool,
        #[arg(long)]
        normalise_light: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GenKind {
    Invoice,
    CreditNote,
    DebitNote,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run {
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Start the clock at this instant (RFC 3339), for tests and reprocessing.
        #[arg(long)]
        now: Option<DateTime<FixedOffset>>,
    },
    /// Check a configuration: every problem at once; exit 78 when invalid.
    Validate {
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only check the files themselves, not folders or the store.
        #[arg(long)]
        no_environment: bool,
    },
    /// Run the pipeline on files without a daemon; print one result per file.
    Process {
        /// Files to process.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print results as JSON lines (the result format).
        #[arg(long)]
        json: bool,
        /// Route files as if this account had sent them.
        #[arg(long)]
        account: Option<String>,
        /// Evaluate date rules as of this instant (RFC 3339).
        #[arg(long)]
        now: Option<DateTime<FixedOffset>>,
    },
    /// Queue counts, oldest pending file, recent errors and dead letters.
    Status {
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Account administration.
    #[command(subcommand)]
    User(UserCommand),
    /// Internal: a decoder child of the daemon (sandboxed; see docs/SECURITY.md).
    #[command(hide = true)]
    Decode {
        #[command(subcommand)]
        what: DecodeCommand,
    },
    /// Write generated, valid UBL 2.1 documents (correct CUFE/CUDE) for tests and benchmarks.
    Generate {
        /// invoice, credit-note or debit-note.
        #[arg(long, value_enum, default_value = "invoice")]
        kind: GenKind,
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// First seed; document i uses seed + i (same seed, same document).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Issue instant (RFC 3339); default 2024-03-15T10:00:00-05:00.
        #[arg(long)]
        issued_at: Option<DateTime<FixedOffset>>,
        /// Only natural products sold by weight (invoices the shipped catalog
        /// registers), for benchmarks of the whole registration route.
        #[arg(long)]
        registrable: bool,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Queue a dead-lettered (or finished) job again.
    Replay {
        /// Job id, as `status` shows it.
        id: i64,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Product catalog: import, lookup, match, generate (see docs/CATALOG.md).
    Catalog {
        #[command(subcommand)]
        command: crate::app_catalog::CatalogCommand,
    },
    /// Commission rules: run rule test files (see docs/COMMISSIONS.md).
    Rules {
        #[command(subcommand)]
        command: crate::app_catalog::RulesCommand,
    },
    /// Tell whether a certificate PDF is genuine and unchanged according to the store.
    VerifyCertificate {
        file: PathBuf,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// AWS Transfer Family: keep a server's users and keys in step (docs/AWS.md;
    /// needs a build with `--features aws`).
    Aws {
        #[command(subcommand)]
        command: crate::aws::AwsCommand,
    },
    /// Publish the daily report of a day and/or the monthly summary of a month.
    Report {
        /// Day (America/Bogota), YYYY-MM-DD.
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Month, YYYY-MM.
        #[arg(long)]
        month: Option<String>,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // The sandboxed decoder child: no async runtime, no threads, no logging.
    if let Command::Decode { what } = cli.command {
        return crate::formats::decode::child_main(what);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 70;
        }
    };
    let log_format = cli.log_format.map(|f| match f {
        LogFormatArg::Text => crate::config::LogFormat::Text,
        LogFormatArg::Json => crate::config::LogFormat::Json,
    });
    runtime.block_on(crate::app::dispatch(cli.command, log_format))
}
