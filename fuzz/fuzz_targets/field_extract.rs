//! The `field_extract` fuzz target; what it checks is in fuzz/entry/field_extract.rs, shared
//! with the corpus replay test (tests/it/fuzz_replay.rs).
#![no_main]

#[path = "../entry/field_extract.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
