-- 0040: circuit breakers per downstream destination (webhook hosts, the SMTP server), shared by
-- every worker: after ORDERS_CIRCUIT_FAILURE_THRESHOLD consecutive failures a circuit opens, work
-- for it waits without attempts, one probe goes through after the cool-down, a success closes it.

CREATE TYPE circuit_state AS ENUM ('closed', 'open', 'half_open');
COMMENT ON TYPE circuit_state IS
    'closed: traffic flows; open: nothing is attempted until retry_at; half_open: one probe is '
    'in flight (until probe_until), its outcome closes or re-opens the circuit.';

CREATE TABLE circuits (
    kind                 text NOT NULL CHECK (kind IN ('webhook', 'smtp')),
    destination          text NOT NULL CHECK (destination <> ''),
    state                circuit_state NOT NULL DEFAULT 'closed',
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    opened_at            timestamptz,
    retry_at             timestamptz,
    hold_until           timestamptz,
    probe_until          timestamptz,
    last_error           text,
    last_failure_at      timestamptz,
    last_success_at      timestamptz,
    opens                bigint NOT NULL DEFAULT 0,
    half_opens           bigint NOT NULL DEFAULT 0,
    closes               bigint NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (kind, destination),
    CONSTRAINT circuits_open_has_times CHECK (
        state = 'closed' OR (opened_at IS NOT NULL AND retry_at IS NOT NULL AND hold_until IS NOT NULL)),
    CONSTRAINT circuits_half_open_has_probe CHECK (state <> 'half_open' OR probe_until IS NOT NULL)
);
CREATE INDEX circuits_not_closed_idx ON circuits (kind, retry_at) WHERE state <> 'closed';

COMMENT ON TABLE circuits IS
    'One row per destination that ever failed: webhook destinations (host:port) and the SMTP '
    'server. Shared by all workers; `orders circuits` shows it, `orders circuits reset HOST` closes one.';
COMMENT ON COLUMN circuits.kind IS 'webhook (a customer''s receiver) or smtp (the mail server).';
COMMENT ON COLUMN circuits.destination IS 'host:port the traffic goes to.';
COMMENT ON COLUMN circuits.state IS 'See type circuit_state.';
COMMENT ON COLUMN circuits.consecutive_failures IS 'Failures since the last success.';
COMMENT ON COLUMN circuits.opened_at IS 'When it last opened (or re-opened after a failed probe).';
COMMENT ON COLUMN circuits.retry_at IS 'When the probe may go (opened_at + ORDERS_CIRCUIT_COOLDOWN_SECONDS).';
COMMENT ON COLUMN circuits.hold_until IS 'Waiting webhook deliveries are not due before this while it is open.';
COMMENT ON COLUMN circuits.probe_until IS 'half_open: the probe''s lease; past it another probe may go.';
COMMENT ON COLUMN circuits.last_error IS 'Error of the latest failure.';
COMMENT ON COLUMN circuits.opens IS 'Times it opened (closed or half_open -> open); /metrics sums these.';
COMMENT ON COLUMN circuits.half_opens IS 'Probes sent (open -> half_open).';
COMMENT ON COLUMN circuits.closes IS 'Times it closed again after being open.';

-- Record one outcome. The healthy path (success on a closed circuit) reads one row and writes
-- nothing; otherwise the row is locked, updated, and a state change is returned (for the one
-- log line per change). Opening holds the destination's waiting webhook deliveries until
-- hold_until (so claims do not scan them); closing releases them at once.
CREATE FUNCTION circuit_record(
    p_kind text, p_destination text, p_ok boolean, p_error text, p_now timestamptz,
    p_threshold integer, p_cooldown_seconds double precision
) RETURNS TABLE (from_state circuit_state, to_state circuit_state, failures integer)
LANGUAGE plpgsql AS $$
DECLARE
    c circuits;
    prev circuit_state;
    opens_now boolean;
