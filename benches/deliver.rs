//! Delivery benchmarks (results in docs/BENCHMARKS.md):
//!   cargo bench --bench deliver                  # everything below
//!   cargo bench --bench deliver -- certificates  # render / issue rate only
//!   cargo bench --bench deliver -- report        # 100,000-registration day only
//! The report is generated in a child process so that its peak RSS (VmHWM)
//! does not include the set-up that fills the store.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use pasarela::certificate::{example_data, issue_certificate, render};
use pasarela::store::Store;
use pasarela::store::reports::Registration;

const DAY_ROWS: usize = 100_000;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn config_in(dir: &Path) -> Arc<pasarela::config::Config> {
    let text = "[daemon]\nstate_dir = \"var\"\n[store]\nsynchronous = \"normal\"\n\
                [accounts.demo]\nhome = \"var/home/demo\"\n[accounts.regulador]\nhome = \"var/home/regulador\"\n\
                [[routes]]\nname = \"all\"\nsteps = [\"classify\"]\n[reports]\nscheduled = false\naccounts = [\"regulador\"]\n";
    let path = dir.join("pasarela.toml");
    std::fs::write(&path, text).expect("config");
    let (c, _) = pasarela::config::load_with_base(&path, dir).expect("valid config");
    Arc::new(c)
}

async fn open(config: &pasarela::config::Config) -> Store {
    Store::open(
        &config.store.url,
        config.store.synchronous_full,
        config.store.busy_timeout,
    )
    .await
    .expect("store")
}

async fn certificates() {
    let data = example_data();
    let n = 300;
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        bytes = render(&data).expect("render").pdf.len();
    }
    let secs = t.elapsed().as_secs_f64();
    // A sample to inspect (object sizes, page content): PASARELA_CERT_SAMPLE=/tmp/c.pdf
    if let Ok(path) = std::env::var("PASARELA_CERT_SAMPLE") {
        std::fs::write(&path, render(&data).expect("render").pdf).expect("write sample");
    }
    println!(
        "render (pure, PDF/A-3b, {bytes} bytes each): {n} in {secs:.2} s = {:.0} certificates/s ({:.2} ms each)",
        n as f64 / secs,
        secs * 1000.0 / n as f64
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_in(dir.path());
    let store = open(&config).await;
    let demo = config.accounts["demo"].clone();
    let t = Instant::now();
    for job in 0..n {
        let mut d = data.clone();
        d.number.clear();
        issue_certificate(&store, &config, &demo, job as i64, d)
            .await
            .expect("issue");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "issue (number + render + store transaction + atomic write with fsync, synchronous=normal): {n} in {secs:.2} s = {:.0} certificates/s",
        n as f64 / secs
    );
}

async fn fill_day(config: &pasarela::config::Config) {
    let store = open(config).await;
    let t = Instant::now();
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-05T00:00:00-05:00")
        .expect("date")
        .timestamp_millis();
    let rows: Vec<Registration> = (0..DAY_ROWS)
        .map(|i| {
            (
                i,
                format!("{}.{:02}", 1_000_000 + (i * 137) % 90_000_000, i % 100),
                format!("{}", 3000 + (i * 31) % 270_000),
            )
        })
        .map(|(i, value, commission)| Registration {
            job_id: i as i64 + 1,
            certificate_number: format!("2026-{:06}", i + 1),
            account: format!("comisionista-{}", i % 40),
            invoice_number: format!("SETP99{:07}", i),
            cufe: format!("{:096x}", i as u128 * 7919),
            supplier_id: format!("900{:06}", i % 5000),
            supplier_name: format!("Proveedor agrícola número {} S.A.S.", i % 5000),
            customer_id: format!("800{:06}", i % 3000),
            customer_name: format!("Comprador, \"mayorista\" {}", i % 3000),
            ledger: pasarela::store::reports::Ledger::registration(&value, &commission, None),
            value,
            commission,
            rule_id: "tarifa-general".into(),
            rule_version: "2026.1".into(),
            registered_at: base + (i as i64 * 86_400_000 / DAY_ROWS as i64),
            registered_day: "2026-03-05".into(),
        })
        .collect();
    for chunk in rows.chunks(10_000) {
        store.record_registrations(chunk).await.expect("insert");
    }
    println!(
        "set-up: {DAY_ROWS} registrations stored in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    store.close().await;
}

async fn report_child(dir: &Path) {
    let config = config_in(dir);
    let store = open(&config).await;
    let before = vm_hwm_kib();
    let t = Instant::now();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 5).expect("day");
    let p = pasarela::reports::publish_daily(&store, &config, day)
        .await
        .expect("report");
    let secs = t.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let m = pasarela::reports::publish_monthly(&store, &config, 2026, 3)
        .await
        .expect("monthly");
    let secs2 = t2.elapsed().as_secs_f64();
    let sizes: Vec<String> = p
        .files
        .iter()
        .map(|f| {
            format!(
                "{} {} KiB",
                f.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                std::fs::metadata(f).map(|m| m.len() / 1024).unwrap_or(0)
            )
        })
        .collect();
    println!(
        "daily report of {} registrations (query + CSV + xlsx + atomic writes): {secs:.2} s; files: {}",
        p.rows,
        sizes.join(", ")
    );
    println!(
        "monthly summary over the same {} rows: {secs2:.2} s",
        m.rows
    );
    println!(
        "peak RSS of the report process: {} MiB (before the report: {} MiB)",
        vm_hwm_kib() / 1024,
        before / 1024
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(i) = args.iter().position(|a| a == "--report-child") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        rt.block_on(report_child(&dir));
        return;
    }
    let only = |name: &str| {
        let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
        filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
    };
    if only("certificates") {
        rt.block_on(certificates());
    }
    if only("report") {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config_in(dir.path());
        rt.block_on(fill_day(&config));
        let exe = std::env::current_exe().expect("current exe");
        let status = std::process::Command::new(exe)
            .arg("--report-child")
            .arg(dir.path())
            .status()
            .expect("report child");
        assert!(status.success());
    }
}
