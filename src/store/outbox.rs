//! The e-mail outbox: durable messages keyed by an idempotency key.
//!
//! A message is enqueued once (the key is UNIQUE; enqueueing again returns the
//! existing row), claimed by the sender with a lease (`next_attempt_at` moves
//! past the lease, so a crashed sender's claim simply expires), then marked
//! `sent`, rescheduled with backoff, or `dead` together with its error-alert.

use super::db::{Arg, Backend, DbRow, Tx, args};
use super::lane::{SentMail, Write};
use super::{AuditRecord, OutboxKind, OutboxState, Store, StoreError, UnknownWord, audit_tx};

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// A message to enqueue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Unique per logical message, e.g. `certificate-delivery:2026-000001`.
    pub idem_key: String,
    /// What the message is (also its template's name).
    pub kind: OutboxKind,
    pub account: Option<String>,
    pub job_id: Option<i64>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachment: Option<Attachment>,
    /// Stable Message-ID (without angle brackets), derived from `idem_key`.
    pub message_id: String,
}

/// A claimed message, ready to send.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub idem_key: String,
    pub kind: OutboxKind,
    pub account: Option<String>,
    pub job_id: Option<i64>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachment: Option<Attachment>,
    pub message_id: String,
    /// Attempts including the current one.
    pub attempts: u32,
}

/// One row of `outbox_list` (for status and tests).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub idem_key: String,
    pub kind: OutboxKind,
    pub state: OutboxState,
    pub attempts: u32,
    pub message_id: String,
    pub last_error: Option<String>,
}

/// The outbox row of a new message: [`OUTBOX_INSERT`] with
/// [`OUTBOX_VALUES`] and [`outbox_args`].
pub(crate) const OUTBOX_INSERT: &str = "INSERT INTO outbox (idem_key, kind, account, job_id, recipients, subject, body, attachment_name, attachment_mime, attachment, message_id, state, attempts, next_attempt_at, created_at, updated_at)";
pub(crate) const OUTBOX_VALUES: &str = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?";

pub(crate) fn outbox_args(m: &NewMessage, now_ms: i64) -> Vec<Arg> {
    let recipients = serde_json::to_string(&m.recipients).unwrap_or_else(|_| "[]".into());
    let (an, am, ab) = match &m.attachment {
        Some(a) => (
            Some(a.name.as_str()),
            Some(a.mime.as_str()),
            Some(a.bytes.as_slice()),
        ),
        None => (None, None, None),
    };
    args![
        &m.idem_key,
        m.kind.as_str(),
        &m.account,
        m.job_id,
        recipients,
        &m.subject,
        &m.body,
        an,
        am,
        Arg::bytes(ab),
        &m.message_id,
        Arg::time(now_ms),
        Arg::time(now_ms),
        Arg::time(now_ms)
    ]
}

/// The `mail.enqueued` audit row of a message queued as `id`.
pub(crate) fn enqueued_audit(tx: &mut Tx, m: &NewMessage, id: i64, now_ms: i64) {
    tx.defer_audit(super::db::AuditRow {
        at: now_ms,
        account: m.account.clone(),
        job_id: m.job_id,
        event: "mail.enqueued".into(),
        detail: serde_json::json!({"outbox_id": id, "kind": m.kind, "key": m.idem_key}).to_string(),
    });
}

pub(crate) async fn enqueue_tx(
    tx: &mut Tx,
    m: &NewMessage,
    now_ms: i64,
) -> Result<(i64, bool), sqlx::Error> {
    // ON CONFLICT DO NOTHING: the same message may be enqueued at the same
    // moment by another daemon (a job taken over, a report re-published).
    let inserted = tx
        .fetch_optional(
            &format!("{OUTBOX_INSERT} VALUES ({OUTBOX_VALUES}) ON CONFLICT (idem_key) DO NOTHING RETURNING id"),
            outbox_args(m, now_ms),
        )
        .await?;
    let Some(row) = inserted else {
        let row = tx
            .fetch_one(
                "SELECT id FROM outbox WHERE idem_key = ?",
                args![&m.idem_key],
            )
            .await?;
        return Ok((row.int("id")?, false));
    };
    let id = row.int("id")?;
    enqueued_audit(tx, m, id, now_ms);
    Ok((id, true))
}

