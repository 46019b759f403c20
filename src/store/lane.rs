//! The write lane: small writes that many tasks make at once (SFTP audit
//! rows, document-key claims, commissions, finished certificates, sent mail)
//! are collected and committed together, one transaction per batch
//! ([`super::batch::Batcher`]). Each write keeps its own audit row in the same
//! transaction as the change it records, so grouping changes nothing a reader
//! can see except that N writes cost one commit instead of N.

use super::db::{Arg, Backend, Tx, args};
use super::outbox::{NewMessage, enqueue_tx};
use super::{AuditRecord, Db, StoreError, audit_tx};

/// An audit row with owned parts (it waits in a queue).
#[derive(Debug)]
pub(crate) struct OwnedAudit {
    pub at: i64,
    pub account: Option<String>,
    pub job_id: Option<i64>,
    pub event: String,
    pub detail: serde_json::Value,
}

/// A job's commission, as the rows it becomes.
#[derive(Debug)]
pub(crate) struct CommissionRows {
    pub job_id: i64,
    pub document_key: Option<String>,
    pub priced_at: i64,
    pub pricing_date: String,
    pub client: String,
    pub side: String,
    pub rule_set: String,
    pub total: String,
    pub lines: Vec<CommissionLineRow>,
}

#[derive(Debug)]
pub(crate) struct CommissionLineRow {
    pub line: i64,
    pub code: String,
    pub rule_id: String,
    pub rule_version: i64,
    pub base: String,
    pub fee: String,
    pub trace: String,
}

/// A numbered certificate whose PDF is written.
#[derive(Debug)]
pub(crate) struct FinishedCertificate {
    pub number: String,
    pub account: String,
    pub job_id: i64,
    pub digest: String,
    pub path: String,
    pub pdf_sha256: String,
    pub message: Option<NewMessage>,
    pub at: i64,
}

/// A message the SMTP server accepted.
#[derive(Debug)]
pub(crate) struct SentMail {
    pub outbox_id: i64,
    pub account: Option<String>,
    pub job_id: Option<i64>,
    pub kind: super::OutboxKind,
    pub message_id: String,
    pub attempts: u32,
    pub at: i64,
}

/// Number a job's certificate ([`super::Store::issue_certificate_with`]).
pub(crate) struct NumberCertificate {
    pub job_id: i64,
    pub year: i32,
    /// The certificate and registration to record under a number (may be
    /// called again if the batch is run again).
    #[allow(clippy::type_complexity)]
    pub build: Box<dyn Fn(String) -> Result<super::certificates::NewCertificate, ()> + Send + Sync>,
}

impl std::fmt::Debug for NumberCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberCertificate")
            .field("job_id", &self.job_id)
            .field("year", &self.year)
            .finish_non_exhaustive()
    }
}

/// Why a certificate was not numbered (its number was given back).
#[derive(Debug)]
pub(crate) enum NotNumbered {
    /// The caller's build failed (the caller holds its error).
    Build,
    /// The registration's ledger moved on ([`StoreError::Stale`]).
    Stale(String),
}

#[derive(Debug)]
pub(crate) enum Write {
    Audit(OwnedAudit),
    /// Claim a job's document keys (CUFE/CUDE and supplier key, whichever
    /// it has); the first live claimant of either is the original.
    ClaimKey {
        job_id: i64,
        cufe: Option<String>,
        supplier: Option<String>,
    },
    Commission(Box<CommissionRows>),
    FinishCertificate(Box<FinishedCertificate>),
    MailSent(SentMail),
    /// Queue a message (idempotent on its key), at the given instant.
    Enqueue(Box<(NewMessage, i64)>),
    NumberCertificate(NumberCertificate),
}

#[derive(Debug)]
pub(crate) enum Written {
    Done,
    /// The live job that claimed one of the document keys first, if not
    /// this one, and what else is recorded under the keys.
    Original(super::KeyClaim),
    /// False when the certificate was already finished.
    Finished(bool),
    /// The job's certificate, and whether this write numbered it.
    Numbered(Result<(super::certificates::CertificateRecord, bool), NotNumbered>),
}

