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

/// SFTP sessions (channels) one connection may run at once.
const MAX_SESSIONS_PER_CONNECTION: usize = 8;

/// An account that may log in over SFTP.
struct SftpAccount {
    name: String,
    sftp: AccountSftp,
    view: Arc<View>,
    incoming: PathBuf,
    /// Disk use against the quota, shared by the account's sessions (kept
    /// across reloads while home and quota stay the same).
    usage: Arc<AccountUsage>,
    /// Open handles of all the account's sessions.
    handles: Arc<HandleBudget>,
}

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

fn prepare_account(
    a: &Account,
    sftp: &AccountSftp,
    old: Option<&Arc<SftpAccount>>,
    handles_per_account: usize,
) -> anyhow::Result<SftpAccount> {
    for d in [a.incoming(), a.outgoing(), a.archive()] {
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    for vf in &sftp.virtual_folders {
        std::fs::create_dir_all(&vf.directory)
            .with_context(|| format!("cannot create {}", vf.directory.display()))?;
    }
    let view = View::new(&a.home, sftp)
        .with_context(|| format!("account {}: cannot open its folders", a.name))?;
    let incoming = std::fs::canonicalize(a.incoming())?;
    let home = std::fs::canonicalize(&a.home)?;
    let usage = match old {
        Some(o) if o.usage.quota == sftp.quota_bytes && o.usage.home() == home => o.usage.clone(),
        _ => Arc::new(AccountUsage::new(home, sftp.quota_bytes)),
    };
    let handles = match old {
        Some(o) => o.handles.clone(),
        None => HandleBudget::new(handles_per_account),
    };
    Ok(SftpAccount {
        name: a.name.clone(),
        sftp: sftp.clone(),
        view: Arc::new(view),
        incoming,
        usage,
        handles,
    })
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
    let russh_cfg = russh::server::Config {
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
    };
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let defender = Defender::new(Limits::from(&cfg));
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
        daemon: format!(
            "{}:{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into()),
            std::process::id()
        ),
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
        // Daemons sharing a PostgreSQL store share their bans: an address
        // banned by one is refused by all within BAN_SYNC.
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(BAN_SYNC) => load_bans(&shared).await,
                }
            }
        });
    }
    tracing::info!(%addr, accounts = shared.accounts().len(), "sftp server listening");
    if let Some(mut rx) = updates {
        let shared = shared.clone();
        tokio::spawn(async move {
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
    let join = tokio::spawn(accept_loop(listener, shared));
    Ok((addr, join))
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

/// The SFTP accounts of a configuration, keys and networks compiled.
/// Descriptors SFTP handles may hold: half the soft RLIMIT_NOFILE for all
/// sessions (the rest stays for the store, spool, workers, sockets), a
/// quarter of that for one account.
fn handle_budgets() -> (usize, usize) {
    // SAFETY: getrlimit fills a plain struct.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    let total = (soft / 2).clamp(64, 1 << 20);
    let per_account = (total / 4).max(16);
    tracing::info!(
        rlimit_nofile = soft,
        handles_total = total,
        handles_per_account = per_account,
        "sftp handle budgets"
    );
    (total, per_account)
}

fn prepare_accounts(
    config: &crate::config::Config,
    old: &HashMap<String, Arc<SftpAccount>>,
    handles_per_account: usize,
) -> anyhow::Result<HashMap<String, Arc<SftpAccount>>> {
    let mut accounts = HashMap::new();
    for a in config.accounts.values() {
        if let Some(s) = &a.sftp {
            accounts.insert(
                a.name.clone(),
                Arc::new(prepare_account(
                    a,
                    s,
                    old.get(&a.name),
                    handles_per_account,
                )?),
            );
        }
    }
    Ok(accounts)
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

struct SshHandler {
    shared: Arc<Shared>,
    ip: IpAddr,
    state: Arc<ConnState>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    account: Option<Arc<SftpAccount>>,
    auth_tx: tokio::sync::watch::Sender<bool>,
    /// SFTP sessions running on this connection.
    sessions: Arc<AtomicUsize>,
}

impl SshHandler {
    fn note_user(&self, user: &str) {
        *self
            .state
            .last_user
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = user.to_string();
    }

    /// One failed authentication attempt: scored at once (a client may try
    /// many passwords or keys on one connection).
    fn fail(&self, user: &str, reason: &str) -> Auth {
        let unknown = !self.shared.accounts().contains_key(user);
        if unknown {
            self.state.unknown_user.store(true, Ordering::Release);
        }
        self.state.failures.fetch_add(1, Ordering::AcqRel);
        tracing::debug!(ip = %self.ip, user, reason, "sftp authentication attempt rejected");
        let score = if unknown { 2 } else { 1 };
        if let Some(len) = self.shared.defender.failed(self.ip, score, Instant::now()) {
            *self.state.banned.lock().unwrap_or_else(|e| e.into_inner()) = Some(len);
        }
        Auth::reject()
    }

    /// Refuse every further attempt once the address is banned (the ban
    /// may come from this connection's own attempts).
    fn banned(&self) -> bool {
        let banned = self.shared.defender.is_banned(self.ip, Instant::now());
        if banned {
            // The ban may have arrived after the connection was admitted
            // (another daemon's, loaded from the store meanwhile).
            tracing::info!(ip = %self.ip, "sftp authentication refused: address banned");
        }
        banned
    }

    /// The account, if it exists, has SFTP and accepts this source address.
    fn account_for(&self, user: &str) -> Result<Arc<SftpAccount>, &'static str> {
        let a = self
            .shared
            .accounts()
            .get(user)
            .cloned()
            .ok_or("unknown account")?;
        if !a.sftp.network_allowed(self.ip) {
            return Err("source address not allowed");
        }
        Ok(a)
    }

    fn accept(&mut self, a: Arc<SftpAccount>) -> Auth {
        *self
            .state
            .authenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(a.name.clone());
        self.account = Some(a);
        Auth::Accept
    }
}

impl russh::server::Handler for SshHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        self.note_user(user);
        Ok(Auth::reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.note_user(user);
        if self.banned() {
            return Ok(Auth::reject());
        }
        match self.account_for(user) {
            Ok(a) => {
                match auth::key_allowed(&a.sftp.keys, offer.public_key, self.ip, chrono::Utc::now())
                {
                    Ok(()) => Ok(Auth::Accept),
                    Err(why) => Ok(self.fail(user, why.as_str())),
                }
            }
            Err(reason) => Ok(self.fail(user, reason)),
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.note_user(user);
        if self.banned() {
            return Ok(Auth::reject());
        }
        match self.account_for(user) {
            Ok(a) => {
                match auth::key_allowed(&a.sftp.keys, key.public_key, self.ip, chrono::Utc::now()) {
                    Ok(()) => {
                        tracing::debug!(fingerprint = %key.public_key.fingerprint(HashAlg::Sha256), "key accepted");
                        Ok(self.accept(a))
                    }
                    Err(why) => Ok(self.fail(user, why.as_str())),
                }
            }
            Err(reason) => Ok(self.fail(user, reason)),
        }
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.note_user(user);
        if self.banned() {
            return Ok(Auth::reject());
        }
        let a = match self.account_for(user) {
            Ok(a) => a,
            Err(reason) => return Ok(self.fail(user, reason)),
        };
        let Some(hash) = a.sftp.password_hash.clone() else {
            return Ok(self.fail(user, "no password set"));
        };
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        if ok {
            Ok(self.accept(a))
        } else {
            Ok(self.fail(user, "wrong password"))
        }
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        let Some(a) = self.account.clone() else {
            return Ok(());
        };
        let _ = self.auth_tx.send(true);
        tracing::info!(account = %a.name, ip = %self.ip, "sftp login");
        crate::admin::metrics::inc("pasarela_sftp_logins_total", &[("outcome", "success")]);
        self.shared
            .audit(
                Some(&a.name),
                "sftp.login",
                serde_json::json!({"ip": self.ip.to_string()}),
            )
            .await;
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.account.is_none() || self.channels.len() >= 4 {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(a), true) = (self.account.clone(), name == "sftp") else {
            tracing::info!(ip = %self.ip, subsystem = name, "refused subsystem");
            session.channel_failure(channel_id)?;
            session.close(channel_id)?;
            return Ok(());
        };
        let Some(channel) = self.channels.remove(&channel_id) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        // Each session holds a blocking thread and file handles: bound them
        // for all accounts together and for each account.
        let permit = match self.shared.session_permit(&a.name) {
            Ok(p) => p,
            Err(cap) => {
                tracing::warn!(account = %a.name, ip = %self.ip, cap, "sftp session refused: session cap reached");
                crate::admin::metrics::inc(
                    "pasarela_sftp_sessions_refused_total",
                    &[("reason", cap)],
                );
                session.channel_failure(channel_id)?;
                session.close(channel_id)?;
                return Ok(());
            }
        };
        // Each session holds a thread: bound them per connection (OpenSSH MaxSessions).
        if self.sessions.load(Ordering::Acquire) >= MAX_SESSIONS_PER_CONNECTION {
            tracing::warn!(account = %a.name, ip = %self.ip, "too many sftp sessions on one connection");
            session.channel_failure(channel_id)?;
            session.close(channel_id)?;
            return Ok(());
        }
        session.channel_success(channel_id)?;
        self.sessions.fetch_add(1, Ordering::AcqRel);
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let ctx = SessionCtx {
            account: a.name.clone(),
            ip: self.ip,
            view: a.view.clone(),
            incoming: a.incoming.clone(),
            max_open_handles: self.shared.cfg.max_open_handles,
            max_file_bytes: self.shared.ctx.config.daemon.max_file_bytes,
            limits: self.shared.limits.clone(),
            usage: a.usage.clone(),
            handle_budgets: [self.shared.handles.clone(), a.handles.clone()],
            events: ev_tx,
            shutdown: self.shared.shutdown.clone(),
        };
        let shared = self.shared.clone();
        self.shared
            .tracker
            .spawn(events(shared, a.name.clone(), self.ip, ev_rx));
        let running = self.sessions.clone();
        let store = self.shared.ctx.store.clone();
        let record = crate::store::sftp_state::SftpSession {
            id: uuid::Uuid::new_v4().simple().to_string(),
            daemon: self.shared.daemon.clone(),
            account: a.name.clone(),
            peer: self.ip.to_string(),
            started_at: chrono::Utc::now().timestamp_millis(),
        };
        self.shared.tracker.spawn(async move {
            // `pasarela status` lists open sessions from the store.
            if let Err(e) = store.sftp_session_open(&record).await {
                tracing::warn!(error = %e, "cannot record the sftp session");
            }
            session::run(channel, ctx).await;
            let _ = store.sftp_session_close(&record.id).await;
            running.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(ip = %self.ip, "refused shell request");
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(ip = %self.ip, "refused exec request");
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        tracing::info!(ip = %self.ip, "refused remote forwarding");
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        _socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(ip = %self.ip, "refused local forwarding");
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }
}

/// Audit rows and intake notices of one SFTP session, in order.
async fn events(
    shared: Arc<Shared>,
    account: String,
    ip: IpAddr,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Audit { event, detail } => shared.audit(Some(&account), event, detail).await,
            Event::Completed { path, upload } => {
                if shared
                    .ctx
                    .intake
                    .send(IntakeEvent::Completed {
                        account: account.clone(),
                        path: path.clone(),
                        upload,
                    })
                    .await
                    .is_err()
                {
                    tracing::warn!(%ip, path = %path.display(), "intake is not running; the periodic scan will pick the file up");
                }
            }
        }
    }
}
