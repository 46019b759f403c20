//! Issuing a certificate: the edge around the pure renderer. Numbering and
//! recording happen in one store transaction (with the registration row and
//! the certificate-delivery e-mail); the PDF is then written atomically to
//! the owner's `outgoing/certificates/`. Idempotent per job: running a job
//! again (after a crash, a replay) returns the same certificate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::Datelike;
use tracing::warn;

use super::{
    CertificateData, CertificateError, canonical_json, format_money, render, verification_code,
};
use crate::config::{Account, Config};
use crate::result::{ResultDoc, Verdict};
use crate::store::certificates::{CertificateRecord, NewCertificate};
use crate::store::outbox::Attachment;
use crate::store::reports::{Ledger, Registration};
use crate::store::{OutcomeWrites, Store};

/// Folder under the account's `outgoing/`.
pub const CERTIFICATES_DIR: &str = "certificates";

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("e-mail: {0}")]
    Mail(#[from] crate::outbox::OutboxError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("stored certificate {0} is unreadable: {1}")]
    Stored(String, String),
}

impl IssueError {
    /// Another note changed the registration's ledger first (see
    /// [`crate::store::StoreError::Stale`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, IssueError::Store(crate::store::StoreError::Stale(_)))
            || matches!(self, IssueError::Store(e) if e.is_ledger_race())
    }

    /// Store contention and disk errors are worth retrying; bad data is not.
    pub fn is_transient(&self) -> bool {
        match self {
            IssueError::Store(e) => e.is_transient(),
            IssueError::Write { .. } => true,
            _ => false,
        }
    }
}

/// An issued certificate, as the result JSON references it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub number: String,
    /// Absolute path of the PDF.
    pub path: PathBuf,
    /// Path relative to the account's home (what the submitter sees over SFTP).
    pub rel_path: String,
    pub digest: String,
    /// False when the job already had this certificate.
    pub newly_issued: bool,
}

impl IssuedCertificate {
    /// The `certificate` object of the result JSON: number, path, digest.
    pub fn result_value(&self) -> serde_json::Value {
        serde_json::json!({"number": self.number, "path": self.rel_path, "digest": self.digest})
    }
}

fn recipients(account: &Account, data: &CertificateData) -> Vec<String> {
    let mut r = account.email.clone();
    r.extend(account.notify.to.iter().cloned());
    if account.notify.invoice_addresses {
        r.extend(data.supplier.email.iter().cloned());
        r.extend(data.customer.email.iter().cloned());
    }
    r
}

fn bogota_day(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.with_timezone(&crate::clock::bogota())
        .format("%Y-%m-%d")
        .to_string()
}

/// Where an issued certificate goes in the registrations ledger: an
/// invoice's registration, or a note's change to one (see
/// [`crate::store::reports::Ledger`]).
#[derive(Debug, Clone)]
pub struct Entry {
    /// `None` for an invoice's own registration.
    pub note: Option<NoteEntry>,
    /// The registration's pricing input after this entry (JSON).
    pub pricing: Option<String>,
}

/// A note's row in its registration's ledger.
#[derive(Debug, Clone)]
pub struct NoteEntry {
    pub kind: crate::store::EntryKind,
    /// Job of the invoice's registration.
    pub adjusts: i64,
    /// Position after the ledger's last row.
    pub seq: i64,
    /// What the note changed (after minus before).
    pub value_delta: rust_decimal::Decimal,
    pub commission_delta: rust_decimal::Decimal,
}

impl Entry {
    /// An invoice's own registration.
    pub fn registration(pricing: Option<String>) -> Entry {
        Entry {
            note: None,
            pricing,
        }
    }
}

/// Issue (or return the already issued) certificate of `job_id`, recorded
/// as an invoice's registration without its pricing input.
pub async fn issue_certificate(
    store: &Store,
    config: &Config,
    account: &Account,
    job_id: i64,
    data: CertificateData,
) -> Result<IssuedCertificate, IssueError> {
    issue_certificate_entry(
        store,
        config,
        account,
        job_id,
        data,
        Entry::registration(None),
        None,
    )
    .await
}

