-- name: job_error_insert
-- Keep one failed attempt of a job (Procrastinate itself keeps no error text).
INSERT INTO job_errors (job_id, task_name, attempt, error, traceback, worker, order_id)
VALUES (%(job_id)s, %(task_name)s, %(attempt)s, %(error)s, %(traceback)s, %(worker)s,
        %(order_id)s);

-- name: job_get_status
-- A job's status; no row once it finished (finished execution jobs are deleted).
SELECT status::text AS status FROM procrastinate_jobs WHERE id = %(job_id)s;

-- name: account_run_levels
-- The run levels of this account's orders of these priorities, in the order given.
SELECT coalesce(array_agg(orders_run_level(p.priority, a.priority_boost) ORDER BY p.n), '{}')
       AS levels
FROM unnest(%(priorities)s::order_priority[]) WITH ORDINALITY AS p(priority, n)
JOIN account_levels a ON a.user_id = %(user_id)s;
