-- name: job_next_due_in
-- Seconds until the earliest waiting job of these queues is due (NULL: nothing waits).
SELECT extract(epoch FROM min(scheduled_at) - now())::float8 AS seconds
FROM procrastinate_jobs
WHERE status = 'todo'
  AND scheduled_at > now()
  AND (%(queues)s::text[] IS NULL OR queue_name = ANY(%(queues)s::text[]));

-- name: job_prune_finished
-- Delete jobs finished before the cutoff; orders keep their history in our own tables.
DELETE FROM procrastinate_jobs j
WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
  AND NOT EXISTS (SELECT 1 FROM procrastinate_events e
                  WHERE e.job_id = j.id AND e.at >= %(cutoff)s);

-- name: job_error_insert
-- Keep one failed attempt of a job (Procrastinate itself keeps no error text).
INSERT INTO job_errors (job_id, task_name, attempt, error, traceback, worker)
VALUES (%(job_id)s, %(task_name)s, %(attempt)s, %(error)s, %(traceback)s, %(worker)s);
