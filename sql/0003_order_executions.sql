-- 0003: one row per run of an order (the proof of exactly-once execution).

CREATE TYPE execution_outcome AS ENUM ('succeeded', 'failed');
COMMENT ON TYPE execution_outcome IS 'succeeded: the run was placed; failed: it exhausted its retries.';

CREATE TABLE order_executions (
    execution_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      bigint NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    run_number    integer NOT NULL CHECK (run_number >= 1),
    job_id        bigint,
    scheduled_for timestamptz NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    worker        text NOT NULL,
    attempts      integer NOT NULL CHECK (attempts >= 1),
    outcome       execution_outcome NOT NULL,
    error         text,
    CHECK (finished_at >= started_at),
    CHECK ((outcome = 'failed') = (error IS NOT NULL))
);
-- The exactly-once guarantee, enforced by the database: one successful row per run.
CREATE UNIQUE INDEX order_executions_run_key ON order_executions (order_id, run_number)
    WHERE outcome = 'succeeded';
CREATE INDEX order_executions_finished_at_idx ON order_executions (finished_at);

COMMENT ON TABLE order_executions IS
    'Runs of orders. A run succeeds at most once (unique order_id, run_number among succeeded rows).';
COMMENT ON COLUMN order_executions.run_number IS '1 for the first run, executions_count after it.';
COMMENT ON COLUMN order_executions.job_id IS 'Procrastinate job that ran it (the job row may since be pruned).';
COMMENT ON COLUMN order_executions.scheduled_for IS 'The slot this run was for; started_at - scheduled_for is its lateness.';
COMMENT ON COLUMN order_executions.worker IS 'Name of the worker process that ran it.';
COMMENT ON COLUMN order_executions.attempts IS 'Attempts it took, retries included.';
COMMENT ON COLUMN order_executions.error IS 'Last error of a failed run.';
