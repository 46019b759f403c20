//! RADIAN events per invoice (`invoice_events`), and the jobs held until an
//! event arrives.

use super::db::{Arg, args};
use super::{Store, StoreError};

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub cude: &'a str,
    pub cufe: &'a str,
    pub code: &'a str,
    pub event_id: &'a str,
    pub issued: &'a str,
    pub sender: &'a str,
    pub receiver: &'a str,
    pub job_id: i64,
}

/// An event on record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub cude: String,
    pub code: String,
    pub event_id: String,
    pub sender: String,
    pub job_id: i64,
}

impl Store {
    /// Record an event (keys compared in lower case). Returns false when the
    /// same event (CUDE) was already recorded.
    pub async fn record_event(&self, e: &NewEvent<'_>, now_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = tx
            .execute(
                "INSERT INTO invoice_events (cude, cufe, code, event_id, issued, sender, receiver, job_id, recorded_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cude) DO NOTHING",
                args![
                    e.cude.to_lowercase(),
                    e.cufe.to_lowercase(),
                    e.code,
                    e.event_id,
                    e.issued,
                    e.sender,
                    e.receiver,
                    e.job_id,
                    Arg::time(now_ms)
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The events recorded about the invoice whose CUFE is `cufe`, oldest first.
    pub async fn events_of(&self, cufe: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT cude, code, event_id, sender, job_id FROM invoice_events WHERE cufe = ? ORDER BY recorded_at, cude",
                args![cufe.to_lowercase()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    cude: r.text("cude")?,
                    code: r.text("code")?,
                    event_id: r.text("event_id")?,
                    sender: r.text("sender")?,
                    job_id: r.int("job_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Finished jobs about `document_key` held in review for `reason`
    /// (e.g. until an event arrives), oldest first.
    pub async fn held_jobs(
        &self,
        document_key: &str,
        reason: crate::review::Reason,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT id FROM jobs WHERE document_key = ? AND state = 'done' AND review_reason = ? ORDER BY id",
                args![document_key.to_lowercase(), reason.as_str()],
            )
            .await?;
        rows.iter()
            .map(|r| r.int("id"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
