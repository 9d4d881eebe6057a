-- 0041: webhooks: customers' endpoints; events written by triggers in the transaction of the
-- change that causes them (API, worker or SQL by hand); one delivery per endpoint; every attempt.

CREATE TABLE webhook_endpoints (
    endpoint_id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                    bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    url                        text NOT NULL CHECK (length(url) BETWEEN 10 AND 2000
                                                    AND url ~ '^https?://' AND url !~ '[[:space:][:cntrl:]]'),
    destination                text NOT NULL CHECK (destination <> ''),
    events                     text[] NOT NULL CHECK (
        cardinality(events) >= 1
        AND events <@ ARRAY['order.run_succeeded', 'order.failed', 'order.completed',
                            'order.cancelled', 'provider.answered']),
    description                text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    secret                     text NOT NULL CHECK (length(secret) >= 32),
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    active                     boolean NOT NULL DEFAULT true,
    deleted_at                 timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_previous_secret_expires CHECK (
        (previous_secret IS NULL) = (previous_secret_expires_at IS NULL)),
    CONSTRAINT webhook_endpoints_deleted_is_inactive CHECK (deleted_at IS NULL OR NOT active)
);
-- The event triggers probe this for the order's owner: no endpoint, (almost) no cost.
CREATE INDEX webhook_endpoints_user_active_idx ON webhook_endpoints (user_id) WHERE active;
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, endpoint_id)
    WHERE deleted_at IS NULL;

COMMENT ON TABLE webhook_endpoints IS
    'Customers'' webhook receivers: each gets a signed POST for every event it subscribed to.';
COMMENT ON COLUMN webhook_endpoints.url IS 'http(s) URL; refused if it resolves to a private address (see ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS).';
COMMENT ON COLUMN webhook_endpoints.destination IS 'host:port of url: the circuit breaker''s key.';
COMMENT ON COLUMN webhook_endpoints.events IS 'Event types it receives (order.run_succeeded, order.failed, order.completed, order.cancelled, provider.answered).';
COMMENT ON COLUMN webhook_endpoints.secret IS 'HMAC-SHA256 signing secret (not readable by orders_readonly).';
COMMENT ON COLUMN webhook_endpoints.previous_secret IS 'The secret before the last rotation: still signs until previous_secret_expires_at.';
COMMENT ON COLUMN webhook_endpoints.active IS 'false: no new events (deleted, or paused by its owner).';
COMMENT ON COLUMN webhook_endpoints.deleted_at IS 'Deleted by its owner; kept for the delivery record.';

CREATE TABLE webhook_sequences (
    order_id      bigint PRIMARY KEY,
    last_sequence bigint NOT NULL CHECK (last_sequence >= 1)
);
COMMENT ON TABLE webhook_sequences IS
    'Per order, the last webhook event sequence number given (events are delivered unordered; '
    'receivers order them by sequence). No FK: it outlives the order.';

CREATE TABLE webhook_events (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    user_id         bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    order_id        bigint,
    event_type      text NOT NULL CHECK (event_type IN (
        'order.run_succeeded', 'order.failed', 'order.completed', 'order.cancelled',
        'provider.answered', 'ping')),
    sequence        bigint CHECK (sequence >= 1),
    source          text NOT NULL,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_events_ping_has_no_order CHECK ((order_id IS NULL) = (event_type = 'ping')),
    CONSTRAINT webhook_events_order_has_sequence CHECK ((order_id IS NULL) = (sequence IS NULL))
);
CREATE UNIQUE INDEX webhook_events_order_sequence_key ON webhook_events (order_id, sequence);

COMMENT ON TABLE webhook_events IS
    'What happened, once per change, written by triggers in the transaction of the change '
    '(only when the owner has an endpoint that wants it). No FK to orders: it outlives the order.';
COMMENT ON COLUMN webhook_events.idempotency_key IS 'Sent as Idempotency-Key and as the body''s id on every attempt to every endpoint.';
COMMENT ON COLUMN webhook_events.sequence IS 'Per order 1, 2, 3...: receivers order events by it (gaps: events of types they did not subscribe to).';
COMMENT ON COLUMN webhook_events.source IS 'The row that caused it: order_events:ID, order_executions:ID, provider_requests:ID or ping.';
COMMENT ON COLUMN webhook_events.data IS 'The event''s data object as posted.';

CREATE TYPE webhook_delivery_status AS ENUM ('pending', 'delivering', 'delivered', 'failed', 'cancelled');
COMMENT ON TYPE webhook_delivery_status IS
    'pending: waits for (another) attempt at next_attempt_at; delivering: a worker posts it (its '
    'lease ends at next_attempt_at, then it is retried); delivered: a 2xx answer; failed: out of '
    'attempts (last answer kept); cancelled: its endpoint was deleted first.';

