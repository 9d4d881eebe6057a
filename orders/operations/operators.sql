-- name: order_list_failed
-- Failed orders, latest first (index orders_failed_idx), with the job that failed and its attempts.
SELECT o.order_id, o.user_id, u.email, o.order_name, o.is_recurring, o.executions_count,
       o.last_error, o.updated_at AS failed_at, o.job_id, j.attempts
FROM orders o
JOIN users u USING (user_id)
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE o.status = 'failed'
ORDER BY o.updated_at DESC, o.order_id DESC
LIMIT %(limit)s;

-- name: job_error_list_of_orders
-- The failed attempts of each order's failing job: its job_id, or (once that job row is
-- pruned) the job of the order's latest recorded error.
SELECT o.order_id, e.attempt, e.error, e.worker, e.occurred_at
FROM unnest(%(order_ids)s::bigint[], %(job_ids)s::bigint[]) AS o(order_id, job_id)
CROSS JOIN LATERAL (
    SELECT coalesce(o.job_id, (SELECT l.job_id FROM job_errors l WHERE l.order_id = o.order_id
                               ORDER BY l.job_error_id DESC LIMIT 1)) AS job_id
) k
CROSS JOIN LATERAL (
    SELECT attempt, error, worker, occurred_at, job_error_id FROM job_errors
    WHERE job_id = k.job_id
    ORDER BY attempt, job_error_id
    LIMIT %(per_order)s
) e
ORDER BY o.order_id, e.attempt, e.job_error_id;

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
-- Stuck orders (as the orders_stuck view defines them), longest waiting first; reads only the
-- orders due by now (an index range), not the completed ones. Paused ones are not stuck.
SELECT o.order_id, o.order_name, o.status::text AS status, o.next_run_at,
       extract(epoch FROM now() - o.next_run_at)::float8 AS late_seconds, o.job_id,
       coalesce(j.status::text, 'missing') AS job_status
FROM orders o
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE o.status IN ('scheduled', 'processing') AND o.next_run_at <= now()
  AND ((o.status = 'scheduled' AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing')))
       OR (o.status = 'processing' AND (j.id IS NULL OR j.status <> 'doing')))
  AND o.paused_at IS NULL
  AND o.user_id <> ALL (ARRAY(SELECT user_id FROM users WHERE paused_at IS NOT NULL))
ORDER BY o.next_run_at, o.order_id
LIMIT %(limit)s;

-- name: worker_list_live
-- Registered workers with heartbeat age and running jobs.
SELECT worker_id, last_heartbeat, extract(epoch FROM heartbeat_age)::float8 AS heartbeat_age,
       jobs_running
FROM workers_live
ORDER BY worker_id;

-- name: order_timeline_page
-- A page of one order's timeline, newest first, before the keyset cursor (at, source,
-- entry_id): audit events, runs, failed attempts, and the events of its latest `jobs` jobs.
-- Each source reads at most `limit` rows through an index on (order, time).
WITH audit AS (
    SELECT occurred_at AS at, 'audit' AS source, event_id AS entry_id, event_type AS event,
           from_status::text AS from_status, to_status::text AS to_status, job_id, actor,
           details::text AS detail
    FROM order_events
    WHERE order_id = %(order_id)s AND occurred_at <= %(before_at)s
      AND (occurred_at, 'audit', event_id) < (%(before_at)s, %(before_source)s, %(before_id)s)
    ORDER BY occurred_at DESC, event_id DESC
    LIMIT %(limit)s),
runs AS (
    SELECT finished_at, 'execution', execution_id, outcome::text, NULL, NULL, job_id,
           'worker:' || worker, 'run ' || run_number || coalesce(': ' || error, '')
    FROM order_executions
    WHERE order_id = %(order_id)s AND finished_at <= %(before_at)s
      AND (finished_at, 'execution', execution_id)
          < (%(before_at)s, %(before_source)s, %(before_id)s)
    ORDER BY finished_at DESC, execution_id DESC
    LIMIT %(limit)s),
errors AS (  -- an order's attempts fail one after another: id order is time order
    SELECT occurred_at, 'job_error', job_error_id, 'attempt ' || attempt, NULL, NULL, job_id,
           'worker:' || worker, error
    FROM job_errors
    WHERE order_id = %(order_id)s AND occurred_at <= %(before_at)s
      AND (occurred_at, 'job_error', job_error_id)
          < (%(before_at)s, %(before_source)s, %(before_id)s)
    ORDER BY job_error_id DESC
    LIMIT %(limit)s),
jobs AS (
    SELECT ev.at, 'job', ev.id, ev.type::text, NULL, NULL, j.id, NULL, NULL
    FROM (SELECT id FROM procrastinate_jobs
          WHERE ((args ->> 'order_id')::bigint) = %(order_id)s AND task_name = 'execute_order'
          ORDER BY ((args ->> 'order_id')::bigint) DESC, id DESC
          LIMIT %(jobs)s) j
    JOIN procrastinate_events ev ON ev.job_id = j.id
    WHERE ev.at <= %(before_at)s
      AND (ev.at, 'job', ev.id) < (%(before_at)s, %(before_source)s, %(before_id)s)
    ORDER BY ev.at DESC, ev.id DESC
    LIMIT %(limit)s)
SELECT * FROM (SELECT * FROM audit UNION ALL SELECT * FROM runs
               UNION ALL SELECT * FROM errors UNION ALL SELECT * FROM jobs) t
ORDER BY at DESC, source DESC, entry_id DESC
LIMIT %(limit)s;

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