/// Issue (or return the already issued) certificate of `job_id`.
/// `data.number` is ignored: the number is allocated here. `entry` says
/// which ledger row the certificate records.
///
/// Two short store transactions around the rendering: (1) number the
/// certificate and record it with its registration; render the PDF from the
/// recorded canonical data and write it atomically; (2) record the PDF's hash
/// and queue the delivery e-mail. A crash or error between the two leaves a
/// pending certificate that the next run of the job finishes (rendering is
/// deterministic); the number is never lost nor given twice. With
/// `job_outcome` (a job's step), (2) is not committed here but added to the
/// job's outcome, which the runner commits with its result
/// (`store::OutcomeWrites`): a run that does not complete leaves the
/// certificate pending for the next run to finish.
pub async fn issue_certificate_entry(
    store: &Store,
    config: &Config,
    account: &Account,
    job_id: i64,
    data: CertificateData,
    entry: Entry,
    job_outcome: Option<&mut OutcomeWrites>,
) -> Result<IssuedCertificate, IssueError> {
    // What could make rendering fail is checked before a number is taken.
    super::check_renderable(&data, false)?;
    let year = data
        .registered_at
        .with_timezone(&crate::clock::bogota())
        .year();
    let dir = account.outgoing().join(CERTIFICATES_DIR);
    // What the numbering needs, owned: it runs in the store's write lane.
    let data = std::sync::Arc::new(data);
    let (shared, account_name) = (data.clone(), account.name.clone());
    let outcome = store
        .issue_certificate_with(
            job_id,
            year,
            move |number| -> Result<NewCertificate, IssueError> {
                let (data, account) = (&shared, &account_name);
                let mut data = CertificateData::clone(data);
                data.number = number.clone();
                let canonical = canonical_json(&data)?;
                let digest = crate::fsutil::sha256_hex(&canonical);
                let data_json = String::from_utf8(canonical)
                    .map_err(|e| CertificateError::Serialize(e.to_string()))?;
                let path = dir.join(format!("{number}.pdf"));
                let (value, commission) = (
                    data.total_value.to_string(),
                    data.commission.total.to_string(),
                );
                let (ledger, invoice_number, cufe, value, commission) =
                    match (&entry.note, &data.adjustment) {
                        (Some(n), Some(a)) => (
                            Ledger {
                                kind: n.kind,
                                adjusts: Some(n.adjusts),
                                seq: n.seq,
                                net_value: value,
                                net_commission: commission,
                                pricing: entry.pricing.clone(),
                            },
                            a.note_number.clone(),
                            a.note_cude.clone(),
                            n.value_delta.to_string(),
                            n.commission_delta.to_string(),
                        ),
                        _ => (
                            Ledger::registration(&value, &commission, entry.pricing.clone()),
                            data.invoice.number.clone(),
                            data.invoice.cufe_or_cude.clone(),
                            value,
                            commission,
                        ),
                    };
                let registration = Registration {
                    job_id,
                    certificate_number: number.clone(),
                    account: account.clone(),
                    invoice_number,
                    cufe,
                    supplier_id: data.supplier.id.clone(),
                    supplier_name: data.supplier.name.clone(),
                    customer_id: data.customer.id.clone(),
                    customer_name: data.customer.name.clone(),
                    value,
                    commission,
                    rule_id: data.commission.rule_id.clone(),
                    rule_version: data.commission.rule_version.clone(),
                    registered_at: data.registered_at.timestamp_millis(),
                    registered_day: bogota_day(&data.registered_at),
                    ledger,
                };
                let record = CertificateRecord {
                    number: number.clone(),
                    job_id,
                    account: account.clone(),
                    digest,
                    pdf_sha256: String::new(),
                    path: path.display().to_string(),
                    data_json,
                    issued_at: chrono::Utc::now().timestamp_millis(),
                };
                Ok(NewCertificate {
                    record,
                    registration,
                })
            },
        )
        .await?;
    let (mut record, newly_issued) = outcome?;
    let path = PathBuf::from(&record.path);
    if record.is_pending() {
        // Numbered now: the data as given, with its number; numbered by
        // an earlier run: as recorded.
        let data = if newly_issued {
            let mut d = CertificateData::clone(&data);
            d.number = record.number.clone();
            d
        } else {
            stored_data(&record)?
        };
        let cert = render_blocking(data.clone()).await?;
        if cert.digest != record.digest {
            return Err(IssueError::Stored(
                record.number.clone(),
                "the rendered data does not hash to the recorded digest".into(),
            ));
        }
        let pdf_sha256 = crate::fsutil::sha256_hex(&cert.pdf);
        let message = delivery_message(config, account, job_id, &data, &cert)?;
        write_pdf(&path, cert.pdf).await?;
        let at = chrono::Utc::now().timestamp_millis();
        match job_outcome {
            Some(writes) => writes.finished_certificate(&record, &pdf_sha256, message, at),
            None => {
                store
                    .finish_certificate(&record, &pdf_sha256, message, at)
                    .await?;
            }
        }
        record.pdf_sha256 = pdf_sha256;
    } else {
        ensure_file(&record, &path).await?;
    }
    let rel_path = path
        .strip_prefix(&account.home)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| record.path.clone());
    Ok(IssuedCertificate {
        number: record.number,
        path,
        rel_path,
        digest: record.digest,
        newly_issued,
    })
}

