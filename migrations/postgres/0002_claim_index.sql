-- Claims read the oldest due pending jobs of one kind in id order: a partial
-- index on exactly that, so a claim reads a few rows however long the queue
-- is (an OR with expired leases over (state, kind, next_attempt_at, id) made
-- every claim a bitmap scan of the whole backlog plus a sort). Expired
-- leases are found through jobs_leases.
CREATE INDEX jobs_pending ON jobs (kind, id) WHERE state = 'pending';
DROP INDEX jobs_queue_kind;

-- Certificate PDFs are compressed already: store them out of line without
-- pglz, which spent CPU on every enqueued e-mail only to give up.
ALTER TABLE outbox ALTER COLUMN attachment SET STORAGE EXTERNAL;
