//! AWS: `pasarela aws sync` makes a Transfer server's users, their SSH keys
//! and home mappings match Pasarela's accounts, and sets up the S3 path's
//! bucket notification and queues; the S3 path brings uploads that land in
//! S3 to the pipeline and results back to S3 (docs/AWS.md).
//!
//! Owns: the `[aws]` section (`config`, parsed on every build), the pure
//! planning of changes (`plan`), the pure reading of S3 events and keys
//! (`event`), and the SDK calls (`sync`, `s3`, only with the cargo feature
//! `aws`). Must not: run SQL (the store does) or delete an input before its
//! outcome is committed; log or print credentials or private keys.

pub mod config;
pub mod event;
pub mod plan;
#[cfg(feature = "aws")]
pub mod s3;
pub mod s3_plan;
#[cfg(feature = "aws")]
pub mod s3_setup;
#[cfg(feature = "aws")]
pub mod sync;
