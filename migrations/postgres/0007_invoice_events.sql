-- RADIAN events (issue 17 item 6): the ApplicationResponses buyers and holders
-- send about an invoice (030 acuse, 031 reclamo, 033/034 aceptación, 037–039
-- endosos, ...), one row per event, keyed by its CUDE (lower case) so a
-- resubmitted event is recorded once. cufe is the invoice's (lower case),
-- whether or not that invoice is registered yet.
CREATE TABLE invoice_events (
    cude        TEXT    PRIMARY KEY,
    cufe        TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    issued      TEXT    NOT NULL,             -- IssueDate T IssueTime, as written
    sender      TEXT    NOT NULL,             -- NIT
    receiver    TEXT    NOT NULL,             -- NIT
    job_id      BIGINT  NOT NULL,             -- the job that brought it
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX invoice_events_cufe ON invoice_events (cufe, code);