CREATE TABLE webhook_deliveries (
    delivery_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         bigint NOT NULL REFERENCES webhook_events (event_id) ON DELETE CASCADE,
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    destination      text NOT NULL,
    status           webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    last_response    text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_one_per_endpoint UNIQUE (event_id, endpoint_id),
    CONSTRAINT webhook_deliveries_delivered_has_time CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_attempted CHECK (status IN ('pending', 'cancelled') OR attempts >= 1)
);
-- Claims walk this index only; finished deliveries never enter it.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, delivery_id)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_destination_idx ON webhook_deliveries (destination, next_attempt_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, delivery_id);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_failed_idx ON webhook_deliveries (delivery_id) WHERE status = 'failed';

COMMENT ON TABLE webhook_deliveries IS
    'One event to one endpoint: at least once, unordered, retried with exponential backoff and jitter.';
COMMENT ON COLUMN webhook_deliveries.destination IS 'host:port of the endpoint (its circuit).';
COMMENT ON COLUMN webhook_deliveries.attempts IS 'Attempts made, the one in flight included.';
COMMENT ON COLUMN webhook_deliveries.next_attempt_at IS 'pending: due time (held while its circuit is open); delivering: lease end.';
COMMENT ON COLUMN webhook_deliveries.last_status_code IS 'HTTP status of the latest answer (NULL: no answer, see last_error).';
COMMENT ON COLUMN webhook_deliveries.last_response IS 'Start of the latest answer''s body (kept on failure).';

CREATE TABLE webhook_attempts (
    attempt_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    url              text NOT NULL,
    status_code      integer,
    duration_ms      integer CHECK (duration_ms >= 0),
    response_excerpt text,
    error            text,
    worker           text NOT NULL,
    started_at       timestamptz NOT NULL,
    CONSTRAINT webhook_attempts_has_outcome CHECK (status_code IS NOT NULL OR error IS NOT NULL)
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt_id);
CREATE INDEX webhook_attempts_started_at_idx ON webhook_attempts (started_at);

COMMENT ON TABLE webhook_attempts IS
    'The effect record: every POST of every delivery (a lost worker''s attempt is recorded when its lease is taken over).';
COMMENT ON COLUMN webhook_attempts.attempt IS 'Attempt number of the delivery (1 = first).';
COMMENT ON COLUMN webhook_attempts.url IS 'Where it was posted.';
COMMENT ON COLUMN webhook_attempts.status_code IS 'HTTP status answered; NULL when there was no answer.';
COMMENT ON COLUMN webhook_attempts.duration_ms IS 'From connecting to the end of the answer (or the error).';
COMMENT ON COLUMN webhook_attempts.response_excerpt IS 'First bytes of the answer''s body.';
COMMENT ON COLUMN webhook_attempts.error IS 'Why it failed: timeout, refused address, redirect, non-2xx...';
COMMENT ON COLUMN webhook_attempts.worker IS 'Worker that made it.';

-- Secrets are not for dashboards.
REVOKE SELECT ON webhook_endpoints FROM orders_readonly;
GRANT SELECT (endpoint_id, user_id, url, destination, events, description,
              previous_secret_expires_at, active, deleted_at, created_at, updated_at)
    ON webhook_endpoints TO orders_readonly;


-- Wake the deliverers: one waiting deliver_webhooks job is enough. Only the transaction that
-- holds this advisory lock inserts it, so concurrent runs never wait on each other's
-- uncommitted job (a plain queueing-lock conflict would make them wait). A wake-up lost in a
-- race is made up by the periodic sweep (ORDERS_WEBHOOK_SWEEP_CRON).
CREATE FUNCTION webhook_wake() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF pg_try_advisory_xact_lock(233115713)
       AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs
                       WHERE queueing_lock = 'webhooks:wake' AND status = 'todo') THEN
        INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, args)
        VALUES ('webhooks', 'deliver_webhooks', 'webhooks:wake', '{}')
        ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING;
    END IF;
END;
$$;
COMMENT ON FUNCTION webhook_wake() IS 'Defer one deliver_webhooks job unless one is already waiting.';

-- candidates: [{user_id, order_id, event_type, source, ord, data}]. Keeps those an active
-- endpoint of the owner wants, numbers them per order, writes one event each and one delivery
-- per endpoint (held if the destination's circuit is open), and wakes the deliverers. Set-based.
CREATE FUNCTION webhook_emit(candidates jsonb) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    IF candidates IS NULL THEN
        RETURN 0;
    END IF;
    WITH c AS (
        SELECT * FROM jsonb_to_recordset(candidates)
            AS x(user_id bigint, order_id bigint, event_type text, source text, ord bigint, data jsonb)),
    m AS (
        SELECT c.*, e.endpoint_id, e.destination
        FROM c JOIN webhook_endpoints e
          ON e.user_id = c.user_id AND e.active AND c.event_type = ANY (e.events)),
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

-- order.failed / order.completed / order.cancelled: from the audit trail, so every status
-- change is covered, whoever makes it. The audit trigger inserts its rows one per statement,
-- so this is a row trigger whose WHEN (evaluated without calling any function) lets only
-- changes to those three statuses through: a run's other changes cost nothing here.
CREATE FUNCTION webhook_from_order_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.user_id AND e.active) THEN
        PERFORM webhook_emit((
            SELECT jsonb_build_array(jsonb_build_object(
                'user_id', NEW.user_id, 'order_id', NEW.order_id,
                'event_type', 'order.' || NEW.to_status,
                'source', 'order_events:' || NEW.event_id, 'ord', NEW.event_id,
                'data', jsonb_build_object(
                    'order_id', NEW.order_id, 'order_name', o.order_name, 'status', NEW.to_status,
                    'previous_status', NEW.from_status, 'executions_count', NEW.executions_count,
                    'error', CASE WHEN NEW.to_status = 'failed' THEN o.last_error END,
                    'reason', NEW.details ->> 'reason', 'actor', NEW.actor,
                    'occurred_at', NEW.occurred_at)))
            FROM (SELECT NULL) AS one
            LEFT JOIN orders o ON o.order_id = NEW.order_id));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER order_events_webhooks AFTER INSERT ON order_events
    FOR EACH ROW
    WHEN (NEW.event_type = 'status_changed' AND NEW.to_status IN ('failed', 'completed', 'cancelled'))
    EXECUTE FUNCTION webhook_from_order_events();

