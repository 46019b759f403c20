//! The admin HTTP listener (`[admin] listen`, off by default): `/health`,
//! `/ready` and `/metrics` for load balancers, orchestrators and Prometheus.
//!
//! An axum router on the daemon's one HTTP stack (`crate::http`): GET and
//! HEAD only, the request head bounded in size and time (`read_timeout_ms`,
//! 5 s), at most `max_connections` (64) connections served at once (the rest
//! wait in the kernel's backlog), and answers that never contain a file or
//! account name. It keeps serving while the daemon drains (so `/health` can
//! say 503) and stops with the process.

pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    let limits = crate::http::ServeLimits {
        max_connections: listen.max_connections,
        read_timeout: listen.read_timeout,
        tls: None,
    };
    crate::http::serve(listen.addr, router(health, store), limits).await
}

/// `/health`, `/ready` and `/metrics`, GET (and HEAD) only; every answer is
/// `Cache-Control: no-store` and closes its connection.
pub fn router(health: Arc<Health>, store: Store) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/health", get(health_page))
        .route("/ready", get(ready_page))
        .route("/metrics", get(metrics_page))
        .fallback(not_found)
        .layer(axum::middleware::map_response(no_store))
        .with_state(Probes { health, store })
}

#[derive(Clone)]
struct Probes {
    health: Arc<Health>,
    store: Store,
}

type Answer = (
    axum::http::StatusCode,
    [(axum::http::header::HeaderName, &'static str); 1],
    String,
);

fn text(status: axum::http::StatusCode, body: &str) -> Answer {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        format!("{body}\n"),
    )
}

/// Probes are one request per connection (`Connection: close`), as load
/// balancers and scrapers expect: no idle connection holds a slot.
async fn no_store(mut r: axum::response::Response) -> axum::response::Response {
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

async fn not_found() -> Answer {
    text(axum::http::StatusCode::NOT_FOUND, "not found")
}

async fn health_page(axum::extract::State(p): axum::extract::State<Probes>) -> Answer {
    use axum::http::StatusCode;
    if p.health.draining.load(Ordering::Acquire) {
        text(StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        text(StatusCode::OK, "ok")
    }
}

async fn ready_page(axum::extract::State(p): axum::extract::State<Probes>) -> Answer {
    use axum::http::StatusCode;
    if p.health.draining.load(Ordering::Acquire) {
        text(StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if !p.health.ready.load(Ordering::Acquire) {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting")
    } else {
        text(StatusCode::OK, "ready")
    }
}

async fn metrics_page(axum::extract::State(p): axum::extract::State<Probes>) -> Answer {
    (
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics_text(&p.store, &p.health).await,
    )
}

/// The `/metrics` exposition: the process's counters and histograms and the
/// store's gauges, read now. The desk's dashboard shows the same text.
pub async fn metrics_text(store: &Store, health: &Health) -> String {
    use metrics::label;
    let mut gauges = Vec::new();
    if let Ok(by_state) = store.jobs_by_state().await {
        let jobs = by_state
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
