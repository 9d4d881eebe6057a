-- name: job_next_due_in
-- Seconds until the earliest waiting job of these queues is due (NULL: nothing waits).
SELECT extract(epoch FROM min(scheduled_at) - now())::float8 AS seconds
FROM procrastinate_jobs
WHERE status = 'todo'
  AND scheduled_at > now()
  AND (%(queues)s::text[] IS NULL OR queue_name = ANY(%(queues)s::text[]));

-- name: job_error_insert
-- Keep one failed attempt of a job (Procrastinate itself keeps no error text).
INSERT INTO job_errors (job_id, task_name, attempt, error, traceback, worker)
VALUES (%(job_id)s, %(task_name)s, %(attempt)s, %(error)s, %(traceback)s, %(worker)s);

-- name: worker_registered
-- Does this worker's registration row still exist (peers delete it when they take it for dead)?
SELECT EXISTS (SELECT 1 FROM procrastinate_workers WHERE id = %(worker_id)s) AS registered;
