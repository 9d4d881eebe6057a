-- 0007: the operator's SQL surface: job error history, stable views, a read-only role.
-- docs/operators.md lists every view with example queries (tests run each of them).

-- Procrastinate keeps no error text; the worker middleware (tasks/worker.py) records each
-- failed attempt here, so every job has its error history like Oban/graphile-worker.
CREATE TABLE job_errors (
    job_error_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       bigint NOT NULL,
    task_name    text NOT NULL,
    attempt      integer NOT NULL CHECK (attempt >= 1),
    error        text NOT NULL,
    traceback    text,
    worker       text NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX job_errors_job_id_idx ON job_errors (job_id, job_error_id);
CREATE INDEX job_errors_occurred_at_idx ON job_errors (occurred_at);

COMMENT ON TABLE job_errors IS
    'One row per failed attempt of any Procrastinate job (orders, mail, maintenance), written by '
    'the worker. No FK: the history outlives the pruned job.';
COMMENT ON COLUMN job_errors.attempt IS 'Which attempt failed (1 = the first run).';
COMMENT ON COLUMN job_errors.error IS 'Exception type and message.';
COMMENT ON COLUMN job_errors.traceback IS 'Python traceback of the failure (last frames).';
COMMENT ON COLUMN job_errors.worker IS 'Name of the worker process (orders worker --name).';

-- The per-order timeline reads an order's jobs by their order_id argument.
CREATE INDEX procrastinate_jobs_order_id_idx ON procrastinate_jobs (((args ->> 'order_id')::bigint))
    WHERE task_name = 'execute_order';
COMMENT ON INDEX procrastinate_jobs_order_id_idx IS 'orders: serves the order_timeline view.';


CREATE VIEW orders_due AS
SELECT o.order_id, o.user_id, o.order_name, o.status, o.is_recurring, o.next_run_at,
       greatest(now() - o.next_run_at, interval '0') AS late_by,
       o.next_run_at <= now() AS overdue,
       o.executions_count, o.max_executions, o.job_id, j.status AS job_status
FROM orders o
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE o.status IN ('scheduled', 'processing');
COMMENT ON VIEW orders_due IS
    'Orders waiting for (or in) a run, with their next run time and how late they are. '
    'Overdue by more than a few seconds with job_status todo means no worker is free.';

CREATE VIEW orders_stuck AS
SELECT o.order_id, o.user_id, o.order_name, o.status, o.next_run_at,
       now() - o.next_run_at AS late_by, o.job_id,
       coalesce(j.status::text, 'missing') AS job_status, o.updated_at
FROM orders o
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE (o.status = 'scheduled' AND o.next_run_at <= now()
       AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing')))
   OR (o.status = 'processing' AND (j.id IS NULL OR j.status <> 'doing'));
COMMENT ON VIEW orders_stuck IS
    'Orders no job will run: scheduled and due with a missing, failed or cancelled job, or '
    'processing without a running job. recover_stuck_orders re-defers the scheduled ones.';

CREATE VIEW queue_depth AS
SELECT queue_name, status, count(*) AS jobs,
       min(scheduled_at) AS earliest_scheduled_at,
       max(now() - scheduled_at) FILTER (WHERE status = 'todo' AND scheduled_at <= now())
           AS oldest_due_waiting
FROM procrastinate_jobs
GROUP BY queue_name, status;
COMMENT ON VIEW queue_depth IS
    'Jobs per queue and status. oldest_due_waiting: how long the oldest due todo job has waited.';

CREATE VIEW jobs_failed AS
SELECT j.id AS job_id, j.queue_name, j.task_name, j.args, j.attempts,
       (j.args ->> 'order_id')::bigint AS order_id,
       e.error AS last_error, e.occurred_at AS last_error_at, e.worker AS last_worker,
       (SELECT max(ev.at) FROM procrastinate_events ev WHERE ev.job_id = j.id) AS failed_at
FROM procrastinate_jobs j
LEFT JOIN LATERAL (SELECT error, occurred_at, worker FROM job_errors
                   WHERE job_id = j.id ORDER BY job_error_id DESC LIMIT 1) e ON true
WHERE j.status = 'failed';
COMMENT ON VIEW jobs_failed IS
    'Jobs that failed for good, with their attempts and last error (full history: job_errors). '
    'An order whose job failed is itself failed: POST /orders/<id>/retry or `orders retry`.';

CREATE VIEW workers_live AS
SELECT w.id AS worker_id, w.last_heartbeat, now() - w.last_heartbeat AS heartbeat_age,
       count(j.id) AS jobs_running
FROM procrastinate_workers w
LEFT JOIN procrastinate_jobs j ON j.worker_id = w.id AND j.status = 'doing'
GROUP BY w.id, w.last_heartbeat;
COMMENT ON VIEW workers_live IS
    'Registered worker processes, their heartbeat age and running jobs. A heartbeat older than '
    'ORDERS_STALLED_AFTER_SECONDS means the worker is dead: its jobs are retried elsewhere.';

CREATE VIEW order_timeline AS
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
SELECT (j.args ->> 'order_id')::bigint, e.occurred_at, 'job_error', 'attempt ' || e.attempt,
       NULL, NULL, e.job_id, 'worker:' || e.worker, e.error
FROM job_errors e
JOIN procrastinate_jobs j ON j.id = e.job_id
WHERE j.task_name = 'execute_order';
COMMENT ON VIEW order_timeline IS
    'Everything that happened to one order: audit events, its jobs'' Procrastinate events, its '
    'runs and their errors. Query with WHERE order_id = ... ORDER BY at.';

CREATE VIEW executions_hourly AS
SELECT date_trunc('hour', finished_at) AS hour,
       count(*) AS executions,
       count(*) FILTER (WHERE outcome = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE outcome = 'failed') AS failed,
       avg(finished_at - started_at) AS avg_duration,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY finished_at - started_at) AS p95_duration,
       avg(started_at - scheduled_for) AS avg_lateness,
       max(started_at - scheduled_for) AS max_lateness
FROM order_executions
GROUP BY 1;
COMMENT ON VIEW executions_hourly IS
    'Runs per hour: outcomes, durations (start to finish) and lateness (due to start).';


-- A role for dashboards and operators' read-only sessions: NOLOGIN, granted to login roles
-- (GRANT orders_readonly TO alice). Roles are cluster-wide: another database may have made it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orders_readonly') THEN
        CREATE ROLE orders_readonly NOLOGIN;
    END IF;
END
$$;
COMMENT ON ROLE orders_readonly IS 'orders: SELECT on the tables and views, nothing else.';
GRANT USAGE ON SCHEMA public TO orders_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO orders_readonly;
-- Password hashes are not for dashboards: every users column but password_hash.
REVOKE SELECT ON users FROM orders_readonly;
GRANT SELECT (user_id, email, role, created_at) ON users TO orders_readonly;
-- Tables and views of later migrations (made by the same migrating role) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO orders_readonly;
