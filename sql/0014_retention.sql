-- 0014: history is kept on purpose: pruning walks each history table in bounded batches and
-- remembers where it stopped, so every run does bounded work and every row is reached.

CREATE TABLE retention_progress (
    table_name text PRIMARY KEY,
    position   bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    pruned     bigint NOT NULL DEFAULT 0 CHECK (pruned >= 0),
    pruned_at  timestamptz
);
INSERT INTO retention_progress (table_name)
VALUES ('order_events'), ('order_executions'), ('job_errors'), ('procrastinate_jobs'),
       ('provider_requests'), ('provider_digests'), ('outbox');

COMMENT ON TABLE retention_progress IS
    'Where the prune_history task is in each history table (by primary key; 0: start over from '
    'the oldest row next time), and how many rows it has deleted so far.';
COMMENT ON COLUMN retention_progress.position IS 'Primary key of the last row examined.';
COMMENT ON COLUMN retention_progress.pruned IS 'Rows deleted since this migration.';
COMMENT ON COLUMN retention_progress.pruned_at IS 'When a batch last ran.';
