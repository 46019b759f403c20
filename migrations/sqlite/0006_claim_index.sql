-- Claims read the oldest due pending jobs of one kind in id order: a partial
-- index on exactly that, so a claim reads a few rows however long the queue
-- is (the previous (state, kind, next_attempt_at, id) index could not give
-- id order, and an OR with expired leases made every claim read the whole
-- backlog). Expired leases are found through jobs_leases.
CREATE INDEX jobs_pending ON jobs (kind, id) WHERE state = 'pending';
DROP INDEX jobs_queue_kind;
