//! The application: commands, the daemon's start-up, main loop, reload and
//! shutdown phases.
//!
//! Start-up is a reload from nothing: `load_generation` compiles config and
//! rules into a [`Generation`]; the same function serves SIGHUP. A bad new
//! configuration keeps the old generation running and says why.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cli::Command;
use crate::clock::Clock;
use crate::config::{self, Config, ConfigError, EX_CONFIG, LogFormat};
use crate::intake::{self, Intake};
use crate::pipeline::runner::Runner;
use crate::pipeline::{Generation, Pipeline, StepContext, Submission};
use crate::store::Store;

pub async fn dispatch(command: Command, log_format: Option<LogFormat>) -> i32 {
    match command {
        Command::Run { config, now } => run(&config, now, log_format).await,
        Command::Validate {
            config,
            no_environment,
        } => validate(&config, !no_environment).await,
        Command::Process {
            files,
            config,
            json,
            account,
            now,
        } => process(&config, &files, json, account.as_deref(), now).await,
        Command::Status { config, json } => status(&config, json).await,
        Command::Replay { id, config } => replay(&config, id).await,
        Command::User(crate::cli::UserCommand::HashPassword { password_stdin }) => {
            hash_password(password_stdin)
        }
        Command::Generate {
            kind,
            count,
            seed,
            issued_at,
            registrable,
            out,
        } => generate(kind, count, seed, issued_at, registrable, &out),
        Command::Catalog { command } => crate::app_catalog::catalog(command),
        Command::Rules { command } => crate::app_catalog::rules(command),
        Command::VerifyCertificate { file, config } => {
            crate::app_deliver::verify_certificate(&config, &file).await
        }
        Command::Report {
            date,
            month,
            config,
        } => crate::app_deliver::report(&config, date, month.as_deref()).await,
        Command::Aws { command } => crate::aws::run(command).await,
        // Handled before the runtime starts (`cli::main`).
        Command::Decode { what } => crate::formats::decode::child_main(what),
    }
}

fn print_problems(problems: &[ConfigError]) {
    for p in problems {
        eprintln!("{p}");
    }
}

