//! `pasarela run`: the daemon's start-up, main loop and shutdown phases.
//!
//! Start-up is a reload from nothing: `Generation::build` compiles config and
//! rules into a [`Generation`]; the same function serves SIGHUP and a change
//! of the files (`reload`). A bad new configuration keeps the old generation
//! running and says why.
//!
//! **Architecture Invariant:** every long-lived task of the daemon is
//! spawned into the one `JoinSet` of [`run_daemon`] (intake, the SFTP server,
//! the runner, delivery, the configuration forwarder); the end of any of
//! them ends the daemon, and shutdown drains them all. The admin listener is
//! the exception: it keeps answering `/health` while the others drain and is
//! aborted last (it holds no state).

mod reload;
mod state;
mod tasks;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::{load_config, open_store, print_problems};
use crate::clock::Clock;
use crate::config::{Config, LogFormat};
use crate::exit::Exit;
use crate::pipeline::Generation;
use crate::store::Store;

/// Run the daemon until SIGTERM/SIGINT or a fatal error
/// ([`Exit::Unavailable`]); a bad configuration is [`Exit::Config`].
pub async fn run(
    path: &Path,
    now: Option<DateTime<FixedOffset>>,
    log_format: Option<LogFormat>,
) -> Exit {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::telemetry::init(log_format.unwrap_or(config.log.format), &config.log.level);
    match run_daemon(path, config, now).await {
        Ok(()) => Exit::Ok,
        Err(e) => {
            error!(error = %format!("{e:#}"), "daemon stopped with an error");
            Exit::Unavailable
        }
    }
}

/// The signals the main loop reacts to.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

async fn run_daemon(
    path: &Path,
    config: Arc<Config>,
    now: Option<DateTime<FixedOffset>>,
) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives during start-up must not kill the
    // process with its default action.
    let mut signals = Signals::install()?;
    let clock = now.map(Clock::starting_at).unwrap_or_default();
    state::prepare_process(&config);
    let _lock = state::lock_state_dir(&config.daemon.state_dir)?;
    reload::prepare_dirs(&config)?;
    state::clear_scratch(&config)?;
    let store = open_store(&config).await?;
    let generation = Generation::build(config.clone(), Some(store.clone())).map_err(|errs| {
        print_problems(&errs);
        anyhow::anyhow!("{} error(s) in rule files", errs.len())
    })?;
    let (gen_tx, gen_rx) = watch::channel(Arc::new(generation));
    let shutdown = CancellationToken::new();
    let owner = crate::host::daemon_id();
    let health = Arc::new(crate::admin::Health::default());
    health.review_max_age_ms.store(
        config.review.max_age.as_millis() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    let admin = tasks::start_admin(&config, &health, &store).await?;
    let defender = crate::sftp::defense::Defender::new(match &config.sftp {
        Some(s) => crate::sftp::defense::Limits::from(s),
        None => crate::sftp::defense::Limits::defaults(),
    });
    let desk = tasks::start_desk(
        &config,
        crate::desk::DeskState::new(
            store.clone(),
            gen_rx.clone(),
            defender.clone(),
            health.clone(),
            clock,
        ),
    )
    .await?;
    let mut tasks = JoinSet::new();
    let sftp_addr = tasks::start(
        &mut tasks,
        tasks::Shared {
            config: config.clone(),
            store: store.clone(),
            generation: gen_rx,
            clock,
            owner: owner.clone(),
            wake: Arc::new(Notify::new()),
            defender,
            shutdown: shutdown.clone(),
        },
    )
    .await?;
    info!(config = %path.display(), accounts = config.accounts.len(), routes = config.routes.len(), store = %crate::store::redact_url(&config.store.url), owner, sftp = %sftp_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into()), "pasarela running");

    health
        .ready
        .store(true, std::sync::atomic::Ordering::Release);
    crate::sdnotify::notify("READY=1");
    main_loop(path, &store, &gen_tx, &mut tasks, &mut signals).await;

    crate::sdnotify::notify("STOPPING=1");
    health
        .draining
        .store(true, std::sync::atomic::Ordering::Release);
    info!("shutting down: intake stops, in-flight files drain");
    shutdown.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    tokio::select! {
        _ = drain => {}
        _ = signals.term.recv() => warn!("second signal: exiting now; unfinished jobs are requeued at next start"),
        _ = signals.int.recv() => warn!("second signal: exiting now; unfinished jobs are requeued at next start"),
    }
    if let Some(d) = desk {
        d.abort();
    }
    if let Some(a) = admin {
        a.abort();
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

/// Until a stop signal or the end of a daemon task: reload on SIGHUP and
/// when the configuration or a rule file changes; keep the watchdog fed.
async fn main_loop(
    path: &Path,
    store: &Store,
    gen_tx: &watch::Sender<Arc<Generation>>,
    tasks: &mut JoinSet<()>,
    signals: &mut Signals,
) {
    let mut files_seen = reload::config_fingerprint(path, &gen_tx.borrow().config);
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
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
            _ = signals.hup.recv() => {
                reload::reload(path, store, gen_tx);
                files_seen = reload::config_fingerprint(path, &gen_tx.borrow().config);
            }
            _ = file_check.tick() => {
                let now_seen = reload::config_fingerprint(path, &gen_tx.borrow().config);
                if now_seen != files_seen {
                    info!("configuration or rule files changed: reloading");
                    files_seen = now_seen;
                    reload::reload(path, store, gen_tx);
                }
            }
            res = tasks.join_next() => {
                if let Some(Err(e)) = res { error!(error = %e, "a daemon task ended unexpectedly"); }
                break;
            }
        }
    }
}