/// The certificate-delivery e-mail with the PDF attached (`None` when mail is off).
fn delivery_message(
    config: &Config,
    account: &Account,
    job_id: i64,
    data: &CertificateData,
    cert: &super::Certificate,
) -> Result<Option<crate::store::outbox::NewMessage>, IssueError> {
    let number = &data.number;
    let mut vars = BTreeMap::new();
    vars.insert("numero", number.clone());
    vars.insert("cuenta", account.name.clone());
    vars.insert("factura", data.invoice.number.clone());
    vars.insert("cufe", data.invoice.cufe_or_cude.clone());
    vars.insert(
        "vendedor",
        format!(
            "{} ({})",
            data.supplier.name,
            data.supplier.identification()
        ),
    );
    vars.insert(
        "comprador",
        format!(
            "{} ({})",
            data.customer.name,
            data.customer.identification()
        ),
    );
    vars.insert("valor", format_money(data.total_value));
    vars.insert("comision", format_money(data.commission.total));
    vars.insert("codigo_verificacion", verification_code(&cert.digest));
    vars.insert(
        "fecha_registro",
        data.registered_at
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
    );
    Ok(crate::outbox::compose(
        config,
        crate::store::OutboxKind::CertificateDelivery,
        format!("certificate-delivery:{number}"),
        Some(&account.name),
        Some(job_id),
        recipients(account, data),
        &vars,
        Some(Attachment {
            name: format!("certificado-{number}.pdf"),
            mime: "application/pdf".into(),
            bytes: cert.pdf.clone(),
        }),
    )?)
}

/// The certificate's data as recorded (its canonical JSON).
pub(crate) fn stored_data(record: &CertificateRecord) -> Result<CertificateData, IssueError> {
    let (data, _) = super::extract(record.data_json.as_bytes())
        .map_err(|e| IssueError::Stored(record.number.clone(), e))?;
    Ok(data)
}

/// Render on the blocking pool: it is pure CPU work (layout, font
/// subsetting, compression) that must not stall the async workers.
async fn render_blocking(data: CertificateData) -> Result<super::Certificate, IssueError> {
    tokio::task::spawn_blocking(move || render(&data))
        .await
        .map_err(|e| CertificateError::Pdf(format!("rendering task failed: {e}")))?
        .map_err(IssueError::from)
}

async fn write_pdf(path: &std::path::Path, bytes: Vec<u8>) -> Result<(), IssueError> {
    let dest = path.to_path_buf();
    // The folder may not exist yet (an account added while running, a
    // folder an operator removed): it is the daemon's to make.
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::fsutil::write_atomic(&dest, &bytes)
    })
    .await
    .map_err(|e| IssueError::Write {
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|source| IssueError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Make sure the PDF on disk is the recorded one: write it again if it is
/// missing or different (lost or altered after issue), re-rendering from the
/// stored canonical data (rendering is deterministic).
async fn ensure_file(record: &CertificateRecord, path: &std::path::Path) -> Result<(), IssueError> {
    if let Ok(existing) = tokio::fs::read(path).await
        && crate::fsutil::sha256_hex(&existing) == record.pdf_sha256
    {
        return Ok(());
    }
    let cert = render_blocking(stored_data(record)?).await?;
    if crate::fsutil::sha256_hex(&cert.pdf) != record.pdf_sha256 {
        warn!(number = %record.number, "re-rendered certificate differs from the recorded bytes (renderer changed?); writing the new rendering");
    }
    write_pdf(path, cert.pdf).await
}

/// The processing-notification of a rejected or review outcome, listing its
/// findings (DIAN codes); `None` for other verdicts or when mail is off. Its
/// key is per job and verdict, so queueing it again changes nothing (a step
/// adds it to the job's outcome, `store::OutcomeWrites::message`).
pub fn processing_notification(
    config: &Config,
    account: &Account,
    job_id: i64,
    result: &ResultDoc,
) -> Result<Option<crate::store::outbox::NewMessage>, IssueError> {
    let outcome = match result.verdict {
        Verdict::Rejected => "rechazada",
        Verdict::Review => "en revisión manual",
        _ => return Ok(None),
    };
    let findings: Vec<String> = result
        .findings
        .iter()
        .map(|f| {
            let sev = match f.severity {
                crate::result::Severity::Reject => "rechazo",
                crate::result::Severity::Notify => "notificación",
            };
            match &f.location {
                Some(l) => format!("- {} ({sev}): {} [{l}]", f.code, f.message),
                None => format!("- {} ({sev}): {}", f.code, f.message),
            }
        })
        .collect();
    let mut vars = BTreeMap::new();
    vars.insert("archivo", result.file.clone());
    vars.insert("cuenta", account.name.clone());
    vars.insert("resultado", outcome.to_string());
    vars.insert(
        "hallazgos",
        if findings.is_empty() {
            "(sin hallazgos)".to_string()
        } else {
            findings.join("\n")
        },
    );
    vars.insert(
        "codigos",
        result
            .findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    vars.insert(
        "fecha",
        result
            .processed_at
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
    );
    let mut to = account.email.clone();
    to.extend(account.notify.to.iter().cloned());
    Ok(crate::outbox::compose(
        config,
        crate::store::OutboxKind::ProcessingNotification,
        format!(
            "processing-notification:{job_id}:{}",
            result.verdict.as_str()
        ),
        Some(&account.name),
        Some(job_id),
        to,
        &vars,
        None,
    )?)
}
