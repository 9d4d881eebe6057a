-- name: execution_levels_due
-- Which of these run levels (highest first) have an execution job due: the claim visits only
-- those, in this order. One index probe per level (the earliest due job of each: left to itself
-- the planner may scan every due job); none while the orders queue is paused (0062).
SELECT l.level
FROM unnest(%(levels)s::int[]) WITH ORDINALITY AS l(level, n)
CROSS JOIN LATERAL (SELECT 1 FROM procrastinate_jobs j
                    WHERE j.status = 'todo' AND j.task_name = 'execute_order'
                      AND j.priority = l.level AND j.scheduled_at <= %(now)s
                    ORDER BY j.scheduled_at
                    LIMIT 1) due
WHERE NOT EXISTS (SELECT FROM queue_pauses WHERE queue_name = 'orders')
ORDER BY l.n;

-- name: account_queue_list_due
-- The accounts with execution jobs due at this run level, least recently served first (at most
-- :limit), with their fair-share weight.
SELECT q.user_id, a.share_weight
FROM account_queue q
JOIN account_levels a ON a.user_id = q.user_id
WHERE q.level = %(level)s AND q.due_at <= %(now)s
ORDER BY q.served_at NULLS FIRST, q.user_id
LIMIT %(limit)s;

-- name: execution_claim_level
-- Up to :batch due execution jobs of one run level with their orders: first each account's
-- share (:user_ids, :shares; its earliest due first), then, with what the batch has left, the
-- level's earliest due jobs whoever's they are. A job or an order another transaction holds (a
-- batch being run elsewhere, an API change, an operator's lock) is skipped, never waited for;
-- all stay locked until commit. A job of a paused order or account (0062) comes back `paused`
-- and is retired without running (the paused accounts are read once, from a partial index).
WITH fair AS (
    SELECT f.*
    FROM unnest(%(user_ids)s::bigint[], %(shares)s::int[]) WITH ORDINALITY AS s(user_id, share, n)
    CROSS JOIN LATERAL (
        SELECT j.id, j.attempts, j.priority, (j.args ->> 'order_id')::bigint AS order_id
        FROM procrastinate_jobs j
        WHERE j.status = 'todo' AND j.task_name = 'execute_order' AND j.priority = %(level)s
          AND (j.args ->> 'user_id')::bigint = s.user_id AND j.scheduled_at <= %(now)s
        ORDER BY j.scheduled_at, j.id
        LIMIT s.share
        FOR UPDATE SKIP LOCKED) f
    LIMIT %(batch)s
), rest AS (
    SELECT j.id, j.attempts, j.priority, (j.args ->> 'order_id')::bigint AS order_id
    FROM procrastinate_jobs j
    WHERE j.status = 'todo' AND j.task_name = 'execute_order' AND j.priority = %(level)s
      AND j.scheduled_at <= %(now)s AND j.id NOT IN (SELECT id FROM fair)
    ORDER BY j.scheduled_at, j.id
    LIMIT (SELECT greatest(0, %(batch)s - count(*)) FROM fair)
    FOR UPDATE SKIP LOCKED
)
-- The jobs come with what the runs need of them, and each order is locked by its key (LATERAL):
-- joined instead, the planner may hash a whole table for a batch of 500.
SELECT c.id AS job_id, c.attempts, c.priority, o.*,
       (o.paused_at IS NOT NULL
        OR o.user_id = ANY (ARRAY(SELECT user_id FROM users WHERE paused_at IS NOT NULL)))
       AS paused
FROM (SELECT * FROM fair UNION ALL SELECT * FROM rest) c
CROSS JOIN LATERAL (
    SELECT o.order_id, o.user_id, o.status::text AS status, o.job_id AS order_job_id,
           o.is_recurring, o.repeat_interval, o.repeat_unit::text AS repeat_unit, o.cron,
           o.timezone, o.max_executions, o.executions_count, o.next_run_at, o.provider_id,
           o.schedule_time, o.missed_runs::text AS missed_runs, o.expires_after, o.paused_at
    FROM orders o
    WHERE o.order_id = c.order_id
    FOR UPDATE SKIP LOCKED) o;

-- name: account_queue_advance
-- After a batch: the accounts it served at this level were served now, and those it took every
-- due job of (:drained) move their due_at to their next waiting job (NULL: none). A row another
-- batch holds is left as it is (skipped, never waited for): an early due_at only costs a look.
WITH served AS (
    SELECT q.level, q.user_id, s.drained
    FROM unnest(%(user_ids)s::bigint[], %(drained)s::boolean[]) AS s(user_id, drained)
    JOIN account_queue q ON q.level = %(level)s AND q.user_id = s.user_id
    ORDER BY q.user_id
    FOR UPDATE OF q SKIP LOCKED
)
UPDATE account_queue q
SET served_at = %(now)s,
    due_at = CASE WHEN s.drained THEN (SELECT min(j.scheduled_at) FROM procrastinate_jobs j
                                       WHERE j.status = 'todo' AND j.task_name = 'execute_order'
                                         AND j.priority = q.level
                                         AND (j.args ->> 'user_id')::bigint = q.user_id)
                  ELSE q.due_at END
FROM served s
WHERE q.level = s.level AND q.user_id = s.user_id;

-- name: execution_mark_processing
-- The runs have started (visible to others only if the batch commits, together with its end).
UPDATE orders SET status = 'processing', updated_at = %(now)s WHERE order_id = ANY(%(order_ids)s);

-- name: provider_request_insert_many
-- Each run of an order that names a provider is a request to it, made in the run's transaction;
-- the unique (order, run) makes a second request for the same run impossible.
INSERT INTO provider_requests (order_id, run_number, provider_id, user_id, expected_response_at,
                               created_at)
SELECT o.order_id, o.executions_count + 1, p.provider_id, o.user_id,
       %(now)s + make_interval(hours => p.expected_response_hours), %(now)s
FROM orders o
JOIN providers p ON p.provider_id = o.provider_id
WHERE o.order_id = ANY(%(order_ids)s);

-- name: order_place_notify_many
-- Tell listeners (providers, dashboards) each run was placed; sent only when the batch commits.
SELECT count(pg_notify('order_placed', id::text)) AS sent
FROM unnest(%(order_ids)s::bigint[]) AS id;

-- name: execution_insert_many
-- Record successful runs (with the slots skipped just before each); the partial unique index
-- refuses a second success of the same run.
INSERT INTO order_executions (order_id, run_number, job_id, scheduled_for, started_at,
                              finished_at, worker, attempts, outcome, missed_slots)
SELECT r.order_id, r.run_number, r.job_id, r.scheduled_for, %(started)s,
       greatest(clock_timestamp(), %(started)s), %(worker)s, r.attempts, 'succeeded', r.missed
FROM unnest(%(order_ids)s::bigint[], %(run_numbers)s::int[], %(job_ids)s::bigint[],
            %(scheduled_for)s::timestamptz[], %(attempts)s::int[], %(missed)s::int[])
     AS r(order_id, run_number, job_id, scheduled_for, attempts, missed);

-- name: job_finish_many
-- Delete finished execution jobs (order_executions keeps each run), with Procrastinate's own
-- finish function; the run's transaction commits this together with the run.
SELECT count(procrastinate_finish_job_v1(id, 'succeeded', true)) AS finished
FROM unnest(%(job_ids)s::bigint[]) AS id;

-- name: job_defer_next_runs
-- Queue the next run of recurring orders, one Procrastinate job each (queueing lock order:<id>,
-- the account in its args, its run level from the order's priority and the account's tier as
-- they are now), through Procrastinate's batch defer function; ids come back in the order given.
SELECT procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW('orders', 'execute_order', orders_run_level(o.priority, a.priority_boost), NULL,
               'order:' || r.order_id,
               jsonb_build_object('order_id', r.order_id, 'user_id', o.user_id),
               r.run_at)::procrastinate_job_to_defer_v1
    FROM unnest(%(order_ids)s::bigint[], %(run_at)s::timestamptz[]) WITH ORDINALITY
         AS r(order_id, run_at, n)
    JOIN orders o ON o.order_id = r.order_id
    JOIN account_levels a ON a.user_id = o.user_id
    ORDER BY r.n)) AS job_ids;

