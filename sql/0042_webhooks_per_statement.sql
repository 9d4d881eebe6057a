-- 0042: order.failed / order.completed / order.cancelled webhooks are written once per audit
-- statement, set-based, now that the audit trail is written a statement at a time (0031): a
-- batch of runs completing hundreds of orders makes one webhook_emit call, not one per order.

DROP TRIGGER order_events_webhooks ON order_events;

CREATE OR REPLACE FUNCTION webhook_from_order_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit((
        SELECT jsonb_agg(jsonb_build_object(
            'user_id', ev.user_id, 'order_id', ev.order_id,
            'event_type', 'order.' || ev.to_status,
            'source', 'order_events:' || ev.event_id, 'ord', ev.event_id,
            'data', jsonb_build_object(
                'order_id', ev.order_id, 'order_name', o.order_name, 'status', ev.to_status,
                'previous_status', ev.from_status, 'executions_count', ev.executions_count,
                'error', CASE WHEN ev.to_status = 'failed' THEN o.last_error END,
                'reason', ev.details ->> 'reason', 'actor', ev.actor,
                'occurred_at', ev.occurred_at)) ORDER BY ev.event_id)
        FROM new_events ev
        LEFT JOIN orders o ON o.order_id = ev.order_id
        WHERE ev.event_type = 'status_changed'
          AND ev.to_status IN ('failed', 'completed', 'cancelled')
          AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = ev.user_id AND e.active)));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION webhook_from_order_events() IS
    'Webhook events for the orders a statement failed, completed or cancelled (order_events rows).';

CREATE TRIGGER order_events_webhooks AFTER INSERT ON order_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_from_order_events();
