//! E-mail delivery through a durable outbox: the only SMTP code in the crate.
//!
//! Producers (certificate issuing, notifications, reports, alerts) *enqueue*
//! a message in the store, in the same transaction as the fact it reports,
//! under an idempotency key; the sender task delivers due messages with
//! lettre, retries with exponential backoff, and after `max_attempts` (or a
//! permanent 5xx refusal) marks the message dead and enqueues an error-alert
//! to the administrators in the same transaction.
//!
//! Exactly-once, as far as SMTP allows: a message exists once per key; it is
//! marked sent right after the relay accepts it. The one remaining window (the
//! process dies between the relay's 250 and the commit) resends the message
//! with the *same* Message-ID (derived from the key), so receivers and relays
//! that de-duplicate by Message-ID see one message.

pub mod config;

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::store::outbox::{Attachment, NewMessage, OutboxMessage};
use crate::store::{OutboxKind, Store};

pub use config::{Security, Smtp, Template};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("template {0}: {1}")]
    Template(String, String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("SMTP configuration: {0}")]
    Transport(String),
}

/// Stable Message-ID for an idempotency key: `<32 hex>@<domain>` (no brackets).
pub fn message_id(idem_key: &str, domain: &str) -> String {
    let h = crate::fsutil::sha256_hex(idem_key.as_bytes());
    format!("{}@{}", &h[..32], domain)
}

/// Build a message from a template. `None` when there is no `[smtp]` section
/// (mail is off) or nobody to send to.
#[allow(clippy::too_many_arguments)]
pub fn compose(
    config: &Config,
    kind: OutboxKind,
    idem_key: String,
    account: Option<&str>,
    job_id: Option<i64>,
    recipients: Vec<String>,
    vars: &BTreeMap<&str, String>,
    attachment: Option<Attachment>,
) -> Result<Option<NewMessage>, OutboxError> {
    let Some(smtp) = &config.smtp else {
        return Ok(None);
    };
    let mut recipients: Vec<String> = recipients
        .into_iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    recipients.sort();
    recipients.dedup();
    if recipients.is_empty() {
        return Ok(None);
    }
    let template = smtp
        .template(kind.as_str())
        .ok_or_else(|| OutboxError::Template(kind.to_string(), "not loaded".into()))?;
    let (subject, body) = template
        .render(vars)
        .map_err(|e| OutboxError::Template(kind.to_string(), e))?;
    Ok(Some(NewMessage {
        message_id: message_id(&idem_key, &smtp.message_id_domain),
        idem_key,
        kind,
        account: account.map(str::to_string),
        job_id,
        recipients,
        subject,
        body,
        attachment,
    }))
}

/// The error-alert to the administrators for `key` (e.g. `job-dead:42:<ms>`),
/// ready to enqueue (in the caller's transaction). `None` when mail is off or
/// there are no administrators.
pub fn compose_alert(
    config: &Config,
    key: &str,
    job_id: Option<i64>,
    summary: &str,
    detail: &str,
) -> Result<Option<NewMessage>, OutboxError> {
    let Some(smtp) = &config.smtp else {
        return Ok(None);
    };
    compose(
        config,
        OutboxKind::ErrorAlert,
        format!("error-alert:{key}"),
        None,
        job_id,
        smtp.admins.clone(),
        &alert_vars(summary, detail),
        None,
    )
}

/// Enqueue an error-alert to the administrators; idempotent on `key`.
/// Returns false if mail is off, there are no admins, or the alert was
/// already enqueued.
pub async fn alert_admins(
    store: &Store,
    config: &Config,
    key: &str,
    summary: &str,
    detail: &str,
) -> Result<bool, OutboxError> {
    match compose_alert(config, key, None, summary, detail)? {
        Some(m) => Ok(store
            .enqueue_message(&m, chrono::Utc::now().timestamp_millis())
            .await?
            .1),
        None => Ok(false),
    }
}