fn message_from_row(r: &DbRow) -> Result<OutboxMessage, sqlx::Error> {
    let recipients = r.text("recipients")?;
    let attachment = match r.opt_bytes("attachment")? {
        Some(bytes) => Some(Attachment {
            name: r
                .opt_text("attachment_name")?
                .unwrap_or_else(|| "adjunto".into()),
            mime: r
                .opt_text("attachment_mime")?
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        }),
        None => None,
    };
    Ok(OutboxMessage {
        id: r.int("id")?,
        idem_key: r.text("idem_key")?,
        kind: r.text("kind")?.parse().map_err(UnknownWord::decode)?,
        account: r.opt_text("account")?,
        job_id: r.opt_int("job_id")?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        subject: r.text("subject")?,
        body: r.text("body")?,
        attachment,
        message_id: r.text("message_id")?,
        attempts: r.int("attempts")? as u32,
    })
}

impl Store {
    /// Enqueue a message; idempotent on `idem_key`. Returns (id, newly created).
    pub async fn enqueue_message(
        &self,
        m: &NewMessage,
        now_ms: i64,
    ) -> Result<(i64, bool), StoreError> {
        let mut tx = self.write_tx().await?;
        let r = enqueue_tx(&mut tx, m, now_ms).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Claim up to `limit` due pending messages: attempts+1, and not due again
    /// before `now + lease_ms` (if the sender dies, the claim expires).
    pub async fn claim_messages(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut tx = self.write_tx().await?;
        let lock = match tx.backend() {
            Backend::Sqlite => "",
            // Several daemons' senders: each message goes to one of them.
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
             WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?{lock})
             RETURNING *"
        );
        let rows = tx
            .fetch_all(
                &sql,
                args![
                    Arg::time(now_ms + lease_ms),
                    Arg::time(now_ms),
                    Arg::time(now_ms),
                    limit as i64
                ],
            )
            .await?;
        tx.commit().await?;
        let mut out = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// The SMTP server accepted the message.
    pub async fn mark_message_sent(
        &self,
        m: &OutboxMessage,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.lane
            .submit(Write::MailSent(SentMail {
                outbox_id: m.id,
                account: m.account.clone(),
                job_id: m.job_id,
                kind: m.kind,
                message_id: m.message_id.clone(),
                attempts: m.attempts,
                at: now_ms,
            }))
            .await?;
        Ok(())
    }

    /// A failed attempt: due again at `next_at_ms`.
    pub async fn retry_message_later(
        &self,
        m: &OutboxMessage,
        error: &str,
        next_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE outbox SET next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
                args![Arg::time(next_at_ms), error, Arg::time(now_ms), m.id],
            )
            .await?;
        Ok(())
    }

    /// Retries exhausted (or a permanent refusal): the message is dead and,
    /// in the same transaction, its error-alert is enqueued.
    pub async fn mark_message_dead(
        &self,
        m: &OutboxMessage,
        error: &str,
        alert: Option<&NewMessage>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        tx.execute(
            "UPDATE outbox SET state = 'dead', last_error = ?, updated_at = ? WHERE id = ?",
            args![error, Arg::time(now_ms), m.id],
        )
        .await?;
        audit_tx(
            &mut tx,
            now_ms,
            &AuditRecord {
                account: m.account.as_deref(),
                job_id: m.job_id,
                event: "mail.dead",
                detail: serde_json::json!({"outbox_id": m.id, "kind": m.kind, "error": error, "attempts": m.attempts}),
            },
        )
        .await?;
        if let Some(a) = alert {
            enqueue_tx(&mut tx, a, now_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Earliest time a pending message becomes due.
    pub async fn outbox_next_due(&self) -> Result<Option<i64>, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE state = 'pending'",
                args![],
            )
            .await?;
        Ok(row.opt_time("due")?)
    }

    /// Every message, oldest first (status, tests).
    /// Messages by state (pending, sent, dead), for metrics and status.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.text("state")?, r.int("n")?)))
            .collect()
    }

    pub async fn outbox_list(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT id, idem_key, kind, state, attempts, message_id, last_error FROM outbox ORDER BY id",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEntry {
                    id: r.int("id")?,
                    idem_key: r.text("idem_key")?,
                    kind: r.text("kind")?.parse().map_err(UnknownWord::decode)?,
                    state: r.text("state")?.parse().map_err(UnknownWord::decode)?,
                    attempts: r.int("attempts")? as u32,
                    message_id: r.text("message_id")?,
                    last_error: r.opt_text("last_error")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
