-- name: execution_lateness_since
-- Runs finished since a time, and their lateness (due to start) percentiles in seconds.
SELECT count(*) AS runs,
       count(*) FILTER (WHERE outcome = 'failed') AS failed,
       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY lateness), 0)::float8 AS p50,
       coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY lateness), 0)::float8 AS p95,
       coalesce(max(lateness), 0)::float8 AS max
FROM (SELECT outcome, greatest(extract(epoch FROM started_at - scheduled_for), 0) AS lateness
      FROM order_executions WHERE finished_at >= %(since)s) x;

-- name: execution_throughput_per_minute
-- Runs finished in each minute from `since` to `now` (minutes without runs included, as 0).
SELECT m.minute, count(e.execution_id) AS executions,
       count(e.execution_id) FILTER (WHERE e.outcome = 'failed') AS failed
FROM generate_series(date_trunc('minute', %(since)s::timestamptz),
                     date_trunc('minute', %(now)s::timestamptz), interval '1 minute') AS m(minute)
LEFT JOIN order_executions e
       ON e.finished_at >= m.minute AND e.finished_at < m.minute + interval '1 minute'
GROUP BY m.minute
ORDER BY m.minute;

-- name: order_list_failed
-- Failed orders, latest first, with the job that failed and its attempts.
SELECT o.order_id, o.user_id, u.email, o.order_name, o.is_recurring, o.executions_count,
       o.last_error, o.updated_at AS failed_at, o.job_id, j.attempts
FROM orders o
JOIN users u USING (user_id)
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE o.status = 'failed'
ORDER BY o.updated_at DESC, o.order_id DESC
LIMIT %(limit)s;

-- name: job_error_list_of_jobs
-- Every recorded failed attempt of these jobs, in order.
SELECT job_id, attempt, error, worker, occurred_at
FROM job_errors
WHERE job_id = ANY(%(job_ids)s::bigint[])
ORDER BY job_id, attempt, job_error_id;

-- name: order_list_recurring_active
-- Recurring orders still running, soonest next run first.
SELECT o.order_id, u.email, o.order_name, o.repeat_interval, o.repeat_unit::text AS repeat_unit,
       o.cron, o.executions_count, o.max_executions, o.next_run_at, o.status
FROM orders o
JOIN users u USING (user_id)
WHERE o.is_recurring AND o.status IN ('scheduled', 'processing')
ORDER BY o.next_run_at NULLS LAST, o.order_id
LIMIT %(limit)s;

-- name: order_list_stuck_view
-- Stuck orders (the orders_stuck view), longest waiting first.
SELECT order_id, order_name, status::text AS status, next_run_at,
       extract(epoch FROM late_by)::float8 AS late_seconds, job_id, job_status
FROM orders_stuck
ORDER BY late_by DESC NULLS LAST
LIMIT %(limit)s;

-- name: worker_list_live
-- Registered workers with heartbeat age and running jobs.
SELECT worker_id, last_heartbeat, extract(epoch FROM heartbeat_age)::float8 AS heartbeat_age,
       jobs_running
FROM workers_live
ORDER BY worker_id;

-- name: order_timeline_list
-- Everything that happened to one order, oldest first (the order_timeline view).
SELECT at, source, event, from_status, to_status, job_id, actor, detail
FROM order_timeline
WHERE order_id = %(order_id)s
ORDER BY at, source;

-- name: order_list_any
-- Orders of every account for operators: filters, newest first, keyset-paginated on order_id.
SELECT o.order_id, u.email, o.order_name, o.status::text AS status, o.is_recurring,
       o.executions_count, o.max_executions, o.next_run_at, o.last_error, o.updated_at
FROM orders o
JOIN users u USING (user_id)
WHERE (%(status)s::order_status IS NULL OR o.status = %(status)s::order_status)
  AND (%(email)s::text IS NULL OR lower(u.email) = lower(%(email)s::text))
  AND (%(is_recurring)s::boolean IS NULL OR o.is_recurring = %(is_recurring)s::boolean)
  AND (%(before_id)s::bigint IS NULL OR o.order_id < %(before_id)s::bigint)
ORDER BY o.order_id DESC
LIMIT %(limit)s;

-- name: order_ids_failed
-- Every failed order's id, oldest first (what `orders requeue-failed` walks through).
SELECT order_id FROM orders WHERE status = 'failed' ORDER BY order_id;
