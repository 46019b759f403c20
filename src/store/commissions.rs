//! Commissions per invoice and line (migration 0002), for reports.
//!
//! Declared from `store/mod.rs` as `mod commissions;`. Money is stored as
//! decimal strings and parsed back into `rust_decimal::Decimal`.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};
use crate::rules::{Commission, PricingInput, normalize_nit};

/// One stored commission line, as reports read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredCommissionLine {
    pub job_id: i64,
    pub document_key: Option<String>,
    pub pricing_date: String,
    pub client: String,
    pub side: String,
    pub rule_set: String,
    pub line: i64,
    pub code: String,
    pub rule_id: String,
    pub rule_version: i64,
    #[serde(with = "rust_decimal::serde::str")]
    pub base: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub fee: Decimal,
}

fn money(s: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))
}

impl Store {
    /// Record (or replace, on a replay) the commission of a job, in one transaction.
    pub async fn record_commission(
        &self,
        job_id: i64,
        document_key: Option<&str>,
        input: &PricingInput,
        commission: &Commission,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM commission_lines WHERE job_id = ?")
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM commissions WHERE job_id = ?")
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO commissions (job_id, document_key, priced_at, pricing_date, client, side, rule_set, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(job_id)
        .bind(document_key)
        .bind(now_ms)
        .bind(input.date.to_string())
        .bind(normalize_nit(&input.client))
        .bind(input.side.as_str())
        .bind(&commission.rule_set)
        .bind(commission.total.to_string())
        .execute(&mut *tx)
        .await?;
        for l in &commission.lines {
            let trace = serde_json::to_string(&l.trace).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO commission_lines (job_id, line, code, rule_id, rule_version, base, fee, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(job_id)
            .bind(l.line as i64)
            .bind(&l.code)
            .bind(&l.rule_id)
            .bind(i64::from(l.rule_version))
            .bind(l.base.to_string())
            .bind(l.fee.to_string())
            .bind(trace)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Commission lines priced with dates in `from..=to`, ordered by date, job, line.
    pub async fn commission_lines(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredCommissionLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.job_id, c.document_key, c.pricing_date, c.client, c.side, c.rule_set, l.line, l.code, l.rule_id, l.rule_version, l.base, l.fee \
             FROM commissions c JOIN commission_lines l ON l.job_id = c.job_id \
             WHERE c.pricing_date BETWEEN ? AND ? ORDER BY c.pricing_date, c.job_id, l.line",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(StoredCommissionLine {
                job_id: r.try_get("job_id")?,
                document_key: r.try_get("document_key")?,
                pricing_date: r.try_get("pricing_date")?,
                client: r.try_get("client")?,
                side: r.try_get("side")?,
                rule_set: r.try_get("rule_set")?,
                line: r.try_get("line")?,
                code: r.try_get("code")?,
                rule_id: r.try_get("rule_id")?,
                rule_version: r.try_get("rule_version")?,
                base: money(r.try_get::<String, _>("base")?.as_str())?,
                fee: money(r.try_get::<String, _>("fee")?.as_str())?,
            });
        }
        Ok(out)
    }

    /// The stored total of a job's commission, if it was priced.
    pub async fn commission_total(&self, job_id: i64) -> Result<Option<Decimal>, StoreError> {
        let row = sqlx::query("SELECT total FROM commissions WHERE job_id = ?")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(money(r.try_get::<String, _>("total")?.as_str())?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog::ProcessingState;
    use crate::rules::{PricingLine, Side};
    use crate::store::NewJob;

    #[tokio::test]
    async fn commissions_round_trip_and_replace_on_replay() {
        let d = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", d.path().join("t.db").display());
        let s = Store::open(&url, false, Duration::from_secs(5))
            .await
            .unwrap();
        let job = s
            .record_job(&NewJob {
                account: "demo".into(),
                rel_path: "a.xml".into(),
                spool_path: "/s/1".into(),
                size: 3,
                sha256: "aa".into(),
                now_ms: 1000,
                kind: crate::store::KIND_LIGHT,
            })
            .await
            .unwrap();
        let rules = crate::rules::load_rules(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules"),
        )
        .unwrap();
        let line = |v: &str| PricingLine {
            code: "1".into(),
            group: "GRANOS".into(),
            state: ProcessingState::Natural,
            quantity_kg: Decimal::ONE,
            value: Decimal::from_str(v).unwrap(),
        };
        let input = PricingInput {
            date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            client: "800.111.222-1".into(),
            side: Side::Seller,
            lines: vec![line("250000000"), line("1000200")],
        };
        let c = rules.price(&input).unwrap();
        s.record_commission(job, Some("cufe1"), &input, &c, 2000)
            .await
            .unwrap();
        s.record_commission(job, Some("cufe1"), &input, &c, 3000)
            .await
            .unwrap();
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let lines = s.commission_lines(from, to).await.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].fee, Decimal::from(475_000));
        assert_eq!(lines[1].fee, Decimal::from(2_500));
        assert_eq!(
            (
                lines[0].client.as_str(),
                lines[0].side.as_str(),
                lines[0].rule_id.as_str()
            ),
            ("800111222", "V", "granos-venta")
        );
        assert_eq!(
            s.commission_total(job).await.unwrap(),
            Some(Decimal::from(477_500))
        );
    }
}
