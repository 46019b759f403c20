//! The daemon's long-lived tasks, each spawned into the daemon's `JoinSet`:
//! intake, the SFTP server, the configuration forwarder, the runner and
//! delivery (outbox sender, report scheduler).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::Config;
use crate::intake::{self, Intake};
use crate::pipeline::Generation;
use crate::pipeline::runner::Runner;
use crate::store::Store;

/// What the tasks share.
pub(super) struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub generation: watch::Receiver<Arc<Generation>>,
    pub clock: Clock,
    /// This daemon in job leases: `host:pid`.
    pub owner: String,
    /// Intake wakes the runner when it records a job.
    pub wake: Arc<Notify>,
    /// Failed logins, SFTP and desk alike.
    pub defender: Arc<crate::sftp::defense::Defender>,
    pub shutdown: CancellationToken,
}

/// The admin listener, when `admin_listen` is set. Its task is not in the
/// daemon's `JoinSet`: it must answer `/health` while the others drain, so
/// the daemon aborts it last, through this handle (it holds no state).
pub(super) async fn start_admin(
    config: &Config,
    health: &Arc<crate::admin::Health>,
    store: &Store,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    match config.admin_listen {
        Some(addr) => {
            let (bound, handle) = crate::admin::start(addr, health.clone(), store.clone())
                .await
                .with_context(|| format!("starting the admin listener on {addr}"))?;
            info!(listen = %bound, "admin listener: /health /ready /metrics");
            Ok(Some(handle))
        }
        None => Ok(None),
    }
}

/// The desk, when `[desk] listen` is set. Like the admin listener, its task
/// is aborted last through this handle, after the drain.
pub(super) async fn start_desk(
    config: &Config,
    state: Arc<crate::desk::DeskState>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    match &config.desk {
        Some(desk) => {
            let (bound, handle) = crate::desk::start(desk, state)
                .await
                .with_context(|| format!("starting the desk on {}", desk.listen))?;
            info!(listen = %bound, tls = desk.tls.is_some(), users = desk.users.len(), "desk listening");
            Ok(Some(handle))
        }
        None => Ok(None),
    }
}

/// Recover what a crash left, then spawn every daemon task into `tasks`.
/// Returns the SFTP server's address when it runs.
pub(super) async fn start(
    tasks: &mut JoinSet<()>,
    s: Shared,
) -> anyhow::Result<Option<SocketAddr>> {
    let intake = Intake {
        store: s.store.clone(),
        clock: s.clock,
        generation: s.generation.clone(),
        wake: s.wake.clone(),
    };
    intake.recover().await.context("start-up recovery")?;
    let (tx, rx) = mpsc::channel(intake::CHANNEL_CAPACITY);
    tasks.spawn(intake.run(tx.clone(), rx, s.shutdown.clone()));
    let sftp_addr = match &s.config.sftp {
        Some(_) => {
            // Reloads reach the SFTP server as plain configurations.
            let (cfg_tx, cfg_rx) = watch::channel(s.config.clone());
            tasks.spawn(forward_configs(
                s.generation.clone(),
                cfg_tx,
                s.shutdown.clone(),
            ));
            let ctx = crate::sftp::SftpContext {
                config: s.config.clone(),
                store: s.store.clone(),
                intake: tx.clone(),
                updates: Some(cfg_rx),
                defender: Some(s.defender.clone()),
            };
            let (addr, handle) = crate::sftp::start(ctx, s.shutdown.clone())
                .await
                .context("starting the SFTP server")?;
            // The server's accept loop ends at shutdown, after its sessions
            // (its own TaskTracker); owning its handle here drains it.
            tasks.spawn(async move {
                let _ = handle.await;
            });
            Some(addr)
        }
        None => None,
    };
    let remote = start_s3(tasks, &s).await;
    let runner = Runner {
        store: s.store.clone(),
        generation: s.generation.clone(),
        clock: s.clock,
        owner: s.owner.clone(),
        wake: s.wake.clone(),
        remote,
    };
    tasks.spawn(runner.run(s.shutdown.clone()));
    tasks.spawn(delivery(s.config.clone(), s.store.clone(), s.shutdown));
    Ok(sftp_addr)
}

/// The S3 path (`[aws.s3]`, feature `aws`, docs/AWS.md): its intake task in
/// `tasks`, and the runner's hooks that write results to S3 and archive
/// there.
#[cfg(feature = "aws")]
async fn start_s3(
    tasks: &mut JoinSet<()>,
    s: &Shared,
) -> Option<Arc<dyn crate::pipeline::remote::Remote>> {
    let path = crate::aws::s3::S3Path::new(
        &s.config,
        s.store.clone(),
        s.clock,
        s.generation.clone(),
        s.wake.clone(),
    )
    .await?;
    let remote = path.remote();
    tasks.spawn(path.run(s.shutdown.clone()));
    Some(remote)
}

#[cfg(not(feature = "aws"))]
async fn start_s3(
    _tasks: &mut JoinSet<()>,
    s: &Shared,
) -> Option<Arc<dyn crate::pipeline::remote::Remote>> {
    if s.config.aws.as_ref().is_some_and(|a| a.s3.is_some()) {
        tracing::error!(
            "[aws.s3] is configured but this pasarela was built without AWS support: no S3 intake runs; rebuild with `--features aws` (docs/AWS.md)"
        );
    }
    None
}

/// Pass every new generation's configuration to the SFTP server, until
/// shutdown (or until the server no longer listens).
async fn forward_configs(
    mut generations: watch::Receiver<Arc<Generation>>,
    configs: watch::Sender<Arc<Config>>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = generations.changed() => if changed.is_err() { break },
        }
        let c = generations.borrow_and_update().config.clone();
        if configs.send(c).is_err() {
            break;
        }
    }
    // The daemon treats the end of a task as a failure: stay until shutdown.
    shutdown.cancelled().await;
}

/// The delivery tasks; ends when both have stopped after `shutdown`. Without
/// `[smtp]` no sender runs (messages wait in the outbox); without
/// `[reports]` no scheduler runs.
pub async fn delivery(config: Arc<Config>, store: Store, shutdown: CancellationToken) {
    let mut tasks = JoinSet::new();
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
}