fn alert_vars(summary: &str, detail: &str) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    v.insert("resumen", summary.to_string());
    v.insert("detalle", detail.to_string());
    v.insert(
        "fecha",
        chrono::Utc::now()
            .with_timezone(&crate::clock::bogota())
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
    );
    v
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Build the lettre transport from `[smtp]`: STARTTLS (required, never
/// downgraded to plain), implicit TLS, or plain on loopback. TLS verifies the
/// relay's certificate against the public web roots plus `ca_file`.
pub fn transport(smtp: &Smtp) -> Result<Transport, OutboxError> {
    let tls = || -> Result<TlsParameters, OutboxError> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Some(pem) = &smtp.ca_pem {
            let ca = Certificate::from_pem(pem)
                .map_err(|e| OutboxError::Transport(format!("smtp.ca_file: {e}")))?;
            b = b.add_root_certificate(ca);
        }
        b.build_rustls()
            .map_err(|e| OutboxError::Transport(format!("TLS: {e}")))
    };
    let builder = Transport::builder_dangerous(&smtp.host);
    let builder = match smtp.security {
        Security::Plain => builder,
        Security::StartTls => builder.tls(Tls::Required(tls()?)),
        Security::Tls => builder.tls(Tls::Wrapper(tls()?)),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(smtp.timeout))
        .pool_config(PoolConfig::new().max_size(smtp.connections));
    if let (Some(user), Some(var)) = (&smtp.username, &smtp.password_env) {
        let password = std::env::var(var).map_err(|_| {
            OutboxError::Transport(format!(
                "environment variable {var} (smtp.password_env) is not set"
            ))
        })?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// Why one attempt failed.
#[derive(Debug)]
enum SendError {
    /// Retrying will not help (bad address, 5xx refusal).
    Permanent(String),
    Transient(String),
}

fn build_email(smtp: &Smtp, m: &OutboxMessage) -> Result<Message, String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("from '{}': {e}", smtp.from))?;
    let mut b = Message::builder()
        .from(from)
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}>", m.message_id)));
    for r in &m.recipients {
        let mb: Mailbox = r.parse().map_err(|e| format!("recipient '{r}': {e}"))?;
        b = b.to(mb);
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone());
    let email = match &m.attachment {
        Some(a) => {
            let ct = ContentType::parse(&a.mime).map_err(|e| format!("mime '{}': {e}", a.mime))?;
            b.multipart(
                MultiPart::mixed()
                    .singlepart(text)
                    .singlepart(MailAttachment::new(a.name.clone()).body(a.bytes.clone(), ct)),
            )
        }
        None => b.singlepart(text),
    };
    email.map_err(|e| e.to_string())
}

async fn send_one(smtp: &Smtp, transport: &Transport, m: &OutboxMessage) -> Result<(), SendError> {
    let email = build_email(smtp, m).map_err(SendError::Permanent)?;
    match transport.send(email).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
        Err(e) => Err(SendError::Transient(e.to_string())),
    }
}

/// The sender: owns the transport and delivers due messages.
pub struct Sender {
    pub store: Store,
    pub config: std::sync::Arc<Config>,
    smtp: Smtp,
    transport: Transport,
}

impl Sender {
    pub fn new(store: Store, config: std::sync::Arc<Config>) -> Result<Sender, OutboxError> {
        let smtp = config
            .smtp
            .as_ref()
            .ok_or_else(|| OutboxError::Transport("no [smtp] section".into()))?;
        Ok(Sender {
            transport: transport(smtp)?,
            smtp: smtp.clone(),
            store,
            config,
        })
    }

    fn smtp(&self) -> &Smtp {
        &self.smtp
    }

