//! The `decode_wire` fuzz target; what it checks is in fuzz/entry/decode_wire.rs, shared
//! with the corpus replay test (tests/it/fuzz_replay.rs).
#![no_main]

#[path = "../entry/decode_wire.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
