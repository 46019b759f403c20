-- The format intake sniffed from a file's first bytes (xml, pdf, image,
-- excel, unknown), so the runner neither sniffs nor hashes the file again.
-- NULL for jobs recorded before this column: the runner sniffs those.
ALTER TABLE jobs ADD COLUMN format TEXT;
