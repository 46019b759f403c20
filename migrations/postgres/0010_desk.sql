-- The desk (issue 19, docs/DESK.md); see migrations/sqlite/0014_desk.sql.
CREATE TABLE desk_sessions (
    token_hash  TEXT        PRIMARY KEY,
    user_name   TEXT        NOT NULL,
    role        TEXT        NOT NULL,
    account     TEXT,
    csrf        TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    last_seen   TIMESTAMPTZ NOT NULL,
    ip          TEXT
);
CREATE INDEX desk_sessions_seen ON desk_sessions (last_seen);

ALTER TABLE results ADD COLUMN cufe TEXT;
ALTER TABLE results ADD COLUMN supplier_nit TEXT;
ALTER TABLE results ADD COLUMN number TEXT;
UPDATE results SET
    cufe = COALESCE(result_json::jsonb #>> '{document,cufe}', result_json::jsonb #>> '{document,cude}',
                    result_json::jsonb #>> '{extraction,fields,cufe,value}'),
    supplier_nit = COALESCE(result_json::jsonb #>> '{document,supplier,id}',
                    result_json::jsonb #>> '{extraction,fields,supplier_nit,value}'),
    number = COALESCE(result_json::jsonb #>> '{document,number}',
                    result_json::jsonb #>> '{extraction,fields,number,value}');
CREATE INDEX results_cufe ON results (cufe) WHERE cufe IS NOT NULL;
CREATE INDEX results_supplier ON results (supplier_nit, number) WHERE supplier_nit IS NOT NULL;
CREATE INDEX results_number ON results (number) WHERE number IS NOT NULL;

CREATE INDEX jobs_account ON jobs (account, id);
CREATE INDEX jobs_received ON jobs (received_at);
CREATE INDEX jobs_updated ON jobs (updated_at);
