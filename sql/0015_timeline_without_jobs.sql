-- 0015: an order's failed attempts are found by the order, not through its job: the timeline
-- keeps them after the job row is pruned (or deleted by the run that finished it).

CREATE OR REPLACE VIEW order_timeline AS
SELECT order_id, occurred_at AS at, 'audit' AS source, event_type AS event,
       from_status::text AS from_status, to_status::text AS to_status, job_id, actor,
       details::text AS detail
FROM order_events
UNION ALL
SELECT (j.args ->> 'order_id')::bigint, ev.at, 'job', ev.type::text, NULL, NULL, j.id,
       NULL, NULL
FROM procrastinate_jobs j
JOIN procrastinate_events ev ON ev.job_id = j.id
WHERE j.task_name = 'execute_order'
UNION ALL
SELECT order_id, finished_at, 'execution', outcome::text, NULL, NULL, job_id,
       'worker:' || worker, 'run ' || run_number || coalesce(': ' || error, '')
FROM order_executions
UNION ALL
SELECT e.order_id, e.occurred_at, 'job_error', 'attempt ' || e.attempt,
       NULL, NULL, e.job_id, 'worker:' || e.worker, e.error
FROM job_errors e
WHERE e.order_id IS NOT NULL;
COMMENT ON VIEW order_timeline IS
    'Everything that happened to one order: audit events, its jobs'' Procrastinate events (while '
    'the jobs exist), its runs and their errors. Query with WHERE order_id = ... ORDER BY at.';
