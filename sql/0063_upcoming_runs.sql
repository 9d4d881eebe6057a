-- 0063: what is coming: the runs of every active order over a bounded horizon, per minute.

CREATE TABLE upcoming_runs (
    order_id     bigint NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    user_id      bigint NOT NULL,
    minute       timestamptz NOT NULL CHECK (minute = date_trunc('minute', minute)),
    first_run_at timestamptz NOT NULL,
    runs         integer NOT NULL CHECK (runs >= 1),
    PRIMARY KEY (order_id, minute)
);
CREATE INDEX upcoming_runs_minute_idx ON upcoming_runs (minute);
CREATE INDEX upcoming_runs_user_minute_idx ON upcoming_runs (user_id, minute, order_id);

COMMENT ON TABLE upcoming_runs IS
    'Runs of active orders over the next ORDERS_UPCOMING_HOURS (plus a few minutes), one row per '
    'order and minute. Written by the API as orders change and by the expand_upcoming_runs task '
    'as time passes; order runs never write it, so rows of past minutes linger until purged '
    '(readers ask for minute >= the current minute).';
COMMENT ON COLUMN upcoming_runs.order_id IS 'The order (orders.order_id).';
COMMENT ON COLUMN upcoming_runs.user_id IS 'Owner of the order (copied, so a customer''s runs are one index range).';
COMMENT ON COLUMN upcoming_runs.minute IS 'The minute (UTC, truncated) the runs fall in.';
COMMENT ON COLUMN upcoming_runs.first_run_at IS 'The first scheduled run of the order in that minute.';
COMMENT ON COLUMN upcoming_runs.runs IS 'How many runs of the order are scheduled in that minute (more than 1 for intervals under a minute).';

-- Two finite marks rather than -infinity/infinity, so any client can read the column (many
-- drivers, psycopg among them, cannot load an infinite timestamp into their date type).
CREATE FUNCTION upcoming_not_expanded() RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '1900-01-01 00:00:00+00' $$;
COMMENT ON FUNCTION upcoming_not_expanded() IS
    'orders.upcoming_until of an order not expanded yet (1900-01-01): the upkeep writes it first.';
CREATE FUNCTION upcoming_all_written() RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '9999-01-01 00:00:00+00' $$;
COMMENT ON FUNCTION upcoming_all_written() IS
    'orders.upcoming_until of an order with no run left to write (9999-01-01), or paused.';

-- upcoming_not_expanded() (the default: orders made before this migration, or inserted by hand)
-- asks the upkeep to expand the order from its next run; upcoming_all_written(): nothing more
-- will be written.
ALTER TABLE orders ADD COLUMN upcoming_until timestamptz NOT NULL
    DEFAULT '1900-01-01 00:00:00+00';
COMMENT ON COLUMN orders.upcoming_until IS
    'upcoming_runs holds every run of this order before this instant (its first run not written '
    'yet): 1900-01-01 = not expanded yet (upcoming_not_expanded()), 9999-01-01 = no run left to '
    'write or paused (upcoming_all_written()). Bookkeeping of the expand_upcoming_runs task; not '
    'part of the audit trail.';
-- Its index (the upkeep's way in) is built without blocking writes to orders: see
-- 0063_upcoming_runs_index.concurrent.sql.

CREATE VIEW upcoming_runs_per_minute AS
SELECT minute, sum(runs)::bigint AS runs, count(*) AS orders
FROM upcoming_runs
WHERE minute >= date_trunc('minute', now())
GROUP BY minute;
COMMENT ON VIEW upcoming_runs_per_minute IS
    'Runs due per minute from the current minute to the end of the horizon '
    '(ORDERS_UPCOMING_HOURS), across all schedules; orders = how many orders run in that minute.';

-- The upkeep moves upcoming_until on many orders a minute: bookkeeping, like next_run_at, so
-- the audit trail leaves it out (0031's function with upcoming_until added to the list). Rows
-- whose only changes are bookkeeping are dropped first by one record comparison (their
-- bookkeeping columns set back to the old values, the row equals the old one): the per-column
-- jsonb diff is computed only for the rest, so a bookkeeping UPDATE of 1,000 orders costs ~3 ms
-- in this trigger instead of ~90 (same events as before: the filter only skips rows that
-- would have none).
CREATE OR REPLACE FUNCTION orders_audit_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, user_id, event_type, from_status, to_status, executions_count, job_id, actor, details)
    SELECT (r.n).order_id, (r.n).user_id,
           CASE WHEN (r.n).status IS DISTINCT FROM (r.o).status THEN 'status_changed'
                WHEN c.changed <> '{}' THEN 'updated' ELSE 'noted' END,
           (r.o).status, (r.n).status, (r.n).executions_count, (r.n).job_id, orders_audit_actor(),
           orders_audit_details()
           || CASE WHEN (r.n).status IS NOT DISTINCT FROM (r.o).status AND c.changed <> '{}'
                   THEN jsonb_build_object('changed', c.changed) ELSE '{}' END
    FROM (SELECT n, o FROM new_rows n JOIN old_rows o USING (order_id)
          WHERE n.status IS DISTINCT FROM o.status OR orders_audit_details() <> '{}'
             OR jsonb_populate_record(n, jsonb_build_object(
                    'updated_at', o.updated_at, 'job_id', o.job_id, 'next_run_at', o.next_run_at,
                    'last_run_at', o.last_run_at, 'last_error', o.last_error,
                    'executions_count', o.executions_count, 'upcoming_until', o.upcoming_until))
                IS DISTINCT FROM o
          OFFSET 0) r(n, o)
    CROSS JOIN LATERAL (
        SELECT coalesce(jsonb_object_agg(d.key, d.value), '{}') AS changed
        FROM jsonb_each(to_jsonb(r.n) - 'updated_at' - 'job_id' - 'next_run_at' - 'last_run_at'
                        - 'last_error' - 'executions_count' - 'upcoming_until') d
        WHERE (r.n).status IS NOT DISTINCT FROM (r.o).status
          AND d.value IS DISTINCT FROM to_jsonb(r.o) -> d.key) c
    WHERE (r.n).status IS DISTINCT FROM (r.o).status OR c.changed <> '{}'
       OR orders_audit_details() <> '{}'
    ORDER BY (r.n).order_id;
    RETURN NULL;
END;
$$;
