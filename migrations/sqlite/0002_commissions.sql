-- Commissions: one row per priced invoice (job) and one per line, for reports.
-- Money is TEXT holding an exact decimal string (rust_decimal); sums are done
-- in Rust, never with SQL SUM over floats. Re-pricing a job (replay) replaces
-- its rows in one transaction.
CREATE TABLE commissions (
    job_id        INTEGER PRIMARY KEY REFERENCES jobs (id),
    document_key  TEXT,                       -- CUFE, or supplier NIT + number
    priced_at     INTEGER NOT NULL,           -- unix milliseconds
    pricing_date  TEXT    NOT NULL,           -- YYYY-MM-DD: selects rule versions
    client        TEXT    NOT NULL,           -- normalised NIT
    side          TEXT    NOT NULL CHECK (side IN ('C', 'V')),
    rule_set      TEXT    NOT NULL,           -- SHA-256 of the rule files used
    total         TEXT    NOT NULL
);
CREATE INDEX commissions_date ON commissions (pricing_date);
CREATE INDEX commissions_client ON commissions (client, pricing_date);

CREATE TABLE commission_lines (
    job_id        INTEGER NOT NULL REFERENCES commissions (job_id),
    line          INTEGER NOT NULL,           -- 1-based line of the invoice
    code          TEXT    NOT NULL,           -- catalog code
    rule_id       TEXT    NOT NULL,
    rule_version  INTEGER NOT NULL,
    base          TEXT    NOT NULL,           -- registered value of the line
    fee           TEXT    NOT NULL,
    trace         TEXT    NOT NULL,           -- JSON array of explanation steps
    PRIMARY KEY (job_id, line)
);
CREATE INDEX commission_lines_rule ON commission_lines (rule_id, rule_version);
