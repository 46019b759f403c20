//! Certificates: numbering, records and the registration row, all in one
//! transaction with the certificate-delivery message.

use super::db::{Arg, DbRow, args};
use super::outbox::{NewMessage, enqueue_tx};
use super::reports::{Registration, insert_registration_tx};
use super::{AuditRecord, Store, StoreError, audit_tx};

/// A certificate as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub number: String,
    pub job_id: i64,
    pub account: String,
    pub digest: String,
    pub pdf_sha256: String,
    pub path: String,
    /// Canonical data JSON (re-rendering it gives the same PDF).
    pub data_json: String,
    pub issued_at: i64,
}

/// What the caller builds once the number is known (inside the transaction).
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub record: CertificateRecord,
    pub registration: Registration,
    pub message: Option<NewMessage>,
}

fn record_from_row(r: &DbRow) -> Result<CertificateRecord, sqlx::Error> {
    Ok(CertificateRecord {
        number: r.text("number")?,
        job_id: r.int("job_id")?,
        account: r.text("account")?,
        digest: r.text("digest")?,
        pdf_sha256: r.text("pdf_sha256")?,
        path: r.text("path")?,
        data_json: r.text("data_json")?,
        issued_at: r.time("issued_at")?,
    })
}

const CERT_COLUMNS: &str = "SELECT number, job_id, account, digest, pdf_sha256, path, data_json, issued_at FROM certificates";

impl Store {
    pub async fn certificate_for_job(
        &self,
        job_id: i64,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = self
            .db
            .fetch_optional(&format!("{CERT_COLUMNS} WHERE job_id = ?"), args![job_id])
            .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    pub async fn certificate_by_number(
        &self,
        number: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = self
            .db
            .fetch_optional(&format!("{CERT_COLUMNS} WHERE number = ?"), args![number])
            .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    /// Issue the certificate of `job_id` exactly once. In one write
    /// transaction: return the existing certificate if the job has one;
    /// otherwise take the next number of `year`, call `build(number)` (pure
    /// work: render, digest), and record the certificate, the registration and
    /// the delivery message. Returns (record, newly issued). An `Err` from
    /// `build` rolls everything back, the number included (no gap).
    pub async fn issue_certificate_with<E>(
        &self,
        job_id: i64,
        year: i32,
        build: impl FnOnce(String) -> Result<NewCertificate, E>,
    ) -> Result<Result<(CertificateRecord, bool), E>, StoreError> {
        let mut tx = self.write_tx().await?;
        if let Some(row) = tx
            .fetch_optional(&format!("{CERT_COLUMNS} WHERE job_id = ?"), args![job_id])
            .await?
        {
            return Ok(Ok((record_from_row(&row)?, false)));
        }
        // The sequence row is the lock: a concurrent issuer (another daemon
        // on PostgreSQL) waits here until this transaction ends.
        let row = tx
            .fetch_one(
                "INSERT INTO certificate_sequences (year, next) VALUES (?, 2)
                 ON CONFLICT (year) DO UPDATE SET next = certificate_sequences.next + 1
                 RETURNING next - 1 AS seq",
                args![year],
            )
            .await?;
        let seq = row.int("seq")?;
        let number = format!("{year:04}-{seq:06}");
        let new = match build(number.clone()) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        let r = &new.record;
        tx.execute(
            "INSERT INTO certificates (number, year, seq, job_id, account, digest, pdf_sha256, path, data_json, issued_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            args![
                &number,
                year,
                seq,
                job_id,
                &r.account,
                &r.digest,
                &r.pdf_sha256,
                &r.path,
                &r.data_json,
                Arg::time(r.issued_at)
            ],
        )
        .await?;
        insert_registration_tx(&mut tx, &new.registration).await?;
        if let Some(m) = &new.message {
            enqueue_tx(&mut tx, m, r.issued_at).await?;
        }
        audit_tx(
            &mut tx,
            r.issued_at,
            &AuditRecord {
                account: Some(&r.account),
                job_id: Some(job_id),
                event: "certificate.issued",
                detail: serde_json::json!({"number": number, "digest": r.digest, "path": r.path}),
            },
        )
        .await?;
        tx.commit().await?;
        let mut record = new.record;
        record.number = number;
        record.job_id = job_id;
        Ok(Ok((record, true)))
    }

    /// Certificates issued per year so far (the next number minus one).
    pub async fn certificates_issued(&self, year: i32) -> Result<i64, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM certificates WHERE year = ?",
                args![year],
            )
            .await?;
        Ok(row.int("n")?)
    }
}