BEGIN
    SELECT * INTO c FROM circuits WHERE kind = p_kind AND destination = p_destination;
    IF p_ok AND (NOT FOUND OR (c.state = 'closed' AND c.consecutive_failures = 0)) THEN
        RETURN;
    END IF;
    INSERT INTO circuits (kind, destination, updated_at) VALUES (p_kind, p_destination, p_now)
    ON CONFLICT DO NOTHING;
    SELECT * INTO c FROM circuits WHERE kind = p_kind AND destination = p_destination FOR UPDATE;
    IF p_ok THEN
        UPDATE circuits
        SET state = 'closed', consecutive_failures = 0, last_success_at = p_now, opened_at = NULL,
            retry_at = NULL, hold_until = NULL, probe_until = NULL,
            closes = closes + (c.state <> 'closed')::int, updated_at = p_now
        WHERE kind = p_kind AND destination = p_destination;
        IF c.state <> 'closed' THEN
            IF p_kind = 'webhook' THEN
                UPDATE webhook_deliveries SET next_attempt_at = p_now
                WHERE destination = p_destination AND status = 'pending' AND next_attempt_at > p_now;
            END IF;
            RETURN QUERY SELECT c.state, 'closed'::circuit_state, 0;
        END IF;
        RETURN;
    END IF;
    prev := c.state;
    opens_now := c.state = 'half_open'
                 OR (c.state = 'closed' AND c.consecutive_failures + 1 >= p_threshold);
    UPDATE circuits
    SET consecutive_failures = consecutive_failures + 1, last_error = left(p_error, 2000),
        last_failure_at = p_now, updated_at = p_now,
        state = CASE WHEN opens_now THEN 'open'::circuit_state ELSE state END,
        opened_at = CASE WHEN opens_now THEN p_now ELSE opened_at END,
        retry_at = CASE WHEN opens_now THEN p_now + make_interval(secs => p_cooldown_seconds) ELSE retry_at END,
        hold_until = CASE WHEN opens_now THEN p_now + make_interval(secs => 2 * p_cooldown_seconds) ELSE hold_until END,
        probe_until = CASE WHEN opens_now THEN NULL ELSE probe_until END,
        opens = opens + opens_now::int
    WHERE kind = p_kind AND destination = p_destination
    RETURNING * INTO c;
    IF opens_now THEN
        IF p_kind = 'webhook' THEN
            UPDATE webhook_deliveries SET next_attempt_at = c.hold_until
            WHERE destination = p_destination AND status = 'pending' AND next_attempt_at < c.hold_until;
        END IF;
        RETURN QUERY SELECT prev, 'open'::circuit_state, c.consecutive_failures;
    END IF;
END;
$$;
COMMENT ON FUNCTION circuit_record(text, text, boolean, text, timestamptz, integer, double precision) IS
    'Record a success or failure for a destination; returns the state change, if any.';

-- Turn due open circuits (and half-open ones whose probe was lost) half-open for one probe.
CREATE FUNCTION circuit_take_probes(
    p_kind text, p_destination text, p_now timestamptz, p_lease_seconds double precision
) RETURNS TABLE (destination text, from_state circuit_state)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT c.kind, c.destination, c.state FROM circuits c
        WHERE c.kind = p_kind AND (p_destination IS NULL OR c.destination = p_destination)
          AND ((c.state = 'open' AND c.retry_at <= p_now)
               OR (c.state = 'half_open' AND c.probe_until <= p_now))
        FOR UPDATE SKIP LOCKED)
    UPDATE circuits c
    SET state = 'half_open', probe_until = p_now + make_interval(secs => p_lease_seconds),
        half_opens = c.half_opens + 1, updated_at = p_now
    FROM due
    WHERE c.kind = due.kind AND c.destination = due.destination
    RETURNING c.destination, due.state;
$$;
COMMENT ON FUNCTION circuit_take_probes(text, text, timestamptz, double precision) IS
    'Open circuits past retry_at become half_open for one probe each; returns those this caller probes.';

CREATE FUNCTION circuit_reset(p_destination text, p_now timestamptz)
RETURNS TABLE (kind text, destination text, from_state circuit_state)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH old AS (
        SELECT c.kind, c.destination, c.state FROM circuits c
        WHERE c.destination = p_destination OR split_part(c.destination, ':', 1) = p_destination
           OR c.kind = p_destination
        FOR UPDATE),
    released AS (
        UPDATE webhook_deliveries d SET next_attempt_at = p_now
        FROM old
        WHERE old.kind = 'webhook' AND d.destination = old.destination
          AND d.status = 'pending' AND d.next_attempt_at > p_now)
    UPDATE circuits c
    SET state = 'closed', consecutive_failures = 0, opened_at = NULL, retry_at = NULL,
        hold_until = NULL, probe_until = NULL, updated_at = p_now,
        closes = c.closes + (old.state <> 'closed')::int
    FROM old
    WHERE c.kind = old.kind AND c.destination = old.destination
    RETURNING c.kind, c.destination, old.state;
END;
$$;
COMMENT ON FUNCTION circuit_reset(text, timestamptz) IS
    'Operators: close the circuits of a destination (host:port, host alone, or a kind), releasing waiting deliveries.';

CREATE VIEW circuit_status AS
SELECT kind, destination, state, consecutive_failures, opened_at, retry_at, probe_until,
       last_error, last_failure_at, last_success_at, opens, closes, updated_at
FROM circuits;
COMMENT ON VIEW circuit_status IS
    'Circuit breakers and their state. state <> ''closed'' means nothing is sent to that '
    'destination until retry_at, then one probe. Close one by hand with `orders circuits reset HOST`.';
