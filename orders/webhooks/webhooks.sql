-- name: webhook_endpoint_insert
-- Register an endpoint, unless the account already has its maximum (then no row).
INSERT INTO webhook_endpoints (user_id, url, destination, events, description, secret)
SELECT %(user_id)s, %(url)s, %(destination)s, %(events)s, %(description)s, %(secret)s
WHERE (SELECT count(*) FROM webhook_endpoints
       WHERE user_id = %(user_id)s AND deleted_at IS NULL) < %(max_endpoints)s
RETURNING endpoint_id, url, events, description, active, secret, previous_secret_expires_at,
          created_at, updated_at;

-- name: webhook_endpoint_list
-- The caller's endpoints (deleted ones are gone for the customer), oldest first.
SELECT endpoint_id, url, events, description, active, secret, previous_secret_expires_at,
       created_at, updated_at
FROM webhook_endpoints
WHERE user_id = %(user_id)s AND deleted_at IS NULL
ORDER BY endpoint_id;

-- name: webhook_endpoint_get_for_update
-- One of the caller's endpoints (NULL user: an operator's), locked for a change.
SELECT endpoint_id, user_id, url, destination, events, description, active, secret,
       previous_secret, previous_secret_expires_at, created_at, updated_at
FROM webhook_endpoints
WHERE endpoint_id = %(endpoint_id)s AND deleted_at IS NULL
  AND (%(user_id)s::bigint IS NULL OR user_id = %(user_id)s::bigint)
FOR UPDATE;

-- name: webhook_endpoint_update
-- Apply a change already validated; waiting deliveries follow the endpoint to its new host.
WITH changed AS (
    UPDATE webhook_endpoints
    SET url = %(url)s, destination = %(destination)s, events = %(events)s,
        description = %(description)s, active = %(active)s, updated_at = %(now)s
    WHERE endpoint_id = %(endpoint_id)s
    RETURNING endpoint_id, url, destination, events, description, active, secret,
              previous_secret_expires_at, created_at, updated_at),
moved AS (
    UPDATE webhook_deliveries d SET destination = changed.destination
    FROM changed
    WHERE d.endpoint_id = changed.endpoint_id AND d.status = 'pending'
      AND d.destination <> changed.destination)
SELECT * FROM changed;

-- name: webhook_endpoint_delete
-- Delete for the customer (kept for the record); its waiting deliveries are cancelled.
WITH gone AS (
    UPDATE webhook_endpoints
    SET deleted_at = %(now)s, active = false, updated_at = %(now)s
    WHERE endpoint_id = %(endpoint_id)s
    RETURNING endpoint_id, url, events, description, active, secret,
              previous_secret_expires_at, created_at, updated_at),
cancelled AS (
    UPDATE webhook_deliveries d SET status = 'cancelled'
    FROM gone WHERE d.endpoint_id = gone.endpoint_id AND d.status = 'pending')
SELECT * FROM gone;

-- name: webhook_endpoint_rotate
-- A new secret; the old one keeps signing until :previous_until (NULL: not at all).
UPDATE webhook_endpoints
SET previous_secret = CASE WHEN %(previous_until)s::timestamptz IS NULL THEN NULL ELSE secret END,
    previous_secret_expires_at = %(previous_until)s::timestamptz,
    secret = %(secret)s, updated_at = %(now)s
WHERE endpoint_id = %(endpoint_id)s
RETURNING endpoint_id, url, events, description, active, secret, previous_secret_expires_at,
          created_at, updated_at;

-- name: webhook_ping_insert
-- A test event for one endpoint, queued like any other and woken at once.
WITH ev AS (
    INSERT INTO webhook_events (user_id, order_id, event_type, sequence, source, data)
    VALUES (%(user_id)s, NULL, 'ping', NULL, 'ping',
            jsonb_build_object('endpoint_id', %(endpoint_id)s::bigint, 'message', 'ping'))
    RETURNING event_id),
delivery AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id, destination, next_attempt_at)
    SELECT ev.event_id, %(endpoint_id)s, %(destination)s, %(now)s FROM ev
    RETURNING delivery_id)
SELECT delivery_id, webhook_wake() FROM delivery;

-- name: webhook_delivery_list
-- A page of an endpoint's deliveries, newest first (keyset on delivery_id).
SELECT d.delivery_id, d.endpoint_id, ev.idempotency_key::text AS event_id, ev.event_type,
       ev.order_id, ev.sequence, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
       d.last_status_code, d.last_error, d.last_response, d.delivered_at, d.created_at
FROM webhook_deliveries d
JOIN webhook_events ev ON ev.event_id = d.event_id
WHERE d.endpoint_id = %(endpoint_id)s
  AND (%(status)s::webhook_delivery_status IS NULL OR d.status = %(status)s::webhook_delivery_status)
  AND (%(before_id)s::bigint IS NULL OR d.delivery_id < %(before_id)s::bigint)
ORDER BY d.delivery_id DESC
LIMIT %(limit)s;

