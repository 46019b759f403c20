//! Writes a job's steps prepare for its outcome (issue 21).
//!
//! A step that has something to record about its job (the commission it
//! priced, a certificate whose PDF is written, the sender's notice of a
//! rejection) adds it to the job's [`OutcomeWrites`] instead of committing it
//! on its own. The runner hands them to [`Store::complete`], which writes them
//! in the transaction that commits the job's outcome, each with its own audit
//! row: they cost no commit of their own, and a job that does not complete
//! (a transient failure, a crash, a dead letter) leaves none of them behind.
//! Every such write is idempotent, so the job's next run prepares them again
//! and its completion writes them once: a certificate numbered by a run that
//! never completed stays pending until a run finishes it.

use std::sync::Arc;

use super::lane::{CommissionLineRow, CommissionRows, FinishedCertificate, Write};
use super::outbox::NewMessage;
use crate::dian::nit;
use crate::rules::{Commission, PricingInput};

/// What a job's steps prepared for the transaction that completes it.
#[derive(Debug, Clone, Default)]
pub struct OutcomeWrites(Vec<Arc<Write>>);

impl OutcomeWrites {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Write> {
        self.0.iter().map(|w| &**w)
    }

    fn push(&mut self, w: Write) {
        self.0.push(Arc::new(w));
    }

    /// The job's commission (replacing any earlier one of the same job).
    pub fn commission(
        &mut self,
        job_id: i64,
        document_key: Option<&str>,
        input: &PricingInput,
        commission: &Commission,
        now_ms: i64,
    ) {
        let rows = commission_rows(job_id, document_key, input, commission, now_ms);
        self.push(Write::Commission(Box::new(rows)));
    }

    /// A numbered certificate whose PDF is written: its hash, its delivery
    /// message and its `certificate.issued` audit row (only once per
    /// certificate, whichever run completes first).
    pub fn finished_certificate(
        &mut self,
        record: &super::certificates::CertificateRecord,
        pdf_sha256: &str,
        message: Option<NewMessage>,
        at_ms: i64,
    ) {
        self.push(Write::FinishCertificate(Box::new(finished(
            record, pdf_sha256, message, at_ms,
        ))));
    }

    /// A message to queue (idempotent on its key).
    pub fn message(&mut self, message: NewMessage, at_ms: i64) {
        self.push(Write::Enqueue(Box::new((message, at_ms))));
    }
}

pub(crate) fn finished(
    record: &super::certificates::CertificateRecord,
    pdf_sha256: &str,
    message: Option<NewMessage>,
    at_ms: i64,
) -> FinishedCertificate {
    FinishedCertificate {
        number: record.number.clone(),
        account: record.account.clone(),
        job_id: record.job_id,
        digest: record.digest.clone(),
        path: record.path.clone(),
        pdf_sha256: pdf_sha256.to_owned(),
        message,
        at: at_ms,
    }
}

pub(crate) fn commission_rows(
    job_id: i64,
    document_key: Option<&str>,
    input: &PricingInput,
    commission: &Commission,
    now_ms: i64,
) -> CommissionRows {
    CommissionRows {
        job_id,
        document_key: document_key.map(str::to_owned),
        priced_at: now_ms,
        pricing_date: input.date.to_string(),
        client: nit::normalize(&input.client),
        side: input.side.as_str().to_owned(),
        rule_set: commission.rule_set.clone(),
        total: commission.total.to_string(),
        lines: commission
            .lines
            .iter()
            .map(|l| CommissionLineRow {
                line: l.line as i64,
                code: l.code.clone(),
                rule_id: l.rule_id.clone(),
                rule_version: i64::from(l.rule_version),
                base: l.base.to_string(),
                fee: l.fee.to_string(),
                trace: serde_json::to_string(&l.trace).unwrap_or_else(|_| "[]".into()),
            })
            .collect(),
    }
}
