-- The S3 path (issue 20, feature `aws`, docs/AWS.md): one row per S3 object
-- taken from an account's incoming/ prefix. The intake key (bucket, key and
-- version id or ETag) is unique, so a second event for the same object, from
-- SQS's at-least-once delivery or from the reconciliation listing, or the
-- same object taken by two daemons at once, records one job only. A row is
-- never deleted: it is how a known object is recognised.
CREATE TABLE s3_objects (
    intake_key  TEXT        PRIMARY KEY,
    bucket      TEXT        NOT NULL,
    object_key  TEXT        NOT NULL,
    version_id  TEXT,                        -- NULL on an unversioned bucket
    etag        TEXT        NOT NULL,
    job_id      BIGINT      NOT NULL UNIQUE,
    recorded_at TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ                  -- moved to archive/ in S3
);
