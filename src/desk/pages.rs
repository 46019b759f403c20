//! The desk's pages and actions (docs/DESK.md). Each handler checks who is
//! signed in and what their role allows before it reads anything.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::views::{self, Nav};
use super::{DeskState, Refused, State, Who, check_form, html, who};
use crate::clock::bogota_time_as;
use crate::review::{Decision, Reason};
use crate::store::review::{DecideError, Filter};

type Page = Result<Response, Refused>;

const TIME: &str = "%Y-%m-%d %H:%M";

fn when(ms: i64) -> String {
    bogota_time_as(ms, TIME)
}

/// "3 h 12 min", "2 d 4 h", "45 s": how long ago.
fn age(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn verdict_label(v: &str) -> &str {
    match v {
        "accepted" => "aceptado",
        "rejected" => "rechazado",
        "review" => "en revisión",
        "duplicate" => "duplicado",
        "dead" => "carta muerta",
        "pending" => "en cola",
        "running" => "procesando",
        other => other,
    }
}

async fn nav(st: &DeskState, w: &Who) -> Nav {
    let review_count = if w.role.sees_all() {
        st.store
            .review_counts()
            .await
            .map(|(c, _)| c.iter().map(|(_, n)| n).sum())
            .unwrap_or(0)
    } else {
        0
    };
    nav_counted(w, review_count)
}

/// The header, for a page that has read the review counts already.
fn nav_counted(w: &Who, review_count: i64) -> Nav {
    Nav {
        display: w.display.clone(),
        role_label: w.role.label(),
        account: w.account.clone(),
        csrf: w.csrf.clone(),
        sees_all: w.role.sees_all(),
        administers: w.role.administers(),
        review_count,
    }
}

/// What a job's status column shows: its verdict once done, else its state.
fn shown_state(state: &str, verdict: Option<&str>) -> String {
    match (state, verdict) {
        ("done", v) => v.unwrap_or_default().to_owned(),
        (s, _) => s.to_owned(),
    }
}

/// Are the desk's cookies `Secure` in the current configuration?
fn secure_cookies(st: &DeskState) -> bool {
    st.config().desk.as_ref().is_none_or(|d| d.cookie_secure)
}

fn staff(w: &Who) -> Result<(), Refused> {
    if w.role.sees_all() {
        Ok(())
    } else {
        Err(Refused::Forbidden)
    }
}

pub async fn not_found() -> Refused {
    Refused::NotFound
}

// ---------------------------------------------------------------- sign-in

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only a path on this site: never `//host` or `https://…`.
fn local_path(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

fn login_page(st: &DeskState, next: &str, error: Option<String>, status: StatusCode) -> Response {
    let secure = secure_cookies(st);
    let csrf = super::token();
    let page = views::Login {
        nav: None,
        flash: None,
        error,
        csrf: csrf.clone(),
        next: local_path(next),
    };
    let mut r = (status, html(&page)).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        super::set_cookie(super::login_cookie(secure), &csrf, secure, Some(3600)),
    );
    r
}

pub async fn login_form(st: State, Query(q): Query<NextQuery>) -> Response {
    login_page(&st, &q.next, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// A well-formed argon2id hash of nothing anyone knows: an unknown user
/// costs the same time as a known one.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0MxbpR0r4dFL1kDD0ohZT0Ms7tgDhtx/AZqe3ZpVwWk";

pub async fn login(
    st: State,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Page {
    let config = st.config();
    let Some(desk) = config.desk.as_ref() else {
        return Err(Refused::NotFound);
    };
    let ip = super::peer_ip(&peer);
    let ip_text = ip.to_string();
    let secure = desk.cookie_secure;
    let form_ok = super::cookie(&headers, super::login_cookie(secure))
        .is_some_and(|c| !f.csrf.is_empty() && super::same(c, &f.csrf));
    if !form_ok {
        return Ok(login_page(
            &st,
            &f.next,
            Some("El formulario caducó. Vuelva a intentarlo.".into()),
            StatusCode::FORBIDDEN,
        ));
    }
    if st.defender.is_banned(ip, Instant::now()) {
        crate::admin::metrics::inc("pasarela_desk_logins_total", &[("outcome", "banned")]);
        return Ok(login_page(
            &st,
            &f.next,
            Some("Demasiados intentos fallidos desde su dirección. Espere antes de volver a intentarlo.".into()),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let user = desk.users.get(f.user.trim()).cloned();
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_owned());
    let password = f.password.clone();
    let verified =
        tokio::task::spawn_blocking(move || crate::sftp::auth::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
    let now = st.now_ms();
    let Some(user) = user.filter(|_| verified) else {
        // Scored like an SFTP login: 1 for a known user, 2 for an unknown one.
        let score = if desk.users.contains_key(f.user.trim()) {
            1
        } else {
            2
        };
        let banned = st.defender.failed(ip, score, Instant::now());
        crate::admin::metrics::inc("pasarela_desk_logins_total", &[("outcome", "failure")]);
        let name: String = f
            .user
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        st.store
            .audit(crate::store::AuditRecord {
                account: None,
                job_id: None,
                event: "desk.login_failed",
                detail: serde_json::json!({"user": name, "ip": ip_text}),
            })
            .await?;
        if let Some(len) = banned {
            tracing::warn!(ip = %ip, ban_secs = len.as_secs(), "desk: address banned after failed sign-ins");
            let bans = st.defender.bans_of(ip) as i64;
            st.store
                .sftp_ban(&ip_text, now + len.as_millis() as i64, bans, now)
                .await?;
            st.store
                .audit(crate::store::AuditRecord {
                    account: None,
                    job_id: None,
                    event: "desk.ban",
                    detail: serde_json::json!({"ip": ip_text, "ban_secs": len.as_secs()}),
                })
                .await?;
        }
        return Ok(login_page(
            &st,
            &f.next,
            Some("Usuario o contraseña incorrectos.".into()),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let (token, csrf) = (super::token(), super::token());
    st.store
        .desk_session_open(
            &super::token_hash(&token),
            &user.name,
            user.role.as_str(),
            user.account.as_deref(),
            &csrf,
            &ip_text,
            now,
            now - desk.idle_timeout.as_millis() as i64,
        )
        .await?;
    crate::admin::metrics::inc("pasarela_desk_logins_total", &[("outcome", "success")]);
    let mut r = Redirect::to(&local_path(&f.next)).into_response();
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        super::set_cookie(
            super::session_cookie(secure),
            &token,
            secure,
            Some(desk.absolute_timeout.as_secs() as i64),
        ),
    );
    h.append(
        header::SET_COOKIE,
        super::set_cookie(super::login_cookie(secure), "", secure, Some(0)),
    );
    Ok(r)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

pub async fn logout(st: State, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Page {
    let w = who(&st, &headers, "/").await?;
    check_form(&w, &headers, f.csrf.as_deref())?;
    let now = st.now_ms();
    let session = crate::store::desk::DeskSession {
        user: w.user.clone(),
        role: w.role.as_str().to_owned(),
        account: w.account.clone(),
        csrf: String::new(),
        created_at: now,
        last_seen: now,
    };
    st.store
        .desk_session_close(&w.token_hash, &session, now, "signed out")
        .await?;
    let secure = secure_cookies(&st);
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        super::set_cookie(super::session_cookie(secure), "", secure, Some(0)),
    );
    Ok(r)
}

// ---------------------------------------------------------------- dashboard

/// Hours shown in the throughput chart.
const HOURS: usize = 24;

pub async fn home(st: State, headers: HeaderMap) -> Page {
    let w = who(&st, &headers, "/").await?;
    if !w.role.sees_all() {
        return Ok(Redirect::to("/jobs").into_response());
    }
    let now_ms = st.now_ms();
    let now = st.clock.now();
    let day_start = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|d| d.and_local_timezone(*now.offset()).single())
        .map_or(now_ms, |d| d.timestamp_millis());
    let d = st.store.dashboard(now_ms, day_start, HOURS).await?;
    let (counts, oldest) = st.store.review_counts().await?;
    let config = st.config();
    let overdue = st
        .store
        .review_overdue(now_ms - config.review.max_age.as_millis() as i64)
        .await?;
    let metrics = crate::admin::metrics_text(&st.store, &st.health).await;
    let verdicts: Vec<(String, i64)> = d
        .verdicts_today
        .iter()
        .map(|(v, n)| (verdict_label(v).to_owned(), *n))
        .collect();
    let reasons: Vec<(String, i64)> = counts
        .iter()
        .map(|(r, n)| {
            (
                Reason::parse(r)
                    .map_or(r.as_str(), |r| r.label())
                    .to_owned(),
                *n,
            )
        })
        .collect();
    let first_hour = now_ms - HOURS as i64 * 3_600_000;
    let review_total = counts.iter().map(|(_, n)| n).sum();
    let page = views::DashboardPage {
        nav: Some(nav_counted(&w, review_total)),
        flash: None,
        today_total: d.verdicts_today.iter().map(|(_, n)| n).sum(),
        review_total,
        oldest_age: oldest.map(|t| age(now_ms - t)),
        overdue,
        queued: d.queued,
        dead: d.dead,
        hours: HOURS,
        verdict_chart: super::charts::hbars(&verdicts, "chart-verdicts"),
        hourly_chart: super::charts::columns(&d.per_hour, "chart-hourly", |i| {
            bogota_time_as(first_hour + i as i64 * 3_600_000, "%Hh")
        }),
        reason_chart: super::charts::hbars(&reasons, "chart-reasons"),
        metrics,
    };
    Ok(html(&page))
}

// ---------------------------------------------------------------- review queue

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    account: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    older_than_hours: String,
    #[serde(default)]
    decided: Option<i64>,
}

pub async fn queue(st: State, headers: HeaderMap, Query(q): Query<QueueQuery>) -> Page {
    let w = who(&st, &headers, "/review").await?;
    staff(&w)?;
    let config = st.config();
    let reason = match q.reason.as_str() {
        "" => None,
        r => Some(
            Reason::parse(r)
                .ok_or_else(|| Refused::BadRequest(format!("motivo desconocido: {r}")))?,
        ),
    };
    let older: Option<i64> = match q.older_than_hours.trim() {
        "" => None,
        h => Some(
            h.parse::<i64>()
                .map_err(|_| Refused::BadRequest("las horas son un número entero".into()))?,
        ),
    };
    let now = st.now_ms();
    let filter = Filter {
        account: (!q.account.is_empty()).then_some(q.account.as_str()),
        reason,
        since_before: older.map(|h| now - h.clamp(0, 24 * 365) * 3_600_000),
        limit: Some(500),
    };
    let items = st.store.review_queue(&filter).await?;
    let (counts, _) = st.store.review_counts().await?;
    let overdue_before = now - config.review.max_age.as_millis() as i64;
    let page = views::QueuePage {
        nav: Some(nav_counted(&w, counts.iter().map(|(_, n)| n).sum())),
        flash: Decided { decided: q.decided }.flash(),
        counts: counts
            .iter()
            .map(|(r, n)| {
                let label = Reason::parse(r).map_or(r.clone(), |x| x.label().to_owned());
                (r.clone(), label, *n)
            })
            .collect(),
        accounts: config
            .accounts
            .keys()
            .map(|a| (a.clone(), *a == q.account))
            .collect(),
        reasons: Reason::ALL
            .iter()
            .map(|r| {
                (
                    r.as_str().to_owned(),
                    r.label().to_owned(),
                    Some(*r) == reason,
                )
            })
            .collect(),
        older_than: q.older_than_hours.clone(),
        items: items
            .iter()
            .map(|i| views::QueueRow {
                id: i.job_id,
                account: i.account.clone(),
                file: i.file.clone(),
                reason: Reason::parse(&i.reason).map_or(i.reason.clone(), |r| r.label().to_owned()),
                since: when(i.since),
                age: age(now - i.since),
                overdue: i.since < overdue_before,
            })
            .collect(),
    };
    Ok(html(&page))
}

fn parse_json(s: Option<&str>) -> serde_json::Value {
    s.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

fn findings_of(result: &serde_json::Value) -> Vec<views::FindingRow> {
    result["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| views::FindingRow {
            code: f["code"].as_str().unwrap_or("").to_owned(),
            severity: f["severity"].as_str().unwrap_or("").to_owned(),
            message: f["message"].as_str().unwrap_or("").to_owned(),
        })
        .collect()
}

fn field_label(name: &str) -> &str {
    match name {
        "number" => "Número",
        "prefix" => "Prefijo",
        "issue_date" => "Fecha de emisión",
        "issue_time" => "Hora de emisión",
        "due_date" => "Vencimiento",
        "supplier_name" => "Vendedor",
        "supplier_nit" => "NIT del vendedor",
        "supplier_dv" => "DV del vendedor",
        "customer_name" => "Comprador",
        "customer_id_type" => "Tipo de documento del comprador",
        "customer_id" => "Documento del comprador",
        "customer_dv" => "DV del comprador",
        "subtotal" => "Subtotal",
        "tax_iva" => "IVA",
        "tax_other" => "Otros impuestos",
        "total" => "Total",
        "cufe" => "CUFE",
        other => other,
    }
}

fn source_label(s: &str) -> &str {
    match s {
        "qr" => "QR",
        "text" => "texto",
        "ocr" => "OCR",
        "xml" => "XML",
        "sheet" | "excel" => "hoja",
        "operator" => "operador",
        other => other,
    }
}

/// The fields of a result, each with its source and confidence: a reading's
/// extracted fields, or an electronic invoice's document fields (source XML,
/// certain).
fn fields_of(result: &serde_json::Value) -> Vec<views::FieldRow> {
    let mut out = Vec::new();
    if let Some(fields) = result
        .pointer("/extraction/fields")
        .and_then(|f| f.as_object())
    {
        // Every field an approval may correct, read or not (an unread one is
        // empty, for the operator to fill in), then the other fields read.
        let extra = fields
            .keys()
            .filter(|k| *k != "lines" && !crate::review::FIELDS.contains(&k.as_str()))
            .map(String::as_str);
        for k in crate::review::FIELDS.iter().copied().chain(extra) {
            let f = fields.get(k);
            let conf = f.and_then(|f| f["confidence"].as_f64());
            let value = match f.map(|f| &f["value"]) {
                Some(serde_json::Value::String(s)) => s.clone(),
                None | Some(serde_json::Value::Null) => String::new(),
                Some(v) => v.to_string(),
            };
            let source = f
                .and_then(|f| f["source"].as_str())
                .unwrap_or("")
                .to_owned();
            out.push(views::FieldRow {
                label: field_label(k).to_owned(),
                value,
                source_label: if f.is_some() {
                    source_label(&source).to_owned()
                } else {
                    "no leído".to_owned()
                },
                source: if f.is_some() {
                    source
                } else {
                    "none".to_owned()
                },
                confidence: conf.map_or_else(|| "—".to_owned(), |c| format!("{:.0} %", c * 100.0)),
                level: match conf {
                    Some(c) if c >= 0.9 => "high",
                    Some(c) if c >= 0.6 => "medium",
                    _ => "low",
                },
                editable: crate::review::FIELDS.contains(&k),
                name: k.to_owned(),
            });
        }
    } else if let Some(d) = result.get("document").filter(|d| d.is_object()) {
        let s = |p: &str| {
            d.pointer(p)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        for (name, value) in [
            ("number", s("/number")),
            ("issue_date", s("/issue_date")),
            ("supplier_name", s("/supplier/name")),
            ("supplier_nit", s("/supplier/id")),
            ("customer_name", s("/customer/name")),
            ("customer_id", s("/customer/id")),
            ("total", s("/totals/payable")),
            (
                "cufe",
                if d.get("cufe").is_some() {
                    s("/cufe")
                } else {
                    s("/cude")
                },
            ),
        ] {
            out.push(views::FieldRow {
                label: field_label(name).to_owned(),
                name: name.to_owned(),
                value,
                source: "xml".into(),
                source_label: "XML".into(),
                confidence: "100 %".into(),
                level: "high",
                editable: false,
            });
        }
    }
    out
}

/// The invoice's lines: as priced (catalog product matched, or not), or as
/// read from the page when pricing has not run yet.
fn lines_of(result: &serde_json::Value) -> Vec<views::LineRow> {
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => String::new(),
        Some(v) => v.to_string(),
    };
    if let Some(priced) = result["registration_lines"].as_array() {
        return priced
            .iter()
            .enumerate()
            .map(|(i, l)| views::LineRow {
                n: l["line"].as_u64().map_or(i + 1, |n| n as usize),
                description: text(l.get("description")),
                quantity: text(l.get("quantity")),
                code: text(l.pointer("/product/code")),
                status: text(l.get("status")),
            })
            .collect();
    }
    result
        .pointer("/extraction/fields/lines")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, l)| views::LineRow {
            n: i + 1,
            description: text(l.get("description")),
            quantity: format!("{} {}", text(l.get("quantity")), text(l.get("unit"))),
            code: String::new(),
            status: format!(
                "leída ({:.0} %)",
                l["confidence"].as_f64().unwrap_or(0.0) * 100.0
            ),
        })
        .collect()
}

pub async fn item(
    st: State,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(decided): Query<Decided>,
) -> Page {
    let w = who(&st, &headers, &format!("/review/{id}")).await?;
    staff(&w)?;
    let Some(row) = st.store.job_row(id).await? else {
        return Err(Refused::NotFound);
    };
    let Some(job) = st.store.job(id).await? else {
        return Err(Refused::NotFound);
    };
    let result = parse_json(st.store.result_json(id).await?.as_deref());
    let pending = st.store.pending_decision(id).await?;
    let queue = st
        .store
        .review_queue(&Filter {
            limit: Some(2),
            ..Filter::default()
        })
        .await?;
    let next_id = queue.iter().map(|i| i.job_id).find(|j| *j != id);
    let format = job.format.unwrap_or(crate::result::Format::Unknown);
    let pages = if super::preview::has_pages(format) {
        result
            .pointer("/extraction/pages")
            .and_then(|p| p.as_array())
            .map_or(1, Vec::len)
            .clamp(1, super::preview::MAX_PAGES)
    } else {
        0
    };
    let in_review = row.review_reason.is_some() && matches!(row.state.as_str(), "done" | "dead");
    let page = views::ItemPage {
        nav: Some(nav(&st, &w).await),
        flash: decided.flash(),
        id,
        account: row.account.clone(),
        file: row.file.clone(),
        reason: row
            .review_reason
            .as_deref()
            .map(|r| Reason::parse(r).map_or(r.to_owned(), |x| x.label().to_owned()))
            .unwrap_or_else(|| {
                format!(
                    "no está en revisión ({})",
                    verdict_label(row.verdict.as_deref().unwrap_or(&row.state))
                )
            }),
        since: when(row.updated_at),
        format: format.as_str().to_owned(),
        next_id,
        pending: pending.map(|p| {
            format!(
                "Hay una decisión ({}) de {} esperando a aplicarse.",
                p.decision.word(),
                p.decision.operator()
            )
        }),
        pages,
        page_numbers: (1..=pages).collect(),
        fields: fields_of(&result),
        lines: lines_of(&result),
        findings: findings_of(&result),
        can_decide: w.role.decides() && in_review,
        csrf: w.csrf.clone(),
    };
    Ok(html(&page))
}

/// What the page after a decision says: which job's decision was recorded
/// (carried in the redirect's query).
#[derive(Deserialize, Default)]
pub struct Decided {
    #[serde(default)]
    decided: Option<i64>,
}

impl Decided {
    fn flash(&self) -> Option<String> {
        self.decided.map(|id| {
            format!("Decisión registrada para el envío {id}: el demonio la aplica en su próxima ejecución.")
        })
    }
}

async fn decide(st: &DeskState, w: &Who, id: i64, decision: Decision) -> Page {
    match st.store.decide(id, &decision, st.now_ms()).await {
        Ok(_) => {
            // The next item opens: the oldest still waiting.
            let next = st
                .store
                .review_queue(&Filter {
                    limit: Some(1),
                    ..Filter::default()
                })
                .await?;
            let to = match next.first() {
                Some(n) => format!("/review/{}?decided={id}", n.job_id),
                None => format!("/review?decided={id}"),
            };
            tracing::info!(job = id, user = %w.user, decision = decision.word(), "desk: review decision recorded");
            Ok(Redirect::to(&to).into_response())
        }
        Err(DecideError::Store(e)) => Err(e.into()),
        Err(e @ DecideError::NoSuchJob(_)) => Err(Refused::BadRequest(e.to_string())),
        Err(e) => Err(Refused::BadRequest(match e {
            DecideError::NotInReview { .. } => format!("El envío {id} ya no espera revisión."),
            DecideError::Pending(_) => {
                format!("El envío {id} ya tiene una decisión esperando a aplicarse.")
            }
            other => other.to_string(),
        })),
    }
}

pub async fn approve(
    st: State,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Page {
    let w = who(&st, &headers, &format!("/review/{id}")).await?;
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    check_form(&w, &headers, csrf)?;
    if !w.role.decides() {
        return Err(Refused::Forbidden);
    }
    // A correction is a field whose value the operator changed.
    let orig: BTreeMap<&str, &str> = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("orig.").map(|k| (k, v.as_str())))
        .collect();
    let changed: Vec<String> = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("set.").map(|k| (k, v.trim())))
        .filter(|(k, v)| orig.get(k).is_none_or(|o| o.trim() != *v) && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let decision = Decision::approve(&w.user, changed.iter().map(String::as_str))
        .map_err(|e| Refused::BadRequest(format!("Corrección no válida: {e}")))?;
    decide(&st, &w, id, decision).await
}

#[derive(Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    st: State,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<RejectForm>,
) -> Page {
    let w = who(&st, &headers, &format!("/review/{id}")).await?;
    check_form(&w, &headers, f.csrf.as_deref())?;
    if !w.role.decides() {
        return Err(Refused::Forbidden);
    }
    if f.reason.trim().is_empty() {
        return Err(Refused::BadRequest(
            "El rechazo necesita un motivo: el remitente lo lee.".into(),
        ));
    }
    let decision = Decision::Reject {
        operator: w.user.clone(),
        reason: f.reason.trim().to_owned(),
    };
    decide(&st, &w, id, decision).await
}

// ---------------------------------------------------------------- search and jobs

#[derive(Deserialize, Default)]
pub struct JobsQuery {
    #[serde(default)]
    nit: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    cufe: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    before: Option<i64>,
}

const VERDICTS: &[&str] = &[
    "accepted",
    "rejected",
    "review",
    "duplicate",
    "dead",
    "pending",
    "running",
];

fn day_ms(st: &DeskState, day: &str, next: bool) -> Result<Option<i64>, Refused> {
    if day.trim().is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| Refused::BadRequest(format!("fecha no válida: {day} (AAAA-MM-DD)")))?;
    let d = if next { d.succ_opt().unwrap_or(d) } else { d };
    let offset = *st.clock.now().offset();
    Ok(d.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(offset).single())
        .map(|t| t.timestamp_millis()))
}

pub async fn jobs(st: State, headers: HeaderMap, Query(q): Query<JobsQuery>) -> Page {
    let w = who(&st, &headers, "/jobs").await?;
    let config = st.config();
    if !q.verdict.is_empty() && !VERDICTS.contains(&q.verdict.as_str()) {
        return Err(Refused::BadRequest(format!(
            "veredicto desconocido: {}",
            q.verdict
        )));
    }
    // An entity's search is always of its own account.
    let account = match &w.account {
        Some(a) if !w.role.sees_all() => Some(a.clone()),
        _ => (!q.account.is_empty()).then(|| q.account.clone()),
    };
    let limit = 100;
    let search = crate::store::desk::Search {
        account,
        cufe: Some(q.cufe.trim().to_lowercase()).filter(|s| !s.is_empty()),
        supplier_nit: Some(q.nit.trim().to_owned()),
        number: Some(q.number.trim().to_owned()),
        from_ms: day_ms(&st, &q.from, false)?,
        to_ms: day_ms(&st, &q.to, true)?,
        verdict: Some(q.verdict.clone()),
        before_id: q.before,
        limit,
    };
    let rows = st.store.job_search(&search).await?;
    let more = (rows.len() as i64 == limit).then(|| {
        let last = rows.last().map_or(0, |r| r.id);
        format!(
            "/jobs?nit={}&number={}&cufe={}&account={}&from={}&to={}&verdict={}&before={last}",
            super::url_escape(&q.nit),
            super::url_escape(&q.number),
            super::url_escape(&q.cufe),
            super::url_escape(&q.account),
            super::url_escape(&q.from),
            super::url_escape(&q.to),
            super::url_escape(&q.verdict),
        )
    });
    let page = views::JobsPage {
        nav: Some(nav(&st, &w).await),
        flash: None,
        entity: !w.role.sees_all(),
        q: views::SearchForm {
            nit: q.nit.clone(),
            number: q.number.clone(),
            cufe: q.cufe.clone(),
            from: q.from.clone(),
            to: q.to.clone(),
        },
        accounts: config
            .accounts
            .keys()
            .map(|a| (a.clone(), *a == q.account))
            .collect(),
        verdicts: VERDICTS
            .iter()
            .map(|v| (v.to_string(), verdict_label(v).to_owned(), *v == q.verdict))
            .collect(),
        rows: rows
            .iter()
            .map(|r| {
                let v = shown_state(&r.state, r.verdict.as_deref());
                let cufe = r.cufe.clone().unwrap_or_default();
                views::JobListRow {
                    id: r.id,
                    account: r.account.clone(),
                    file: r.file.clone(),
                    received: when(r.received_at),
                    verdict: verdict_label(&v).to_owned(),
                    verdict_class: v,
                    nit: r.supplier_nit.clone().unwrap_or_default(),
                    number: r.number.clone().unwrap_or_default(),
                    cufe_short: cufe.chars().take(12).collect(),
                    cufe,
                }
            })
            .collect(),
        more,
    };
    Ok(html(&page))
}

/// The job `id` if `w` may see it.
async fn visible_job(st: &DeskState, w: &Who, id: i64) -> Result<crate::store::Job, Refused> {
    match st.store.job(id).await? {
        Some(j) if w.sees(&j.account) => Ok(j),
        // Another account's job is "not found", not "forbidden": an entity
        // learns nothing of what others sent.
        _ => Err(Refused::NotFound),
    }
}

pub async fn job(st: State, headers: HeaderMap, Path(id): Path<i64>) -> Page {
    let w = who(&st, &headers, &format!("/jobs/{id}")).await?;
    let job = visible_job(&st, &w, id).await?;
    let row = st.store.job_row(id).await?.ok_or(Refused::NotFound)?;
    let result_text = st.store.result_json(id).await?;
    let result = parse_json(result_text.as_deref());
    let decisions = st.store.decisions_of(id).await?;
    let audit = if w.role.sees_all() {
        st.store.audit_of(id).await?
    } else {
        Vec::new()
    };
    let certificate = match st.store.certificate_for_job(id).await? {
        Some(c) => {
            let path = std::path::PathBuf::from(&c.path);
            let record = c.clone();
            let (ok, status) = match tokio::task::spawn_blocking(move || std::fs::read(path)).await
            {
                Ok(Ok(bytes)) => crate::certificate::judge(&bytes, Some(&record)),
                _ => (
                    false,
                    "NO DISPONIBLE: el archivo del certificado no está en su carpeta".to_owned(),
                ),
            };
            Some(views::CertificateView {
                number: c.number,
                ok,
                status,
            })
        }
        None => None,
    };
    let v = shown_state(&row.state, row.verdict.as_deref());
    let page = views::JobPage {
        nav: Some(nav(&st, &w).await),
        flash: None,
        id,
        account: job.account.clone(),
        file: job.rel_path.clone(),
        verdict: verdict_label(&v).to_owned(),
        verdict_class: v,
        received: when(job.received_at),
        size: job.size,
        sha256: job.sha256.clone(),
        in_review: w.role.sees_all()
            && row.review_reason.is_some()
            && matches!(row.state.as_str(), "done" | "dead"),
        can_replay: w.role.administers() && row.state == "dead",
        csrf: w.csrf.clone(),
        certificate,
        findings: findings_of(&result),
        decisions: decisions
            .iter()
            .map(|d| {
                format!(
                    "{} · {} por {}{}{}",
                    when(d.decided_at),
                    if d.decision == "approve" {
                        "aprobado"
                    } else {
                        "rechazado"
                    },
                    d.operator,
                    d.reason
                        .as_deref()
                        .map(|r| format!(" («{r}»)"))
                        .unwrap_or_default(),
                    d.outcome
                        .as_deref()
                        .map(|o| format!(" → {}", verdict_label(o)))
                        .unwrap_or_else(|| " (por aplicar)".to_owned())
                )
            })
            .collect(),
        audit: audit
            .iter()
            .map(|(at, ev, d)| (when(*at), ev.clone(), d.clone()))
            .collect(),
        result_json: result_text
            .as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| "(sin resultado todavía)".to_owned()),
    };
    Ok(html(&page))
}

/// A file download: never rendered by the browser, whatever it contains.
fn download(bytes: Vec<u8>, name: &str, ctype: &'static str) -> Response {
    let safe: String = name
        .rsplit('/')
        .next()
        .unwrap_or("archivo")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let mut r = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ctype)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    r
}

/// Where the original file of a job is now: still in the spool, or archived.
fn original_path(job: &crate::store::Job) -> Option<std::path::PathBuf> {
    if job.spool_path.is_file() {
        return Some(job.spool_path.clone());
    }
    job.archive_path.clone().filter(|p| p.is_file())
}

async fn read_original(st: &DeskState, job: &crate::store::Job) -> Result<Vec<u8>, Refused> {
    let Some(path) = original_path(job) else {
        return Err(Refused::NotFound);
    };
    let max = st.config().daemon.max_file_bytes;
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let f = std::fs::File::open(&path)?;
        let len = f.metadata()?.len();
        if len > max {
            return Err(std::io::Error::other(
                "file larger than daemon.max_file_bytes",
            ));
        }
        let mut buf = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(f, max + 1), &mut buf)?;
        Ok(buf)
    })
    .await;
    match read {
        Ok(Ok(b)) => Ok(b),
        _ => Err(Refused::NotFound),
    }
}

