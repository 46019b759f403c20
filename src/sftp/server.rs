//! The SSH side: accept loop with per-address defence, authentication, and
//! channel policy (only the `sftp` subsystem; everything else gets an
//! explicit failure).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use russh::keys::HashAlg;
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Account;
use crate::intake::IntakeEvent;
use crate::sftp::config::{AccountSftp, SftpServer};
use crate::sftp::defense::{Defender, Limits, Refusal, Slot, canonical_ip};
use crate::sftp::session::{self, AccountUsage, Event, HandleBudget, SessionCtx, SessionLimits};
use crate::sftp::vfs::View;
use crate::sftp::{SftpContext, auth};
use crate::store::AuditRecord;

mod accounts;
mod handler;

use accounts::*;
use handler::*;

/// SFTP sessions (channels) one connection may run at once.
const MAX_SESSIONS_PER_CONNECTION: usize = 8;

/// Connections that have not authenticated yet, oldest first. Each holds
/// its defender slot here until it authenticates, so dropping an entry frees
/// the slot at once.
#[derive(Default)]
struct PreAuth {
    next: u64,
    conns: BTreeMap<u64, PreAuthConn>,
}

struct PreAuthConn {
    ip: IpAddr,
    kill: CancellationToken,
    slot: Slot,
}

impl PreAuth {
    fn count(&self, ip: IpAddr) -> usize {
        self.conns.values().filter(|c| c.ip == ip).count()
    }

    /// Drop the oldest pending connection of the address holding the most
    /// pending connections (a flooding address loses its own first).
    fn evict(&mut self) -> Option<IpAddr> {
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for c in self.conns.values() {
            *per_ip.entry(c.ip).or_default() += 1;
        }
        let most = per_ip.values().copied().max()?;
        let seq = self
            .conns
            .iter()
            .find(|(_, c)| per_ip.get(&c.ip) == Some(&most))
            .map(|(k, _)| *k)?;
        let c = self.conns.remove(&seq)?;
        c.kill.cancel();
        Some(c.ip)
    }
}

/// One running SFTP session counted against the global and per-account caps.
struct SessionPermit {
    shared: Arc<Shared>,
    account: String,
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut m = self
            .shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.0 = m.0.saturating_sub(1);
        if let Some(n) = m.1.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.1.remove(&self.account);
            }
        }
    }
}

struct Shared {
    ctx: SftpContext,
    cfg: SftpServer,
    russh: Arc<russh::server::Config>,
    /// Swapped whole on reload; a login takes the current map.
    accounts: std::sync::RwLock<Arc<HashMap<String, Arc<SftpAccount>>>>,
    defender: Arc<Defender>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// This process, as recorded with its sessions (`host:pid`).
    daemon: String,
    preauth: Mutex<PreAuth>,
    /// SFTP sessions running: all accounts, and per account.
    sessions: Mutex<(usize, HashMap<String, usize>)>,
    limits: SessionLimits,
    /// Open handles of all sessions: a share of RLIMIT_NOFILE.
    handles: Arc<HandleBudget>,
    /// Open handles of one account's sessions.
    handles_per_account: usize,
}

impl Shared {
    /// Take a session slot for an account, or say which cap is reached.
    fn session_permit(self: &Arc<Self>, account: &str) -> Result<SessionPermit, &'static str> {
        let mut m = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if m.0 >= self.cfg.max_sessions {
            return Err("max_sessions");
        }
        let n = m.1.entry(account.to_string()).or_default();
        if *n >= self.cfg.max_sessions_per_account {
            return Err("max_sessions_per_account");
        }
        *n += 1;
        m.0 += 1;
        Ok(SessionPermit {
            shared: self.clone(),
            account: account.to_string(),
        })
    }

    fn preauth(&self) -> std::sync::MutexGuard<'_, PreAuth> {
        self.preauth.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accounts(&self) -> Arc<HashMap<String, Arc<SftpAccount>>> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One audit row and nothing else; the caller logs.
    async fn audit(&self, account: Option<&str>, event: &str, detail: serde_json::Value) {
        if let Err(e) = self
            .ctx
            .store
            .audit(AuditRecord {
                account,
                job_id: None,
                event,
                detail,
            })
            .await
        {
            tracing::warn!(event, error = %e, "cannot write sftp audit row");
        }
    }
}

