//! Command-line interface: the clap definitions of every command, subcommand
//! and flag (a contract with scripts and the systemd unit).
//!
//! Only types live here: `commands::main` parses a [`Cli`] and runs the
//! handler of each command (one file per command in `src/commands/`); exit
//! codes are `exit::Exit`. This module imports nothing of the crate but
//! plain values, so the handlers may import its types without a circle.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use clap::{Parser, Subcommand, ValueEnum};

pub const DEFAULT_CONFIG: &str = "config/pasarela.toml";
/// The catalog configuration used when the daemon configuration cannot be read.
pub const DEFAULT_CATALOG_CONFIG: &str = "rules/catalog.toml";
pub const DEFAULT_RULES_DIR: &str = "rules";

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
        /// Only write a PNG of the page for people to look at
        /// (`preview.png`, at most 1600 pixels wide): the desk's page view.
        #[arg(long)]
        preview: bool,
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
        #[arg(long, conflicts_with = "today")]
        issued_at: Option<DateTime<FixedOffset>>,
        /// Issued an hour ago (Bogotá time): documents the daemon registers
        /// today without a `--now` (the README's first example).
        #[arg(long)]
        today: bool,
        /// Only natural products sold by weight (invoices the shipped catalog
        /// registers), for benchmarks of the whole registration route.
        #[arg(long)]
        registrable: bool,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// The review queue: list, show, approve or reject files waiting for an
    /// operator (docs/REVIEW.md).
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
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
        command: CatalogCommand,
    },
    /// Commission rules: run rule test files (see docs/COMMISSIONS.md).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
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
        command: AwsCommand,
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

/// `pasarela review ...`
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Files waiting for an operator, oldest first, with counts per reason.
    List {
        #[arg(long)]
        json: bool,
        /// Only this account's files.
        #[arg(long)]
        account: Option<String>,
        /// Only this reason (low_confidence, awaiting_xml, unmatched_product,
        /// note_without_invoice, claim, awaiting_acceptance, dead_letter,
        /// manual, other).
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// One item: its result (fields read, findings), decisions and audit trail.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Approve: the file's route continues with the corrections given.
    Approve {
        id: i64,
        /// A corrected field, FIELD=VALUE (repeatable): number, issue_date,
        /// supplier_nit, total, cufe, ..., or line.N.code for a line's
        /// catalog code.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Who decides (recorded in the audit trail).
        #[arg(long)]
        operator: String,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Reject: the sender's result and notice say why.
    Reject {
        id: i64,
        /// Why, in Spanish: the sender reads it.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        operator: String,
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

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

/// `pasarela aws ...`
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Make the Transfer Family server's users, SSH keys and home mappings match
    /// the accounts (and import the host keys with `[aws] import_host_key`).
    Sync {
        #[arg(long, short, env = "PASARELA_CONFIG", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete users on the server that are no Pasarela account with keys.
        #[arg(long)]
        prune: bool,
    },
}
