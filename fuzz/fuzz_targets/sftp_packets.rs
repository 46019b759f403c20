//! The `sftp_packets` fuzz target; what it checks is in fuzz/entry/sftp_packets.rs, shared
//! with the corpus replay test (tests/it/fuzz_replay.rs).
#![no_main]

#[path = "../entry/sftp_packets.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
