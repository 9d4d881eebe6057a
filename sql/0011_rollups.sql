-- 0011: metrics and dashboard figures from rollups, so reading them costs the same at any
-- history size, and counters never go backwards when history is pruned.
--
-- Statement-level triggers (with transition tables: one trigger run per statement, however
-- many rows it wrote) append what each statement changed to rollup_deltas. Nothing is updated
-- in place on the write path: no hot counter row serialises the workers, and no lock is held
-- that another writer could wait for. rollup_fold() moves the deltas into rollup_totals (all
-- time) and rollup_minutes (per minute); readers add the few deltas not folded yet
-- (views rollup_current and rollup_per_minute), in one statement, so a concurrent fold is
-- never seen half done.

CREATE TABLE rollup_deltas (
    series text NOT NULL,
    label  text NOT NULL DEFAULT '',
    minute timestamptz,
    n      bigint NOT NULL,
    total  float8 NOT NULL DEFAULT 0,
    peak   float8
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
COMMENT ON TABLE rollup_deltas IS
    'What each statement added to or removed from a rollup series, appended by triggers and '
    'moved into rollup_totals / rollup_minutes by rollup_fold() within seconds.';

CREATE TABLE rollup_totals (
    series text NOT NULL,
    label  text NOT NULL,
    n      bigint NOT NULL,
    total  float8 NOT NULL DEFAULT 0,
    peak   float8,
    PRIMARY KEY (series, label)
);
COMMENT ON TABLE rollup_totals IS
    'All-time rollups (read them through the rollup_current view). Series: orders (label = '
    'status; a gauge), outbox (kind/status; a gauge), job_failed_attempts, stuck_recoveries, '
    'emails_sent, emails_failed, runs (label = outcome) (counters: never decremented), '
    'run_duration and run_lateness (label = histogram bucket upper bound in seconds, '
    'n = runs in it, total = their sum, peak = the largest).';
COMMENT ON COLUMN rollup_totals.n IS 'Count (gauges: current number; counters: total so far).';
COMMENT ON COLUMN rollup_totals.total IS 'Sum of the observed values (histograms).';
COMMENT ON COLUMN rollup_totals.peak IS 'Largest observed value (histograms).';

CREATE TABLE rollup_minutes (
    minute timestamptz NOT NULL,
    series text NOT NULL,
    label  text NOT NULL,
    n      bigint NOT NULL,
    total  float8 NOT NULL DEFAULT 0,
    peak   float8,
    PRIMARY KEY (minute, series, label)
);
COMMENT ON TABLE rollup_minutes IS
    'Per-minute rollups of runs (series runs: label = outcome; run_lateness: label = bucket) '
    'for the dashboard''s chart and lateness percentiles; kept 7 days (prune_history).';

CREATE FUNCTION rollup_bounds() RETURNS float8[] LANGUAGE sql IMMUTABLE AS $$
    SELECT '{0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,300}'::float8[]
$$;
COMMENT ON FUNCTION rollup_bounds() IS 'Histogram bucket upper bounds in seconds (= orders.metrics.BUCKETS).';

CREATE FUNCTION rollup_bucket(x float8) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((SELECT b::text FROM unnest(rollup_bounds()) AS b WHERE x <= b ORDER BY b LIMIT 1),
                    '+Inf')
$$;
COMMENT ON FUNCTION rollup_bucket(float8) IS 'The histogram bucket (its upper bound, Prometheus "le") of a value.';

CREATE FUNCTION rollup_orders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_deltas (series, label, n)
        SELECT 'orders', status::text, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_deltas (series, label, n)
        SELECT 'orders', status::text, -count(*) FROM old_rows GROUP BY status;
    ELSE
        INSERT INTO rollup_deltas (series, label, n)
        SELECT 'orders', status::text, sum(d)
        FROM (SELECT status, 1 AS d FROM new_rows UNION ALL SELECT status, -1 FROM old_rows) x
        GROUP BY status
        HAVING sum(d) <> 0;
        -- recover_stuck_orders re-points each order it rescues with this reason set.
        IF current_setting('orders.reason', true) LIKE 'stuck-order recovery%' THEN
            INSERT INTO rollup_deltas (series, label, n)
            SELECT 'stuck_recoveries', '', count(*) FROM new_rows HAVING count(*) > 0;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION rollup_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- sent and failed are final: a row becomes one once, and is counted then (never uncounted).
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_deltas (series, label, n)
        SELECT 'outbox', kind || '/' || status, count(*) FROM new_rows GROUP BY kind, status
        UNION ALL
        SELECT 'emails_' || status, '', count(*) FROM new_rows
        WHERE status IN ('sent', 'failed') GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN  -- pruning: the gauge drops, the counters stay
        INSERT INTO rollup_deltas (series, label, n)
        SELECT 'outbox', kind || '/' || status, -count(*) FROM old_rows GROUP BY kind, status;
    ELSE
        INSERT INTO rollup_deltas (series, label, n)
        SELECT 'outbox', label, sum(d)
        FROM (SELECT kind || '/' || status AS label, 1 AS d FROM new_rows
              UNION ALL SELECT kind || '/' || status, -1 FROM old_rows) x
        GROUP BY label
        HAVING sum(d) <> 0
        UNION ALL
        SELECT 'emails_' || n.status, '', count(*)
        FROM new_rows n JOIN old_rows o USING (outbox_id)
        WHERE n.status IN ('sent', 'failed') AND o.status <> n.status
        GROUP BY n.status;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION rollup_job_errors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_deltas (series, label, n)
    SELECT 'job_failed_attempts', '', count(*) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION rollup_executions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_deltas (series, label, minute, n, total, peak)
    SELECT v.series, v.label, v.minute, count(*), sum(v.x), max(v.x)
    FROM (SELECT outcome::text AS outcome, date_trunc('minute', finished_at) AS minute,
                 extract(epoch FROM finished_at - started_at)::float8 AS duration,
                 greatest(extract(epoch FROM started_at - scheduled_for)::float8, 0) AS lateness
          FROM new_rows) r
    CROSS JOIN LATERAL (VALUES
        ('runs', r.outcome, r.minute, 0::float8),
        ('run_duration', rollup_bucket(r.duration), NULL::timestamptz, r.duration),
        ('run_lateness', rollup_bucket(r.lateness), r.minute, r.lateness)
    ) AS v(series, label, minute, x)
    GROUP BY v.series, v.label, v.minute;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION rollup_orders() IS 'Rollup trigger: orders per status; stuck-order recoveries.';
COMMENT ON FUNCTION rollup_outbox() IS 'Rollup trigger: mail per kind and status; mail sent and given up.';
COMMENT ON FUNCTION rollup_job_errors() IS 'Rollup trigger: failed job attempts.';
COMMENT ON FUNCTION rollup_executions() IS 'Rollup trigger: runs per outcome, duration and lateness histograms.';

-- Take every lock first, in one statement, so this migration waits (lock_timeout, retried)
-- rather than deadlocks with the application; writes to these tables wait until it commits.
LOCK TABLE orders, outbox, job_errors, order_executions IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER rollup_orders_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_orders();
CREATE TRIGGER rollup_orders_updated AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_orders();
CREATE TRIGGER rollup_orders_deleted AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_orders();

CREATE TRIGGER rollup_outbox_inserted AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_outbox();
CREATE TRIGGER rollup_outbox_updated AFTER UPDATE ON outbox
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_outbox();
CREATE TRIGGER rollup_outbox_deleted AFTER DELETE ON outbox
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_outbox();

CREATE TRIGGER rollup_job_errors_inserted AFTER INSERT ON job_errors
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_job_errors();
CREATE TRIGGER rollup_executions_inserted AFTER INSERT ON order_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_executions();

-- Gauges start from what the tables hold now. Counters and histograms whose history would
-- take a scan of order_events / order_executions start at zero instead (Prometheus reads it
-- as one counter reset): this migration never scans the big history tables.
INSERT INTO rollup_totals (series, label, n)
SELECT 'orders', status::text, count(*) FROM orders GROUP BY status
UNION ALL
SELECT 'outbox', kind || '/' || status, count(*) FROM outbox GROUP BY kind, status
UNION ALL
SELECT 'emails_' || status, '', count(*) FROM outbox WHERE status IN ('sent', 'failed') GROUP BY status
UNION ALL
SELECT 'job_failed_attempts', '', count(*) FROM job_errors;

CREATE VIEW rollup_current AS
SELECT series, label, sum(n)::bigint AS n, sum(total) AS total, max(peak) AS peak
FROM (SELECT series, label, n, total, peak FROM rollup_totals
      UNION ALL
      SELECT series, label, n, total, peak FROM rollup_deltas) x
GROUP BY series, label;
COMMENT ON VIEW rollup_current IS
    'Every rollup series as of now (folded totals + deltas not folded yet): orders per status, '
    'mail, failed attempts, recoveries, runs, duration and lateness histograms.';

CREATE VIEW rollup_per_minute AS
SELECT minute, series, label, sum(n)::bigint AS n, sum(total) AS total, max(peak) AS peak
FROM (SELECT minute, series, label, n, total, peak FROM rollup_minutes
      UNION ALL
      SELECT minute, series, label, n, total, peak FROM rollup_deltas WHERE minute IS NOT NULL) x
GROUP BY minute, series, label;
COMMENT ON VIEW rollup_per_minute IS
    'Runs per minute (series runs, label = outcome) and their lateness histogram '
    '(series run_lateness). Query with WHERE minute >= ...';

CREATE FUNCTION rollup_fold() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
BEGIN
    -- One folder at a time (a second one returns at once); on a replica, nothing to do: the
    -- primary folds, and the views read what is not folded yet.
    IF pg_is_in_recovery() OR NOT pg_try_advisory_xact_lock(233200131) THEN
        RETURN 0;
    END IF;
    WITH d AS (DELETE FROM rollup_deltas RETURNING series, label, minute, n, total, peak),
    totals AS (
        INSERT INTO rollup_totals AS r (series, label, n, total, peak)
        SELECT series, label, sum(n), sum(total), max(peak) FROM d GROUP BY series, label
        ON CONFLICT (series, label) DO UPDATE
        SET n = r.n + excluded.n, total = r.total + excluded.total,
            peak = greatest(r.peak, excluded.peak)),
    minutes AS (
        INSERT INTO rollup_minutes AS r (minute, series, label, n, total, peak)
        SELECT minute, series, label, sum(n), sum(total), max(peak) FROM d
        WHERE minute IS NOT NULL GROUP BY minute, series, label
        ON CONFLICT (minute, series, label) DO UPDATE
        SET n = r.n + excluded.n, total = r.total + excluded.total,
            peak = greatest(r.peak, excluded.peak))
    SELECT count(*) INTO folded FROM d;
    RETURN folded;
END;
$$;
COMMENT ON FUNCTION rollup_fold() IS
    'Move rollup_deltas into rollup_totals and rollup_minutes (one caller at a time; others '
    'return 0 at once; so does a replica). Called by readers and every 10 s by the fold_rollups task.';
