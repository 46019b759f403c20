-- The desk (issue 19, docs/DESK.md).
-- Sessions live in the store so that several daemons sharing PostgreSQL serve
-- one sign-in. The cookie carries a random token; only its SHA-256 is kept.
CREATE TABLE desk_sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_name   TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    account     TEXT,                -- entity users: the account they see
    csrf        TEXT    NOT NULL,    -- the session's anti-forgery token
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    ip          TEXT
);
CREATE INDEX desk_sessions_seen ON desk_sessions (last_seen);

-- The document a result is about, as read (XML, QR, text or OCR), so the
-- desk finds a job by CUFE, supplier NIT or number without reading results.
ALTER TABLE results ADD COLUMN cufe TEXT;
ALTER TABLE results ADD COLUMN supplier_nit TEXT;
ALTER TABLE results ADD COLUMN number TEXT;
UPDATE results SET
    cufe = COALESCE(json_extract(result_json, '$.document.cufe'), json_extract(result_json, '$.document.cude'),
                    json_extract(result_json, '$.extraction.fields.cufe.value')),
    supplier_nit = COALESCE(json_extract(result_json, '$.document.supplier.id'),
                    json_extract(result_json, '$.extraction.fields.supplier_nit.value')),
    number = COALESCE(json_extract(result_json, '$.document.number'),
                    json_extract(result_json, '$.extraction.fields.number.value'))
WHERE json_valid(result_json);
CREATE INDEX results_cufe ON results (cufe) WHERE cufe IS NOT NULL;
CREATE INDEX results_supplier ON results (supplier_nit, number) WHERE supplier_nit IS NOT NULL;
CREATE INDEX results_number ON results (number) WHERE number IS NOT NULL;

-- The desk's lists and dashboard: by account, by day received, by last change.
CREATE INDEX jobs_account ON jobs (account, id);
CREATE INDEX jobs_received ON jobs (received_at);
CREATE INDEX jobs_updated ON jobs (updated_at);