/// Load and compile a config; on failure print every problem.
pub(crate) fn load_config(path: &Path) -> Result<Arc<Config>, i32> {
    match config::load(path) {
        Ok((c, warnings)) => {
            print_problems(&warnings);
            let unknown = crate::pipeline::steps::unknown_in(&c);
            if !unknown.is_empty() {
                print_problems(&unknown);
                return Err(EX_CONFIG);
            }
            Ok(Arc::new(c))
        }
        Err(problems) => {
            print_problems(&problems);
            let n = problems.iter().filter(|p| !p.warning).count();
            eprintln!("{}: {n} error(s); configuration refused", path.display());
            Err(EX_CONFIG)
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let s = &config.store;
    Store::open(&s.url, s.synchronous_full, s.busy_timeout)
        .await
        .with_context(|| format!("opening store {}", crate::store::redact_url(&s.url)))
}

// ---------------------------------------------------------------- validate

async fn validate(path: &Path, environment: bool) -> i32 {
    let config = match config::load(path) {
        Ok((c, warnings)) => {
            print_problems(&warnings);
            c
        }
        Err(mut problems) => {
            let routes = config::route_step_names(path);
            problems.extend(crate::pipeline::steps::unknown_steps(path, &routes));
            print_problems(&problems);
            eprintln!(
                "{}: {} error(s)",
                path.display(),
                problems.iter().filter(|p| !p.warning).count()
            );
            return EX_CONFIG;
        }
    };
    let config = Arc::new(config);
    let mut problems = Vec::new();
    if let Err(errs) = Generation::build(config.clone(), None) {
        problems.extend(errs);
    }
    if environment {
        problems.extend(check_environment(&config).await);
        problems.extend(crate::app_deliver::check_environment(&config).await);
    }
    print_problems(&problems);
    if problems.iter().any(|p| !p.warning) {
        eprintln!(
            "{}: {} error(s)",
            path.display(),
            problems.iter().filter(|p| !p.warning).count()
        );
        return EX_CONFIG;
    }
    println!(
        "{}: configuration OK ({} account(s), {} route(s))",
        path.display(),
        config.accounts.len(),
        config.routes.len()
    );
    0
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

// ---------------------------------------------------------------- run

/// Holds an exclusive lock on the state directory: one daemon per SQLite store.
struct StateLock {
    _file: std::fs::File,
}

fn lock_state_dir(dir: &Path) -> anyhow::Result<StateLock> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("pasarela.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // SAFETY: flock on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        anyhow::bail!(
            "another pasarela daemon holds {} (one daemon per state directory)",
            path.display()
        );
    }
    Ok(StateLock { _file: file })
}

fn prepare_dirs(config: &Config) -> anyhow::Result<()> {
    for a in config.accounts.values() {
        for d in [
            a.incoming(),
            a.outgoing(),
            a.archive(),
            config.daemon.spool_dir(&a.name),
        ] {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
    }
    Ok(())
}

async fn run(
    path: &Path,
    now: Option<DateTime<FixedOffset>>,
    log_format: Option<LogFormat>,
) -> i32 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::telemetry::init(log_format.unwrap_or(config.log.format), &config.log.level);
    match run_daemon(path, config, now).await {
        Ok(()) => 0,
        Err(e) => {
            error!(error = %format!("{e:#}"), "daemon stopped with an error");
            69
        }
    }
}

async fn run_daemon(
    path: &Path,
    config: Arc<Config>,
    now: Option<DateTime<FixedOffset>>,
) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives during start-up must not kill the
    // process with its default action.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let clock = now.map(Clock::starting_at).unwrap_or_default();
    // OCR and PDF rendering get their own limit so slow scans never take every
    // worker from XML invoices.
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    crate::formats::worker::set_ocr_concurrency(cores.min(config.daemon.workers).max(1));
    let sandbox = crate::formats::sandbox::probe();
    if sandbox.filesystem {
        info!(
            landlock_abi = sandbox.landlock_abi,
            filesystem = sandbox.filesystem,
            tcp = sandbox.tcp,
            scoped = sandbox.scoped,
            "sandbox: decoding children confined"
        );
    } else {
        warn!(
            "sandbox: this kernel has no Landlock; decoding children run with resource limits and their own network namespace only (docs/SECURITY.md)"
        );
    }
    let _lock = lock_state_dir(&config.daemon.state_dir)?;
    prepare_dirs(&config)?;
    // Decoding children work in scratch directories under the state
    // directory; those a crash left behind are removed now.
    let scratch_root = config.daemon.state_dir.join("scratch");
    match crate::formats::worker::set_scratch_root(&scratch_root) {
        Ok(n) if n > 0 => info!(removed = n, "removed scratch directories left by a crash"),
        Ok(_) => {}
        Err(e) => anyhow::bail!("cannot prepare {}: {e}", scratch_root.display()),
    }
    let store = open_store(&config).await?;
    let generation = Generation::build(config.clone(), Some(store.clone())).map_err(|errs| {
        print_problems(&errs);
        anyhow::anyhow!("{} error(s) in rule files", errs.len())
    })?;
    let (gen_tx, gen_rx) = watch::channel(Arc::new(generation));
    let wake = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let owner = format!("{}:{}", hostname(), std::process::id());
    let health = Arc::new(crate::admin::Health::default());
    let admin = match config.admin_listen {
        Some(addr) => {
            let (bound, handle) = crate::admin::start(addr, health.clone(), store.clone())
                .await
                .with_context(|| format!("starting the admin listener on {addr}"))?;
            info!(listen = %bound, "admin listener: /health /ready /metrics");
            Some(handle)
        }
        None => None,
    };

    let intake = Intake {
        store: store.clone(),
        clock,
        generation: gen_rx.clone(),
        wake: wake.clone(),
    };
    intake.recover().await.context("start-up recovery")?;
    let (tx, rx) = mpsc::channel(intake::CHANNEL_CAPACITY);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(intake.run(tx.clone(), rx, shutdown.clone()));
    let sftp_addr = match &config.sftp {
        Some(_) => {
            // Reloads reach the SFTP server as plain configurations.
            let (cfg_tx, cfg_rx) = watch::channel(config.clone());
            let mut generations = gen_rx.clone();
            tokio::spawn(async move {
                while generations.changed().await.is_ok() {
                    let c = generations.borrow_and_update().config.clone();
                    if cfg_tx.send(c).is_err() {
                        break;
                    }
                }
            });
            let ctx = crate::sftp::SftpContext {
                config: config.clone(),
                store: store.clone(),
                intake: tx.clone(),
                updates: Some(cfg_rx),
            };
            let (addr, handle) = crate::sftp::start(ctx, shutdown.clone())
                .await
                .context("starting the SFTP server")?;
            tasks.spawn(async move {
                let _ = handle.await;
            });
            Some(addr)
        }
        None => None,
    };
    let runner = Runner {
        store: store.clone(),
        generation: gen_rx.clone(),
        clock,
        owner: owner.clone(),
        wake,
    };
    tasks.spawn(runner.run(shutdown.clone()));
    let delivery =
        crate::app_deliver::start_delivery(config.clone(), store.clone(), shutdown.clone());
    tasks.spawn(async move {
        let _ = delivery.await;
    });
    info!(config = %path.display(), accounts = config.accounts.len(), routes = config.routes.len(), store = %crate::store::redact_url(&config.store.url), owner, sftp = %sftp_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into()), "pasarela running");

    health
        .ready
        .store(true, std::sync::atomic::Ordering::Release);
    crate::sdnotify::notify("READY=1");
    // Editing the configuration or a rule file reloads too (the same path as SIGHUP).
    let mut files_seen = config_fingerprint(path, &config);
    let mut file_check = tokio::time::interval(std::time::Duration::from_secs(2));
    let watchdog = crate::sdnotify::watchdog_interval();
    let mut heartbeat = tokio::time::interval(
        watchdog
            .map(|w| w / 2)
            .unwrap_or(std::time::Duration::from_secs(3600)),
    );
    loop {
        tokio::select! {
            _ = heartbeat.tick(), if watchdog.is_some() => crate::sdnotify::notify("WATCHDOG=1"),
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                reload(path, &store, &gen_tx);
                files_seen = config_fingerprint(path, &gen_tx.borrow().config);
            }
            _ = file_check.tick() => {
                let now_seen = config_fingerprint(path, &gen_tx.borrow().config);
                if now_seen != files_seen {
                    info!("configuration or rule files changed: reloading");
                    files_seen = now_seen;
                    reload(path, &store, &gen_tx);
                }
            }
            res = tasks.join_next() => {
                if let Some(Err(e)) = res { error!(error = %e, "a daemon task ended unexpectedly"); }
                break;
            }
        }
    }
    crate::sdnotify::notify("STOPPING=1");
    health
        .draining
        .store(true, std::sync::atomic::Ordering::Release);
    info!("shutting down: intake stops, in-flight files drain");
    shutdown.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    tokio::select! {
        _ = drain => {}
        _ = term.recv() => warn!("second signal: exiting now; unfinished jobs are requeued at next start"),
        _ = int.recv() => warn!("second signal: exiting now; unfinished jobs are requeued at next start"),
    }
    if let Some(a) = admin {
        a.abort();
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

/// Size and mtime of the configuration file and of every rule file it uses.
fn config_fingerprint(
    path: &Path,
    config: &Config,
) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut files = vec![path.to_path_buf()];
    files.extend(config.dian.rules.iter().cloned());
    files.extend(crate::fsutil::walk_files(&config.registration.rules_dir));
    files.push(crate::pipeline::steps::formats_settings_path(config));
    files.extend(crate::fsutil::walk_files(
        &crate::pipeline::steps::layouts_dir(config),
    ));
    files
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let (len, mtime) = meta
                .map(|m| (m.len(), m.modified().ok()))
                .unwrap_or((0, None));
            (f, len, mtime)
        })
        .collect()
}

