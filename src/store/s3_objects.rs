//! S3 objects taken by the S3 intake (feature `aws`, docs/AWS.md): which job
//! each became, and whether the object was moved to `archive/` in S3.
//!
//! The intake key (bucket, key, version id or ETag) is the table's primary
//! key: a job and its object row are recorded in one transaction, so two
//! events for one object, or two daemons taking it at once, record one job.
//! Compiled on every build (the table exists either way); only the `aws`
//! feature writes it.

use serde::Serialize;

use super::db::{Arg, args};
use super::{JobState, NewJob, Store, StoreError};

/// One object in S3, as the intake saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    /// `None` on an unversioned bucket.
    pub version_id: Option<String>,
    /// Without quotes.
    pub etag: String,
}

impl S3Object {
    /// `bucket/key#version` or `bucket/key#etag`: what makes two sightings
    /// of an object the same object.
    pub fn intake_key(&self) -> String {
        match &self.version_id {
            Some(v) => format!("{}/{}#v:{v}", self.bucket, self.key),
            None => format!("{}/{}#e:{}", self.bucket, self.key, self.etag),
        }
    }
}

/// A known object: its job, that job's state, and whether it was archived.
#[derive(Debug, Clone)]
pub struct KnownObject {
    pub job_id: i64,
    pub state: JobState,
    pub archived: bool,
}

impl Store {
    /// Record `job` for `object` unless the object is known already: the id
    /// of the new job, or `None` when another event or daemon recorded it
    /// first (nothing is written then).
    pub async fn record_s3_job(
        &self,
        job: &NewJob,
        object: &S3Object,
    ) -> Result<Option<i64>, StoreError> {
        let key = object.intake_key();
        let mut tx = self.write_tx().await?;
        if tx
            .fetch_optional(
                "SELECT job_id FROM s3_objects WHERE intake_key = ?",
                args![&key],
            )
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let id = Self::record_job_tx(&mut tx, job).await?;
        // A concurrent daemon inserting the same key: on PostgreSQL this waits
        // for its transaction and then inserts nothing; this one rolls back.
        let inserted = tx
            .execute(
                "INSERT INTO s3_objects (intake_key, bucket, object_key, version_id, etag, job_id, recorded_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (intake_key) DO NOTHING",
                args![
                    &key,
                    &object.bucket,
                    &object.key,
                    Arg::Text(object.version_id.clone()),
                    &object.etag,
                    id,
                    Arg::time(job.now_ms)
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// What became of `object`, if it was taken.
    pub async fn s3_object_known(
        &self,
        object: &S3Object,
    ) -> Result<Option<KnownObject>, StoreError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT o.job_id, o.archived_at, j.state FROM s3_objects o JOIN jobs j ON j.id = o.job_id
                 WHERE o.intake_key = ?",
                args![object.intake_key()],
            )
            .await?;
        row.map(|r| -> Result<KnownObject, StoreError> {
            Ok(KnownObject {
                job_id: r.int("job_id")?,
                archived: r.opt_time("archived_at")?.is_some(),
                state: r.text("state")?.parse().unwrap_or(JobState::Dead),
            })
        })
        .transpose()
    }

    /// The object a job was taken from (`None` for every other job).
    pub async fn s3_object_of_job(&self, job_id: i64) -> Result<Option<S3Object>, StoreError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT bucket, object_key, version_id, etag FROM s3_objects WHERE job_id = ?",
                args![job_id],
            )
            .await?;
        row.map(|r| -> Result<S3Object, StoreError> {
            Ok(S3Object {
                bucket: r.text("bucket")?,
                key: r.text("object_key")?,
                version_id: r.opt_text("version_id")?,
                etag: r.text("etag")?,
            })
        })
        .transpose()
    }

    /// The object of `job_id` is in `archive/` now (copied, then deleted
    /// from `incoming/`).
    pub async fn s3_object_archived(&self, job_id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE s3_objects SET archived_at = ? WHERE job_id = ? AND archived_at IS NULL",
                args![Arg::time(now_ms), job_id],
            )
            .await?;
        Ok(())
    }
}
