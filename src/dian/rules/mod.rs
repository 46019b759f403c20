//! The rule catalog and the checks that apply it to a [`Document`].
//!
//! Codes are DIAN's where DIAN has one (as seen in real DIAN answers and the
//! Anexo's field IDs; invoice codes `FA..` become `CA..` for credit notes and
//! `DA..` for debit notes) and Pasarela's own, prefixed `PAS`, for
//! everything DIAN does not check (hostile input, registration rules) and for
//! DIAN checks whose DIAN code this project could not establish
//! (docs/DIAN.md, "Where the codes come from").
//! Messages follow DIAN's wording: "Regla: FAD06, Rechazo: ...".
//!
//! One file per rule family (`mandatory`, `parties`, `key`, `numbering`,
//! `dates`, `registration`, `amounts`, `totals`, `taxes`, `tax_schemes`,
//! `lines`; the list of unit codes is in `units`); each adds its findings to
//! the [`Emitter`], and [`check_document`] calls them in a fixed order, which
//! is the order findings appear in a result.

mod amounts;
mod catalog;
mod dates;
mod key;
mod lines;
mod mandatory;
mod numbering;
mod parties;
mod registration;
mod tax_schemes;
mod taxes;
mod totals;
mod units;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

pub use catalog::{CATALOG, RENAMED, Rule, base_code, code_for, former_code};

use super::model::{DianExtensions, DocKind, Document, Party};
use super::settings::{DianSettings, NumberingRange};
use crate::result::{Finding, Severity};

/// Collects findings, applying the administrator's overrides.
pub struct Emitter<'s> {
    pub settings: &'s DianSettings,
    pub kind: Option<DocKind>,
    pub root: &'static str,
    pub findings: Vec<Finding>,
}

impl<'s> Emitter<'s> {
    pub fn new(settings: &'s DianSettings, kind: Option<DocKind>, root: &'static str) -> Self {
        Self {
            settings,
            kind,
            root,
            findings: Vec::new(),
        }
    }

    /// Emit rule `base` with a Spanish detail; `path` is relative to the root.
    pub fn emit(&mut self, base: &'static str, detail: impl AsRef<str>, path: Option<&str>) {
        let default = CATALOG
            .iter()
            .find(|r| r.code == base)
            .map(|r| r.severity)
            .unwrap_or(Severity::Reject);
        let code = code_for(base, self.kind);
        // An override under the current code wins over one under the former
        // Pasarela code (configurations written before the rename).
        let rules = &self.settings.rules;
        let severity = match former_code(base) {
            Some(old)
                if !rules.contains_key(&code)
                    && !rules.contains_key(base)
                    && rules.contains_key(old) =>
            {
                self.settings.severity(old, old, default)
            }
            _ => self.settings.severity(&code, base, default),
        };
        let Some(severity) = severity else {
            return;
        };
        let word = match severity {
            Severity::Reject => "Rechazo",
            Severity::Notify => "Notificación",
        };
        let message = format!("Regla: {code}, {word}: {}", detail.as_ref());
        let mut f = match severity {
            Severity::Reject => Finding::reject(code, message),
            Severity::Notify => Finding::notify(code, message),
        };
        if let Some(p) = path {
            f = f.at(if p.starts_with('/') || p.is_empty() {
                p.to_owned()
            } else {
                format!("/{}/{p}", self.root)
            });
        }
        self.findings.push(f);
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_issue(date: &str, time: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%:z").ok()
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d)
}

/// Split cbc:ID into (prefix, number) using the authorized prefix when known,
/// else the leading non-digits.
pub fn split_number<'a>(id: &'a str, prefix: Option<&str>) -> (&'a str, &'a str) {
    match prefix {
        Some(p) if id.starts_with(p) => id.split_at(p.len()),
        _ => {
            let at = id.find(|c: char| c.is_ascii_digit()).unwrap_or(id.len());
            id.split_at(at)
        }
    }
}