pub async fn original(st: State, headers: HeaderMap, Path(id): Path<i64>) -> Page {
    let w = who(&st, &headers, &format!("/jobs/{id}")).await?;
    let job = visible_job(&st, &w, id).await?;
    let bytes = read_original(&st, &job).await?;
    st.store
        .audit(crate::store::AuditRecord {
            account: Some(&job.account),
            job_id: Some(id),
            event: "desk.download",
            detail: serde_json::json!({"user": w.user, "what": "original"}),
        })
        .await?;
    Ok(download(bytes, &job.rel_path, "application/octet-stream"))
}

pub async fn certificate(st: State, headers: HeaderMap, Path(id): Path<i64>) -> Page {
    let w = who(&st, &headers, &format!("/jobs/{id}")).await?;
    let job = visible_job(&st, &w, id).await?;
    let Some(c) = st.store.certificate_for_job(id).await? else {
        return Err(Refused::NotFound);
    };
    let path = std::path::PathBuf::from(&c.path);
    let bytes = match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(b)) => b,
        _ => return Err(Refused::NotFound),
    };
    st.store
        .audit(crate::store::AuditRecord {
            account: Some(&job.account),
            job_id: Some(id),
            event: "desk.download",
            detail: serde_json::json!({"user": w.user, "what": "certificate", "number": c.number}),
        })
        .await?;
    Ok(download(
        bytes,
        &format!("{}.pdf", c.number),
        "application/pdf",
    ))
}