    /// One pass: claim due messages and try each once, up to
    /// `smtp.connections` at the same time. Returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, OutboxError> {
        use futures::StreamExt;
        let smtp = self.smtp();
        let now = chrono::Utc::now().timestamp_millis();
        // A claim outlives one attempt (connect + send, each bounded by the timeout).
        let lease_ms = (smtp.timeout.as_millis() as i64) * 3 + 5_000;
        let limit = (smtp.connections as usize * 4).max(16);
        let batch = self.store.claim_messages(limit, now, lease_ms).await?;
        let n = batch.len();
        let outcomes: Vec<Result<(), OutboxError>> = futures::stream::iter(batch)
            .map(|m| self.attempt(m))
            .buffer_unordered(smtp.connections as usize)
            .collect()
            .await;
        outcomes.into_iter().collect::<Result<(), _>>()?;
        Ok(n)
    }

    /// Send one claimed message once and record the outcome.
    async fn attempt(&self, m: OutboxMessage) -> Result<(), OutboxError> {
        let smtp = self.smtp();
        let result = send_one(smtp, &self.transport, &m).await;
        let now = chrono::Utc::now().timestamp_millis();
        match result {
            Ok(()) => {
                self.store.mark_message_sent(&m, now).await?;
                crate::admin::metrics::inc("pasarela_mail_total", &[("outcome", "sent")]);
                info!(outbox_id = m.id, kind = %m.kind, attempts = m.attempts, "mail sent");
            }
            Err(SendError::Transient(e)) if m.attempts < smtp.max_attempts => {
                let next = now + smtp.backoff(m.attempts).as_millis() as i64;
                warn!(outbox_id = m.id, kind = %m.kind, attempts = m.attempts, error = %e, "mail not sent; will retry");
                self.store.retry_message_later(&m, &e, next, now).await?;
                crate::admin::metrics::inc("pasarela_mail_total", &[("outcome", "retry")]);
            }
            Err(SendError::Transient(e) | SendError::Permanent(e)) => {
                warn!(outbox_id = m.id, kind = %m.kind, attempts = m.attempts, error = %e, "mail dead");
                let alert = if m.kind == OutboxKind::ErrorAlert {
                    None // never alert about an undeliverable alert (no loops)
                } else {
                    compose(
                        &self.config,
                        OutboxKind::ErrorAlert,
                        format!("error-alert:mail-dead:{}", m.idem_key),
                        None,
                        m.job_id,
                        smtp.admins.clone(),
                        &alert_vars(
                            &format!("un correo ({}) no pudo entregarse", m.kind),
                            &format!(
                                "Mensaje {} para {} tras {} intento(s).\nÚltimo error: {e}",
                                m.message_id,
                                m.recipients.join(", "),
                                m.attempts
                            ),
                        ),
                        None,
                    )
                    .unwrap_or_else(|err| {
                        warn!(error = %err, "error-alert could not be composed");
                        None
                    })
                };
                self.store
                    .mark_message_dead(&m, &e, alert.as_ref(), now)
                    .await?;
                crate::admin::metrics::inc("pasarela_mail_total", &[("outcome", "dead")]);
            }
        }
        Ok(())
    }

    /// Deliver until `shutdown`; sleeps until the next due message (at most
    /// `poll_interval`). Store errors are logged and retried next tick.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = self.smtp().poll_interval;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let worked = match self.deliver_due().await {
                Ok(n) => n > 0,
                Err(e) => {
                    warn!(error = %e, "outbox pass failed");
                    false
                }
            };
            if worked {
                continue;
            }
            let wait = match self.store.outbox_next_due().await {
                Ok(Some(due)) => {
                    let ms = due - chrono::Utc::now().timestamp_millis();
                    Duration::from_millis(ms.clamp(0, poll.as_millis() as i64) as u64)
                }
                _ => poll,
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn message_ids_are_stable_per_key() {
        let a = super::message_id("certificate-delivery:2026-000001", "bolsa.example");
        assert_eq!(
            a,
            super::message_id("certificate-delivery:2026-000001", "bolsa.example")
        );
        assert_ne!(
            a,
            super::message_id("certificate-delivery:2026-000002", "bolsa.example")
        );
        assert!(a.ends_with("@bolsa.example") && a.len() == 32 + 1 + 13);
    }
}
