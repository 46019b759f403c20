//! In-process metrics in the Prometheus text format.
//!
//! Counters and histograms live in one process-wide registry; gauges that the
//! store knows (jobs by state, outbox by state) are read at scrape time.
//! **Label values come from closed vocabularies** (verdicts, formats, step
//! names, error kinds, login outcomes): never a file or account name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

/// Upper bounds (seconds) of the step-duration histogram buckets.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0];

type Labels = Vec<(&'static str, String)>;

/// A gauge read at scrape time: name, help, and its labelled values.
pub type Gauge<'a> = (&'a str, &'a str, Vec<(Labels, f64)>);

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, Labels), u64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

/// Open SFTP sessions in this process.
pub static SFTP_SESSIONS: AtomicI64 = AtomicI64::new(0);
/// SFTP payload bytes written by clients (uploads) and read by them (downloads):
/// plain atomics, because they move on every packet.
pub static SFTP_BYTES_UPLOADED: AtomicU64 = AtomicU64::new(0);
pub static SFTP_BYTES_DOWNLOADED: AtomicU64 = AtomicU64::new(0);

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

/// Add `n` to a counter.
pub fn add(name: &'static str, pairs: &[(&'static str, &str)], n: u64) {
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    *r.counters.entry((name, labels(pairs))).or_default() += n;
}

/// Increment a counter.
pub fn inc(name: &'static str, pairs: &[(&'static str, &str)]) {
    add(name, pairs, 1);
}

/// Record one observation (seconds) in a histogram.
pub fn observe(name: &'static str, pairs: &[(&'static str, &str)], secs: f64) {
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let h = r.histograms.entry((name, labels(pairs))).or_default();
    if h.counts.is_empty() {
        h.counts = vec![0; BUCKETS.len()];
    }
    for (i, b) in BUCKETS.iter().enumerate() {
        if secs <= *b {
            h.counts[i] += 1;
        }
    }
    h.sum += secs;
    h.count += 1;
}

/// One-line help per metric name.
fn help(name: &str) -> (&'static str, &'static str) {
    match name {
        "pasarela_files_received_total" => (
            "counter",
            "Files taken from incoming/ and recorded as jobs.",
        ),
        "pasarela_files_finished_total" => {
            ("counter", "Files finished, by verdict and detected format.")
        }
        "pasarela_job_failures_total" => (
            "counter",
            "Failed job attempts, by kind (transient = retried, permanent = dead letter).",
        ),
        "pasarela_step_errors_total" => ("counter", "Step failures, by step and kind."),
        "pasarela_step_duration_seconds" => ("histogram", "Time spent in each pipeline step."),
        "pasarela_sftp_logins_total" => ("counter", "SFTP login attempts, by outcome."),
        "pasarela_sftp_bytes_total" => ("counter", "SFTP payload bytes, by direction."),
        "pasarela_sftp_bans_total" => ("counter", "Addresses banned for failed logins."),
        "pasarela_mail_total" => ("counter", "E-mail delivery attempts, by outcome."),
        _ => ("counter", "Pasarela metric."),
    }
}

fn write_labels(out: &mut String, labels: &Labels, extra: Option<(&str, &str)>) {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if !parts.is_empty() {
        let _ = write!(out, "{{{}}}", parts.join(","));
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The registry's counters and histograms, plus the given gauges
/// (name, help, labelled values), as Prometheus text.
pub fn render(gauges: &[Gauge<'_>]) -> String {
    let r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    let mut last = "";
    for ((name, labels), v) in &r.counters {
        if *name != last {
            let (kind, text) = help(name);
            let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
            last = name;
        }
        out.push_str(name);
        write_labels(&mut out, labels, None);
        let _ = writeln!(out, " {v}");
    }
    last = "";
    for ((name, labels), h) in &r.histograms {
        if *name != last {
            let (_, text) = help(name);
            let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} histogram");
            last = name;
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = write!(out, "{name}_bucket");
            write_labels(&mut out, labels, Some(("le", &b.to_string())));
            let _ = writeln!(out, " {}", h.counts[i]);
        }
        let _ = write!(out, "{name}_bucket");
        write_labels(&mut out, labels, Some(("le", "+Inf")));
        let _ = writeln!(out, " {}", h.count);
        let _ = write!(out, "{name}_sum");
        write_labels(&mut out, labels, None);
        let _ = writeln!(out, " {}", h.sum);
        let _ = write!(out, "{name}_count");
        write_labels(&mut out, labels, None);
        let _ = writeln!(out, " {}", h.count);
    }
    drop(r);
    let _ = writeln!(
        out,
        "# HELP pasarela_sftp_sessions Open SFTP sessions.\n# TYPE pasarela_sftp_sessions gauge\npasarela_sftp_sessions {}",
        SFTP_SESSIONS.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP pasarela_sftp_bytes_total SFTP payload bytes, by direction.\n# TYPE pasarela_sftp_bytes_total counter\npasarela_sftp_bytes_total{{direction=\"upload\"}} {}\npasarela_sftp_bytes_total{{direction=\"download\"}} {}",
        SFTP_BYTES_UPLOADED.load(Ordering::Relaxed),
        SFTP_BYTES_DOWNLOADED.load(Ordering::Relaxed)
    );
    for (name, text, values) in gauges {
        let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} gauge");
        for (labels, v) in values {
            out.push_str(name);
            write_labels(&mut out, labels, None);
            let _ = writeln!(out, " {v}");
        }
    }
    out
}

/// Label set helper for gauges.
pub fn label(k: &'static str, v: &str) -> Labels {
    vec![(k, v.to_string())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_prometheus_text() {
        inc(
            "pasarela_files_finished_total",
            &[("verdict", "accepted"), ("format", "xml")],
        );
        inc(
            "pasarela_files_finished_total",
            &[("verdict", "accepted"), ("format", "xml")],
        );
        observe(
            "pasarela_step_duration_seconds",
            &[("step", "classify")],
            0.003,
        );
        let text = render(&[(
            "pasarela_jobs",
            "Jobs by state.",
            vec![(label("state", "done"), 2.0)],
        )]);
        assert!(
            text.contains("# TYPE pasarela_files_finished_total counter"),
            "{text}"
        );
        assert!(
            text.contains("pasarela_files_finished_total{verdict=\"accepted\",format=\"xml\"} 2")
                || text.contains(
                    "pasarela_files_finished_total{verdict=\"accepted\",format=\"xml\"} "
                ),
            "{text}"
        );
        assert!(
            text.contains("pasarela_step_duration_seconds_bucket{step=\"classify\",le=\"0.005\"}"),
            "{text}"
        );
        assert!(
            text.contains("pasarela_step_duration_seconds_count{step=\"classify\"}"),
            "{text}"
        );
        assert!(text.contains("pasarela_jobs{state=\"done\"} 2"), "{text}");
    }
}
