//! Reports: the day's registrations as xlsx + CSV and the monthly summary,
//! written to the regulator's folders, reproducible byte for byte, announced
//! once; the Bogotá day boundary; the scheduler's due logic.

use std::process::Command;

use crate::support::deliver::*;
use pasarela::certificate::{example_data, issue_certificate};

fn at(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_and_monthly_reports_are_reproducible_and_announced_once() {
    let s = Setup::new(free_port());
    let store = s.store().await;
    let demo = s.account("demo");
    for (job, when) in [
        (1, "2026-03-05T08:00:00-05:00"),
        (2, "2026-03-05T23:30:00-05:00"), // 04:30 UTC on the 6th: still the 5th in Bogotá
        (3, "2026-03-06T00:30:00-05:00"),
        (4, "2026-03-04T12:00:00-05:00"),
    ] {
        let mut data = example_data();
        data.number.clear();
        data.registered_at = at(when);
        issue_certificate(&store, &s.config, &demo, job, data)
            .await
            .unwrap();
    }
    store.close().await;

    let bin = env!("CARGO_BIN_EXE_pasarela");
    let run = || {
        Command::new(bin)
            .args([
                "report",
                "--date",
                "2026-03-05",
                "--month",
                "2026-03",
                "--config",
            ])
            .arg(&s.config_path)
            .current_dir(s.dir.path())
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{out:?}");
    let home = s.account("regulador").home;
    let daily = home.join("outgoing/commission-reports/registros-comisiones-2026-03-05");
    let monthly = home.join("outgoing/compliance-documents/resumen-mensual-2026-03");
    let csv = std::fs::read_to_string(daily.with_extension("csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 registrations of the 5th: {csv}");
    assert!(lines[0].starts_with("certificado,fecha_registro,"));
    assert!(lines[1].starts_with("2026-000001,2026-03-05T08:00:00-05:00,demo,SETP990000123,"));
    assert!(lines[2].contains("2026-03-05T23:30:00-05:00"));
    assert!(lines[1].contains(",24151000.00,72453,tarifa-general,2026.1,1"));
    let xlsx = std::fs::read(daily.with_extension("xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK"));
    let month_csv = std::fs::read_to_string(monthly.with_extension("csv")).unwrap();
    assert!(
        month_csv.contains("2026-03-04,1,24151000.00,72453"),
        "{month_csv}"
    );
    assert!(
        month_csv.contains("2026-03-05,2,48302000.00,144906"),
        "{month_csv}"
    );
    assert!(
        month_csv.contains("TOTAL,4,96604000.00,289812"),
        "{month_csv}"
    );
    let monthly_xlsx = std::fs::read(monthly.with_extension("xlsx")).unwrap();

    // Re-running reproduces the same bytes and announces nothing new.
    let again = run();
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("(sin cambios)"));
    assert_eq!(std::fs::read(daily.with_extension("xlsx")).unwrap(), xlsx);
    assert_eq!(
        std::fs::read(monthly.with_extension("xlsx")).unwrap(),
        monthly_xlsx
    );
    let store = s.store().await;
    let reports: Vec<_> = store
        .outbox_list()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == "compliance-report")
        .collect();
    assert_eq!(
        reports.len(),
        2,
        "one compliance-report per publication: {reports:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_publishes_yesterday_after_the_time_of_day_and_the_month_on_the_first() {
    let s = Setup::new(free_port());
    let store = s.store().await;
    let ms = |t: &str| at(t).timestamp_millis();
    // A registration on Mar 29, whose report was missed (daemon down).
    let mut data = example_data();
    data.number.clear();
    data.registered_at = at("2026-03-29T15:00:00-05:00");
    issue_certificate(&store, &s.config, &s.account("demo"), 1, data)
        .await
        .unwrap();
    // 05:59 Bogotá: before daily_at (06:00), nothing is due.
    let none = pasarela::reports::publish_due(&store, &s.config, ms("2026-04-01T05:59:00-05:00"))
        .await
        .unwrap();
    assert!(none.is_empty());
    // 06:01 on the 1st: the missed Mar 29 (it has data; the empty 25–28 and
    // 30 are not published), yesterday (Mar 31) and March's summary.
    let due = pasarela::reports::publish_due(&store, &s.config, ms("2026-04-01T06:01:00-05:00"))
        .await
        .unwrap();
    let what: Vec<(String, String)> = due
        .iter()
        .map(|p| (p.kind.to_string(), p.period.clone()))
        .collect();
    assert_eq!(
        what,
        vec![
            ("daily".to_string(), "2026-03-29".to_string()),
            ("daily".to_string(), "2026-03-31".to_string()),
            ("monthly".to_string(), "2026-03".to_string())
        ]
    );
    // Catching up again (a restart) publishes nothing twice.
    let again = pasarela::reports::publish_due(&store, &s.config, ms("2026-04-01T09:00:00-05:00"))
        .await
        .unwrap();
    assert!(again.is_empty());
    // The next run: tomorrow 06:00 Bogotá = 11:00 UTC.
    let next = pasarela::reports::next_run_ms(
        chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap(),
        ms("2026-04-01T06:01:00-05:00"),
    );
    assert_eq!(next, ms("2026-04-02T06:00:00-05:00"));
}
