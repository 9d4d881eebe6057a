-- name: order_lock_for_execution
-- Lock the order a job is about to run; concurrent duplicates of the job wait here.
SELECT order_id, user_id, status, job_id, payload, is_recurring, repeat_interval, repeat_unit,
       cron, timezone, max_executions, executions_count, next_run_at, provider_id, schedule_time
FROM orders
WHERE order_id = %(order_id)s
FOR UPDATE;

-- name: order_mark_processing
-- The run has started (visible to others only if the run's transaction commits).
UPDATE orders SET status = 'processing', updated_at = %(now)s WHERE order_id = %(order_id)s;

-- name: order_execution_insert
-- Record a run; the partial unique index refuses a second success of the same run.
INSERT INTO order_executions (order_id, run_number, job_id, scheduled_for, started_at,
                              finished_at, worker, attempts, outcome, error)
VALUES (%(order_id)s, %(run_number)s, %(job_id)s, %(scheduled_for)s, %(started_at)s,
        %(finished_at)s, %(worker)s, %(attempts)s, %(outcome)s, %(error)s);

-- name: order_place_notify
-- Tell listeners (providers, dashboards) an order run was placed; sent only on commit.
SELECT pg_notify('order_placed', %(order_id)s::text);

-- name: order_complete_run
-- After a run: the final one completes the order, otherwise it waits for next_run_at.
UPDATE orders
SET status = %(status)s, executions_count = executions_count + 1, last_run_at = %(ran_for)s,
    next_run_at = %(next_run_at)s, job_id = %(job_id)s, last_error = NULL, updated_at = %(now)s
WHERE order_id = %(order_id)s;

-- name: order_record_failure
-- A failed attempt: keep the error; after the last retry the order is failed.
UPDATE orders
SET status = %(status)s, last_error = %(error)s, updated_at = %(now)s,
    next_run_at = CASE WHEN %(status)s::order_status = 'failed' THEN NULL ELSE next_run_at END
WHERE order_id = %(order_id)s AND job_id = %(job_id)s;
