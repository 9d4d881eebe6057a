-- name: rollup_fold
-- Move the rollup deltas appended since the last fold into the totals (returns at once, with
-- 0, while another caller folds).
SELECT rollup_fold() AS folded;

-- name: rollup_series
-- The current value of some rollup series: gauges, counters, histogram buckets.
SELECT series, label, n, total, peak
FROM rollup_current
WHERE series = ANY(%(series)s::text[]);

-- name: queue_depth_list
-- Jobs waiting (todo) and running (doing) per queue, and how long the oldest due job has
-- waited. Finished jobs are history and are not counted here (the queue_depth view does).
SELECT queue_name, status::text AS status, count(*) AS n,
       extract(epoch FROM max(now() - scheduled_at)
                          FILTER (WHERE status = 'todo' AND scheduled_at <= now()))::float8
           AS oldest_due_waiting
FROM procrastinate_jobs
WHERE status IN ('todo', 'doing')
GROUP BY queue_name, status
ORDER BY queue_name, status;

-- name: order_lateness_now
-- Overdue and stuck orders and how late the most overdue one is. Reads only orders due by now
-- (an index range), so it costs the backlog, not the history. Paused orders wait on purpose.
WITH due AS (
    SELECT o.status, o.next_run_at, j.status AS job_status
    FROM orders o
    LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
    WHERE o.status IN ('scheduled', 'processing') AND o.next_run_at <= now()
      AND o.paused_at IS NULL
      AND o.user_id <> ALL (ARRAY(SELECT user_id FROM users WHERE paused_at IS NOT NULL)))
SELECT count(*) FILTER (WHERE status = 'scheduled') AS overdue,
       count(*) FILTER (WHERE (status = 'scheduled'
                               AND (job_status IS NULL OR job_status NOT IN ('todo', 'doing')))
                           OR (status = 'processing'
                               AND (job_status IS NULL OR job_status <> 'doing'))) AS stuck,
       coalesce(extract(epoch FROM now() - min(next_run_at) FILTER (WHERE status = 'scheduled')),
                0)::float8 AS max_lateness
FROM due;

-- name: worker_summary
-- Registered workers and the oldest heartbeat among them.
SELECT count(*) AS live,
       coalesce(extract(epoch FROM max(now() - last_heartbeat)), 0)::float8 AS max_age
FROM procrastinate_workers;

-- name: status_log_lag
-- Seconds since a worker last advanced the status log.
SELECT extract(epoch FROM now() - written_at)::float8 AS lag FROM status_log_cursor;

-- name: runs_per_minute
-- Runs finished in each minute from `since` to `now` (minutes without runs included, as 0),
-- from the per-minute rollup.
SELECT m.minute, coalesce(sum(r.n), 0)::bigint AS executions,
       coalesce(sum(r.n) FILTER (WHERE r.label = 'failed'), 0)::bigint AS failed
FROM generate_series(date_trunc('minute', %(since)s::timestamptz),
                     date_trunc('minute', %(now)s::timestamptz), interval '1 minute') AS m(minute)
LEFT JOIN (SELECT minute, label, n FROM rollup_per_minute
           WHERE series = 'runs' AND minute >= date_trunc('minute', %(since)s::timestamptz)) r
       ON r.minute = m.minute
GROUP BY m.minute
ORDER BY m.minute;

-- name: runs_since
-- Runs per outcome and the lateness histogram of the runs finished since the minute of `since`.
SELECT series, label, sum(n)::bigint AS n, sum(total) AS total, max(peak) AS peak
FROM rollup_per_minute
WHERE minute >= date_trunc('minute', %(since)s::timestamptz)
  AND series IN ('runs', 'run_lateness')
GROUP BY series, label;

-- name: table_size_estimates
-- Rows (the planner's estimate from the last ANALYZE, not a count) and bytes on disk, indexes
-- and TOAST included, of each history table.
SELECT t.name AS table_name, greatest(c.reltuples, 0)::bigint AS rows_estimate,
       pg_total_relation_size(c.oid) AS bytes
FROM unnest(%(tables)s::text[]) WITH ORDINALITY AS t(name, i)
JOIN pg_class c ON c.oid = to_regclass(t.name)
ORDER BY t.i;
