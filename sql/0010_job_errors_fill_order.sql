-- 0010: a failed attempt recorded without its order (by SQL, or by a worker of an older
-- release during a rolling upgrade) gets it from the job's arguments, so the order's history
-- keeps the error after its job row is gone. Written to work whether job_errors.order_id
-- exists yet or not (0030 adds it; on a fresh database this file runs first).

CREATE FUNCTION job_errors_fill_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(NEW) -> 'order_id' = 'null'::jsonb THEN
        NEW := jsonb_populate_record(NEW, jsonb_build_object('order_id',
            (SELECT (j.args ->> 'order_id')::bigint FROM procrastinate_jobs j
             WHERE j.id = NEW.job_id AND j.args ? 'order_id')));
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION job_errors_fill_order() IS
    'Fills job_errors.order_id, when not given, from the job''s order_id argument.';

CREATE TRIGGER job_errors_fill_order BEFORE INSERT ON job_errors
    FOR EACH ROW EXECUTE FUNCTION job_errors_fill_order();
