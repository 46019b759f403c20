//! Certificates: numbering, records and the registration row in one short
//! transaction; then, once the PDF is on disk, its hash, the
//! certificate-delivery message and the audit row in a second one.
//!
//! The PDF is rendered between the two, outside any lock: the sequence row
//! that makes the numbers gap-free is held only for a few statements, so
//! issuers (workers, daemons) do not queue behind each other's rendering.

use super::db::Tx;
use super::db::{Arg, DbRow, args};
use super::lane::{NotNumbered, NumberCertificate, Write, Written};
use super::outbox::NewMessage;
use super::reports::Registration;
use super::{Store, StoreError};

/// A certificate as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub number: String,
    pub job_id: i64,
    pub account: String,
    pub digest: String,
    /// SHA-256 of the PDF bytes; empty while the certificate is numbered
    /// but its PDF not yet written (see [`Store::finish_certificate`]).
    pub pdf_sha256: String,
    pub path: String,
    /// Canonical data JSON (re-rendering it gives the same PDF).
    pub data_json: String,
    pub issued_at: i64,
}

impl CertificateRecord {
    /// Numbered and recorded, but the PDF is not yet written and the
    /// delivery message not yet queued.
    pub fn is_pending(&self) -> bool {
        self.pdf_sha256.is_empty()
    }
}

/// What the caller builds once the number is known (inside the numbering
/// transaction: keep it cheap, no rendering). `record.pdf_sha256` is
/// normally empty (pending); [`Store::finish_certificate`] fills it.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub record: CertificateRecord,
    pub registration: Registration,
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

    /// Number the certificate of `job_id` exactly once. In one short write
    /// transaction: return the existing certificate if the job has one;
    /// otherwise take the next number of `year`, call `build(number)` (cheap
    /// work: canonical data, digest) and record the certificate and the
    /// registration. Returns (record, newly numbered). An `Err` from `build`
    /// gives the number back (no gap). The transaction is the write lane's
    /// (`lane.rs`): numberings and other small writes that arrive together
    /// share one commit (issue 21), each taking the next number in turn.
    pub async fn issue_certificate_with<E: Send + 'static>(
        &self,
        job_id: i64,
        year: i32,
        build: impl Fn(String) -> Result<NewCertificate, E> + Send + Sync + 'static,
    ) -> Result<Result<(CertificateRecord, bool), E>, StoreError> {
        // `build` may run more than once (a failed batch is run again item
        // by item); the error of its last call is the caller's.
        let failed: std::sync::Arc<std::sync::Mutex<Option<E>>> = Default::default();
        let slot = failed.clone();
        let build = move |number: String| {
            build(number).map_err(|e| {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            })
        };
        let written = self
            .lane
            .submit(Write::NumberCertificate(NumberCertificate {
                job_id,
                year,
                build: Box::new(build),
            }))
            .await?;
        match written {
            Written::Numbered(Ok(r)) => Ok(Ok(r)),
            Written::Numbered(Err(NotNumbered::Stale(m))) => Err(StoreError::Stale(m)),
            Written::Numbered(Err(NotNumbered::Build)) => {
                match failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    Some(e) => Ok(Err(e)),
                    None => Err(StoreError::batch(
                        "certificate build failed without an error",
                    )),
                }
            }
            other => Err(StoreError::batch(format!("unexpected {other:?}"))),
        }
    }

    /// The PDF of a numbered certificate is written: record its hash, queue
    /// the delivery message and write the `certificate.issued` audit row, in
    /// one transaction and only once (false when already finished, e.g. by
    /// a job that ran again).
    pub async fn finish_certificate(
        &self,
        record: &CertificateRecord,
        pdf_sha256: &str,
        message: Option<NewMessage>,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let finished = super::outcome::finished(record, pdf_sha256, message, at_ms);
        match self
            .lane
            .submit(Write::FinishCertificate(Box::new(finished)))
            .await?
        {
            Written::Finished(done) => Ok(done),
            other => Err(StoreError::batch(format!("unexpected {other:?}"))),
        }
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

/// Number one certificate in the write lane's transaction (see
/// [`Store::issue_certificate_with`]). The sequence row is the lock: a
/// concurrent issuer (another daemon on PostgreSQL) waits for it until the
/// transaction ends. A build that fails, or a ledger that moved on (a note's
/// registration, [`StoreError::Stale`]), gives the number back before
/// anything else is written, so the transaction goes on with the next write.
pub(super) async fn number_tx(
    tx: &mut Tx,
    n: &NumberCertificate,
) -> Result<Result<(CertificateRecord, bool), NotNumbered>, StoreError> {
    let (job_id, year) = (n.job_id, n.year);
    // No number is taken (no row returned) when the job already has a
    // certificate.
    let Some(row) = tx
        .fetch_optional(
            "INSERT INTO certificate_sequences (year, next)
             SELECT ?, 2 WHERE NOT EXISTS (SELECT 1 FROM certificates WHERE job_id = ?)
             ON CONFLICT (year) DO UPDATE SET next = certificate_sequences.next + 1
             RETURNING next - 1 AS seq",
            args![year, job_id],
        )
        .await?
    else {
        let row = tx
            .fetch_one(&format!("{CERT_COLUMNS} WHERE job_id = ?"), args![job_id])
            .await?;
        return Ok(Ok((record_from_row(&row)?, false)));
    };
    let seq = row.int("seq")?;
    let number = format!("{year:04}-{seq:06}");
    // This transaction holds the sequence row and numbers one certificate
    // at a time: the number just taken is the last, and giving it back
    // leaves no gap.
    let give_back = "UPDATE certificate_sequences SET next = next - 1 WHERE year = ?";
    let Ok(new) = (n.build)(number.clone()) else {
        tx.execute(give_back, args![year]).await?;
        return Ok(Err(NotNumbered::Build));
    };
    let r = &new.record;
    // The certificate and its registration: one statement on PostgreSQL.
    let certificate = (
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
    );
    match super::reports::insert_registration_with(tx, &new.registration, Some(certificate)).await {
        Ok(_) => {}
        // Checked before anything is written: the transaction is intact.
        Err(StoreError::Stale(m)) => {
            tx.execute(give_back, args![year]).await?;
            return Ok(Err(NotNumbered::Stale(m)));
        }
        Err(e) => return Err(e),
    }
    let mut record = new.record;
    record.number = number;
    record.job_id = job_id;
    Ok(Ok((record, true)))
}
