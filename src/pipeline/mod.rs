//! The pipeline: steps, routing and the per-file execution shared by the
//! daemon (`runner`) and `pasarela process`.
//!
//! A step is one implementation of [`Step`], registered in `steps::REGISTRY`;
//! routes in config name the steps to run. Adding a capability means adding a
//! step there, never touching the runner.

pub mod steps;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};

use crate::config::Config;
use crate::result::{Finding, ResultDoc, Severity, Verdict};

/// Why a step could not do its work (a rejected invoice is *not* an error:
/// that is a finding).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// Worth retrying later (a busy store, an unavailable worker).
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help; the file is dead-lettered for an operator.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What a step works on: the file's bytes and the result it builds up.
pub struct WorkItem {
    pub bytes: Arc<Vec<u8>>,
    /// Path relative to the account's `incoming/` (or the file name for `process`).
    pub rel_path: String,
    pub result: ResultDoc,
    /// A step may decide the verdict (e.g. `review`); otherwise findings decide.
    pub verdict_override: Option<Verdict>,
    /// Identity of the business document (CUFE/CUDE, or supplier NIT + number),
    /// used for duplicate detection across different files.
    pub document_key: Option<String>,
}

impl WorkItem {
    pub fn add(&mut self, finding: Finding) {
        self.result.findings.push(finding);
    }
}

/// What steps may use besides the item: the clock and the compiled services.
pub struct StepContext {
    pub now: DateTime<FixedOffset>,
    pub services: Arc<Services>,
}

/// Shared, compiled resources built from config at start and on reload.
pub struct Services {
    pub config: Arc<Config>,
    /// Present in the daemon; `None` for `pasarela process` without a store.
    pub store: Option<crate::store::Store>,
}

#[async_trait]
pub trait Step: Send + Sync {
    fn name(&self) -> &'static str;
    async fn run(&self, item: &mut WorkItem, ctx: &StepContext) -> Result<(), StepError>;
}

/// The verdict a finished item gets: a step's explicit verdict wins, else
/// any reject finding rejects, else accepted.
pub fn final_verdict(item: &WorkItem) -> Verdict {
    if let Some(v) = item.verdict_override {
        return v;
    }
    if item
        .result
        .findings
        .iter()
        .any(|f| f.severity == Severity::Reject)
    {
        Verdict::Rejected
    } else {
        Verdict::Accepted
    }
}
