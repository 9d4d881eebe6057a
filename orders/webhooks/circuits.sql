-- name: circuit_record
-- One outcome for a destination; a row comes back only when its circuit changed state.
SELECT from_state::text AS from_state, to_state::text AS to_state, failures
FROM circuit_record(%(kind)s, %(destination)s, %(ok)s, %(error)s, %(now)s, %(threshold)s,
                    %(cooldown)s);

-- name: circuit_take_probes
-- Open circuits whose cool-down ended become half-open; this caller sends their one probe.
SELECT destination, from_state::text AS from_state
FROM circuit_take_probes(%(kind)s, %(destination)s, %(now)s, %(lease)s);

-- name: circuit_get
-- The state of one destination's circuit (no row: closed, never failed).
SELECT state::text AS state, retry_at, probe_until
FROM circuits
WHERE kind = %(kind)s AND destination = %(destination)s;

-- name: circuit_list
-- Every circuit, open ones first.
SELECT kind, destination, state::text AS state, consecutive_failures, opened_at, retry_at,
       last_error, last_failure_at, last_success_at, opens, closes
FROM circuit_status
ORDER BY state = 'closed', kind, destination
LIMIT %(limit)s;

-- name: circuit_reset
-- Close the circuits of a destination (host:port, host, or kind) and release what waits.
SELECT kind, destination, from_state::text AS from_state FROM circuit_reset(%(destination)s, %(now)s);

-- name: circuit_counts
-- Circuits per kind and state, and state changes so far: aggregates only (no hosts) for /metrics.
SELECT k.kind, count(c.destination) FILTER (WHERE c.state = 'open') AS open,
       count(c.destination) FILTER (WHERE c.state = 'half_open') AS half_open,
       coalesce(sum(c.opens), 0)::bigint AS opens,
       coalesce(sum(c.half_opens), 0)::bigint AS half_opens,
       coalesce(sum(c.closes), 0)::bigint AS closes
FROM (VALUES ('webhook'), ('smtp')) AS k(kind)
LEFT JOIN circuits c ON c.kind = k.kind
GROUP BY k.kind
ORDER BY k.kind;
