//! Fuzz XAdES signature verification: bytes → namespace-keeping DOM →
//! canonicalisation (every method) → references, certificates, chain.
//! Any panic, hang or runaway allocation is a bug (a hostile signature must
//! become a failed check). Seeds: documents signed by the test CA of
//! tests/it/dian_xades.rs (valid and tampered), and an AttachedDocument.
//!
//! Run (stable toolchain): `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run xades_verify -- -max_total_time=60`

use pasarela::dian::xades::{self, Apex, Method, Status, TrustStore, c14n, dom};

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    let limits = pasarela::dian::xml::Limits {
        max_bytes: 1 << 20,
        max_depth: 100,
        max_elements: 100_000,
    };
    let now = pasarela::dian::generator::default_issued_at();
    let trust = TrustStore::new();
    for (_, report) in xades::verify_all(data, &trust, now, &limits) {
        // Every check has an outcome, and a failure says why.
        assert_eq!(report.checks.len(), xades::CheckKind::ALL.len());
        for c in &report.checks {
            if let Status::Failed(why) = &c.status {
                assert!(!why.is_empty());
            }
        }
        assert_eq!(
            report.findings().len(),
            report
                .checks
                .iter()
                .filter(|c| matches!(c.status, Status::Failed(_)))
                .count()
        );
        // Nothing is trusted, so nothing can be fully valid.
        assert!(!report.valid());
    }
    if let Ok(d) = dom::parse(data, &limits) {
        for uri in [
            c14n::C14N,
            c14n::C14N_COMMENTS,
            c14n::EXC_C14N,
            c14n::EXC_C14N_COMMENTS,
        ] {
            let m = Method::from_uri(uri).expect("known method");
            let whole = c14n::canonicalize(&d, Apex::Document, None, &m);
            // Canonical output is itself well-formed and canonical: a second
            // pass changes nothing (inclusive, without prolog nodes).
            if uri == c14n::C14N
                && let Ok(again) = dom::parse(&whole, &limits)
            {
                let root_only = c14n::canonicalize(&d, Apex::Element(d.root), None, &m);
                let twice = c14n::canonicalize(&again, Apex::Element(again.root), None, &m);
                assert_eq!(root_only, twice);
            }
        }
    }
}