pub async fn page_image(
    st: State,
    headers: HeaderMap,
    Path((id, page)): Path<(i64, String)>,
) -> Page {
    let w = who(&st, &headers, &format!("/jobs/{id}")).await?;
    staff(&w)?;
    let job = visible_job(&st, &w, id).await?;
    let n: usize = page
        .strip_suffix(".png")
        .and_then(|n| n.parse().ok())
        .ok_or(Refused::NotFound)?;
    let format = job.format.unwrap_or(crate::result::Format::Unknown);
    let path = original_path(&job).ok_or(Refused::NotFound)?;
    let max = st.config().daemon.max_file_bytes;
    let read = move || -> std::io::Result<Vec<u8>> {
        if std::fs::metadata(&path)?.len() > max {
            return Err(std::io::Error::other(
                "file larger than daemon.max_file_bytes",
            ));
        }
        std::fs::read(&path)
    };
    match super::preview::page(&st.previews, &job.sha256, read, format, n).await {
        Ok(Some(png)) => Ok((
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=600"),
            ],
            png.as_ref().clone(),
        )
            .into_response()),
        Ok(None) => Err(Refused::NotFound),
        Err(e) => {
            tracing::warn!(job = id, error = %e, "desk: page image failed");
            Err(Refused::NotFound)
        }
    }
}