/// Commit one batch of writes in one transaction, in order.
pub(crate) async fn write_many(
    db: &Db,
    writes: &[std::sync::Arc<Write>],
) -> Result<Vec<Written>, StoreError> {
    // Document-key claims of one batch run in job order (the earlier job is
    // the original), after everything else, which runs in arrival order;
    // certificate numberings just before the claims, so that every
    // transaction takes its locks in one order (rows, the certificate
    // sequence, the key locks) and two daemons' batches cannot deadlock.
    let mut order: Vec<usize> = (0..writes.len()).collect();
    order.sort_by_key(|&i| match &*writes[i] {
        Write::ClaimKey { job_id, .. } => (2, *job_id),
        Write::NumberCertificate(_) => (1, i as i64),
        _ => (0, i as i64),
    });
    let mut tx = db.begin_write().await?;
    let mut out: Vec<Option<Written>> = (0..writes.len()).map(|_| None).collect();
    for i in order {
        out[i] = Some(write_tx(&mut tx, &writes[i]).await?);
    }
    tx.commit().await?;
    Ok(out
        .into_iter()
        .map(|w| w.unwrap_or(Written::Done))
        .collect())
}

pub(super) async fn write_tx(tx: &mut Tx, w: &Write) -> Result<Written, StoreError> {
    Ok(match w {
        Write::Audit(a) => {
            let rec = AuditRecord {
                account: a.account.as_deref(),
                job_id: a.job_id,
                event: &a.event,
                detail: a.detail.clone(),
            };
            audit_tx(tx, a.at, &rec).await?;
            Written::Done
        }
        Write::ClaimKey {
            job_id,
            cufe,
            supplier,
        } => Written::Original(
            claim_keys_tx(tx, *job_id, cufe.as_deref(), supplier.as_deref()).await?,
        ),
        Write::Commission(c) => {
            commission_tx(tx, c).await?;
            Written::Done
        }
        Write::FinishCertificate(f) => Written::Finished(finish_tx(tx, f).await?),
        Write::MailSent(m) => {
            mail_sent_tx(tx, m).await?;
            Written::Done
        }
        Write::Enqueue(m) => {
            enqueue_tx(tx, &m.0, m.1).await?;
            Written::Done
        }
        Write::NumberCertificate(n) => {
            Written::Numbered(super::certificates::number_tx(tx, n).await?)
        }
    })
}

/// Namespace of the advisory locks that serialise claims of one document key
/// across daemons on PostgreSQL (the two-integer form, so it never meets the
/// migration lock).
const KEY_LOCK_SPACE: i64 = 0x6b6579; // "key"

/// The first live claimant of a document key is the original; a later one
/// is its duplicate and holds no key. A document has up to two keys, its
/// CUFE/CUDE and its supplier key (NIT + number): when either is held by a
/// live job this job is that job's duplicate and holds neither, otherwise it
/// holds both (`document_key` = the CUFE, or the supplier key without one;
/// `supplier_key` = the supplier key). Claims of one key are serialised
/// (SQLite: the one writer; PostgreSQL: an advisory lock per key until the
/// transaction ends, both keys locked in ascending lock order so two claims of
/// the same pair cannot deadlock), so two concurrent submissions of the same
/// invoice can never both be originals, whichever job id is lower and
/// whichever key each carries. A job that claims again (a retry, a replay)
/// finds itself, not a rival.
async fn claim_keys_tx(
    tx: &mut Tx,
    job_id: i64,
    cufe: Option<&str>,
    supplier: Option<&str>,
) -> Result<super::KeyClaim, StoreError> {
    if tx.backend() == Backend::Postgres {
        let mut locks: Vec<i64> = cufe
            .iter()
            .chain(supplier.iter())
            .map(|k| key_lock(k))
            .collect();
        locks.sort_unstable();
        if let (Some(&first), Some(&last)) = (locks.first(), locks.last()) {
            // Both locks in one statement, in ascending order (the select
            // list is evaluated left to right; one key locks itself twice).
            tx.execute(
                "SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER)),
                        pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))",
                args![KEY_LOCK_SPACE, first, KEY_LOCK_SPACE, last],
            )
            .await?;
        }
        // The holder, this job's claim and what else is recorded under its
        // keys in one statement: its snapshot is taken after the locks
        // above, so it sees every earlier claim.
        let mut a = args![
            cufe,
            supplier,
            supplier,
            job_id,
            cufe.or(supplier),
            supplier,
            job_id
        ];
        a.extend(recorded_args(cufe, supplier));
        let row = tx
            .fetch_one(
                KEY_CLAIM_PG.get_or_init(|| {
                    format!(
                        "WITH h AS ({}),
                         u AS (UPDATE jobs SET
                                 document_key = CASE WHEN EXISTS (SELECT 1 FROM h) THEN NULL ELSE ? END,
                                 supplier_key = CASE WHEN EXISTS (SELECT 1 FROM h) THEN NULL ELSE ? END
                               WHERE id = ?)
                         SELECT h.id, h.document_key, r.waiting, r.events
                         FROM ({RECORDED_SQL}) r LEFT JOIN h ON true",
                        super::KEY_HOLDER_SQL
                    )
                }),
                a,
            )
            .await?;
        return claim_of(&row, cufe);
    }
    // The holder and what is recorded under the keys in one read, then the
    // claim. A missing key (NULL) simply takes no part (`KEY_HOLDER_SQL`).
    let mut a = recorded_args(cufe, supplier);
    a.extend(args![cufe, supplier, supplier, job_id]);
    let row = tx
        .fetch_one(
            KEY_CLAIM_SQLITE.get_or_init(|| {
                format!(
                    "SELECT h.id, h.document_key, r.waiting, r.events
                     FROM ({RECORDED_SQL}) r LEFT JOIN ({}) h ON 1 = 1",
                    super::KEY_HOLDER_SQL
                )
            }),
            a,
        )
        .await?;
    let claim = claim_of(&row, cufe)?;
    let (document_key, supplier_key) = match claim.holder {
        None => (cufe.or(supplier), supplier),
        Some(_) => (None, None),
    };
    tx.execute(
        "UPDATE jobs SET document_key = ?, supplier_key = ? WHERE id = ?",
        args![document_key, supplier_key, job_id],
    )
    .await?;
    Ok(claim)
}

