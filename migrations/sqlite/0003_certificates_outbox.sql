-- Certificates, registrations (the reports' source), the e-mail outbox and
-- published reports. Money is TEXT (rust_decimal), times are unix milliseconds.

-- Next certificate number per year. Allocated inside the transaction that
-- records the certificate, so numbers have no gaps and no collisions, also
-- with several processes on one database (the row is the lock).
CREATE TABLE certificate_sequences (
    year INTEGER PRIMARY KEY,
    next INTEGER NOT NULL
);

CREATE TABLE certificates (
    number      TEXT    PRIMARY KEY,          -- YYYY-NNNNNN
    year        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    job_id      INTEGER NOT NULL UNIQUE,      -- one certificate per job, ever
    account     TEXT    NOT NULL,
    digest      TEXT    NOT NULL,             -- SHA-256 over the canonical data
    pdf_sha256  TEXT    NOT NULL,             -- SHA-256 of the PDF bytes
    path        TEXT    NOT NULL,             -- outgoing/certificates/<number>.pdf
    data_json   TEXT    NOT NULL,             -- the canonical data (re-renders the same PDF)
    issued_at   INTEGER NOT NULL,
    UNIQUE (year, seq)
);

-- One row per registered invoice: what the daily and monthly reports list.
CREATE TABLE registrations (
    job_id             INTEGER PRIMARY KEY,
    certificate_number TEXT    NOT NULL UNIQUE,
    account            TEXT    NOT NULL,
    invoice_number     TEXT    NOT NULL,
    cufe               TEXT    NOT NULL,
    supplier_id        TEXT    NOT NULL,
    supplier_name      TEXT    NOT NULL,
    customer_id        TEXT    NOT NULL,
    customer_name      TEXT    NOT NULL,
    value              TEXT    NOT NULL,
    commission         TEXT    NOT NULL,
    rule_id            TEXT    NOT NULL,
    rule_version       TEXT    NOT NULL,
    registered_at      INTEGER NOT NULL,
    registered_day     TEXT    NOT NULL       -- YYYY-MM-DD in America/Bogota
);
CREATE INDEX registrations_day ON registrations (registered_day, certificate_number);

-- E-mail outbox: one row per message, keyed by an idempotency key, so a
-- message enqueued twice (a re-run job, a re-published report) exists once.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idem_key        TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,         -- certificate-delivery, processing-notification, ...
    account         TEXT,
    job_id          INTEGER,
    recipients      TEXT    NOT NULL,         -- JSON array of addresses
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    attachment_name TEXT,
    attachment_mime TEXT,
    attachment      BLOB,
    message_id      TEXT    NOT NULL,         -- stable, derived from idem_key
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);

-- Reports written to the regulators' folders.
CREATE TABLE reports (
    kind         TEXT    NOT NULL,            -- daily | monthly
    period       TEXT    NOT NULL,            -- YYYY-MM-DD | YYYY-MM
    sha256       TEXT    NOT NULL,            -- of the xlsx, identifies the content
    rows         INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (kind, period, sha256)
);