-- name: webhook_delivery_get
-- One delivery with the body it posts; NULL user: any (operators).
SELECT d.delivery_id, d.endpoint_id, ev.idempotency_key::text AS event_id, ev.event_type,
       ev.order_id, ev.sequence, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
       d.last_status_code, d.last_error, d.last_response, d.delivered_at, d.created_at,
       w.user_id, w.url,
       jsonb_build_object('id', ev.idempotency_key, 'type', ev.event_type,
                          'created_at', ev.created_at, 'sequence', ev.sequence,
                          'order_id', ev.order_id, 'data', ev.data) AS payload
FROM webhook_deliveries d
JOIN webhook_events ev ON ev.event_id = d.event_id
JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id
WHERE d.delivery_id = %(delivery_id)s
  AND (%(user_id)s::bigint IS NULL OR w.user_id = %(user_id)s::bigint);

-- name: webhook_attempt_list
-- Every attempt of one delivery, first first.
SELECT attempt, url, status_code, duration_ms, response_excerpt, error, worker, started_at
FROM webhook_attempts
WHERE delivery_id = %(delivery_id)s
ORDER BY attempt_id;

-- name: webhook_delivery_redeliver
-- One more attempt, now, with the same event (same Idempotency-Key); not while one is queued.
WITH again AS (
    UPDATE webhook_deliveries d
    SET status = 'pending', next_attempt_at = %(now)s, delivered_at = NULL
    FROM webhook_endpoints w
    WHERE d.delivery_id = %(delivery_id)s AND w.endpoint_id = d.endpoint_id
      AND w.deleted_at IS NULL AND d.status IN ('delivered', 'failed', 'cancelled')
    RETURNING d.delivery_id)
SELECT delivery_id, webhook_wake() FROM again;

-- name: webhook_claim_lock
-- Claims take turns (each lasts a millisecond or so): per-destination in-flight counts are exact.
SELECT pg_advisory_xact_lock(233115714);

-- name: webhook_claim
-- Up to :limit deliveries due (or whose lease ran out), oldest first, skipping destinations
-- whose circuit is not closed (but one probe delivery each for :probes) or that already have
-- :per_destination posts in flight. Marked delivering until the lease ends; an expired lease's
-- attempt is recorded as lost. Returns what to post: the same body on every attempt.
WITH inflight AS (
    SELECT destination, count(*) AS n
    FROM webhook_deliveries
    WHERE status = 'delivering' AND next_attempt_at > %(now)s
    GROUP BY destination),
blocked AS (
    SELECT destination FROM inflight
    WHERE %(per_destination)s > 0 AND n >= %(per_destination)s
    UNION
    SELECT destination FROM circuits WHERE kind = 'webhook' AND state <> 'closed'),
probe AS (
    SELECT x.delivery_id
    FROM unnest(%(probes)s::text[]) AS p(destination)
    CROSS JOIN LATERAL (
        SELECT delivery_id FROM webhook_deliveries
        WHERE destination = p.destination AND status = 'pending'
        ORDER BY next_attempt_at, delivery_id
        LIMIT 1) x),
due AS (
    SELECT d.delivery_id, d.destination, d.next_attempt_at
    FROM webhook_deliveries d
    WHERE d.status IN ('pending', 'delivering') AND d.next_attempt_at <= %(now)s
      AND d.destination NOT IN (SELECT destination FROM blocked)
    ORDER BY d.next_attempt_at, d.delivery_id
    LIMIT %(limit)s * 4),
ranked AS (
    SELECT due.*, coalesce(i.n, 0) + row_number() OVER (
               PARTITION BY due.destination ORDER BY due.next_attempt_at, due.delivery_id) AS slot
    FROM due LEFT JOIN inflight i USING (destination)),
picked AS (
    SELECT delivery_id FROM probe
    UNION
    (SELECT delivery_id FROM ranked
     WHERE %(per_destination)s = 0 OR slot <= %(per_destination)s
     ORDER BY next_attempt_at, delivery_id
     LIMIT %(limit)s)),
lost AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, url, error, worker, started_at)
    SELECT d.delivery_id, d.attempts, w.url,
           'the worker posting it stopped answering (lease ran out): outcome unknown, retried',
           '(lost)', coalesce(d.last_attempt_at, %(now)s)
    FROM webhook_deliveries d
    JOIN picked USING (delivery_id)
    JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id
    WHERE d.status = 'delivering')
UPDATE webhook_deliveries d
SET status = 'delivering', attempts = d.attempts + 1, last_attempt_at = %(now)s,
    next_attempt_at = %(now)s + make_interval(secs => %(lease)s)
FROM picked, webhook_events ev, webhook_endpoints w
WHERE d.delivery_id = picked.delivery_id AND d.status IN ('pending', 'delivering')
  AND ev.event_id = d.event_id AND w.endpoint_id = d.endpoint_id