-- order.run_succeeded: from the run's own record. Statement-level: a batch of runs inserted by
-- one statement is one call, set-based.
CREATE FUNCTION webhook_from_executions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit((
        SELECT jsonb_agg(jsonb_build_object(
            'user_id', o.user_id, 'order_id', r.order_id, 'event_type', 'order.run_succeeded',
            'source', 'order_executions:' || r.execution_id, 'ord', r.execution_id,
            'data', jsonb_build_object(
                'order_id', r.order_id, 'order_name', o.order_name, 'run_number', r.run_number,
                'scheduled_for', r.scheduled_for, 'started_at', r.started_at,
                'finished_at', r.finished_at, 'attempts', r.attempts)))
        FROM new_runs r
        JOIN orders o ON o.order_id = r.order_id
        WHERE r.outcome = 'succeeded'
          AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = o.user_id AND e.active)));
    RETURN NULL;
END;
$$;
CREATE TRIGGER order_executions_webhooks AFTER INSERT ON order_executions
    REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_from_executions();

-- provider.answered: a request leaves 'pending'.
CREATE FUNCTION webhook_from_provider_answers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit((
        SELECT jsonb_agg(jsonb_build_object(
            'user_id', n.user_id, 'order_id', n.order_id, 'event_type', 'provider.answered',
            'source', 'provider_requests:' || n.request_id, 'ord', n.request_id,
            'data', jsonb_build_object(
                'order_id', n.order_id, 'request_id', n.request_id, 'run_number', n.run_number,
                'provider_id', n.provider_id, 'provider_name', p.name, 'status', n.status,
                'response_message', n.response_message, 'responded_at', n.responded_at)))
        FROM new_requests n
        JOIN old_requests o ON o.request_id = n.request_id
        JOIN providers p ON p.provider_id = n.provider_id
        WHERE o.status = 'pending' AND n.status <> 'pending'
          AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = n.user_id AND e.active)));
    RETURN NULL;
END;
$$;
CREATE TRIGGER provider_requests_webhooks AFTER UPDATE ON provider_requests
    REFERENCING OLD TABLE AS old_requests NEW TABLE AS new_requests
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_from_provider_answers();


CREATE VIEW webhook_delivery_log AS
SELECT a.attempt_id, a.started_at, u.email, d.endpoint_id, a.url, a.delivery_id,
       ev.event_type, ev.order_id, ev.sequence, ev.idempotency_key, a.attempt, a.status_code,
       a.duration_ms, a.error, a.response_excerpt, a.worker, d.status AS delivery_status
FROM webhook_attempts a
JOIN webhook_deliveries d USING (delivery_id)
JOIN webhook_events ev ON ev.event_id = d.event_id
JOIN users u ON u.user_id = ev.user_id;
COMMENT ON VIEW webhook_delivery_log IS
    'Every webhook POST: who, where, which event (and its Idempotency-Key), the answer, how long '
    'it took, the error. Query with WHERE started_at > now() - interval ''1 hour''.';

CREATE VIEW webhook_problems AS
SELECT d.delivery_id, u.email, w.url, d.destination, ev.event_type, ev.order_id, d.status,
       d.attempts, d.last_status_code, d.last_error, d.next_attempt_at,
       coalesce(c.state, 'closed') AS circuit_state, d.created_at
FROM webhook_deliveries d
JOIN webhook_endpoints w USING (endpoint_id)
JOIN webhook_events ev ON ev.event_id = d.event_id
JOIN users u ON u.user_id = w.user_id
LEFT JOIN circuits c ON c.kind = 'webhook' AND c.destination = d.destination
WHERE d.status = 'failed' OR (d.status = 'pending' AND d.attempts > 0);
COMMENT ON VIEW webhook_problems IS
    'Deliveries that failed for good or wait for a retry after a failed attempt, with their '
    'circuit. Redeliver one with `orders webhooks redeliver ID`.';
