//! Commissions per invoice and line (migration 0002), for reports.
//!
//! Declared from `store/mod.rs` as `mod commissions;`. Money is stored as
//! decimal strings and parsed back into `rust_decimal::Decimal`.

use std::str::FromStr;

use super::db::{Arg, args};
use super::{Store, StoreError};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

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
    /// Commission lines priced with dates in `from..=to`, ordered by date, job, line.
    pub async fn commission_lines(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredCommissionLine>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                "SELECT c.job_id, c.document_key, c.pricing_date, c.client, c.side, c.rule_set, l.line, l.code, l.rule_id, l.rule_version, l.base, l.fee \
                 FROM commissions c JOIN commission_lines l ON l.job_id = c.job_id \
                 WHERE c.pricing_date BETWEEN ? AND ? ORDER BY c.pricing_date, c.job_id, l.line",
                args![Arg::day(from.to_string()), Arg::day(to.to_string())],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(StoredCommissionLine {
                job_id: r.int("job_id")?,
                document_key: r.opt_text("document_key")?,
                pricing_date: r.day("pricing_date")?,
                client: r.text("client")?,
                side: r.text("side")?,
                rule_set: r.text("rule_set")?,
                line: r.int("line")?,
                code: r.text("code")?,
                rule_id: r.text("rule_id")?,
                rule_version: r.int("rule_version")?,
                base: money(&r.money("base")?)?,
                fee: money(&r.money("fee")?)?,
            });
        }
        Ok(out)
    }

    /// The stored total of a job's commission, if it was priced.
    pub async fn commission_total(&self, job_id: i64) -> Result<Option<Decimal>, StoreError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT total FROM commissions WHERE job_id = ?",
                args![job_id],
            )
            .await?;
        match row {
            Some(r) => Ok(Some(money(&r.money("total")?)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog::ProcessingState;
    use crate::rules::{PricingInput, PricingLine, Side};
    use crate::store::NewJob;
    use crate::store::lane::Write;

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
                kind: crate::store::JobKind::Light,
                format: crate::result::Format::Xml,
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
        // As a job's outcome writes it (`OutcomeWrites::commission`), twice
        // (a replay replaces it).
        for at in [2000, 3000] {
            let rows = crate::store::outcome::commission_rows(job, Some("cufe1"), &input, &c, at);
            let write = std::sync::Arc::new(Write::Commission(Box::new(rows)));
            crate::store::lane::write_many(&s.db, &[write])
                .await
                .unwrap();
        }
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