pub async fn replay(
    st: State,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Page {
    let w = who(&st, &headers, &format!("/jobs/{id}")).await?;
    check_form(&w, &headers, f.csrf.as_deref())?;
    if !w.role.administers() {
        return Err(Refused::Forbidden);
    }
    let job = visible_job(&st, &w, id).await?;
    if job.state != crate::store::JobState::Dead {
        return Err(Refused::BadRequest(format!(
            "El envío {id} no es una carta muerta."
        )));
    }
    let now = st.now_ms();
    st.store.replay(id, now).await?;
    st.store
        .audit(crate::store::AuditRecord {
            account: Some(&job.account),
            job_id: Some(id),
            event: "desk.replay",
            detail: serde_json::json!({"user": w.user}),
        })
        .await?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

// ---------------------------------------------------------------- audit, reports, bans

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    event: String,
    #[serde(default)]
    before: Option<i64>,
}

pub async fn audit(st: State, headers: HeaderMap, Query(q): Query<AuditQuery>) -> Page {
    let w = who(&st, &headers, "/audit").await?;
    staff(&w)?;
    let limit = 200;
    let rows = st
        .store
        .audit_page(None, Some(q.event.trim()), q.before, limit)
        .await?;
    let more = (rows.len() as i64 == limit).then(|| {
        format!(
            "/audit?event={}&before={}",
            super::url_escape(q.event.trim()),
            rows.last().map_or(0, |r| r.id)
        )
    });
    let page = views::AuditPage {
        nav: Some(nav(&st, &w).await),
        flash: None,
        event: q.event.clone(),
        rows: rows
            .iter()
            .map(|r| views::AuditView {
                at: bogota_time_as(r.at, "%Y-%m-%d %H:%M:%S"),
                event: r.event.clone(),
                account: r.account.clone().unwrap_or_default(),
                job: r.job_id,
                detail: r.detail.chars().take(400).collect(),
            })
            .collect(),
        more,
    };
    Ok(html(&page))
}

pub async fn reports(st: State, headers: HeaderMap) -> Page {
    let w = who(&st, &headers, "/reports").await?;
    staff(&w)?;
    let rows = st.store.reports_published(200).await?;
    let page = views::ReportsPage {
        nav: Some(nav(&st, &w).await),
        flash: None,
        rows: rows
            .into_iter()
            .map(|(k, p, sha, n, at)| (k, p, n, when(at), sha))
            .collect(),
    };
    Ok(html(&page))
}

pub async fn bans(st: State, headers: HeaderMap) -> Page {
    let w = who(&st, &headers, "/bans").await?;
    if !w.role.administers() {
        return Err(Refused::Forbidden);
    }
    let rows = st.store.sftp_bans(st.now_ms()).await?;
    let page = views::BansPage {
        nav: Some(nav(&st, &w).await),
        flash: None,
        csrf: w.csrf.clone(),
        rows: rows
            .into_iter()
            .map(|b| (b.addr, when(b.until_at), b.bans))
            .collect(),
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
pub struct LiftForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    ip: String,
}

pub async fn lift_ban(st: State, headers: HeaderMap, Form(f): Form<LiftForm>) -> Page {
    let w = who(&st, &headers, "/bans").await?;
    check_form(&w, &headers, f.csrf.as_deref())?;
    if !w.role.administers() {
        return Err(Refused::Forbidden);
    }
    let ip: std::net::IpAddr =
        f.ip.trim()
            .parse()
            .map_err(|_| Refused::BadRequest(format!("dirección no válida: {}", f.ip)))?;
    st.defender.lift(ip, Instant::now());
    st.store
        .sftp_ban_lift(&ip.to_string(), &w.user, st.now_ms())
        .await?;
    Ok(Redirect::to("/bans").into_response())
}
