-- Kind of work per job, so slow decoding never starves quick XML invoices:
-- 'heavy' = PDFs and images (rendering, OCR), 'light' = everything else. The
-- runner claims each kind against its own concurrency limit.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'light' CHECK (kind IN ('light', 'heavy'));
CREATE INDEX jobs_queue_kind ON jobs (state, kind, next_attempt_at, id);
