//! `certify`: the last step of a registration route. An accepted invoice gets
//! its registration certificate (PDF/A, sequential number, QR, digest) written
//! to `outgoing/certificates/` and mailed through the outbox; a rejected or
//! review outcome gets a processing notification listing its findings. Both
//! are idempotent per job, so a retried or replayed job never issues a second
//! certificate or a second e-mail. Without a store (`pasarela process`) it does
//! nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::BuildContext;
use crate::catalog::Measure;
use crate::certificate::{self, CertificateData, Commission, InvoiceRef, Line, Party, Unit};
use crate::config::{Config, ConfigError};
use crate::pipeline::{Step, StepContext, StepError, WorkItem, final_verdict};
use crate::result::Verdict;

/// What `price` leaves for `certify`: each line's assessment and its value.
#[derive(Debug, Clone)]
pub struct PricedLines {
    pub priced: crate::catalog::PricedInvoice,
    pub values: Vec<Decimal>,
}

/// Keeps the configuration: certificates are written to the account's
/// folders and numbered and signed as `[certificates]` says.
pub fn build(ctx: &BuildContext<'_>) -> Result<Arc<dyn Step>, Vec<ConfigError>> {
    Ok(Arc::new(Certify {
        config: ctx.config.clone(),
    }))
}

struct Certify {
    config: Arc<Config>,
}

#[async_trait]
impl Step for Certify {
    fn name(&self) -> &'static str {
        "certify"
    }

    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError> {
        let config = &self.config;
        let (Some(store), Some(job)) = (&ctx.services.store, item.job_id) else {
            return Ok(());
        };
        let Some(account) = item
            .result
            .account
            .as_deref()
            .and_then(|a| config.accounts.get(a))
        else {
            return Ok(());
        };
        let transient = |e: certificate::IssueError| {
            if e.is_conflict() {
                StepError::Conflict(e.to_string())
            } else if e.is_transient() {
                StepError::Transient(e.to_string())
            } else {
                // Data that cannot make a certificate: retrying will not help.
                StepError::Permanent(e.to_string())
            }
        };
        let (data, entry) = match final_verdict(item) {
            Verdict::Accepted if item.settlement.is_some() => {
                let Some(s) = item.settlement.as_ref() else {
                    return Ok(());
                };
                let Some((data, entry)) =
                    s.certificate(ctx, config, item.result.account.as_deref())
                else {
                    // A debit note that changes nothing registered.
                    return Ok(());
                };
                (data, entry)
            }
            // An event or another document without a registrable model.
            Verdict::Accepted if item.document.is_none() => return Ok(()),
            Verdict::Accepted => {
                let Some(data) = certificate_data(item, ctx, config) else {
                    tracing::warn!(
                        job,
                        "accepted without a registrable line: no certificate issued"
                    );
                    return Ok(());
                };
                let pricing = item
                    .pricing
                    .as_ref()
                    .and_then(|p| serde_json::to_string(p).ok());
                (data, certificate::Entry::registration(pricing))
            }
            v @ (Verdict::Rejected | Verdict::Review) => {
                let mut result = item.result.clone();
                result.verdict = v;
                // Queued with the job's outcome.
                if let Some(m) = certificate::processing_notification(config, account, job, &result)
                    .map_err(transient)?
                {
                    item.outcome
                        .message(m, chrono::Utc::now().timestamp_millis());
                }
                return Ok(());
            }
            Verdict::Duplicate => return Ok(()),
        };
        // The PDF's hash and e-mail are written with the job's outcome.
        let issued = certificate::issue_certificate_entry(
            store,
            config,
            account,
            job,
            data,
            entry,
            Some(&mut item.outcome),
        )
        .await
        .map_err(transient)?;
        item.result.certificate = Some(issued.result_value());
        Ok(())
    }
}

fn id_type(code: Option<&str>) -> String {
    match code.unwrap_or("") {
        "31" => "NIT".into(),
        "13" => "CC".into(),
        "22" => "CE".into(),
        "41" => "PA".into(),
        "12" => "TI".into(),
        other => other.to_string(),
    }
}

fn party(p: Option<&crate::dian::model::Party>) -> Party {
    let p = p.cloned().unwrap_or_default();
    Party {
        name: p
            .registration_name
            .clone()
            .or_else(|| p.names.first().cloned())
            .unwrap_or_default(),
        id: p.company_id.clone().unwrap_or_default(),
        dv: p.dv.clone().filter(|d| !d.is_empty()),
        id_type: id_type(p.id_type.as_deref()),
        email: p.email.clone(),
    }
}

/// The certificate's content, from the typed document and the priced lines.
/// `None` when nothing is registrable (no eligible, priced line).
fn certificate_data(
    item: &WorkItem,
    ctx: &StepContext,
    config: &Config,
) -> Option<CertificateData> {
    let doc = item.document.as_ref()?;
    let priced = item.priced.as_ref()?;
    let commission = priced.priced.commission.as_ref()?;
    let lines: Vec<Line> = priced
        .priced
        .lines
        .iter()
        .zip(&priced.values)
        .filter_map(|(a, value)| certificate_line(a, *value))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let date = |s: Option<&String>| s.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    Some(CertificateData {
        number: String::new(),
        registered_at: ctx.now,
        issuer: config.certificates.issuer.clone(),
        account: item.result.account.clone().unwrap_or_default(),
        invoice: InvoiceRef {
            number: doc.id.clone().unwrap_or_default(),
            cufe_or_cude: doc
                .uuid
                .as_ref()
                .map(|u| u.value.clone())
                .unwrap_or_default(),
            issue_date: date(doc.issue_date.as_ref())?,
            due_date: date(doc.due_date.as_ref()),
            document_type: doc.kind.root().to_string(),
        },
        supplier: party(doc.supplier.as_ref()),
        customer: party(doc.customer.as_ref()),
        total_value: lines.iter().map(|l| l.value).sum(),
        lines,
        commission: certificate_commission(commission),
        adjustment: None,
    })
}

/// A priced line as the certificate lists it: only matched, eligible lines
/// with a converted quantity.
pub(super) fn certificate_line(a: &crate::catalog::LineAssessment, value: Decimal) -> Option<Line> {
    let (Some(m), Some(q)) = (&a.matched, &a.quantity) else {
        return None;
    };
    if !a.eligible || a.review {
        return None;
    }
    let unit = match q.measure {
        Measure::Kg => Unit::Kg,
        Measure::L => Unit::L,
        Measure::Unit => Unit::Units,
    };
    let p = &m.product;
    Some(Line {
        catalog_code: p.code.clone(),
        catalog_name: [p.product.as_str(), p.variety.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" - "),
        quantity: q.quantity,
        unit,
        value,
        eligibility: format!("Elegible: producto {}", p.state.as_str()),
    })
}

/// The certificate's commission block: the total and the rules (with
/// versions) that priced its lines.
pub(super) fn certificate_commission(commission: &crate::rules::Commission) -> Commission {
    let mut rules: Vec<String> = commission.lines.iter().map(|l| l.rule_id.clone()).collect();
    rules.dedup();
    let mut versions: Vec<String> = commission
        .lines
        .iter()
        .map(|l| format!("{}@v{}", l.rule_id, l.rule_version))
        .collect();
    versions.dedup();
    Commission {
        total: commission.total,
        rule_id: rules.join(", "),
        rule_version: versions.join(", "),
    }
}
