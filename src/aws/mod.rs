//! AWS Transfer Family: `pasarela aws sync` makes a Transfer server's users,
//! their SSH keys and home mappings match Pasarela's accounts (docs/AWS.md).
//!
//! Owns: the `[aws]` section (`config`, parsed on every build) and the pure
//! planning of changes (`plan`).

pub mod config;
pub mod plan;
