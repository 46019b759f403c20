-- A document has two identities: its CUFE/CUDE (kept in document_key) and its
-- supplier key "<NIT without DV>/<number>" (issue 17 item 5). A job that passes
-- holds both, so the same invoice sent once with its CUFE (XML) and once
-- without a readable CUFE (a PDF) is a duplicate. document_key keeps meaning
-- "the CUFE, or the supplier key when there is none" for reports.
-- NULL for jobs claimed before this column (they hold their document_key only).
ALTER TABLE jobs ADD COLUMN supplier_key TEXT;
CREATE INDEX jobs_supplier_key ON jobs (supplier_key, id) WHERE supplier_key IS NOT NULL;
