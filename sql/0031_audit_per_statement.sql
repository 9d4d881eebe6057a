-- 0031: the audit trail is written once per statement, from the statement's transition tables,
-- instead of once per row: a batch of runs (hundreds of orders per UPDATE) inserts its audit
-- rows with one INSERT, and triggers on order_events (webhooks) then see them all at once.
-- What is recorded does not change (see 0002): same events, same actor, reason and details.

DROP TRIGGER orders_audit ON orders;
DROP FUNCTION orders_audit();

CREATE FUNCTION orders_audit_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('orders.actor', true), ''), 'db:' || session_user)
$$;
CREATE FUNCTION orders_audit_details() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN nullif(current_setting('orders.reason', true), '') IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('reason', current_setting('orders.reason', true)) END
$$;
COMMENT ON FUNCTION orders_audit_actor() IS 'Who the audit trail names: orders.actor as set by the app, else db:<role>.';
COMMENT ON FUNCTION orders_audit_details() IS 'orders.reason as set by the app, as audit details.';

CREATE FUNCTION orders_audit_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, user_id, event_type, to_status, executions_count, job_id, actor, details)
    SELECT n.order_id, n.user_id, 'created', n.status, n.executions_count, n.job_id,
           orders_audit_actor(), orders_audit_details()
    FROM new_rows n ORDER BY n.order_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION orders_audit_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, user_id, event_type, from_status, executions_count, job_id, actor, details)
    SELECT o.order_id, o.user_id, 'deleted', o.status, o.executions_count, o.job_id,
           orders_audit_actor(), orders_audit_details()
    FROM old_rows o ORDER BY o.order_id;
    RETURN NULL;
END;
$$;

-- A status change is status_changed; otherwise a change of what the customer defines is
-- updated (the fields in details.changed), and a reason alone is noted. Bookkeeping columns
-- (job, next run, last run, error, count, updated_at) are not definition changes.
CREATE FUNCTION orders_audit_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_events (order_id, user_id, event_type, from_status, to_status, executions_count, job_id, actor, details)
    SELECT n.order_id, n.user_id,
           CASE WHEN n.status IS DISTINCT FROM o.status THEN 'status_changed'
                WHEN c.changed <> '{}' THEN 'updated' ELSE 'noted' END,
           o.status, n.status, n.executions_count, n.job_id, orders_audit_actor(),
           orders_audit_details()
           || CASE WHEN n.status IS NOT DISTINCT FROM o.status AND c.changed <> '{}'
                   THEN jsonb_build_object('changed', c.changed) ELSE '{}' END
    FROM new_rows n
    JOIN old_rows o USING (order_id)
    CROSS JOIN LATERAL (
        SELECT coalesce(jsonb_object_agg(d.key, d.value), '{}') AS changed
        FROM jsonb_each(to_jsonb(n) - 'updated_at' - 'job_id' - 'next_run_at' - 'last_run_at'
                        - 'last_error' - 'executions_count') d
        WHERE n.status IS NOT DISTINCT FROM o.status
          AND d.value IS DISTINCT FROM to_jsonb(o) -> d.key) c
    WHERE n.status IS DISTINCT FROM o.status OR c.changed <> '{}'
       OR orders_audit_details() <> '{}'
    ORDER BY n.order_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_audit_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION orders_audit_inserted();
CREATE TRIGGER orders_audit_updated AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION orders_audit_updated();
CREATE TRIGGER orders_audit_deleted AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION orders_audit_deleted();

COMMENT ON FUNCTION orders_audit_inserted() IS 'Writes order_events (created) for every order inserted by a statement.';
COMMENT ON FUNCTION orders_audit_updated() IS 'Writes order_events (status_changed, updated, noted) for every order a statement changed.';
COMMENT ON FUNCTION orders_audit_deleted() IS 'Writes order_events (deleted) for every order deleted by a statement.';
COMMENT ON TABLE order_events IS
    'Audit trail of orders, written by the orders_audit_* triggers (once per statement) for every '
    'insert, status change, definition change and delete, whoever made it (API, worker, or SQL by '
    'hand). No FK: it outlives the order.';
