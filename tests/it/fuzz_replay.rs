//! Every committed fuzz input (`fuzz/corpus/<target>` and `fuzz/seeds/<target>`)
//! through the very function its fuzz target calls (`fuzz/entry/<target>.rs`),
//! without libFuzzer or a sanitizer build: each crash the fuzzers once found
//! stays fixed, and each target still runs. Fuzzing itself is
//! scripts/fuzz-smoke.sh (fuzz/README.md).

#[path = "../../fuzz/entry/mod.rs"]
mod entry;

use std::path::PathBuf;

use crate::support::repo;

/// What a fuzz target calls with each input.
type Entry = fn(&[u8]);

/// Each fuzz target and its entry function.
const TARGETS: &[(&str, Entry)] = &[
    ("decode_wire", entry::decode_wire::run),
    ("dian_validate", entry::dian_validate::run),
    ("excel_rows", entry::excel_rows::run),
    ("field_extract", entry::field_extract::run),
    ("image_page", entry::image_page::run),
    ("sftp_packets", entry::sftp_packets::run),
    ("xades_verify", entry::xades_verify::run),
];

/// The committed inputs of `target`, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["corpus", "seeds"]
        .iter()
        .filter_map(|d| std::fs::read_dir(repo().join("fuzz").join(d).join(target)).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run every input of `target`; fail naming each input that panicked.
fn replay(target: &str) {
    let (_, run) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of TARGETS");
    let files = inputs(target);
    assert!(!files.is_empty(), "{target}: no committed input to replay");
    let mut panicked = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panicked.push(f.strip_prefix(repo()).unwrap_or(f).display().to_string());
        }
    }
    assert!(
        panicked.is_empty(),
        "{target} panicked on {} of {} inputs: {panicked:#?}",
        panicked.len(),
        files.len()
    );
}

#[test]
fn every_fuzz_target_is_replayed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(on_disk, listed, "fuzz/fuzz_targets and TARGETS differ");
}

#[test]
fn decode_wire() {
    replay("decode_wire");
}

#[test]
fn dian_validate() {
    replay("dian_validate");
}

#[test]
fn excel_rows() {
    replay("excel_rows");
}

#[test]
fn field_extract() {
    replay("field_extract");
}

#[test]
fn image_page() {
    replay("image_page");
}

#[test]
fn sftp_packets() {
    replay("sftp_packets");
    entry::sftp_packets::remove_fixture();
}

#[test]
fn xades_verify() {
    replay("xades_verify");
}
