//! Registrations (the reports' source), published reports, and one-off
//! messages tied to a job (processing notifications).

use sqlx::{Row, Sqlite, Transaction};

use super::outbox::{NewMessage, enqueue_tx};
use super::{Store, StoreError};

/// One registered invoice, as the reports list it. Money as decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub job_id: i64,
    pub certificate_number: String,
    pub account: String,
    pub invoice_number: String,
    pub cufe: String,
    pub supplier_id: String,
    pub supplier_name: String,
    pub customer_id: String,
    pub customer_name: String,
    pub value: String,
    pub commission: String,
    pub rule_id: String,
    pub rule_version: String,
    pub registered_at: i64,
    /// `YYYY-MM-DD` in America/Bogota.
    pub registered_day: String,
}

pub(crate) async fn insert_registration_tx(
    tx: &mut Transaction<'_, Sqlite>,
    r: &Registration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO registrations (job_id, certificate_number, account, invoice_number, cufe, supplier_id, supplier_name, customer_id, customer_name, value, commission, rule_id, rule_version, registered_at, registered_day)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
    )
    .bind(r.job_id)
    .bind(&r.certificate_number)
    .bind(&r.account)
    .bind(&r.invoice_number)
    .bind(&r.cufe)
    .bind(&r.supplier_id)
    .bind(&r.supplier_name)
    .bind(&r.customer_id)
    .bind(&r.customer_name)
    .bind(&r.value)
    .bind(&r.commission)
    .bind(&r.rule_id)
    .bind(&r.rule_version)
    .bind(r.registered_at)
    .bind(&r.registered_day)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn registration_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Registration, sqlx::Error> {
    Ok(Registration {
        job_id: r.try_get("job_id")?,
        certificate_number: r.try_get("certificate_number")?,
        account: r.try_get("account")?,
        invoice_number: r.try_get("invoice_number")?,
        cufe: r.try_get("cufe")?,
        supplier_id: r.try_get("supplier_id")?,
        supplier_name: r.try_get("supplier_name")?,
        customer_id: r.try_get("customer_id")?,
        customer_name: r.try_get("customer_name")?,
        value: r.try_get("value")?,
        commission: r.try_get("commission")?,
        rule_id: r.try_get("rule_id")?,
        rule_version: r.try_get("rule_version")?,
        registered_at: r.try_get("registered_at")?,
        registered_day: r.try_get("registered_day")?,
    })
}

impl Store {
    /// Record a registration; idempotent per job. Returns true if new.
    /// (`certificate::issue_certificate` records it together with the
    /// certificate; this is for callers that register without one.)
    pub async fn record_registration(&self, r: &Registration) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let new = insert_registration_tx(&mut tx, r).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Many registrations in one transaction (imports, benchmarks).
    pub async fn record_registrations(&self, rs: &[Registration]) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut n = 0;
        for r in rs {
            if insert_registration_tx(&mut tx, r).await? {
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Registrations of one Bogotá day, in certificate-number order.
    pub async fn registrations_on(&self, day: &str) -> Result<Vec<Registration>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM registrations WHERE registered_day = ? ORDER BY certificate_number",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(registration_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// How many registrations a Bogotá day has.
    pub async fn registration_count_on(&self, day: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM registrations WHERE registered_day = ?")
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Call `f` with each registration of a Bogotá day, in certificate-number
    /// order, streaming (the day is never loaded as a whole). Stops at the
    /// first error of `f`, which is returned inside `Ok`.
    pub async fn for_each_registration_on<E>(
        &self,
        day: &str,
        mut f: impl FnMut(Registration) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query(
            "SELECT * FROM registrations WHERE registered_day = ? ORDER BY certificate_number",
        )
        .bind(day)
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            if let Err(e) = f(registration_from_row(&row)?) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    /// Per-day (day, value, commission) of a month `YYYY-MM`, for the monthly
    /// summary; sums are done by the caller in decimal.
    pub async fn registration_amounts_in_month(
        &self,
        month: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT registered_day, value, commission FROM registrations WHERE registered_day >= ? AND registered_day < ? ORDER BY registered_day",
        )
        .bind(format!("{month}-01"))
        .bind(format!("{month}-99"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("registered_day")?,
                    r.try_get("value")?,
                    r.try_get("commission")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Record a published report and enqueue its compliance-report message,
    /// in one transaction. Idempotent on (kind, period, sha256): re-publishing
    /// identical content returns false and enqueues nothing new.
    pub async fn record_report(
        &self,
        kind: &str,
        period: &str,
        sha256: &str,
        rows: u64,
        message: Option<&NewMessage>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "INSERT INTO reports (kind, period, sha256, rows, published_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(kind)
        .bind(period)
        .bind(sha256)
        .bind(rows as i64)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let new = done.rows_affected() == 1;
        if new && let Some(m) = message {
            enqueue_tx(&mut tx, m, now_ms).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Has a report of this kind and period been published (any content)?
    pub async fn report_published(&self, kind: &str, period: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM reports WHERE kind = ? AND period = ?")
            .bind(kind)
            .bind(period)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}