/// SIGHUP: recompile; on success swap the generation, else keep the old one.
fn reload(path: &Path, store: &Store, gen_tx: &watch::Sender<Arc<Generation>>) {
    crate::sdnotify::notify("RELOADING=1");
    reload_inner(path, store, gen_tx);
    crate::sdnotify::notify("READY=1");
}

fn reload_inner(path: &Path, store: &Store, gen_tx: &watch::Sender<Arc<Generation>>) {
    let old = gen_tx.borrow().config.clone();
    let config = match config::load(path) {
        Ok((c, _)) => Arc::new(c),
        Err(problems) => {
            for p in &problems {
                error!(problem = %p, "reload refused");
            }
            warn!(
                errors = problems.len(),
                "reload refused: the previous configuration stays in force"
            );
            return;
        }
    };
    if config.store.url != old.store.url || config.daemon.state_dir != old.daemon.state_dir {
        warn!("store.url and daemon.state_dir changes need a restart; other changes apply now");
    }
    if let Err(e) = prepare_dirs(&config) {
        warn!(error = %format!("{e:#}"), "reload refused: the previous configuration stays in force");
        return;
    }
    match Generation::build(config.clone(), Some(store.clone())) {
        Ok(g) => {
            gen_tx.send_replace(Arc::new(g));
            info!(
                accounts = config.accounts.len(),
                routes = config.routes.len(),
                "configuration reloaded"
            );
        }
        Err(problems) => {
            for p in &problems {
                error!(problem = %p, "reload refused");
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

// ---------------------------------------------------------------- process

async fn process(
    path: &Path,
    files: &[PathBuf],
    json: bool,
    account: Option<&str>,
    now: Option<DateTime<FixedOffset>>,
) -> i32 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::telemetry::init(config.log.format, "warn");
    if let Some(a) = account
        && !config.accounts.contains_key(a)
    {
        eprintln!("error: no account named '{a}' in {}", path.display());
        return 64;
    }
    let generation = match Generation::build(config.clone(), None) {
        Ok(g) => g,
        Err(errs) => {
            print_problems(&errs);
            return EX_CONFIG;
        }
    };
    let clock = now.map(Clock::starting_at).unwrap_or_default();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut code = 0;
    for file in files {
        let bytes = match tokio::fs::read(file).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                code = 66;
                continue;
            }
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let sha = crate::fsutil::sha256_hex(&bytes);
        let shown = file.display().to_string();
        let sub = Submission {
            account,
            rel_path: &name,
            job_id: None,
            duplicate_of: None,
            duplicate_note: seen
                .get(&sha)
                .map(|f| format!("al archivo {f} de este lote")),
        };
        seen.entry(sha).or_insert_with(|| shown.clone());
        match process_one(&generation.pipeline, &generation, bytes, &sub, clock.now()).await {
            Ok(mut result) => {
                result.file = shown;
                if json {
                    match serde_json::to_string(&result) {
                        Ok(line) => println!("{line}"),
                        Err(e) => {
                            eprintln!("error: {e}");
                            code = 70;
                        }
                    }
                } else {
                    let codes: Vec<&str> =
                        result.findings.iter().map(|f| f.code.as_str()).collect();
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
            }
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                code = 70;
            }
        }
    }
    code
}

async fn process_one(
    pipeline: &Pipeline,
    generation: &Generation,
    bytes: Vec<u8>,
    sub: &Submission<'_>,
    now: DateTime<FixedOffset>,
) -> Result<crate::result::ResultDoc, crate::pipeline::StepError> {
    let ctx = StepContext {
        now,
        services: generation.services.clone(),
    };
    pipeline.process(Arc::new(bytes), sub, &ctx).await
}

// ---------------------------------------------------------------- user

/// Print an argon2id hash for `[accounts.NAME.sftp] password_hash`. The
/// password is read from standard input (never from the command line).
fn hash_password(_stdin_flag: bool) -> i32 {
    let mut line = String::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password: ");
    }
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: reading the password: {e}");
        return 66;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("error: empty password");
        return 65;
    }
    match crate::sftp::auth::hash_password(password) {
        Ok(h) => {
            println!("{h}");
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            70
        }
    }
}

