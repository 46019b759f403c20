-- The review queue (issue 18 item 3): a job whose verdict is review (or that is
-- dead, held for an operator) carries why (review_reason, a closed vocabulary:
-- review::Reason) and since when (review_since, kept while it stays in review);
-- operators' decisions are rows of review_decisions, applied by the job's next
-- run (applied_at, outcome).
ALTER TABLE jobs ADD COLUMN review_reason TEXT;
ALTER TABLE jobs ADD COLUMN review_since INTEGER;
CREATE INDEX jobs_review ON jobs (review_since, id) WHERE review_reason IS NOT NULL;
-- Jobs already held before this migration join the queue.
UPDATE jobs SET review_reason = 'dead_letter', review_since = updated_at WHERE state = 'dead';
UPDATE jobs SET review_reason = 'other', review_since = updated_at WHERE state = 'done' AND verdict = 'review';

CREATE TABLE review_decisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL,
    decision    TEXT    NOT NULL CHECK (decision IN ('approve', 'reject')),
    operator    TEXT    NOT NULL,
    reason      TEXT,                         -- the operator's words (reject: shown to the sender)
    corrections TEXT    NOT NULL,             -- JSON object: field -> corrected value
    before_json TEXT    NOT NULL,             -- the result the operator decided on
    decided_at  INTEGER NOT NULL,
    applied_at  INTEGER,
    outcome     TEXT                          -- the verdict the decision led to
);
CREATE INDEX review_decisions_job ON review_decisions (job_id, id);

-- Documents read from a PDF, image or spreadsheet wait here for their
-- electronic invoice (by CUFE or supplier key), which releases them.
CREATE TABLE awaiting_documents (
    key     TEXT    NOT NULL,
    job_id  INTEGER NOT NULL,
    since   INTEGER NOT NULL,
    PRIMARY KEY (key, job_id)
);
CREATE INDEX awaiting_documents_job ON awaiting_documents (job_id);
