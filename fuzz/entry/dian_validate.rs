//! Fuzz the whole DIAN path: bytes → XML tree → model → rules.
//! Any panic, hang or runaway allocation is a bug (hostile input must become a finding).
//!
//! Run (stable toolchain): `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run dian_validate -- -max_total_time=60`

use pasarela::dian::{self, DianSettings};

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    let settings = DianSettings {
        max_file_bytes: 1 << 20,
        ..DianSettings::default()
    };
    let now = pasarela::dian::generator::default_issued_at();
    let v = dian::validate(data, &settings, now);
    // A document without a model must have said why.
    if v.model.is_none() && v.document_type.is_none() {
        assert!(!v.findings.is_empty());
    }
}
