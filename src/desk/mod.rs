//! The desk: the web console of the exchange's operators, supervisors,
//! auditors and external entities (docs/DESK.md).
//!
//! Server-rendered pages (compiled templates, `views`), served on the
//! daemon's one HTTP stack (`crate::http`) on `[desk] listen`. Users and
//! roles come from configuration (re-read on every reload); sessions live in
//! the store, so several daemons on one PostgreSQL serve one sign-in. Every
//! form carries the session's anti-forgery token; sign-in attempts are scored
//! by the same defender as SFTP logins; sign-ins, sign-outs and every
//! decision go to the audit trail. The review actions are the store's, the
//! same ones `pasarela review` performs.

pub mod charts;
pub mod config;
mod pages;
mod preview;
pub mod views;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::Digest as _;
use tokio::sync::watch;

use crate::admin::Health;
use crate::pipeline::Generation;
use crate::sftp::defense::Defender;
use crate::store::Store;
use config::Role;

/// What the desk's handlers share.
pub struct DeskState {
    pub store: Store,
    /// The current generation: users, roles and accounts follow reloads.
    pub generation: watch::Receiver<Arc<Generation>>,
    /// Shared with the SFTP server: failed sign-ins here count there too.
    pub defender: Arc<Defender>,
    pub health: Arc<Health>,
    pub clock: crate::clock::Clock,
    previews: preview::Cache,
}

impl DeskState {
    pub fn new(
        store: Store,
        generation: watch::Receiver<Arc<Generation>>,
        defender: Arc<Defender>,
        health: Arc<Health>,
        clock: crate::clock::Clock,
    ) -> Arc<DeskState> {
        Arc::new(DeskState {
            store,
            generation,
            defender,
            health,
            clock,
            previews: preview::Cache::default(),
        })
    }

    fn config(&self) -> Arc<crate::config::Config> {
        self.generation.borrow().config.clone()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }
}

type State = axum::extract::State<Arc<DeskState>>;

/// Bind `[desk] listen` and serve until the returned task is aborted.
pub async fn start(
    desk: &config::Desk,
    state: Arc<DeskState>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let tls = match &desk.tls {
        Some((cert, key)) => Some(crate::http::tls_config(cert, key)?),
        None => None,
    };
    let limits = crate::http::ServeLimits {
        max_connections: desk.max_connections,
        read_timeout: desk.read_timeout,
        tls,
    };
    Ok(crate::http::serve(desk.listen, router(state), limits).await?)
}

/// Every page of the desk, with `/health` and `/ready`.
pub fn router(state: Arc<DeskState>) -> axum::Router {
    use axum::routing::{get, post};
    let probes = crate::admin::router(state.health.clone(), state.store.clone());
    axum::Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/review", get(pages::queue))
        .route("/review/{id}", get(pages::item))
        .route("/review/{id}/approve", post(pages::approve))
        .route("/review/{id}/reject", post(pages::reject))
        .route("/jobs", get(pages::jobs))
        .route("/jobs/{id}", get(pages::job))
        .route("/jobs/{id}/original", get(pages::original))
        .route("/jobs/{id}/certificate", get(pages::certificate))
        .route("/jobs/{id}/pages/{page}", get(pages::page_image))
        .route("/jobs/{id}/replay", post(pages::replay))
        .route("/audit", get(pages::audit))
        .route("/reports", get(pages::reports))
        .route("/bans", get(pages::bans))
        .route("/bans/lift", post(pages::lift_ban))
        .route("/static/desk.css", get(stylesheet))
        .route("/static/desk.js", get(script))
        .route_service("/health", probes.clone())
        .route_service("/ready", probes)
        .fallback(pages::not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers every answer carries: no framing, no sniffing, no referrer, a
/// strict content security policy (own scripts and styles only, images from
/// the desk or inline SVG), and no caching of pages.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    r
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", include_str!("static/desk.css"))
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("static/desk.js"),
    )
}

fn static_file(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The session cookie's name: with the `__Host-` prefix when cookies are
/// Secure (the browser then refuses it from anything but this host over
/// HTTPS, and any path or domain attribute).
fn session_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-pasarela_session"
    } else {
        "pasarela_session"
    }
}

/// The sign-in form's anti-forgery cookie (double submit: the form carries
/// the same value).
fn login_cookie(secure: bool) -> &'static str {
    if secure {
        "__Host-pasarela_login"
    } else {
        "pasarela_login"
    }
}

fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// 32 random bytes, hex.
fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Equal strings, compared in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: String,
    pub display: String,
    pub role: Role,
    /// Entity users: the one account they see.
    pub account: Option<String>,
    pub csrf: String,
    token_hash: String,
}

impl Who {
    /// May this user see jobs of `account`?
    fn sees(&self, account: &str) -> bool {
        self.role.sees_all() || self.account.as_deref() == Some(account)
    }
}

/// Why a request is not answered with its page.
#[derive(Debug)]
pub enum Refused {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn {
        next: String,
    },
    /// Signed in, but the role may not do this.
    Forbidden,
    /// A form without the session's anti-forgery token.
    Forgery,
    NotFound,
    BadRequest(String),
    /// The store failed; the detail is logged, not shown.
    Unavailable(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, heading, text) = match self {
            Refused::SignIn { next } => {
                let to = format!("/login?next={}", url_escape(&next));
                return Redirect::to(&to).into_response();
            }
            Refused::Forbidden => (
                StatusCode::FORBIDDEN,
                "Acceso denegado",
                "Su rol no permite esta acción.".to_owned(),
            ),
            Refused::Forgery => (
                StatusCode::FORBIDDEN,
                "Formulario no válido",
                "El formulario no trae el código de seguridad de su sesión. Vuelva a cargar la página e inténtelo de nuevo.".to_owned(),
            ),
            Refused::NotFound => (
                StatusCode::NOT_FOUND,
                "No encontrado",
                "La página o el envío no existe, o no es visible para su usuario.".to_owned(),
            ),
            Refused::BadRequest(why) => (StatusCode::BAD_REQUEST, "Solicitud no válida", why),
            Refused::Unavailable(detail) => {
                tracing::warn!(error = %detail, "desk: store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Servicio no disponible",
                    "El almacén de datos no responde. Inténtelo en un momento.".to_owned(),
                )
            }
        };
        let page = views::ErrorPage {
            nav: None,
            flash: None,
            heading: heading.to_owned(),
            text,
        };
        (status, html(&page)).into_response()
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(e: crate::store::StoreError) -> Self {
        Refused::Unavailable(e.to_string())
    }
}

fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "desk: template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "error").into_response()
        }
    }
}

/// Percent-encode a query value.
fn url_escape(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The signed-in user of `headers`, or why not. `path` is where to come
/// back after signing in.
async fn who(st: &DeskState, headers: &HeaderMap, path: &str) -> Result<Who, Refused> {
    let config = st.config();
    let Some(desk) = config.desk.as_ref() else {
        return Err(Refused::NotFound);
    };
    let sign_in = || Refused::SignIn {
        next: path.to_owned(),
    };
    let Some(t) = cookie(headers, session_cookie(desk.cookie_secure)) else {
        return Err(sign_in());
    };
    let hash = token_hash(t);
    let now = st.now_ms();
    let Some(s) = st
        .store
        .desk_session(
            &hash,
            now,
            desk.idle_timeout.as_millis() as i64,
            desk.absolute_timeout.as_millis() as i64,
        )
        .await?
    else {
        return Err(sign_in());
    };
    // The configuration decides, now: a user removed or whose role or
    // account changed since signing in is signed out.
    let user = desk.users.get(&s.user);
    let current = user.filter(|u| u.role.as_str() == s.role && u.account == s.account);
    let Some(u) = current else {
        st.store
            .desk_session_close(&hash, &s, now, "user changed in configuration")
            .await?;
        return Err(sign_in());
    };
    Ok(Who {
        user: u.name.clone(),
        display: u.display_name.clone(),
        role: u.role,
        account: u.account.clone(),
        csrf: s.csrf,
        token_hash: hash,
    })
}

/// Check a form's anti-forgery token, and the Origin header when the
/// browser sends one.
fn check_form(who: &Who, headers: &HeaderMap, csrf: Option<&str>) -> Result<(), Refused> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
        if origin != "null" && origin_host != host {
            return Err(Refused::Forgery);
        }
    }
    match csrf {
        Some(t) if same(t, &who.csrf) => Ok(()),
        _ => Err(Refused::Forgery),
    }
}

fn peer_ip(addr: &SocketAddr) -> IpAddr {
    crate::sftp::defense::canonical_ip(addr.ip())
}
