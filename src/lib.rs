//! Pasarela: a file-gateway daemon for invoice registration.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the codemap. The crate is a
//! library plus a thin binary (`src/main.rs`); every capability lives here so
//! that integration tests and benchmarks drive the same code as the daemon.

pub mod admin;
pub mod aws;
pub mod catalog;
pub mod certificate;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod desk;
pub mod dian;
pub mod exit;
pub mod formats;
pub mod fsutil;
pub mod host;
pub mod http;
pub mod intake;
pub mod outbox;
pub mod pipeline;
pub mod problems;
pub mod reports;
pub mod result;
pub mod review;
pub mod rules;
pub mod sdnotify;
pub mod sftp;
pub mod spool;
pub mod store;
pub mod telemetry;
