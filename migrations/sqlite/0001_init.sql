-- Jobs: one row per accepted input file. The row is written before any work
-- (after the file is staged in the spool), so nothing accepted is ever lost.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account         TEXT    NOT NULL,
    rel_path        TEXT    NOT NULL,            -- original path under incoming/
    spool_path      TEXT    NOT NULL UNIQUE,     -- staged copy the pipeline reads
    size            INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,            -- unix milliseconds
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    verdict         TEXT,
    result_path     TEXT,
    archive_path    TEXT,
    duplicate_of    INTEGER,
    document_key    TEXT,
    last_error      TEXT,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX jobs_queue ON jobs (state, next_attempt_at, id);
CREATE INDEX jobs_sha ON jobs (sha256, id);
CREATE INDEX jobs_document_key ON jobs (document_key, id) WHERE document_key IS NOT NULL;

-- The result JSON of every finished job, as written to outgoing/.
CREATE TABLE results (
    job_id      INTEGER PRIMARY KEY REFERENCES jobs (id),
    result_json TEXT    NOT NULL,
    written_at  INTEGER NOT NULL
);

-- Audit trail: every state change and every security-relevant event.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    account TEXT,
    job_id  INTEGER,
    event   TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX audit_job ON audit (job_id);
CREATE INDEX audit_at ON audit (at);
