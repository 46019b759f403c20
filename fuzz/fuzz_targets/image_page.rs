//! The `image_page` fuzz target; what it checks is in fuzz/entry/image_page.rs, shared
//! with the corpus replay test (tests/it/fuzz_replay.rs).
#![no_main]

#[path = "../entry/image_page.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::run(data));