/// The SSH settings of the server: identification, methods, the rejection
/// delay, limits and ciphers.
fn russh_config(cfg: &SftpServer, keys: Vec<russh::keys::PrivateKey>) -> russh::server::Config {
    // Offer AES-GCM too (russh's default list omits aes128-gcm, which OpenSSH
    // clients may prefer); chacha20-poly1305 stays first.
    let preferred = russh::Preferred {
        cipher: std::borrow::Cow::Owned(vec![
            russh::cipher::CHACHA20_POLY1305,
            russh::cipher::AES_128_GCM,
            russh::cipher::AES_256_GCM,
            russh::cipher::AES_256_CTR,
            russh::cipher::AES_128_CTR,
        ]),
        ..Default::default()
    };
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-pasarela".into()),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: cfg.auth_rejection_delay,
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        keys,
        // A 256 KiB SFTP write then fits in four SSH packets, and 8 MiB in
        // flight keeps a loopback/LAN pipe full (russh: 32 KiB / 2 MiB).
        window_size: 8 * 1024 * 1024,
        maximum_packet_size: 65535,
        channel_buffer_size: 256,
        event_buffer_size: 64,
        max_auth_attempts: cfg.max_auth_attempts,
        inactivity_timeout: Some(cfg.idle_timeout),
        keepalive_interval: None,
        nodelay: true,
        preferred,
        ..Default::default()
    }
}

pub async fn start(
    ctx: SftpContext,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let cfg = ctx
        .config
        .sftp
        .clone()
        .context("the configuration has no [sftp] section")?;
    let key_dir = cfg.host_key_dir(&ctx.config.daemon.state_dir);
    let keys =
        tokio::task::spawn_blocking(move || crate::sftp::hostkeys::load_or_generate(&key_dir))
            .await
            .context("host key task failed")??;
    let (handles_total, handles_per_account) = handle_budgets();
    let accounts = prepare_accounts(&ctx.config, &HashMap::new(), handles_per_account)?;
    let russh_cfg = russh_config(&cfg, keys);
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let defender = ctx
        .defender
        .clone()
        .unwrap_or_else(|| Defender::new(Limits::from(&cfg)));
    let updates = ctx.updates.clone();
    let limits = SessionLimits::from_config(&cfg, &ctx.config.daemon.state_dir);
    let shared = Arc::new(Shared {
        preauth: Mutex::new(PreAuth::default()),
        sessions: Mutex::new((0, HashMap::new())),
        limits,
        handles: HandleBudget::new(handles_total),
        handles_per_account,
        ctx,
        cfg,
        russh: Arc::new(russh_cfg),
        accounts: std::sync::RwLock::new(Arc::new(accounts)),
        defender,
        shutdown: shutdown.clone(),
        tracker: TaskTracker::new(),
        daemon: crate::host::daemon_id(),
    });
    // Sessions recorded by daemons that are gone are forgotten: on SQLite this
    // daemon is the only one, so all of them; on a shared PostgreSQL those of
    // earlier processes on this host (other hosts' daemons clean their own).
    // Bans still in force are restored, so a restart does not lift them.
    let single = shared.ctx.store.backend() == crate::store::Backend::Sqlite;
    let host = shared.daemon.rsplit_once(':').map(|(h, _)| h.to_string());
    let alive = |d: &str| {
        if single {
            return false;
        }
        match (d.rsplit_once(':'), &host) {
            (Some((h, pid)), Some(me)) if h == me => {
                std::path::Path::new("/proc").join(pid).exists()
            }
            _ => true,
        }
    };
    if let Err(e) = shared.ctx.store.sftp_sessions_clear_stale(alive).await {
        tracing::warn!(error = %e, "cannot clear recorded sftp sessions");
    }
    load_bans(&shared).await;
    if !single {
        spawn_ban_sync(&shared);
    }
    tracing::info!(%addr, accounts = shared.accounts().len(), "sftp server listening");
    if let Some(rx) = updates {
        spawn_account_reloads(&shared, rx);
    }
    // The caller owns the accept loop through its handle (the daemon awaits
    // it in its JoinSet); the loop drains every task of `tracker` before it ends.
    let join = tokio::spawn(accept_loop(listener, shared));
    Ok((addr, join))
}

/// Daemons sharing a PostgreSQL store share their bans: an address banned by
/// one is refused by all within `BAN_SYNC`.
fn spawn_ban_sync(shared: &Arc<Shared>) {
    // Owned by the tracker the accept loop drains at shutdown.
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        let shared = task_shared;
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => break,
                _ = tokio::time::sleep(BAN_SYNC) => load_bans(&shared).await,
            }
        }
    });
}

