//! The desk's pages as compiled templates (`src/desk/templates/`, askama):
//! every value is escaped for HTML unless a field is declared safe (only the
//! SVG charts, which `charts` builds from numbers and escaped labels).

use askama::Template;

/// The header: who is signed in and what they may open.
pub struct Nav {
    pub display: String,
    pub role_label: &'static str,
    pub account: Option<String>,
    pub csrf: String,
    pub sees_all: bool,
    pub administers: bool,
    pub review_count: i64,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub heading: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub today_total: i64,
    pub review_total: i64,
    pub oldest_age: Option<String>,
    pub overdue: i64,
    pub queued: i64,
    pub dead: i64,
    pub hours: usize,
    pub verdict_chart: String,
    pub hourly_chart: String,
    pub reason_chart: String,
    pub metrics: String,
}

pub struct QueueRow {
    pub id: i64,
    pub account: String,
    pub file: String,
    pub reason: String,
    pub since: String,
    pub age: String,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    /// (reason word, label, count)
    pub counts: Vec<(String, String, i64)>,
    /// (account, selected)
    pub accounts: Vec<(String, bool)>,
    /// (reason word, label, selected)
    pub reasons: Vec<(String, String, bool)>,
    pub older_than: String,
    pub items: Vec<QueueRow>,
}

pub struct FieldRow {
    pub name: String,
    pub label: String,
    pub value: String,
    pub source: String,
    pub source_label: String,
    pub confidence: String,
    /// high, medium, low
    pub level: &'static str,
    pub editable: bool,
}

pub struct LineRow {
    pub n: usize,
    pub description: String,
    pub quantity: String,
    pub code: String,
    pub status: String,
}

pub struct FindingRow {
    pub code: String,
    pub severity: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "item.html")]
pub struct ItemPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub id: i64,
    pub account: String,
    pub file: String,
    pub reason: String,
    pub since: String,
    pub format: String,
    pub next_id: Option<i64>,
    pub pending: Option<String>,
    pub pages: usize,
    pub page_numbers: Vec<usize>,
    pub fields: Vec<FieldRow>,
    pub lines: Vec<LineRow>,
    pub findings: Vec<FindingRow>,
    pub can_decide: bool,
    pub csrf: String,
}

#[derive(Default)]
pub struct SearchForm {
    pub nit: String,
    pub number: String,
    pub cufe: String,
    pub from: String,
    pub to: String,
}

pub struct JobListRow {
    pub id: i64,
    pub account: String,
    pub file: String,
    pub received: String,
    pub verdict: String,
    pub verdict_class: String,
    pub nit: String,
    pub number: String,
    pub cufe: String,
    pub cufe_short: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
pub struct JobsPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub entity: bool,
    pub q: SearchForm,
    pub accounts: Vec<(String, bool)>,
    pub verdicts: Vec<(String, String, bool)>,
    pub rows: Vec<JobListRow>,
    pub more: Option<String>,
}

pub struct CertificateView {
    pub number: String,
    pub ok: bool,
    pub status: String,
}

#[derive(Template)]
#[template(path = "job.html")]
pub struct JobPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub id: i64,
    pub account: String,
    pub file: String,
    pub verdict: String,
    pub verdict_class: String,
    pub received: String,
    pub size: u64,
    pub sha256: String,
    pub in_review: bool,
    pub can_replay: bool,
    pub csrf: String,
    pub certificate: Option<CertificateView>,
    pub findings: Vec<FindingRow>,
    pub decisions: Vec<String>,
    /// (when, event, detail)
    pub audit: Vec<(String, String, String)>,
    pub result_json: String,
}

pub struct AuditView {
    pub at: String,
    pub event: String,
    pub account: String,
    pub job: Option<i64>,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub event: String,
    pub rows: Vec<AuditView>,
    pub more: Option<String>,
}

#[derive(Template)]
#[template(path = "reports.html")]
pub struct ReportsPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    /// (kind, period, rows, published, sha256)
    pub rows: Vec<(String, String, i64, String, String)>,
}

#[derive(Template)]
#[template(path = "bans.html")]
pub struct BansPage {
    pub nav: Option<Nav>,
    pub flash: Option<String>,
    pub csrf: String,
    /// (address, until, bans)
    pub rows: Vec<(String, String, i64)>,
}
