//! The `excel_rows` fuzz target; what it checks is in fuzz/entry/excel_rows.rs, shared
//! with the corpus replay test (tests/it/fuzz_replay.rs).
#![no_main]

#[path = "../entry/excel_rows.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