// ---------------------------------------------------------------- generate

fn generate(
    kind: crate::cli::GenKind,
    count: u64,
    seed: u64,
    issued_at: Option<DateTime<FixedOffset>>,
    registrable: bool,
    out: &Path,
) -> i32 {
    use crate::dian::{DocKind, generator};
    let kind = match kind {
        crate::cli::GenKind::Invoice => DocKind::Invoice,
        crate::cli::GenKind::CreditNote => DocKind::CreditNote,
        crate::cli::GenKind::DebitNote => DocKind::DebitNote,
    };
    let mut opts = generator::GenOptions {
        registrable,
        ..generator::GenOptions::default()
    };
    if let Some(t) = issued_at {
        opts.issued_at = t;
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return 73;
    }
    for i in 0..count {
        let doc = generator::generate(seed.wrapping_add(i), kind, &opts);
        let path = out.join(format!("{}.xml", doc.number));
        if let Err(e) = crate::fsutil::write_atomic(&path, doc.xml.as_bytes()) {
            eprintln!("error: writing {}: {e}", path.display());
            return 74;
        }
    }
    eprintln!("{count} document(s) written to {}", out.display());
    0
}

// ---------------------------------------------------------------- status / replay

async fn store_for(path: &Path) -> Result<Store, i32> {
    let config = load_config(path)?;
    open_store(&config).await.map_err(|e| {
        eprintln!("error: {e:#}");
        69
    })
}

