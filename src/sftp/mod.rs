//! The SFTP server (russh + russh-sftp): the gateway's front door.
//!
//! Owns: host keys, authentication, per-account virtual filesystem, atomic
//! uploads that notify intake on CLOSE, and the audit of every operation.
//! Must not: parse invoices or touch the pipeline other than through
//! `intake::IntakeEvent`.

pub mod config;
