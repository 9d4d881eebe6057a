-- 0068: webhook_emit joins its CTEs (candidates, endpoints, sequences, events) on estimates of a
-- row or so: the candidates come from jsonb, and one endpoint in the statistics makes the
-- planner expect one match. With thousands of candidates the nested loops it picked were
-- quadratic (bench.webhooks: cancelling 5,000 orders with an endpoint took 4.6 s, 25x the same
-- UPDATE without one; 50 million rows compared). Hash joins are right at any size here, so
-- the function plans without nested loops; the endpoints are still found by index (LATERAL).

CREATE OR REPLACE FUNCTION webhook_emit(candidates jsonb) RETURNS integer LANGUAGE plpgsql
-- hash joins between the CTEs: see above
SET enable_nestloop = off AS $$
DECLARE
    written integer;
BEGIN
    IF candidates IS NULL THEN
        RETURN 0;
    END IF;
    WITH c AS (
        SELECT * FROM jsonb_to_recordset(candidates)
            AS x(user_id bigint, order_id bigint, event_type text, source text, ord bigint, data jsonb)),
    m AS (  -- LATERAL: each owner's endpoints by index, whatever the joins below do
        SELECT c.*, e.endpoint_id, e.destination
        FROM c CROSS JOIN LATERAL (
            SELECT e.endpoint_id, e.destination FROM webhook_endpoints e
            WHERE e.user_id = c.user_id AND e.active AND c.event_type = ANY (e.events)) e),
    wanted AS (
        SELECT DISTINCT ON (source) user_id, order_id, event_type, source, ord, data
        FROM m ORDER BY source),
    counts AS (SELECT order_id, count(*) AS n FROM wanted GROUP BY order_id),
    bumped AS (
        INSERT INTO webhook_sequences AS s (order_id, last_sequence)
        SELECT order_id, n FROM counts ORDER BY order_id
        ON CONFLICT (order_id) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence
        RETURNING order_id, last_sequence),
    numbered AS (
        SELECT w.*, b.last_sequence - k.n
                    + row_number() OVER (PARTITION BY w.order_id ORDER BY w.ord) AS sequence
        FROM wanted w JOIN bumped b USING (order_id) JOIN counts k USING (order_id)),
    events AS (
        INSERT INTO webhook_events (user_id, order_id, event_type, sequence, source, data)
        SELECT user_id, order_id, event_type, sequence, source, data
        FROM numbered ORDER BY order_id, sequence
        RETURNING event_id, source)
    INSERT INTO webhook_deliveries (event_id, endpoint_id, destination, next_attempt_at)
    SELECT ev.event_id, m.endpoint_id, m.destination,
           CASE WHEN ci.state <> 'closed' THEN greatest(now(), ci.hold_until) ELSE now() END
    FROM events ev
    JOIN m USING (source)
    LEFT JOIN circuits ci ON ci.kind = 'webhook' AND ci.destination = m.destination;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written > 0 THEN
        PERFORM webhook_wake();
    END IF;
    RETURN written;
END;
$$;
COMMENT ON FUNCTION webhook_emit(jsonb) IS 'Write webhook events and deliveries for candidate events (see the triggers).';
