//! Registrations (the reports' source), published reports, and one-off
//! messages tied to a job (processing notifications).

use super::db::{Arg, Backend, DbRow, Tx, args};

use super::outbox::{NewMessage, enqueue_tx};
use super::{EntryKind, Store, StoreError, UnknownWord};

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
    /// Where the row stands in its registration's ledger.
    pub ledger: Ledger,
}

/// A registrations row's place in the ledger of one registration: the
/// invoice's own row (seq 0) or a note applied to it. For a note's row,
/// `value` and `commission` of the [`Registration`] are the change it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub kind: EntryKind,
    /// The invoice registration a note's row adjusts (its job).
    pub adjusts: Option<i64>,
    /// 0 for the registration, then 1, 2, ... per note applied.
    pub seq: i64,
    /// The registration's value and commission after this row.
    pub net_value: String,
    pub net_commission: String,
    /// The registration's pricing input after this row (JSON), when known.
    pub pricing: Option<String>,
}

impl Ledger {
    /// The invoice's own row.
    pub fn registration(value: &str, commission: &str, pricing: Option<String>) -> Ledger {
        Ledger {
            kind: EntryKind::Registration,
            adjusts: None,
            seq: 0,
            net_value: value.to_owned(),
            net_commission: commission.to_owned(),
            pricing,
        }
    }
}

/// A registration as it stands now: its invoice's row and the last row of
/// its ledger (the same row when no note was applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationState {
    pub registration: Registration,
    pub last: Registration,
}

impl RegistrationState {
    pub fn cancelled(&self) -> bool {
        self.last.ledger.kind == EntryKind::Cancellation
    }
}

/// Insert a registrations row (idempotent per job). A note's row must follow
/// the last row of its registration's ledger: when another note got there
/// first the insert is refused with [`StoreError::Stale`], and the job runs
/// again on the new state.
pub(crate) async fn insert_registration_tx(
    tx: &mut Tx,
    r: &Registration,
) -> Result<bool, StoreError> {
    insert_registration_with(tx, r, None).await
}

/// [`insert_registration_tx`], with `before` (a data-modifying statement
/// and its arguments) run as a `WITH` of the same statement on PostgreSQL,
/// and as a statement of its own just before on SQLite.
pub(crate) async fn insert_registration_with(
    tx: &mut Tx,
    r: &Registration,
    before: Option<(&str, Vec<Arg>)>,
) -> Result<bool, StoreError> {
    if let Some(adjusts) = r.ledger.adjusts {
        let row = tx
            .fetch_one(
                "SELECT COALESCE(MAX(seq), 0) AS seq FROM registrations WHERE job_id = ? OR adjusts = ?",
                args![adjusts, adjusts],
            )
            .await?;
        let last = row.int("seq")?;
        if last + 1 != r.ledger.seq {
            return Err(StoreError::Stale(format!(
                "registration of job {adjusts} changed while note job {} was priced (ledger at {last}, expected {})",
                r.job_id,
                r.ledger.seq - 1
            )));
        }
    }
    let l = &r.ledger;
    let insert = "INSERT INTO registrations (job_id, certificate_number, account, invoice_number, cufe, supplier_id, supplier_name, customer_id, customer_name, value, commission, rule_id, rule_version, registered_at, registered_day, kind, adjusts, seq, net_value, net_commission, pricing)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING";
    let row = args![
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
        Arg::day(&r.registered_day),
        l.kind.as_str(),
        Arg::Int(l.adjusts),
        l.seq,
        Arg::money(&l.net_value),
        Arg::money(&l.net_commission),
        Arg::Text(l.pricing.clone())
    ];
    let done = match before {
        Some((sql, mut a)) if tx.backend() == Backend::Postgres => {
            a.extend(row);
            tx.execute(&format!("WITH before AS ({sql}) {insert}"), a)
                .await?
        }
        Some((sql, a)) => {
            tx.execute(sql, a).await?;
            tx.execute(insert, row).await?
        }
        None => tx.execute(insert, row).await?,
    };
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
        ledger: Ledger {
            kind: r.text("kind")?.parse().map_err(UnknownWord::decode)?,
            adjusts: r.opt_int("adjusts")?,
            seq: r.int("seq")?,
            net_value: r.money("net_value")?,
            net_commission: r.money("net_commission")?,
            pricing: r.opt_text("pricing")?,
        },
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

    /// The registration of the invoice whose CUFE is `cufe` (compared in
    /// lower case) and the last row of its ledger; `None` when that invoice
    /// is not registered.
    pub async fn registration_state(
        &self,
        cufe: &str,
    ) -> Result<Option<RegistrationState>, StoreError> {
        let Some(row) = self
            .db
            .fetch_optional(
                "SELECT * FROM registrations WHERE lower(cufe) = ? AND kind = 'registration' ORDER BY job_id LIMIT 1",
                args![cufe.to_lowercase()],
            )
            .await?
        else {
            return Ok(None);
        };
        let registration = registration_from_row(&row)?;
        let last = match self
            .db
            .fetch_optional(
                "SELECT * FROM registrations WHERE adjusts = ? ORDER BY seq DESC LIMIT 1",
                args![registration.job_id],
            )
            .await?
        {
            Some(row) => registration_from_row(&row)?,
            None => registration.clone(),
        };
        Ok(Some(RegistrationState { registration, last }))
    }

    /// The registrations row a job wrote (its invoice's, or its note's).
    pub async fn registration_of_job(
        &self,
        job_id: i64,
    ) -> Result<Option<Registration>, StoreError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT * FROM registrations WHERE job_id = ?",
                args![job_id],
            )
            .await?;
        Ok(row.as_ref().map(registration_from_row).transpose()?)
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

    /// Per-row (day, value, commission, ledger kind) of a month `YYYY-MM`,
    /// for the monthly summary; sums are done by the caller in decimal.
    pub async fn registration_amounts_in_month(
        &self,
        month: &str,
    ) -> Result<Vec<(String, String, String, EntryKind)>, StoreError> {
        let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first);
        let rows = self
            .db
            .fetch_all(
                "SELECT registered_day, value, commission, kind FROM registrations WHERE registered_day >= ? AND registered_day < ? ORDER BY registered_day, job_id",
                args![Arg::day(first.to_string()), Arg::day(next.to_string())],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.day("registered_day")?,
                    r.money("value")?,
                    r.money("commission")?,
                    r.text("kind")?.parse().map_err(UnknownWord::decode)?,
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
