-- name: provider_insert
-- Create a provider, optionally tied to its login account (same transaction as the account).
INSERT INTO providers (user_id, name, email, expected_response_hours)
VALUES (%(user_id)s, %(name)s, %(email)s, %(expected_response_hours)s)
RETURNING provider_id, user_id, name, email, expected_response_hours, created_at;

-- name: provider_list
-- Providers a customer can name on an order (their addresses stay private).
SELECT provider_id, name, expected_response_hours
FROM providers
ORDER BY name, provider_id;

-- name: provider_get
-- Does this provider exist? (orders may only name existing providers)
SELECT provider_id FROM providers WHERE provider_id = %(provider_id)s;

-- name: provider_request_insert
-- A run of an order is a request to its provider: inserted by the run's own transaction.
INSERT INTO provider_requests (order_id, run_number, provider_id, user_id, expected_response_at,
                               created_at)
SELECT o.order_id, %(run_number)s, p.provider_id, o.user_id,
       %(now)s + make_interval(hours => p.expected_response_hours), %(now)s
FROM orders o
JOIN providers p ON p.provider_id = o.provider_id
WHERE o.order_id = %(order_id)s;

-- name: provider_request_list_for_order
-- A page of the requests the runs of one customer's order made, first run first, after run
-- number `after_run` (keyset on the unique (order_id, run_number)).
SELECT r.request_id, r.order_id, r.run_number, r.provider_id, p.name AS provider_name, r.status,
       r.expected_response_at, r.notified_at, r.response_message, r.responded_at, r.created_at
FROM provider_requests r
JOIN providers p ON p.provider_id = r.provider_id
WHERE r.order_id = %(order_id)s AND r.user_id = %(user_id)s AND r.run_number > %(after_run)s
ORDER BY r.run_number
LIMIT %(limit)s;

-- name: provider_request_list_for_provider
-- A page of the requests made of the provider logged in as user_id, oldest first.
SELECT r.request_id, r.order_id, o.order_name, o.payload, r.run_number, r.status,
       r.expected_response_at, r.notified_at, r.response_message, r.responded_at, r.created_at
FROM provider_requests r
JOIN providers p ON p.provider_id = r.provider_id
JOIN orders o ON o.order_id = r.order_id
WHERE p.user_id = %(user_id)s
  AND (%(status)s::provider_request_status IS NULL OR r.status = %(status)s::provider_request_status)
  AND r.request_id > %(after_id)s
ORDER BY r.request_id
LIMIT %(limit)s;

-- name: provider_request_lock_for_answer
-- Lock the given requests that belong to the provider logged in as user_id (others: absent).
SELECT r.request_id, r.status
FROM provider_requests r
JOIN providers p ON p.provider_id = r.provider_id
WHERE r.request_id = ANY(%(request_ids)s) AND p.user_id = %(user_id)s
ORDER BY r.request_id
FOR UPDATE OF r;

-- name: provider_request_answer
-- Record the provider's answer to requests already locked and checked to be pending.
UPDATE provider_requests r
SET status = %(status)s::provider_request_status, response_message = %(message)s,
    responded_at = %(now)s
FROM orders o
WHERE o.order_id = r.order_id AND r.request_id = ANY(%(request_ids)s)
RETURNING r.request_id, r.order_id, o.order_name, o.payload, r.run_number, r.status,
          r.expected_response_at, r.notified_at, r.response_message, r.responded_at,
          r.created_at;

