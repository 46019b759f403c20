//! AWS Transfer Family: `pasarela aws sync` makes a Transfer server's users,
//! their SSH keys and home mappings match Pasarela's accounts (docs/AWS.md).
//!
//! Owns: the `[aws]` section (`config`, parsed on every build), the pure
//! planning of changes (`plan`), and the SDK calls (`sync`, only with the
//! cargo feature `aws`). Must not: touch the pipeline, the store or the
//! account homes; log or print credentials or private keys.

pub mod config;
pub mod plan;
#[cfg(feature = "aws")]
pub mod sync;