/// New logins use the accounts of each reloaded configuration; open sessions
/// keep what they logged in with.
fn spawn_account_reloads(
    shared: &Arc<Shared>,
    mut rx: tokio::sync::watch::Receiver<Arc<crate::config::Config>>,
) {
    // Owned by the tracker the accept loop drains at shutdown.
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        let shared = task_shared;
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => break,
                changed = rx.changed() => if changed.is_err() { break },
            }
            let config = rx.borrow_and_update().clone();
            let old = shared.accounts();
            match prepare_accounts(&config, &old, shared.handles_per_account) {
                Ok(map) => {
                    let n = map.len();
                    *shared.accounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
                    tracing::info!(
                        accounts = n,
                        "sftp accounts reloaded; open sessions continue"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "sftp accounts not reloaded; the previous ones stay")
                }
            }
        }
    });
}

/// How often a daemon on a shared store picks up the bans of the others.
const BAN_SYNC: std::time::Duration = std::time::Duration::from_secs(2);

/// Bans recorded in the store (by this daemon before a restart, or by the
/// other daemons on a shared store) are put in force here.
async fn load_bans(shared: &Shared) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    match shared.ctx.store.sftp_bans(now_ms).await {
        Ok(bans) => {
            for b in bans {
                if let Ok(ip) = b.addr.parse::<std::net::IpAddr>() {
                    let left =
                        std::time::Duration::from_millis((b.until_at - now_ms).max(0) as u64);
                    shared
                        .defender
                        .restore_ban(ip, b.bans as u32, Instant::now() + left);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot load sftp bans"),
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (sock, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "sftp accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = canonical_ip(peer.ip());
        // One address may not hold every pre-auth slot.
        if shared.preauth().count(ip) >= shared.cfg.max_unauthenticated_per_ip {
            tracing::warn!(%ip, "sftp connection refused: too many unauthenticated connections from this address");
            crate::admin::metrics::inc(
                "pasarela_sftp_connections_refused_total",
                &[("reason", "preauth_per_ip")],
            );
            continue;
        }
        let mut admitted = shared.defender.admit(peer.ip(), Instant::now());
        if matches!(admitted, Err(Refusal::TooManyUnauthenticated)) {
            // Every pre-auth slot is taken: the newcomer gets the slot of the
            // oldest pending connection of the most represented address.
            let evicted = shared.preauth().evict();
            if let Some(victim) = evicted {
                tracing::info!(%ip, %victim, "sftp pre-auth slots full: dropped the oldest unauthenticated connection of the busiest address");
                admitted = shared.defender.admit(peer.ip(), Instant::now());
            }
        }
        match admitted {
            Ok(slot) => {
                let kill = shared.shutdown.child_token();
                let seq = {
                    let mut p = shared.preauth();
                    let seq = p.next;
                    p.next += 1;
                    p.conns.insert(
                        seq,
                        PreAuthConn {
                            ip,
                            kill: kill.clone(),
                            slot,
                        },
                    );
                    seq
                };
                let s = shared.clone();
                shared.tracker.spawn(connection(s, sock, peer, seq, kill));
            }
            Err(Refusal::Banned { remaining }) => {
                tracing::info!(ip = %peer.ip(), remaining_secs = remaining.as_secs(), "sftp connection refused: address banned");
            }
            Err(r) => {
                tracing::warn!(ip = %peer.ip(), reason = ?r, "sftp connection refused");
            }
        }
    }
    drop(listener);
    shared.tracker.close();
    shared.tracker.wait().await;
    tracing::info!("sftp server stopped");
}

/// What one connection learned, shared between its SSH handler and its task.
#[derive(Default)]
struct ConnState {
    authenticated: Mutex<Option<String>>,
    failures: AtomicU32,
    unknown_user: AtomicBool,
    last_user: Mutex<String>,
    /// A failed attempt on this connection banned the address (ban length);
    /// recorded in the store when the connection ends.
    banned: Mutex<Option<std::time::Duration>>,
}

async fn connection(
    shared: Arc<Shared>,
    sock: TcpStream,
    peer: SocketAddr,
    seq: u64,
    kill: CancellationToken,
) {
    /// Leaves the pre-auth registry however the connection ends.
    struct Leave<'a>(&'a Shared, u64);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.preauth().conns.remove(&self.1);
        }
    }
    let _leave = Leave(&shared, seq);
    // The defender slot, once taken over from the pre-auth registry.
    let mut slot: Option<Slot> = None;
    let _ = sock.set_nodelay(true);
    let state = Arc::new(ConnState::default());
    let (auth_tx, mut auth_rx) = tokio::sync::watch::channel(false);
    let handler = SshHandler {
        shared: shared.clone(),
        ip: peer.ip(),
        state: state.clone(),
        channels: HashMap::new(),
        account: None,
        auth_tx,
        sessions: Arc::new(AtomicUsize::new(0)),
    };
    // One deadline for the handshake and the authentication together.
    let grace_end = tokio::time::Instant::now() + shared.cfg.login_grace;
    let started = tokio::select! {
        r = tokio::time::timeout_at(grace_end, russh::server::run_stream(shared.russh.clone(), sock, handler)) => r,
        _ = kill.cancelled() => {
            tracing::debug!(ip = %peer.ip(), "unauthenticated connection dropped for a newer one");
            return;
        }
    };
    let session = match started {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(ip = %peer.ip(), error = %e, "ssh handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(ip = %peer.ip(), "ssh handshake timed out");
            return;
        }
    };
    let handle = session.handle();
    let mut session = std::pin::pin!(session);
    let deadline = tokio::time::sleep_until(grace_end);
    let mut deadline = std::pin::pin!(deadline);
    let mut authenticated = false;
    loop {
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => {
                let _ = handle.disconnect(russh::Disconnect::ByApplication, "server shutting down".into(), "en".into()).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut session).await;
                break;
            }
            _ = &mut session => break,
            r = auth_rx.changed(), if !authenticated => {
                if r.is_ok() && *auth_rx.borrow() {
                    // None: evicted just before authenticating; kill fires next.
                    let taken = shared.preauth().conns.remove(&seq);
                    if let Some(c) = taken {
                        let mut s = c.slot;
                        s.authenticated();
                        slot = Some(s);
                        authenticated = true;
                    }
                }
            }
            _ = kill.cancelled(), if !authenticated => {
                tracing::info!(ip = %peer.ip(), "unauthenticated connection dropped for a newer one (pre-auth slots full)");
                let _ = handle.disconnect(russh::Disconnect::TooManyConnections, "too many unauthenticated connections".into(), "en".into()).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut session).await;
                break;
            }
            _ = &mut deadline, if !authenticated => {
                tracing::info!(ip = %peer.ip(), "sftp login grace time expired");
                let _ = handle.disconnect(russh::Disconnect::ByApplication, "login grace time expired".into(), "en".into()).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut session).await;
                break;
            }
        }
    }
    let account = state
        .authenticated
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let failures = state.failures.load(Ordering::Acquire);
    if account.is_none() && failures > 0 {
        let user = state
            .last_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let unknown = state.unknown_user.load(Ordering::Acquire);
        tracing::warn!(ip = %peer.ip(), user = %user, attempts = failures, unknown_account = unknown, "sftp login failed");
        crate::admin::metrics::inc("pasarela_sftp_logins_total", &[("outcome", "failure")]);
        let known = shared
            .accounts()
            .contains_key(&user)
            .then_some(user.as_str());
        shared
            .audit(
                known,
                "sftp.login_failed",
                serde_json::json!({"ip": peer.ip().to_string(), "user": user, "attempts": failures}),
            )
            .await;
        // Each attempt was scored as it failed (SshHandler::fail).
        let banned = *state.banned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(len) = banned {
            tracing::warn!(ip = %peer.ip(), ban_secs = len.as_secs(), "sftp address banned after failed logins");
            let now_ms = chrono::Utc::now().timestamp_millis();
            let bans = shared.defender.bans_of(peer.ip()) as i64;
            if let Err(e) = shared
                .ctx
                .store
                .sftp_ban(
                    &peer.ip().to_string(),
                    now_ms + len.as_millis() as i64,
                    bans,
                    now_ms,
                )
                .await
            {
                tracing::warn!(error = %e, "cannot record the sftp ban");
            }
            shared
                .audit(
                    None,
                    "sftp.ban",
                    serde_json::json!({"ip": peer.ip().to_string(), "ban_secs": len.as_secs()}),
                )
                .await;
        }
    }
    drop(slot);
}
