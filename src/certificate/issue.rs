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
use crate::store::Store;
use crate::store::certificates::{CertificateRecord, NewCertificate};
use crate::store::outbox::Attachment;
use crate::store::reports::Registration;

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

/// Issue (or return the already issued) certificate of `job_id`.
/// `data.number` is ignored: the number is allocated here.
pub async fn issue_certificate(
    store: &Store,
    config: &Config,
    account: &Account,
    job_id: i64,
    data: CertificateData,
) -> Result<IssuedCertificate, IssueError> {
    let year = data
        .registered_at
        .with_timezone(&crate::clock::bogota())
        .year();
    let dir = account.outgoing().join(CERTIFICATES_DIR);
    let mut rendered: Option<Vec<u8>> = None;
    let outcome = store
        .issue_certificate_with(
            job_id,
            year,
            |number| -> Result<NewCertificate, IssueError> {
                let mut data = data.clone();
                data.number = number.clone();
                let cert = render(&data)?;
                let data_json = String::from_utf8(canonical_json(&data)?)
                    .map_err(|e| CertificateError::Serialize(e.to_string()))?;
                let path = dir.join(format!("{number}.pdf"));
                let issued_at = chrono::Utc::now().timestamp_millis();
                let registration = Registration {
                    job_id,
                    certificate_number: number.clone(),
                    account: account.name.clone(),
                    invoice_number: data.invoice.number.clone(),
                    cufe: data.invoice.cufe_or_cude.clone(),
                    supplier_id: data.supplier.id.clone(),
                    supplier_name: data.supplier.name.clone(),
                    customer_id: data.customer.id.clone(),
                    customer_name: data.customer.name.clone(),
                    value: data.total_value.to_string(),
                    commission: data.commission.total.to_string(),
                    rule_id: data.commission.rule_id.clone(),
                    rule_version: data.commission.rule_version.clone(),
                    registered_at: data.registered_at.timestamp_millis(),
                    registered_day: bogota_day(&data.registered_at),
                };
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
                let message = crate::outbox::compose(
                    config,
                    "certificate-delivery",
                    format!("certificate-delivery:{number}"),
                    Some(&account.name),
                    Some(job_id),
                    recipients(account, &data),
                    &vars,
                    Some(Attachment {
                        name: format!("certificado-{number}.pdf"),
                        mime: "application/pdf".into(),
                        bytes: cert.pdf.clone(),
                    }),
                )?;
                let record = CertificateRecord {
                    number: number.clone(),
                    job_id,
                    account: account.name.clone(),
                    digest: cert.digest.clone(),
                    pdf_sha256: crate::fsutil::sha256_hex(&cert.pdf),
                    path: path.display().to_string(),
                    data_json,
                    issued_at,
                };
                rendered = Some(cert.pdf);
                Ok(NewCertificate {
                    record,
                    registration,
                    message,
                })
            },
        )
        .await?;
    let (record, newly_issued) = outcome?;
    let path = PathBuf::from(&record.path);
    ensure_file(&record, &path, rendered).await?;
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

/// Make sure the PDF on disk is the recorded one: write it if it is missing
/// or different (a crash between commit and write), re-rendering from the
/// stored canonical data when needed (rendering is deterministic).
async fn ensure_file(
    record: &CertificateRecord,
    path: &std::path::Path,
    rendered: Option<Vec<u8>>,
) -> Result<(), IssueError> {
    if let Ok(existing) = tokio::fs::read(path).await
        && crate::fsutil::sha256_hex(&existing) == record.pdf_sha256
    {
        return Ok(());
    }
    let bytes = match rendered {
        Some(b) => b,
        None => {
            let (data, _) = super::extract(record.data_json.as_bytes())
                .map_err(|e| IssueError::Stored(record.number.clone(), e))?;
            let cert = render(&data)?;
            if crate::fsutil::sha256_hex(&cert.pdf) != record.pdf_sha256 {
                warn!(number = %record.number, "re-rendered certificate differs from the recorded bytes (renderer changed?); writing the new rendering");
            }
            cert.pdf
        }
    };
    let dest = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::fsutil::write_atomic(&dest, &bytes))
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

/// Enqueue the processing-notification of a rejected or review outcome,
/// listing its findings (DIAN codes). Idempotent per job and verdict.
/// Returns false for other verdicts, when mail is off, or when already queued.
pub async fn enqueue_notification(
    store: &Store,
    config: &Config,
    account: &Account,
    job_id: i64,
    result: &ResultDoc,
) -> Result<bool, IssueError> {
    let outcome = match result.verdict {
        Verdict::Rejected => "rechazada",
        Verdict::Review => "en revisión manual",
        _ => return Ok(false),
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
    let msg = crate::outbox::compose(
        config,
        "processing-notification",
        format!(
            "processing-notification:{job_id}:{}",
            result.verdict.as_str()
        ),
        Some(&account.name),
        Some(job_id),
        to,
        &vars,
        None,
    )?;
    match msg {
        Some(m) => Ok(store
            .enqueue_message(&m, chrono::Utc::now().timestamp_millis())
            .await?
            .1),
        None => Ok(false),
    }
}