-- name: provider_digest_queue
-- Set-based digest: every request not yet notified -> one digest + one outbox mail per provider,
-- requests marked in the same statement. Rows another digest holds are skipped, never sent twice.
WITH picked AS (
    SELECT r.request_id, r.provider_id,
           '  #' || r.request_id || '  ' || o.order_name || ' (order ' || r.order_id
           || ', run ' || r.run_number || '), answer by '
           || to_char(r.expected_response_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
           || CASE WHEN o.payload <> '{}' THEN E'\n      ' || o.payload::text ELSE '' END AS line
    FROM provider_requests r
    JOIN orders o ON o.order_id = r.order_id
    WHERE r.notified_at IS NULL
    FOR UPDATE OF r SKIP LOCKED
),
digests AS MATERIALIZED (
    SELECT provider_id,
           nextval(pg_get_serial_sequence('provider_digests', 'digest_id')) AS digest_id,
           nextval(pg_get_serial_sequence('outbox', 'outbox_id')) AS outbox_id,
           count(*) AS request_count,
           string_agg(line, E'\n' ORDER BY request_id) AS lines
    FROM picked
    GROUP BY provider_id
),
mail AS (
    INSERT INTO outbox (outbox_id, kind, recipient, subject, body, created_at, next_attempt_at)
    SELECT d.outbox_id, 'provider_digest', p.email,
           d.request_count || ' new request' || CASE WHEN d.request_count > 1 THEN 's' ELSE '' END
           || ' for ' || p.name,
           'Hello ' || p.name || E',\n\nYou have ' || d.request_count || ' new request'
           || CASE WHEN d.request_count > 1 THEN 's' ELSE '' END
           || E' since your last digest:\n\n' || d.lines
           || E'\n\nAnswer them with POST /provider/requests/respond (one or many at once).\n',
           %(now)s, %(now)s
    FROM digests d
    JOIN providers p ON p.provider_id = d.provider_id
),
recorded AS (
    INSERT INTO provider_digests (digest_id, provider_id, request_count, outbox_id, created_at)
    SELECT digest_id, provider_id, request_count, outbox_id, %(now)s FROM digests
),
marked AS (
    UPDATE provider_requests r
    SET digest_id = d.digest_id, notified_at = %(now)s
    FROM picked k
    JOIN digests d ON d.provider_id = k.provider_id
    WHERE r.request_id = k.request_id
)
SELECT count(*) AS mails, coalesce(sum(request_count), 0)::bigint AS requests FROM digests;

-- name: customer_notice_queue
-- Set-based: answered requests whose customer was not told yet (all, or only request_ids) ->
-- one outbox mail per customer, requests marked in the same statement.
WITH picked AS (
    SELECT r.request_id, r.user_id,
           '  Request #' || r.request_id || ' for ' || o.order_name || ' (order ' || r.order_id
           || ', run ' || r.run_number || '): ' || r.status || ' by ' || p.name
           || coalesce(E'\n      "' || r.response_message || '"', '') AS line
    FROM provider_requests r
    JOIN orders o ON o.order_id = r.order_id
    JOIN providers p ON p.provider_id = r.provider_id
    JOIN users c ON c.user_id = r.user_id AND c.deleted_at IS NULL  -- deleted accounts get none
    WHERE r.status <> 'pending' AND r.customer_outbox_id IS NULL
      AND (%(request_ids)s::bigint[] IS NULL OR r.request_id = ANY(%(request_ids)s::bigint[]))
    FOR UPDATE OF r SKIP LOCKED
),
notices AS MATERIALIZED (
    SELECT user_id,
           nextval(pg_get_serial_sequence('outbox', 'outbox_id')) AS outbox_id,
           count(*) AS request_count,
           string_agg(line, E'\n' ORDER BY request_id) AS lines
    FROM picked
    GROUP BY user_id
),
mail AS (
    INSERT INTO outbox (outbox_id, kind, recipient, subject, body, created_at, next_attempt_at)
    SELECT n.outbox_id, 'customer_notice', u.email,
           CASE WHEN n.request_count = 1 THEN 'Your provider has responded'
                ELSE 'Providers have responded to ' || n.request_count || ' of your requests' END,
           E'Hello,\n\nThe provider has answered:\n\n' || n.lines
           || E'\n\nSee GET /orders/<order id>/requests for all requests of an order.\n',
           %(now)s, %(now)s
    FROM notices n
    JOIN users u ON u.user_id = n.user_id
),
marked AS (
    UPDATE provider_requests r
    SET customer_outbox_id = n.outbox_id
    FROM picked k
    JOIN notices n ON n.user_id = k.user_id
    WHERE r.request_id = k.request_id
)
SELECT count(*) AS mails, coalesce(sum(request_count), 0)::bigint AS requests FROM notices;
