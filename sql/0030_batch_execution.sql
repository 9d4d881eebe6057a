-- 0030: order runs are executed in batches by `orders worker` (tasks/runs.py), which claims due
-- execution jobs with their orders in one statement and deletes each finished job in the run's
-- own transaction. Worker processes announce themselves with a session advisory lock, so a dead
-- process is told from a busy one at once (its connections close when it dies).

-- The claim walks this index: per priority level, earliest due first, bounded by the due time.
CREATE INDEX procrastinate_jobs_execute_due_idx
    ON procrastinate_jobs (priority, scheduled_at, id)
    WHERE status = 'todo' AND task_name = 'execute_order';
COMMENT ON INDEX procrastinate_jobs_execute_due_idx IS
    'orders: the batch executor''s claim (execution_claim_due) and its due-time alarm.';

-- Workers find the next due job of their other queues (mail, maintenance) without walking the
-- execution jobs: one index entry per queue, however many orders wait.
CREATE INDEX procrastinate_jobs_queue_due_idx
    ON procrastinate_jobs (queue_name, scheduled_at)
    WHERE status = 'todo';
COMMENT ON INDEX procrastinate_jobs_queue_due_idx IS
    'orders: the worker''s due-time alarm for the queues Procrastinate itself runs (job_next_due).';

-- Pruning finds finished jobs (of the other queues: execution jobs are deleted when they finish)
-- without walking the waiting execution jobs.
CREATE INDEX procrastinate_jobs_finished_idx ON procrastinate_jobs (id)
    WHERE status IN ('succeeded', 'failed', 'cancelled', 'aborted');
COMMENT ON INDEX procrastinate_jobs_finished_idx IS 'orders: job_prune_finished.';

-- Finished execution jobs are deleted (order_executions keeps each run), so an order may name
-- a job that no longer exists: no foreign key (its ON DELETE SET NULL also cost one more update
-- of the order, with its audit trigger, per run).
ALTER TABLE orders DROP CONSTRAINT orders_job_id_fkey;
COMMENT ON COLUMN orders.job_id IS
    'The Procrastinate job (procrastinate_jobs.id) that runs the next execution; after the last '
    'run, the job that ran it (finished jobs are deleted, so the row may be gone).';

CREATE TABLE worker_processes (
    worker_id  bigint PRIMARY KEY REFERENCES procrastinate_workers (id) ON DELETE CASCADE,
    name       text NOT NULL,
    host       text NOT NULL,
    pid        integer NOT NULL CHECK (pid > 0),
    started_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE worker_processes IS
    'Running `orders worker` processes (one row per Procrastinate worker registration). Each holds '
    'the session advisory lock (233111555, worker_id) on its own connection while it lives: a '
    'row whose lock is free belongs to a dead process, whose running jobs are retried at once.';
COMMENT ON COLUMN worker_processes.name IS 'orders worker --name (also order_executions.worker).';
COMMENT ON COLUMN worker_processes.host IS 'Host name the process runs on.';
COMMENT ON COLUMN worker_processes.pid IS 'Process id on that host.';

-- A failed attempt's error names its order, so the order's history keeps its errors after the
-- finished job is deleted.
ALTER TABLE job_errors ADD COLUMN order_id bigint;
COMMENT ON COLUMN job_errors.order_id IS 'The order whose run failed (execute_order jobs); NULL for other tasks.';
UPDATE job_errors e SET order_id = (j.args ->> 'order_id')::bigint
FROM procrastinate_jobs j
WHERE j.id = e.job_id AND j.task_name = 'execute_order';
CREATE INDEX job_errors_order_id_idx ON job_errors (order_id, job_error_id) WHERE order_id IS NOT NULL;

CREATE OR REPLACE VIEW order_timeline AS
SELECT order_id, occurred_at AS at, 'audit' AS source, event_type AS event,
       from_status::text AS from_status, to_status::text AS to_status, job_id, actor,
       details::text AS detail
FROM order_events
UNION ALL
SELECT (j.args ->> 'order_id')::bigint, ev.at, 'job', ev.type::text, NULL, NULL, j.id,
       NULL, NULL
FROM procrastinate_jobs j
JOIN procrastinate_events ev ON ev.job_id = j.id
WHERE j.task_name = 'execute_order'
UNION ALL
SELECT order_id, finished_at, 'execution', outcome::text, NULL, NULL, job_id,
       'worker:' || worker, 'run ' || run_number || coalesce(': ' || error, '')
FROM order_executions
UNION ALL
SELECT e.order_id, e.occurred_at, 'job_error', 'attempt ' || e.attempt, NULL, NULL, e.job_id,
       'worker:' || e.worker, e.error
FROM job_errors e
WHERE e.order_id IS NOT NULL;
COMMENT ON VIEW order_timeline IS
    'Everything that happened to one order: audit events, the Procrastinate events of its jobs '
    'still in the queue (finished execution jobs are deleted), its runs and every failed '
    'attempt''s error. Query with WHERE order_id = ... ORDER BY at.';
