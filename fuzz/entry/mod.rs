//! The body of each fuzz target (fuzz/fuzz_targets/<name>.rs calls `<name>::run`),
//! shared with the corpus replay test (tests/it/fuzz_replay.rs), which includes
//! this module by path.

pub mod decode_wire;
pub mod dian_validate;
pub mod excel_rows;
pub mod field_extract;
pub mod image_page;
pub mod sftp_packets;
pub mod xades_verify;