fn fmt_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&crate::clock::bogota())
                .format("%Y-%m-%d %H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

async fn status(path: &Path, json: bool) -> i32 {
    let store = match store_for(path).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match store.status().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 69;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return 0;
    }
    // "state=n state=n", or `none` when there are no rows.
    let counts = |rows: &[(String, i64)], none: &str| {
        if rows.is_empty() {
            return none.to_string();
        }
        let parts: Vec<String> = rows.iter().map(|(s, n)| format!("{s}={n}")).collect();
        parts.join(" ")
    };
    println!("jobs:      {}", counts(&report.jobs_by_state, "none"));
    println!("verdicts:  {}", counts(&report.verdicts, "none"));
    println!("outbox:    {}", counts(&report.outbox, "empty"));
    println!("sftp sessions: {}", report.sftp_sessions.len());
    for s in &report.sftp_sessions {
        println!(
            "  {} from {} since {} ({})",
            s.account,
            s.peer,
            fmt_ms(s.started_at),
            s.daemon
        );
    }
    println!("sftp bans: {}", report.sftp_bans.len());
    for b in &report.sftp_bans {
        println!(
            "  {} until {} (ban #{})",
            b.addr,
            fmt_ms(b.until_at),
            b.bans
        );
    }
    match &report.oldest_pending {
        Some(j) => println!(
            "oldest pending: job {} {}/{} received {}",
            j.id,
            j.account,
            j.rel_path.escape_debug(),
            fmt_ms(j.received_at)
        ),
        None => println!("oldest pending: none"),
    }
    println!("dead letters: {}", report.dead.len());
    for j in &report.dead {
        println!(
            "  job {} {}/{} after {} attempt(s) at {}: {}",
            j.id,
            j.account,
            j.rel_path.escape_debug(),
            j.attempts,
            fmt_ms(j.updated_at),
            j.last_error.as_deref().unwrap_or("")
        );
    }
    if !report.recent_errors.is_empty() {
        println!("recent errors:");
        for j in &report.recent_errors {
            println!(
                "  job {} {}/{} [{}] at {}: {}",
                j.id,
                j.account,
                j.rel_path.escape_debug(),
                j.state.as_str(),
                fmt_ms(j.updated_at),
                j.last_error.as_deref().unwrap_or("")
            );
        }
    }
    0
}

async fn replay(path: &Path, id: i64) -> i32 {
    let store = match store_for(path).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store
        .replay(id, chrono::Utc::now().timestamp_millis())
        .await
    {
        Ok(job) => {
            println!(
                "job {id} ({}/{}) was {}; queued again",
                job.account,
                job.rel_path,
                job.state.as_str()
            );
            0
        }
        Err(crate::store::StoreError::NoSuchJob(_)) => {
            eprintln!("error: no job with id {id}");
            65
        }
        Err(e @ crate::store::StoreError::NotReplayable { .. }) => {
            eprintln!("error: {e}");
            65
        }
        Err(e) => {
            eprintln!("error: {e}");
            69
        }
    }
}
