//! The admin HTTP listener (`[admin] listen`, off by default): `/health`,
//! `/ready` and `/metrics` for load balancers, orchestrators and Prometheus.
//!
//! A deliberately small HTTP/1.1 server: GET only, one request per
//! connection, the request head bounded in size (8 KiB) and time
//! (`read_timeout_ms`, 5 s), at most `max_connections` (64) connections
//! served at once (the rest wait in the kernel's backlog, so a flood of idle
//! connections delays probes by at most the read timeout instead of
//! exhausting memory or file handles), and answers that never contain a file
//! or account name. It keeps serving while the daemon drains (so `/health`
//! can say 503) and stops with the process.

pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::store::Store;

/// What the probes report.
#[derive(Debug, Default)]
pub struct Health {
    /// Store migrated, listeners bound, work running.
    pub ready: AtomicBool,
    /// SIGTERM received: finishing in-flight work, taking nothing new.
    pub draining: AtomicBool,
    /// `[review] max_age_hours` in milliseconds (0 = not set yet): items
    /// in review longer than this are overdue.
    pub review_max_age_ms: std::sync::atomic::AtomicU64,
}

const MAX_HEAD: usize = 8 * 1024;

/// `[admin] max_connections` when unset.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// `[admin] read_timeout_ms` when unset.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The compiled `[admin]` section: where to listen and the connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminListen {
    pub addr: SocketAddr,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for the request head.
    pub read_timeout: Duration,
}

impl AdminListen {
    /// Default limits on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        AdminListen {
            addr,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

impl std::fmt::Display for AdminListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

/// `[admin]` as written: the HTTP listener for /health, /ready and /metrics.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AdminRaw {
    /// `host:port`, e.g. `127.0.0.1:9464`. Absent = no listener.
    pub listen: Option<String>,
    /// Most connections served at once; more wait in the kernel's backlog.
    /// Default 64.
    pub max_connections: Option<u64>,
    /// A connection that has not sent its request head within this time is
    /// closed. Default 5000.
    pub read_timeout_ms: Option<u64>,
}

impl AdminRaw {
    /// Compile `[admin]` (`key` in `file`): `None` when no listener is
    /// configured or its address is bad; every problem goes to `p`.
    pub fn compile(
        self,
        file: &std::path::Path,
        key: &str,
        p: &mut crate::problems::Problems,
    ) -> Option<AdminListen> {
        let max = self
            .max_connections
            .unwrap_or(DEFAULT_MAX_CONNECTIONS as u64);
        if !(1..=10_000).contains(&max) {
            p.error(
                file,
                format!("{key}.max_connections"),
                "must be between 1 and 10000",
            );
        }
        let timeout = self
            .read_timeout_ms
            .unwrap_or(DEFAULT_READ_TIMEOUT.as_millis() as u64);
        if !(100..=600_000).contains(&timeout) {
            p.error(
                file,
                format!("{key}.read_timeout_ms"),
                "must be between 100 and 600000 (10 minutes)",
            );
        }
        let listen = self.listen?;
        match listen.parse::<SocketAddr>() {
            Ok(addr) => Some(AdminListen {
                addr,
                max_connections: max.clamp(1, 10_000) as usize,
                read_timeout: Duration::from_millis(timeout),
            }),
            Err(_) => {
                p.error(
                    file,
                    format!("{key}.listen"),
                    format!("'{listen}' is not an address:port such as 127.0.0.1:9464"),
                );
                None
            }
        }
    }
}

