//! In-process metrics, exposed in the OpenMetrics text format through the
//! Prometheus project's Rust client (`prometheus-client`).
//!
//! Counters and histograms live in one process-wide registry; gauges that the
//! store knows (jobs by state, outbox by state, the review queue) are read at
//! scrape time into a registry of their own and encoded after it.
//! **Label values come from closed vocabularies** (verdicts, formats, step
//! names, error kinds, login outcomes): never a file or account name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge as PGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the step-duration histogram buckets.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0];

/// A label set: (name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

/// A gauge read at scrape time: name, help, and its labelled values.
pub type Gauge<'a> = (&'a str, &'a str, Vec<(Labels, f64)>);

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Counters = Family<Labels, Counter>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

#[derive(Default)]
struct State {
    registry: Registry,
    counters: HashMap<&'static str, Counters>,
    histograms: HashMap<&'static str, Histograms>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(Default::default);

/// Open SFTP sessions in this process.
pub static SFTP_SESSIONS: AtomicI64 = AtomicI64::new(0);
/// SFTP payload bytes written by clients (uploads) and read by them (downloads):
/// plain atomics, because they move on every packet.
pub static SFTP_BYTES_UPLOADED: AtomicU64 = AtomicU64::new(0);
pub static SFTP_BYTES_DOWNLOADED: AtomicU64 = AtomicU64::new(0);

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

/// The family of counter `name` (registered on first use). OpenMetrics
/// counters end in `_total`, which the client adds: the name is registered
/// without it.
fn counter_family(name: &'static str) -> Counters {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = s.counters.get(name) {
        return f.clone();
    }
    let f = Counters::default();
    let base = name.strip_suffix("_total").unwrap_or(name);
    s.registry
        .register(base, help(name).trim_end_matches('.'), f.clone());
    s.counters.insert(name, f.clone());
    f
}

fn histogram_family(name: &'static str) -> Histograms {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = s.histograms.get(name) {
        return f.clone();
    }
    let f = Histograms::new_with_constructor(new_histogram as fn() -> Histogram);
    s.registry
        .register(name, help(name).trim_end_matches('.'), f.clone());
    s.histograms.insert(name, f.clone());
    f
}

/// Add `n` to a counter.
pub fn add(name: &'static str, pairs: &[(&'static str, &str)], n: u64) {
    counter_family(name).get_or_create(&labels(pairs)).inc_by(n);
}

/// Increment a counter.
pub fn inc(name: &'static str, pairs: &[(&'static str, &str)]) {
    add(name, pairs, 1);
}

/// Record one observation (seconds) in a histogram.
pub fn observe(name: &'static str, pairs: &[(&'static str, &str)], secs: f64) {
    histogram_family(name)
        .get_or_create(&labels(pairs))
        .observe(secs);
}

/// One-line help per metric name.
fn help(name: &str) -> &'static str {
    match name {
        "pasarela_files_received_total" => "Files taken from incoming/ and recorded as jobs.",
        "pasarela_files_finished_total" => "Files finished, by verdict and detected format.",
        "pasarela_job_failures_total" => {
            "Failed job attempts, by kind (transient = retried, permanent = dead letter)."
        }
        "pasarela_step_errors_total" => "Step failures, by step and kind.",
        "pasarela_step_duration_seconds" => "Time spent in each pipeline step.",
        "pasarela_sftp_logins_total" => "SFTP login attempts, by outcome.",
        "pasarela_sftp_bans_total" => "Addresses banned for failed logins.",
        "pasarela_mail_total" => "E-mail delivery attempts, by outcome.",
        "pasarela_desk_logins_total" => "Desk sign-in attempts, by outcome.",
        "pasarela_desk_requests_total" => "Desk requests, by page and status class.",
        "pasarela_s3_messages_total" => {
            "S3 intake's SQS messages, by outcome (done, retried, malformed)."
        }
        _ => "Pasarela metric.",
    }
}

/// The registry's counters and histograms, plus the process's SFTP figures
/// and the given gauges (name, help, labelled values), as OpenMetrics text
/// ([`CONTENT_TYPE`]).
pub fn render(gauges: &[Gauge<'_>]) -> String {
    let mut out = String::new();
    {
        let s = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let _ = encode_registry(&mut out, &s.registry);
    }
    let mut scrape = Registry::default();
    let sessions = PGauge::<i64, AtomicI64>::default();
    sessions.set(SFTP_SESSIONS.load(Ordering::Relaxed));
    scrape.register("pasarela_sftp_sessions", "Open SFTP sessions", sessions);
    let bytes = Counters::default();
    for (dir, v) in [
        ("upload", &SFTP_BYTES_UPLOADED),
        ("download", &SFTP_BYTES_DOWNLOADED),
    ] {
        bytes
            .get_or_create(&label("direction", dir))
            .inc_by(v.load(Ordering::Relaxed));
    }
    scrape.register(
        "pasarela_sftp_bytes",
        "SFTP payload bytes, by direction",
        bytes,
    );
    for (name, text, values) in gauges {
        let family = Family::<Labels, PGauge<f64, AtomicU64>>::default();
        for (labels, v) in values {
            family.get_or_create(labels).set(*v);
        }
        scrape.register(*name, text.trim_end_matches('.'), family);
    }
    let _ = encode_registry(&mut out, &scrape);
    let _ = encode_eof(&mut out);
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
    fn counters_gauges_and_histograms_render_as_openmetrics() {
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
            text.contains("# TYPE pasarela_files_finished counter"),
            "{text}"
        );
        assert!(
            text.contains("pasarela_files_finished_total{verdict=\"accepted\",format=\"xml\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "pasarela_step_duration_seconds_bucket{le=\"0.005\",step=\"classify\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("pasarela_step_duration_seconds_count{step=\"classify\"} 1"),
            "{text}"
        );
        assert!(text.contains("pasarela_jobs{state=\"done\"} 2"), "{text}");
        assert!(
            text.contains("pasarela_sftp_bytes_total{direction=\"upload\"}"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
