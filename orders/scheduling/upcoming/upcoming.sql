-- name: upcoming_delete_orders
-- Forget the upcoming runs of these orders (changed, cancelled or failed for good).
DELETE FROM upcoming_runs WHERE order_id = ANY(%(order_ids)s::bigint[]);

-- name: upcoming_insert_many
-- Write expanded runs, one row per order and minute; a minute an earlier expansion of the same
-- order already holds (intervals under a minute) gains the new runs.
INSERT INTO upcoming_runs (order_id, user_id, minute, first_run_at, runs)
SELECT r.order_id, r.user_id, r.minute, r.first_run_at, r.runs
FROM unnest(%(order_ids)s::bigint[], %(user_ids)s::bigint[], %(minutes)s::timestamptz[],
            %(firsts)s::timestamptz[], %(runs)s::int[])
     AS r(order_id, user_id, minute, first_run_at, runs)
ON CONFLICT (order_id, minute) DO UPDATE
SET runs = upcoming_runs.runs + excluded.runs,
    first_run_at = least(upcoming_runs.first_run_at, excluded.first_run_at);

-- name: order_set_upcoming_many
-- Record how far each order is expanded (NULL: no run left to write, stored as
-- upcoming_all_written()).
UPDATE orders o
SET upcoming_until = coalesce(u.until, upcoming_all_written())
FROM unnest(%(order_ids)s::bigint[], %(untils)s::timestamptz[]) AS u(order_id, until)
WHERE o.order_id = u.order_id;

-- name: order_list_upcoming_due
-- A chunk of active, unpaused orders (0067) whose expansion ends at or before :target, keyset on
-- (upcoming_until, order_id) so orders skipped this pass are not read again; not expanded yet
-- (upcoming_not_expanded()) comes back as NULL, first. Sorted on the column (not the NULL-ed output): the index
-- order, so a chunk reads :limit index entries however many orders wait.
SELECT order_id, user_id, nullif(upcoming_until, upcoming_not_expanded()) AS expanded_until, status::text,
       is_recurring, repeat_interval, repeat_unit::text AS repeat_unit, cron, timezone,
       max_executions, executions_count, next_run_at, schedule_time
FROM orders
WHERE status IN ('scheduled', 'processing')
  AND upcoming_until <= %(target)s
  AND paused_at IS NULL
  AND user_id <> ALL (ARRAY(SELECT user_id FROM users WHERE paused_at IS NOT NULL))
  AND (upcoming_until, order_id)
      > (coalesce(%(after_until)s::timestamptz, upcoming_not_expanded()), %(after_id)s::bigint)
ORDER BY upcoming_until, order_id
LIMIT %(limit)s;

-- name: upcoming_extend
-- Write an upkeep chunk: only orders still active, not held by anyone (a run, an API change:
-- skipped, never waited for) and expanded as far as when they were read (else an API change
-- rewrote them meanwhile); their runs are added and their expansion moved on.
WITH locked AS (
    SELECT o.order_id
    FROM orders o
    JOIN unnest(%(order_ids)s::bigint[], %(seen)s::timestamptz[]) AS s(order_id, seen)
      ON s.order_id = o.order_id
    WHERE o.status IN ('scheduled', 'processing')
      AND o.upcoming_until = coalesce(s.seen, upcoming_not_expanded())
    ORDER BY o.order_id
    FOR NO KEY UPDATE OF o SKIP LOCKED
), moved AS (
    UPDATE orders o
    SET upcoming_until = coalesce(u.until, upcoming_all_written())
    FROM unnest(%(order_ids)s::bigint[], %(untils)s::timestamptz[]) AS u(order_id, until)
    WHERE o.order_id = u.order_id AND o.order_id IN (SELECT order_id FROM locked)
    RETURNING o.order_id
), written AS (
    INSERT INTO upcoming_runs (order_id, user_id, minute, first_run_at, runs)
    SELECT r.order_id, r.user_id, r.minute, r.first_run_at, r.runs
    FROM unnest(%(row_order_ids)s::bigint[], %(user_ids)s::bigint[], %(minutes)s::timestamptz[],
                %(firsts)s::timestamptz[], %(runs)s::int[])
         AS r(order_id, user_id, minute, first_run_at, runs)
    WHERE r.order_id IN (SELECT order_id FROM moved)
    ON CONFLICT (order_id, minute) DO UPDATE
    SET runs = upcoming_runs.runs + excluded.runs,
        first_run_at = least(upcoming_runs.first_run_at, excluded.first_run_at)
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS orders, (SELECT count(*) FROM written) AS rows;

-- name: upcoming_purge_past
-- Delete up to :limit rows of minutes before :before (runs never delete theirs), oldest first,
-- along the minute index.
DELETE FROM upcoming_runs u
USING (SELECT order_id, minute FROM upcoming_runs
       WHERE minute < %(before)s
       ORDER BY minute
       LIMIT %(limit)s) past
WHERE u.order_id = past.order_id AND u.minute = past.minute;

-- name: upcoming_page
-- A page of a customer's upcoming runs from :from_minute to before :to_minute, by minute then
-- order, after the keyset cursor (minute, order_id): an index range on (user_id, minute).
SELECT u.order_id, o.order_name, u.minute, u.first_run_at, u.runs
FROM upcoming_runs u
JOIN orders o ON o.order_id = u.order_id
WHERE u.user_id = %(user_id)s
  AND u.minute >= %(from_minute)s AND u.minute < %(to_minute)s
  AND (u.minute, u.order_id) > (%(after_minute)s::timestamptz, %(after_id)s::bigint)
  AND o.status IN ('scheduled', 'processing')
ORDER BY u.minute, u.order_id
LIMIT %(limit)s;

-- name: upcoming_per_minute
-- Runs and orders per minute from :from_minute to before :to_minute, across every account
-- (the operator's chart; the upcoming_runs_per_minute view with a window).
SELECT minute, sum(runs)::bigint AS runs, count(*) AS orders
FROM upcoming_runs
WHERE minute >= %(from_minute)s AND minute < %(to_minute)s
GROUP BY minute
ORDER BY minute;
