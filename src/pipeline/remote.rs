//! Where a job's input and outputs live when they are not only on this
//! machine's disk: the S3 path (feature `aws`, `aws::s3`, docs/AWS.md).
//!
//! The runner calls these hooks around its own local steps; without a
//! [`Remote`] installed (every build without `[aws.s3]`) nothing changes.
//! Each hook answers "not mine" for a job it did not take.

use std::path::PathBuf;

use async_trait::async_trait;

use super::StepError;
use crate::store::Job;

#[async_trait]
pub trait Remote: Send + Sync {
    /// A local copy of `job`'s input when its spool copy is not on this
    /// machine (another daemon staged it, then died): fetched, checked
    /// against the job's SHA-256. `Ok(None)`: not a remote job.
    async fn fetch_input(&self, job: &Job) -> Result<Option<PathBuf>, StepError>;
    /// Write `bytes` as `name` (relative to the account's `outgoing/`) for
    /// `job`, before its outcome is committed. Idempotent: a rerun writes
    /// the same name. A no-op for a job that is not remote.
    async fn put_output(&self, job: &Job, name: &str, bytes: &[u8]) -> Result<(), StepError>;
    /// After `job`'s outcome is committed: move its input to `archive_name`
    /// (relative to the account's `archive/`) and drop `fetched`, a copy
    /// [`Remote::fetch_input`] made. Failures are logged; the reconciliation
    /// finishes the move later.
    async fn archive_input(&self, job: &Job, archive_name: &str, fetched: Option<PathBuf>);
}
