-- name: job_error_insert
-- Keep one failed attempt of a job (Procrastinate itself keeps no error text).
INSERT INTO job_errors (job_id, task_name, attempt, error, traceback, worker, order_id)
VALUES (%(job_id)s, %(task_name)s, %(attempt)s, %(error)s, %(traceback)s, %(worker)s,
        %(order_id)s);

-- name: job_get_status
-- A job's status; no row once it finished (finished execution jobs are deleted).
SELECT status::text AS status FROM procrastinate_jobs WHERE id = %(job_id)s;
