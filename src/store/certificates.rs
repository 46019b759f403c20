//! Certificates: numbering, records and the registration row, all in one
//! transaction with the certificate-delivery message.

use sqlx::Row;

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

fn record_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<CertificateRecord, sqlx::Error> {
    Ok(CertificateRecord {
        number: r.try_get("number")?,
        job_id: r.try_get("job_id")?,
        account: r.try_get("account")?,
        digest: r.try_get("digest")?,
        pdf_sha256: r.try_get("pdf_sha256")?,
        path: r.try_get("path")?,
        data_json: r.try_get("data_json")?,
        issued_at: r.try_get("issued_at")?,
    })
}

const CERT_COLUMNS: &str = "SELECT number, job_id, account, digest, pdf_sha256, path, data_json, issued_at FROM certificates";

impl Store {
    pub async fn certificate_for_job(
        &self,
        job_id: i64,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CERT_COLUMNS} WHERE job_id = ?"
        )))
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    pub async fn certificate_by_number(
        &self,
        number: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CERT_COLUMNS} WHERE number = ?"
        )))
        .bind(number)
        .fetch_optional(&self.pool)
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
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CERT_COLUMNS} WHERE job_id = ?"
        )))
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?
        {
            return Ok(Ok((record_from_row(&row)?, false)));
        }
        let row = sqlx::query(
            "INSERT INTO certificate_sequences (year, next) VALUES (?, 2)
             ON CONFLICT (year) DO UPDATE SET next = next + 1 RETURNING next - 1 AS seq",
        )
        .bind(year)
        .fetch_one(&mut *tx)
        .await?;
        let seq: i64 = row.try_get("seq")?;
        let number = format!("{year:04}-{seq:06}");
        let new = match build(number.clone()) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        let r = &new.record;
        sqlx::query(
            "INSERT INTO certificates (number, year, seq, job_id, account, digest, pdf_sha256, path, data_json, issued_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&number)
        .bind(year)
        .bind(seq)
        .bind(job_id)
        .bind(&r.account)
        .bind(&r.digest)
        .bind(&r.pdf_sha256)
        .bind(&r.path)
        .bind(&r.data_json)
        .bind(r.issued_at)
        .execute(&mut *tx)
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
        let row = sqlx::query("SELECT COUNT(*) AS n FROM certificates WHERE year = ?")
            .bind(year)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}