-- name: execution_complete_many
-- After the runs: a final run completes its order, the others wait for their next run and job.
UPDATE orders o
SET status = CASE WHEN r.last THEN 'completed' ELSE 'scheduled' END::order_status,
    executions_count = o.executions_count + 1, last_run_at = r.slot,
    next_run_at = r.next_run_at, job_id = coalesce(r.next_job_id, o.job_id), last_error = NULL,
    updated_at = %(now)s
FROM unnest(%(order_ids)s::bigint[], %(last)s::boolean[], %(next_run_at)s::timestamptz[],
            %(next_job_ids)s::bigint[], %(slots)s::timestamptz[])
     AS r(order_id, last, next_run_at, next_job_id, slot)
WHERE o.order_id = r.order_id;

-- name: order_reschedule_many
-- Missed runs the order's policy skips: no run, the order waits for its next slot and job.
UPDATE orders o
SET next_run_at = r.next_run_at, job_id = r.next_job_id, updated_at = %(now)s
FROM unnest(%(order_ids)s::bigint[], %(next_run_at)s::timestamptz[], %(next_job_ids)s::bigint[])
     AS r(order_id, next_run_at, next_job_id)
WHERE o.order_id = r.order_id;

-- name: order_expire_many
-- One-time orders whose run could not start within their expires_after: they never run.
UPDATE orders
SET status = 'expired', next_run_at = NULL, last_error = %(error)s, updated_at = %(now)s
WHERE order_id = ANY(%(order_ids)s);

