-- name: order_reserve_id
-- Take the next order id first, so the job can be deferred before the row is inserted.
SELECT nextval(pg_get_serial_sequence('orders', 'order_id')) AS order_id;

-- name: order_insert
-- Create an order pointing at its already-deferred job (same transaction).
INSERT INTO orders (order_id, user_id, order_name, payload, schedule_time, is_recurring,
                    repeat_interval, repeat_unit, cron, timezone, max_executions, next_run_at,
                    job_id, idempotency_key, request_hash, provider_id, priority, missed_runs,
                    expires_after)
VALUES (%(order_id)s, %(user_id)s, %(order_name)s, %(payload)s, %(schedule_time)s,
        %(is_recurring)s, %(repeat_interval)s, %(repeat_unit)s, %(cron)s, %(timezone)s,
        %(max_executions)s, %(next_run_at)s, %(job_id)s, %(idempotency_key)s, %(request_hash)s,
        %(provider_id)s, %(priority)s, %(missed_runs)s, %(expires_after)s);

-- name: order_get
-- One order of one user (someone else's is simply not found); user_id NULL: any (operators).
SELECT order_id, user_id, order_name, payload, schedule_time, status, job_id, is_recurring,
       repeat_interval, repeat_unit, cron, timezone, max_executions, executions_count,
       next_run_at, last_run_at, last_error, provider_id, priority, missed_runs, expires_after,
       created_at, updated_at,
       (paused_at IS NOT NULL OR EXISTS (SELECT FROM users pu WHERE pu.user_id = orders.user_id
                                         AND pu.paused_at IS NOT NULL)) AS paused
FROM orders
WHERE order_id = %(order_id)s AND (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s::bigint);

-- name: order_get_for_update
-- Lock one order of one user (NULL: any) for a change; the worker takes the same lock to run it,
-- so NOWAIT: a change of an order being run is refused at once (409), never queued behind it.
SELECT order_id, user_id, order_name, payload, schedule_time, status, job_id, is_recurring,
       repeat_interval, repeat_unit, cron, timezone, max_executions, executions_count,
       next_run_at, last_run_at, last_error, provider_id, priority, missed_runs, expires_after,
       created_at, updated_at,
       (paused_at IS NOT NULL OR EXISTS (SELECT FROM users pu WHERE pu.user_id = orders.user_id
                                         AND pu.paused_at IS NOT NULL)) AS paused
FROM orders
WHERE order_id = %(order_id)s AND (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s::bigint)
FOR UPDATE NOWAIT;

-- name: order_get_by_idempotency_key
-- The order an earlier request with this Idempotency-Key created, if any.
SELECT order_id, request_hash
FROM orders
WHERE user_id = %(user_id)s AND idempotency_key = %(idempotency_key)s;

-- name: order_list
-- A page of a user's orders, newest first, keyset-paginated on order_id.
SELECT order_id, user_id, order_name, payload, schedule_time, status, job_id, is_recurring,
       repeat_interval, repeat_unit, cron, timezone, max_executions, executions_count,
       next_run_at, last_run_at, last_error, provider_id, priority, missed_runs, expires_after,
       created_at, updated_at,
       (paused_at IS NOT NULL OR EXISTS (SELECT FROM users pu WHERE pu.user_id = orders.user_id
                                         AND pu.paused_at IS NOT NULL)) AS paused
FROM orders
WHERE user_id = %(user_id)s
  AND (%(status)s::order_status IS NULL OR status = %(status)s::order_status)
  AND (%(is_recurring)s::boolean IS NULL OR is_recurring = %(is_recurring)s::boolean)
  AND (%(before_id)s::bigint IS NULL OR order_id < %(before_id)s::bigint)
ORDER BY order_id DESC
LIMIT %(limit)s;

-- name: order_update_definition
-- Replace what the customer defines (name, schedule, recurrence, payload, provider), next run.
UPDATE orders
SET order_name = %(order_name)s, payload = %(payload)s, schedule_time = %(schedule_time)s,
    is_recurring = %(is_recurring)s, repeat_interval = %(repeat_interval)s,
    repeat_unit = %(repeat_unit)s, cron = %(cron)s, timezone = %(timezone)s,
    max_executions = %(max_executions)s, next_run_at = %(next_run_at)s,
    provider_id = %(provider_id)s, job_id = %(job_id)s, priority = %(priority)s,
    missed_runs = %(missed_runs)s, expires_after = %(expires_after)s, updated_at = now()
WHERE order_id = %(order_id)s;

-- name: order_cancel
-- Cancel an order; its pending job is cancelled in the same transaction.
UPDATE orders
SET status = 'cancelled', next_run_at = NULL, updated_at = now()
WHERE order_id = %(order_id)s;

-- name: order_events_page
-- A page of one order's audit trail, oldest first, after the keyset cursor (occurred_at,
-- event_id): an index range, whatever the order's history size.
SELECT event_id, event_type, from_status, to_status, executions_count, job_id, actor,
       occurred_at, details
FROM order_events
WHERE order_id = %(order_id)s
  AND (occurred_at, event_id) > (%(after_at)s::timestamptz, %(after_id)s::bigint)
ORDER BY occurred_at, event_id
LIMIT %(limit)s;

-- name: order_list_stuck
-- Scheduled orders overdue by the grace period whose job is missing, failed or cancelled. A
-- paused order (or one of a paused account) has no job on purpose: it is left alone.
SELECT o.order_id, o.user_id, o.job_id, coalesce(j.status::text, 'missing') AS job_status,
       orders_run_level(o.priority, (SELECT a.priority_boost FROM account_levels a
                                     WHERE a.user_id = o.user_id)) AS level
FROM orders o
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE o.status = 'scheduled'
  AND o.next_run_at <= %(overdue_before)s
  AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing'))
  AND o.paused_at IS NULL
  AND o.user_id <> ALL (ARRAY(SELECT user_id FROM users WHERE paused_at IS NOT NULL))
ORDER BY o.next_run_at
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED;

-- name: order_set_job
-- Point an order at the job that will run it next.
UPDATE orders SET job_id = %(job_id)s, updated_at = %(now)s WHERE order_id = %(order_id)s;

-- name: order_retry_failed
-- Put a failed order back in the schedule, due now; its new job is deferred alongside.
UPDATE orders
SET status = 'scheduled', next_run_at = %(now)s, job_id = %(job_id)s, updated_at = %(now)s
WHERE order_id = %(order_id)s;
