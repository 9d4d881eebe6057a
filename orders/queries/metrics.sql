-- name: order_count_by_status
-- Orders per status (every status present, zero included).
SELECT s.status::text AS status, count(o.order_id) AS n
FROM unnest(enum_range(NULL::order_status)) AS s(status)
LEFT JOIN orders o ON o.status = s.status
GROUP BY s.status;

-- name: queue_depth_list
-- Procrastinate jobs per queue and status.
SELECT queue_name, status::text AS status, jobs AS n,
       extract(epoch FROM oldest_due_waiting)::float8 AS oldest_due_waiting
FROM queue_depth
ORDER BY queue_name, status;

-- name: order_lateness_now
-- Due orders not yet started, stuck orders, and how late the latest due order is.
SELECT (SELECT count(*) FROM orders_due WHERE overdue AND status = 'scheduled') AS overdue,
       (SELECT count(*) FROM orders_stuck) AS stuck,
       coalesce((SELECT extract(epoch FROM max(late_by)) FROM orders_due
                 WHERE status = 'scheduled'), 0)::float8 AS max_lateness;

-- name: worker_summary
-- Live workers and the oldest heartbeat among them.
SELECT count(*) AS live, coalesce(extract(epoch FROM max(heartbeat_age)), 0)::float8 AS max_age
FROM workers_live;

-- name: metrics_counters
-- Totals that only grow (failed attempts, recoveries, mail by outcome), and the log writer's lag.
SELECT (SELECT count(*) FROM job_errors) AS retries,
       (SELECT count(*) FROM order_events
        WHERE details ->> 'reason' LIKE 'stuck-order recovery%%') AS recoveries,
       (SELECT count(*) FROM outbox WHERE status = 'sent') AS emails_sent,
       (SELECT count(*) FROM outbox WHERE status = 'failed') AS emails_failed,
       (SELECT count(*) FROM outbox WHERE status = 'pending') AS emails_pending,
       (SELECT extract(epoch FROM now() - written_at)::float8 FROM status_log_cursor)
           AS status_log_lag;

-- name: metrics_execution_buckets
-- Runs per histogram bucket of duration and of lateness (width_bucket: bucket i holds
-- bounds[i] <= x < bounds[i+1]; 0 is below the first bound). Scans order_executions once.
SELECT 'duration' AS metric, width_bucket(d, %(bounds)s::float8[]) AS bucket,
       count(*) AS n, sum(d) AS total
FROM (SELECT extract(epoch FROM finished_at - started_at)::float8 AS d FROM order_executions) x
GROUP BY 1, 2
UNION ALL
SELECT 'lateness', width_bucket(d, %(bounds)s::float8[]), count(*), sum(d)
FROM (SELECT greatest(extract(epoch FROM started_at - scheduled_for), 0)::float8 AS d
      FROM order_executions) x
GROUP BY 1, 2;