/// What else is recorded under a document's keys, as two 0/1 columns:
/// `waiting`, readings of the document waiting for it (either key);
/// `events`, RADIAN events about it (its CUFE). Arguments: [`recorded_args`].
const RECORDED_SQL: &str = "SELECT
     CAST(CASE WHEN EXISTS (SELECT 1 FROM awaiting_documents WHERE key IN (?, ?)) THEN 1 ELSE 0 END AS BIGINT) AS waiting,
     CAST(CASE WHEN EXISTS (SELECT 1 FROM invoice_events WHERE cufe = ?) THEN 1 ELSE 0 END AS BIGINT) AS events";

/// The claim statement on PostgreSQL, and the read before the claim on
/// SQLite (each built once).
static KEY_CLAIM_PG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static KEY_CLAIM_SQLITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn recorded_args(cufe: Option<&str>, supplier: Option<&str>) -> Vec<Arg> {
    // Both tables keep their keys in lower case.
    let (cufe, supplier) = (cufe.map(str::to_lowercase), supplier.map(str::to_lowercase));
    vec![
        Arg::Text(cufe.clone()),
        Arg::Text(supplier),
        Arg::Text(cufe),
    ]
}

fn claim_of(row: &super::DbRow, cufe: Option<&str>) -> Result<super::KeyClaim, StoreError> {
    let holder = match row.opt_int("id")? {
        None => None,
        Some(job_id) => Some(super::KeyHolder {
            job_id,
            same_cufe: cufe.is_some() && row.opt_text("document_key")?.as_deref() == cufe,
        }),
    };
    Ok(super::KeyClaim {
        holder,
        waiting: row.int("waiting")? != 0,
        events: row.int("events")? != 0,
    })
}

/// The advisory-lock number of one document key (the first 32 bits of its
/// SHA-256; a collision only serialises two unrelated claims).
fn key_lock(key: &str) -> i64 {
    let digest = crate::fsutil::sha256_hex(key.as_bytes());
    i64::from(u32::from_str_radix(&digest[..8], 16).unwrap_or(0) as i32)
}

/// Record (or replace, on a replay) a job's commission.
async fn commission_tx(tx: &mut Tx, c: &CommissionRows) -> Result<(), StoreError> {
    // Replaced in place on a replay: the old lines go, the commission row is
    // upserted (on PostgreSQL both in one statement).
    let delete_lines = "DELETE FROM commission_lines WHERE job_id = ?";
    let upsert = "INSERT INTO commissions (job_id, document_key, priced_at, pricing_date, client, side, rule_set, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (job_id) DO UPDATE SET document_key = excluded.document_key, priced_at = excluded.priced_at,
         pricing_date = excluded.pricing_date, client = excluded.client, side = excluded.side,
         rule_set = excluded.rule_set, total = excluded.total";
    let row = args![
        c.job_id,
        &c.document_key,
        Arg::time(c.priced_at),
        Arg::day(c.pricing_date.clone()),
        &c.client,
        &c.side,
        &c.rule_set,
        Arg::money(c.total.clone())
    ];
    // All lines in one statement (a priced invoice has tens of them).
    let lines = || {
        let rows: Vec<serde_json::Value> = c
            .lines
            .iter()
            .map(|l| {
                serde_json::json!({
                    "job_id": c.job_id, "line": l.line, "code": l.code, "rule_id": l.rule_id,
                    "rule_version": l.rule_version, "base": l.base, "fee": l.fee, "trace": l.trace,
                })
            })
            .collect();
        serde_json::Value::Array(rows).to_string()
    };
    match tx.backend() {
        // One statement: the lines this commission no longer has go, the
        // commission is upserted and its lines upserted (each row is touched
        // once; the lines' foreign key is checked at the statement's end).
        Backend::Postgres => {
            let lines = lines();
            let mut a = args![c.job_id, lines.clone()];
            a.extend(row);
            a.push(Arg::from(lines));
            let sql = COMMISSION_PG.get_or_init(|| {
                format!(
                    "WITH d AS (DELETE FROM commission_lines WHERE job_id = ?
                                AND line NOT IN (SELECT CAST(e->>'line' AS BIGINT) FROM json_array_elements(CAST(? AS JSON)) AS l(e))),
                          c AS ({upsert})
                     {} ON CONFLICT (job_id, line) DO UPDATE SET code = excluded.code, rule_id = excluded.rule_id,
                        rule_version = excluded.rule_version, base = excluded.base, fee = excluded.fee, trace = excluded.trace",
                    COMMISSION_LINES.sql(Backend::Postgres)
                )
            });
            tx.execute(sql, a).await?;
        }
        Backend::Sqlite => {
            tx.execute(delete_lines, args![c.job_id]).await?;
            tx.execute(upsert, row).await?;
            if !c.lines.is_empty() {
                let sql = COMMISSION_LINES.sql(Backend::Sqlite);
                tx.execute(sql, args![lines()]).await?;
            }
        }
    }
    Ok(())
}

