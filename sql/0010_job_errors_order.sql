-- 0010: every failed attempt of an order's job names its order, so the order's error history
-- outlives the job row (finished jobs are pruned, or deleted by the run that finishes them).

ALTER TABLE job_errors ADD COLUMN order_id bigint;
COMMENT ON COLUMN job_errors.order_id IS
    'The order the failed job was running (from the job''s order_id argument; NULL for other '
    'tasks). Set on insert, so old and new workers alike fill it.';

CREATE FUNCTION job_errors_set_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.order_id IS NULL THEN
        SELECT (j.args ->> 'order_id')::bigint INTO NEW.order_id
        FROM procrastinate_jobs j
        WHERE j.id = NEW.job_id AND j.args ? 'order_id';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION job_errors_set_order() IS 'Fills job_errors.order_id from the job''s arguments.';

CREATE TRIGGER job_errors_set_order BEFORE INSERT ON job_errors
    FOR EACH ROW EXECUTE FUNCTION job_errors_set_order();

-- Errors recorded before this migration, for the jobs not pruned yet.
UPDATE job_errors e
SET order_id = (j.args ->> 'order_id')::bigint
FROM procrastinate_jobs j
WHERE j.id = e.job_id AND j.args ? 'order_id';
