//! Registrations (the reports' source), published reports, and one-off
//! messages tied to a job (processing notifications).

use super::db::{Arg, DbRow, Tx, args};

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
    tx: &mut Tx,
    r: &Registration,
) -> Result<bool, sqlx::Error> {
    let done = tx.execute(
        "INSERT INTO registrations (job_id, certificate_number, account, invoice_number, cufe, supplier_id, supplier_name, customer_id, customer_name, value, commission, rule_id, rule_version, registered_at, registered_day)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
        args![
            r.job_id,
            &r.certificate_number,
            &r.account,
            &r.invoice_number,
            &r.cufe,
            &r.supplier_id,
            &r.supplier_name,
            &r.customer_id,
            &r.customer_name,
            Arg::money(&r.value),
            Arg::money(&r.commission),
            &r.rule_id,
            &r.rule_version,
            Arg::time(r.registered_at),
            Arg::day(&r.registered_day)
        ],
    )
    .await?;
    Ok(done == 1)
}

fn registration_from_row(r: &DbRow) -> Result<Registration, sqlx::Error> {
    Ok(Registration {
        job_id: r.int("job_id")?,
        certificate_number: r.text("certificate_number")?,
        account: r.text("account")?,
        invoice_number: r.text("invoice_number")?,
        cufe: r.text("cufe")?,
        supplier_id: r.text("supplier_id")?,
        supplier_name: r.text("supplier_name")?,
        customer_id: r.text("customer_id")?,
        customer_name: r.text("customer_name")?,
        value: r.money("value")?,
        commission: r.money("commission")?,
        rule_id: r.text("rule_id")?,
        rule_version: r.text("rule_version")?,
        registered_at: r.time("registered_at")?,
        registered_day: r.day("registered_day")?,
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
        let rows = self
            .db
            .fetch_all(
                "SELECT * FROM registrations WHERE registered_day = ? ORDER BY certificate_number",
                args![Arg::day(day)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(registration_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// How many registrations a Bogotá day has.
    pub async fn registration_count_on(&self, day: &str) -> Result<i64, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM registrations WHERE registered_day = ?",
                args![Arg::day(day)],
            )
            .await?;
        Ok(row.int("n")?)
    }

    /// Call `f` with each registration of a Bogotá day, in certificate-number
    /// order, streaming (the day is never loaded as a whole). Stops at the
    /// first error of `f`, which is returned inside `Ok`.
    pub async fn for_each_registration_on<E>(
        &self,
        day: &str,
        mut f: impl FnMut(Registration) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        let mut c = self.db.acquire().await?;
        let mut bad = None;
        let walked = c
            .conn()
            .for_each(
                "SELECT * FROM registrations WHERE registered_day = ? ORDER BY certificate_number",
                args![Arg::day(day)],
                |row| match registration_from_row(&row) {
                    Ok(r) => f(r).map_err(Ok),
                    Err(e) => {
                        bad = Some(e);
                        Err(Err(()))
                    }
                },
            )
            .await?;
        match walked {
            Ok(()) => Ok(Ok(())),
            Err(Ok(e)) => Ok(Err(e)),
            Err(Err(())) => Err(StoreError::Db(bad.unwrap_or(sqlx::Error::RowNotFound))),
        }
    }

    /// Per-day (day, value, commission) of a month `YYYY-MM`, for the monthly
    /// summary; sums are done by the caller in decimal.
    pub async fn registration_amounts_in_month(
        &self,
        month: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first);
        let rows = self
            .db
            .fetch_all(
                "SELECT registered_day, value, commission FROM registrations WHERE registered_day >= ? AND registered_day < ? ORDER BY registered_day",
                args![Arg::day(first.to_string()), Arg::day(next.to_string())],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.day("registered_day")?,
                    r.money("value")?,
                    r.money("commission")?,
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
        let done = tx
            .execute(
                "INSERT INTO reports (kind, period, sha256, rows, published_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                args![kind, period, sha256, rows as i64, Arg::time(now_ms)],
            )
            .await?;
        let new = done == 1;
        if new && let Some(m) = message {
            enqueue_tx(&mut tx, m, now_ms).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Has a report of this kind and period been published (any content)?
    pub async fn report_published(&self, kind: &str, period: &str) -> Result<bool, StoreError> {
        let row = self
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM reports WHERE kind = ? AND period = ?",
                args![kind, period],
            )
            .await?;
        Ok(row.int("n")? > 0)
    }
}