/// A commission and its lines in one statement on PostgreSQL (built once).
static COMMISSION_PG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The bulk insert of commission lines (money stays exact: JSON strings,
/// stored as text on SQLite and cast to NUMERIC on PostgreSQL).
static COMMISSION_LINES: super::db::BulkInsert = super::db::BulkInsert::new(
    "commission_lines",
    &[
        ("job_id", "BIGINT"),
        ("line", "BIGINT"),
        ("code", "text"),
        ("rule_id", "text"),
        ("rule_version", "BIGINT"),
        ("base", "NUMERIC"),
        ("fee", "NUMERIC"),
        ("trace", "text"),
    ],
);

/// Record the PDF's hash, queue the delivery message and write the
/// `certificate.issued` audit row, only once per certificate.
async fn finish_tx(tx: &mut Tx, f: &FinishedCertificate) -> Result<bool, StoreError> {
    let finish = "UPDATE certificates SET pdf_sha256 = ? WHERE number = ? AND pdf_sha256 = ''";
    match (&f.message, tx.backend()) {
        // The hash and the queued message in one statement.
        (Some(m), Backend::Postgres) => {
            let mut a = args![&f.pdf_sha256, &f.number];
            a.extend(super::outbox::outbox_args(m, f.at));
            let row = tx
                .fetch_one(
                    &format!(
                        "WITH f AS ({finish} RETURNING number),
                         o AS ({} SELECT {} WHERE EXISTS (SELECT 1 FROM f) ON CONFLICT (idem_key) DO NOTHING RETURNING id)
                         SELECT (SELECT COUNT(*) FROM f) AS finished, (SELECT id FROM o) AS outbox_id",
                        super::outbox::OUTBOX_INSERT,
                        super::outbox::OUTBOX_VALUES
                    ),
                    a,
                )
                .await?;
            if row.int("finished")? == 0 {
                return Ok(false);
            }
            // None: another daemon queued the same message first.
            if let Some(id) = row.opt_int("outbox_id")? {
                super::outbox::enqueued_audit(tx, m, id, f.at);
            }
        }
        (message, _) => {
            let updated = tx.execute(finish, args![&f.pdf_sha256, &f.number]).await?;
            if updated == 0 {
                return Ok(false);
            }
            if let Some(m) = message {
                enqueue_tx(tx, m, f.at).await?;
            }
        }
    }
    audit_tx(
        tx,
        f.at,
        &AuditRecord {
            account: Some(&f.account),
            job_id: Some(f.job_id),
            event: "certificate.issued",
            detail: serde_json::json!({"number": f.number, "digest": f.digest, "path": f.path}),
        },
    )
    .await?;
    Ok(true)
}

async fn mail_sent_tx(tx: &mut Tx, m: &SentMail) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL, updated_at = ? WHERE id = ?",
        args![Arg::time(m.at), Arg::time(m.at), m.outbox_id],
    )
    .await?;
    audit_tx(
        tx,
        m.at,
        &AuditRecord {
            account: m.account.as_deref(),
            job_id: m.job_id,
            event: "mail.sent",
            detail: serde_json::json!({"outbox_id": m.outbox_id, "kind": m.kind, "message_id": m.message_id, "attempts": m.attempts}),
        },
    )
    .await?;
    Ok(())
}
