//! The pipeline: steps, routing and the per-file execution shared by the
//! daemon (`runner`) and `pasarela process`.
//!
//! A step is one implementation of [`Step`], built by its factory in
//! `steps::REGISTRY` from configuration; routes in config name the steps to
//! run. Adding a capability means adding a step there, never touching the
//! runner. [`Generation::build`] builds every route's steps, so every rules
//! file a step uses is compiled (and checked) once per generation.

pub mod exec;
pub mod remote;
pub mod runner;
pub mod steps;
pub mod trust;
pub mod xsd;

pub use exec::{Pipeline, Submission};

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
    /// What the step computed from changed meanwhile (another worker or
    /// daemon wrote first, e.g. two notes on one registration): the job runs
    /// again soon on the new state. Conflicts have their own allowance of
    /// attempts ([`MAX_CONFLICTS`]) beside `retry.max_attempts`.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// How many extra attempts a job may spend on conflicts ([`StepError::Conflict`]).
pub const MAX_CONFLICTS: u32 = 25;

/// What a step works on: the file's bytes and the result it builds up.
pub struct WorkItem {
    pub bytes: Arc<Vec<u8>>,
    /// Path relative to the account's `incoming/` (or the file name for `process`).
    pub rel_path: String,
    pub result: ResultDoc,
    /// A step may decide the verdict (e.g. `review`); otherwise findings decide.
    pub verdict_override: Option<Verdict>,
    /// Identity of the business document (CUFE/CUDE, or the supplier key when
    /// there is none), used for duplicate detection across different files.
    pub document_key: Option<String>,
    /// The supplier key (`crate::dian::supplier_key`: supplier NIT + number),
    /// the second identity claimed beside the CUFE/CUDE.
    pub supplier_key: Option<String>,
    /// Store id of the job (None for `pasarela process`).
    pub job_id: Option<i64>,
    /// The typed DIAN document, once a step parsed it (for pricing, certificates).
    pub document: Option<crate::dian::Document>,
    /// Line assessments and values from `price`, for `certify`.
    pub priced: Option<steps::certify::PricedLines>,
    /// What `price` priced (an invoice), kept in the registration's ledger
    /// so a later note can be repriced against it.
    pub pricing: Option<crate::rules::PricingInput>,
    /// A note applied to a registration by `price`, for `certify`.
    pub settlement: Option<steps::notes::Settlement>,
    /// An operator approved this file in review: holds are waived and the
    /// corrections replace what was read (docs/REVIEW.md).
    pub approval: Option<Approval>,
    /// What the steps recorded about this job, written with its outcome
    /// (`store::OutcomeWrites`; empty without a store or a job).
    pub outcome: crate::store::OutcomeWrites,
    /// Whether RADIAN events were on record about this CUFE (lower case)
    /// when the job claimed it (`store::KeyClaim::events`): without any,
    /// the steps need not read them.
    pub recorded_events: Option<(String, bool)>,
}

/// An operator's approval, as steps see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub operator: String,
    pub corrections: std::collections::BTreeMap<String, String>,
}

impl WorkItem {
    /// The result and what is written with it.
    pub fn into_outcome(self) -> (ResultDoc, crate::store::OutcomeWrites) {
        (self.result, self.outcome)
    }

    pub fn add(&mut self, finding: Finding) {
        self.result.findings.push(finding);
    }

    /// Whether events about `cufe` may be on record (false only when the
    /// job's key claim saw none).
    pub fn may_have_events(&self, cufe: &str) -> bool {
        !matches!(&self.recorded_events, Some((c, false)) if c == cufe)
    }

    /// Does any finding so far reject the file?
    pub fn rejected(&self) -> bool {
        self.result
            .findings
            .iter()
            .any(|f| f.severity == Severity::Reject)
    }
}

/// What steps may use besides the item and their own compiled settings:
/// "now" for this job and the run-time services.
pub struct StepContext {
    pub now: DateTime<FixedOffset>,
    pub services: Arc<Services>,
}

/// What remains shared at run time once the steps hold their compiled
/// settings: the store. (The clock reaches steps as `StepContext::now`.)
pub struct Services {
    /// Present in the daemon; `None` for `pasarela process`, which records nothing.
    pub store: Option<crate::store::Store>,
}

impl Services {
    pub fn new(store: Option<crate::store::Store>) -> Services {
        Services { store }
    }
}

/// Everything compiled from one configuration: the unit that a reload swaps.
/// A job takes one generation when it starts and uses it to the end.
pub struct Generation {
    pub config: Arc<Config>,
    pub services: Arc<Services>,
    pub pipeline: Pipeline,
}

impl Generation {
    /// Build every route's steps for `config`, compiling each rules file a
    /// step uses (DIAN settings, registration rules and catalog layout,
    /// formats settings, Excel layouts); every problem is returned.
    pub fn build(
        config: Arc<Config>,
        store: Option<crate::store::Store>,
    ) -> Result<Generation, Vec<crate::config::ConfigError>> {
        let pipeline = Pipeline::build(config.clone())?;
        Ok(Generation {
            config,
            services: Arc::new(Services::new(store)),
            pipeline,
        })
    }
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
    if item.rejected() {
        Verdict::Rejected
    } else {
        Verdict::Accepted
    }
}