-- name: job_retry_later
-- A failed attempt of a run: its job waits until :retry_at, with one more attempt counted.
UPDATE procrastinate_jobs
SET attempts = attempts + 1, scheduled_at = %(retry_at)s
WHERE id = %(job_id)s AND status = 'todo';

-- name: job_delay_many
-- Runs that met a timeout (a lock or statement that took too long) wait a moment and run again;
-- no attempt is counted: it says nothing about the order.
UPDATE procrastinate_jobs
SET scheduled_at = %(retry_at)s
WHERE id = ANY(%(job_ids)s) AND status = 'todo';

-- name: order_execution_insert
-- Record one run (a failed one, after its last attempt).
INSERT INTO order_executions (order_id, run_number, job_id, scheduled_for, started_at,
                              finished_at, worker, attempts, outcome, error)
VALUES (%(order_id)s, %(run_number)s, %(job_id)s, %(scheduled_for)s, %(started_at)s,
        greatest(clock_timestamp(), %(started_at)s), %(worker)s, %(attempts)s, %(outcome)s,
        %(error)s);

-- name: order_record_failure
-- A failed attempt: keep the error; after the last attempt the order is failed.
UPDATE orders
SET status = %(status)s, last_error = %(error)s, updated_at = %(now)s,
    next_run_at = CASE WHEN %(status)s::order_status = 'failed' THEN NULL ELSE next_run_at END
WHERE order_id = %(order_id)s AND job_id = %(job_id)s;

-- name: job_next_due
-- When the earliest waiting execution job of these run levels due after :orders_after is due,
-- and the earliest job of these other queues due after :queues_after (NULL: none). Each walks
-- an index from there, one entry per level or queue: bounded at any number of waiting jobs.
SELECT (SELECT min(n.scheduled_at)
        FROM unnest(%(levels)s::int[]) AS l(level)
        CROSS JOIN LATERAL (SELECT scheduled_at FROM procrastinate_jobs
                            WHERE status = 'todo' AND task_name = 'execute_order'
                              AND priority = l.level AND scheduled_at > %(orders_after)s
                            ORDER BY scheduled_at LIMIT 1) n) AS orders_due_at,
       (SELECT min(n.scheduled_at)
        FROM unnest(%(queues)s::text[]) AS q(name)
        CROSS JOIN LATERAL (SELECT scheduled_at FROM procrastinate_jobs
                            WHERE status = 'todo' AND queue_name = q.name
                              AND scheduled_at > %(queues_after)s
                            ORDER BY scheduled_at LIMIT 1) n) AS queues_due_at;