RETURNING d.delivery_id, d.attempts AS attempt, d.destination, w.url, ev.event_type,
          ev.idempotency_key::text AS event_id,
          array_remove(ARRAY[w.secret, CASE WHEN w.previous_secret_expires_at > %(now)s
                                            THEN w.previous_secret END], NULL) AS secrets,
          jsonb_build_object('id', ev.idempotency_key, 'type', ev.event_type,
                             'created_at', ev.created_at, 'sequence', ev.sequence,
                             'order_id', ev.order_id, 'data', ev.data)::text AS body;

-- name: webhook_record_results
-- Keep each attempt, and settle its delivery if this worker still holds it (attempt number
-- matches): delivered, retried after :retry_in seconds (held while its circuit is open), or
-- failed after the last attempt, keeping the last answer either way.
WITH r AS (
    SELECT * FROM unnest(%(delivery_ids)s::bigint[], %(attempts)s::int[], %(urls)s::text[],
                         %(codes)s::int[], %(durations)s::int[], %(excerpts)s::text[],
                         %(errors)s::text[], %(started)s::timestamptz[], %(ok)s::boolean[],
                         %(retry_in)s::float8[])
        AS r(delivery_id, attempt, url, status_code, duration_ms, excerpt, error, started_at,
             ok, retry_in)),
logged AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, url, status_code, duration_ms,
                                  response_excerpt, error, worker, started_at)
    SELECT delivery_id, attempt, url, status_code, duration_ms, excerpt, error, %(worker)s,
           started_at
    FROM r)
UPDATE webhook_deliveries d
SET status = CASE WHEN r.ok THEN 'delivered'
                  WHEN d.attempts >= %(max_attempts)s THEN 'failed'
                  ELSE 'pending' END::webhook_delivery_status,
    delivered_at = CASE WHEN r.ok THEN %(now)s::timestamptz END,
    next_attempt_at = CASE WHEN r.ok THEN d.next_attempt_at
        ELSE greatest(%(now)s + make_interval(secs => r.retry_in),
                      (SELECT c.hold_until FROM circuits c
                       WHERE c.kind = 'webhook' AND c.destination = d.destination
                         AND c.state <> 'closed')) END,
    last_status_code = r.status_code, last_error = r.error, last_response = r.excerpt
FROM r
WHERE d.delivery_id = r.delivery_id AND d.status = 'delivering' AND d.attempts = r.attempt;

-- name: webhook_summary
-- Deliveries waiting, in flight and failed, and the oldest waiting (operators' first question).
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'delivering') AS delivering,
       (SELECT count(*) FROM webhook_deliveries WHERE status = 'failed') AS failed,
       coalesce(extract(epoch FROM %(now)s::timestamptz
                               - min(next_attempt_at) FILTER (WHERE status = 'pending'
                                                             AND next_attempt_at <= %(now)s)), 0)::float8
           AS oldest_due_seconds
FROM webhook_deliveries
WHERE status IN ('pending', 'delivering');

-- name: webhook_problems_list
-- The latest failed or retrying deliveries of every account (view webhook_problems).
SELECT delivery_id, email, url, destination, event_type, order_id, status::text AS status,
       attempts, last_status_code, last_error, next_attempt_at, circuit_state::text AS circuit_state,
       created_at
FROM webhook_problems
WHERE (%(status)s::webhook_delivery_status IS NULL OR status = %(status)s::webhook_delivery_status)
  AND (%(email)s::text IS NULL OR lower(email) = lower(%(email)s::text))
ORDER BY delivery_id DESC
LIMIT %(limit)s;

-- name: webhook_delivery_list_any
-- Deliveries of every account for operators, newest first, keyset on delivery_id.
SELECT d.delivery_id, u.email, w.url, ev.event_type, ev.order_id, ev.sequence,
       d.status::text AS status, d.attempts, d.last_status_code, d.last_error,
       d.next_attempt_at, d.delivered_at
FROM webhook_deliveries d
JOIN webhook_endpoints w ON w.endpoint_id = d.endpoint_id
JOIN webhook_events ev ON ev.event_id = d.event_id
JOIN users u ON u.user_id = w.user_id
WHERE (%(status)s::webhook_delivery_status IS NULL OR d.status = %(status)s::webhook_delivery_status)
  AND (%(email)s::text IS NULL OR lower(u.email) = lower(%(email)s::text))
  AND (%(before_id)s::bigint IS NULL OR d.delivery_id < %(before_id)s::bigint)
ORDER BY d.delivery_id DESC
LIMIT %(limit)s;

-- name: webhook_wake
-- Defer one deliver_webhooks job unless one is waiting (what the event triggers do too).
SELECT webhook_wake();

-- name: webhook_event_prune
-- Delete up to :batch events older than :cutoff whose deliveries are all settled (their
-- deliveries and attempts go with them); ping events included.
DELETE FROM webhook_events
WHERE event_id IN (
    SELECT ev.event_id FROM webhook_events ev
    WHERE ev.created_at < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                      WHERE d.event_id = ev.event_id AND d.status IN ('pending', 'delivering'))
    ORDER BY ev.event_id
    LIMIT %(batch)s);