/// Bind and serve until the process ends. Returns the bound address.
pub async fn start(
    listen: AdminListen,
    health: Arc<Health>,
    store: Store,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen.addr).await?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(listen.max_connections.max(1)));
    let read_timeout = listen.read_timeout;
    // The listener's task is owned by the returned handle, which the daemon
    // aborts last at shutdown; the connections are owned by its JoinSet, so
    // they end with it (each is bounded by its timeout anyway).
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // A slot first: beyond the cap, connections wait in the backlog
            // until one is served or times out.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            while connections.try_join_next().is_some() {}
            let (mut sock, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "admin listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (health, store) = (health.clone(), store.clone());
            connections.spawn(async move {
                let _permit = permit;
                let served = tokio::time::timeout(read_timeout + Duration::from_secs(5), async {
                    let head = read_head(&mut sock, read_timeout).await?;
                    let (status, ctype, body) = answer(&head, &health, &store).await;
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
                        body.len()
                    );
                    sock.write_all(resp.as_bytes()).await?;
                    sock.write_all(body.as_bytes()).await?;
                    sock.shutdown().await
                })
                .await;
                if let Ok(Err(e)) = served {
                    debug!(peer = %peer, error = %e, "admin request failed");
                }
            });
        }
    });
    Ok((bound, task))
}

/// Read the request head (up to the blank line), bounded in size and time.
async fn read_head(sock: &mut tokio::net::TcpStream, timeout: Duration) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let read = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_HEAD {
                return Err(std::io::Error::other("request head too large"));
            }
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| std::io::Error::other("request head timed out"))??;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn answer(
    head: &str,
    health: &Health,
    store: &Store,
) -> (&'static str, &'static str, String) {
    let text = "text/plain; charset=utf-8";
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", text, "only GET\n".into());
    }
    let draining = health.draining.load(Ordering::Acquire);
    match path {
        "/health" if draining => ("503 Service Unavailable", text, "draining\n".into()),
        "/health" => ("200 OK", text, "ok\n".into()),
        "/ready" if draining => ("503 Service Unavailable", text, "draining\n".into()),
        "/ready" if !health.ready.load(Ordering::Acquire) => {
            ("503 Service Unavailable", text, "starting\n".into())
        }
        "/ready" => ("200 OK", text, "ready\n".into()),
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics_text(store, health).await,
        ),
        _ => ("404 Not Found", text, "not found\n".into()),
    }
}

async fn metrics_text(store: &Store, health: &Health) -> String {
    use metrics::label;
    let mut gauges = Vec::new();
    if let Ok(s) = store.status().await {
        let jobs = s
            .jobs_by_state
            .iter()
            .map(|(state, n)| (label("state", state), *n as f64))
            .collect();
        gauges.push(("pasarela_jobs", "Jobs in the store, by state.", jobs));
    }
    if let Ok(counts) = store.outbox_counts().await {
        let outbox = counts
            .iter()
            .map(|(state, n)| (label("state", state), *n as f64))
            .collect();
        gauges.push((
            "pasarela_outbox_messages",
            "E-mails in the outbox, by state.",
            outbox,
        ));
    }
    if let Ok((counts, oldest)) = store.review_counts().await {
        let items = counts
            .iter()
            .map(|(reason, n)| (label("reason", reason), *n as f64))
            .collect();
        gauges.push((
            "pasarela_review_items",
            "Files waiting for an operator, by reason.",
            items,
        ));
        let now = chrono::Utc::now().timestamp_millis();
        let age = oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
        gauges.push((
            "pasarela_review_oldest_age_seconds",
            "How long the oldest file in review has waited.",
            vec![(Vec::new(), age)],
        ));
        let max_age = health.review_max_age_ms.load(Ordering::Relaxed) as i64;
        if max_age > 0
            && let Ok(n) = store.review_overdue(now - max_age).await
        {
            gauges.push((
                "pasarela_review_overdue",
                "Files in review longer than [review] max_age_hours.",
                vec![(Vec::new(), n as f64)],
            ));
        }
    }
    let up = |b: bool| if b { 1.0 } else { 0.0 };
    gauges.push((
        "pasarela_ready",
        "1 when the daemon takes work.",
        vec![(Vec::new(), up(health.ready.load(Ordering::Acquire)))],
    ));
    gauges.push((
        "pasarela_draining",
        "1 while draining after SIGTERM.",
        vec![(Vec::new(), up(health.draining.load(Ordering::Acquire)))],
    ));
    metrics::render(&gauges)
}