fn nit_of(p: Option<&Party>) -> Option<&str> {
    p.and_then(|p| p.company_id.as_deref())
}

/// What several rule families derive from the document, computed once.
#[derive(Clone, Copy)]
struct Facts<'a> {
    doc: &'a Document,
    settings: &'a DianSettings,
    now: DateTime<FixedOffset>,
    kind: DocKind,
    /// Contingency invoices (type 03) carry a CUDE made with the software PIN,
    /// like notes; other invoices a CUFE made with the range's technical key.
    uses_pin: bool,
    /// "CUFE" or "CUDE".
    key_name: &'static str,
    tol: Decimal,
    /// ProfileExecutionID: "1" production, "2" tests.
    env: Option<&'a str>,
    issue_date: Option<NaiveDate>,
    issued_at: Option<DateTime<FixedOffset>>,
    dian: Option<&'a DianExtensions>,
    supplier_nit: Option<&'a str>,
    authorized_prefix: Option<&'a str>,
    /// cbc:ID split into prefix and number ("" when absent).
    prefix: &'a str,
    number: &'a str,
    /// The configured numbering range (invoices only).
    range: Option<&'a NumberingRange>,
}

impl<'a> Facts<'a> {
    fn of(doc: &'a Document, settings: &'a DianSettings, now: DateTime<FixedOffset>) -> Self {
        let kind = doc.kind;
        let uses_pin = kind != DocKind::Invoice || doc.type_code.as_deref() == Some("03");
        let issued_at = match (doc.issue_date.as_deref(), doc.issue_time.as_deref()) {
            (Some(d), Some(t)) => parse_issue(d, t),
            _ => None,
        };
        let dian = doc.dian.as_ref();
        let supplier_nit = nit_of(doc.supplier.as_ref());
        let authorized_prefix = dian.and_then(|d| d.prefix.as_deref());
        let (prefix, number) = doc
            .id
            .as_deref()
            .map(|id| split_number(id, authorized_prefix))
            .unwrap_or(("", ""));
        let range = if kind == DocKind::Invoice {
            settings.range_for(
                supplier_nit,
                authorized_prefix.unwrap_or(prefix),
                dian.and_then(|d| d.invoice_authorization.as_deref()),
            )
        } else {
            None
        };
        Facts {
            doc,
            settings,
            now,
            kind,
            uses_pin,
            key_name: if uses_pin { "CUDE" } else { kind.key_name() },
            tol: settings.tolerance,
            env: doc.profile_execution_id.as_deref(),
            issue_date: doc.issue_date.as_deref().and_then(parse_date),
            issued_at,
            dian,
            supplier_nit,
            authorized_prefix,
            prefix,
            number,
            range,
        }
    }
}

/// Every content rule, family by family; the order is the order of findings.
/// Only the date rules (issue instant, age), for a document read from a
/// PDF, scan or sheet (`dian::extracted`).
pub fn check_dates(
    doc: &Document,
    settings: &DianSettings,
    now: DateTime<FixedOffset>,
) -> Vec<crate::result::Finding> {
    let mut em = Emitter::new(settings, Some(doc.kind), doc.kind.root());
    let facts = Facts::of(doc, settings, now);
    dates::check(&facts, &mut em);
    em.findings
}

pub fn check_document(
    doc: &Document,
    settings: &DianSettings,
    now: DateTime<FixedOffset>,
    em: &mut Emitter<'_>,
) {
    let facts = Facts::of(doc, settings, now);
    mandatory::check(&facts, em);
    parties::check(&facts, em);
    parties::check_id_types(&facts, em);
    key::check(&facts, em);
    key::check_security_code(&facts, em);
    numbering::check(&facts, em);
    dates::check(&facts, em);
    registration::check(&facts, em);
    amounts::check(&facts, em);
    totals::check(&facts, em);
    taxes::check(&facts, em);
    tax_schemes::check(&facts, em);
    lines::check(&facts, em);
}
