-- Poison jobs: how many times in a row a job was claimed (started) without
-- the attempt ending in a recorded way (done, retry, dead letter). Claims
-- add one; every recorded end and a replay reset it. A job whose process dies
-- under it (abort, OOM kill, kill -9) is never reset, so the runner can tell
-- a file that keeps killing its worker or the daemon from ordinary transient
-- retries, and dead-letters it after `retry.max_starts` starts (PAS91).
ALTER TABLE jobs ADD COLUMN unfinished_starts INTEGER NOT NULL DEFAULT 0;
