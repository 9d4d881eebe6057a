-- name: account_quota_lock
-- Make an account's order creates check its quota one after another (until commit).
SELECT pg_advisory_xact_lock(hashtextextended('orders.quota:' || %(user_id)s::text, 0));

-- name: account_active_orders_count
-- The account's scheduled or running orders, counted no further than its quota.
SELECT count(*)::int AS active
FROM (SELECT 1 FROM orders
      WHERE user_id = %(user_id)s AND status IN ('scheduled', 'processing')
      LIMIT %(quota)s + 1) active;

-- name: account_orders_lock
-- Lock the account's orders before deleting it; NOWAIT: an order being run answers 409 at once.
SELECT order_id, status FROM orders
WHERE user_id = %(user_id)s AND status IN ('scheduled', 'processing', 'failed')
FOR UPDATE NOWAIT;

-- name: account_jobs_cancel
-- Cancel the waiting jobs of the account's scheduled orders (a job already taken by a worker
-- finds its order cancelled and does nothing).
SELECT count(procrastinate_cancel_job_v1(job_id, false, false)) AS cancelled
FROM orders
WHERE user_id = %(user_id)s AND status = 'scheduled' AND job_id IS NOT NULL;

-- name: account_orders_anonymise
-- Cancel what can still run and erase what the customer wrote (names, payloads, keys), in one
-- UPDATE so each order gets one audit event.
UPDATE orders
SET status = CASE WHEN status IN ('scheduled', 'failed') THEN 'cancelled'::order_status
                  ELSE status END,
    next_run_at = CASE WHEN status IN ('scheduled', 'failed') THEN NULL ELSE next_run_at END,
    order_name = 'deleted', payload = '{}', idempotency_key = NULL, request_hash = NULL,
    updated_at = %(now)s
WHERE user_id = %(user_id)s;

-- name: account_events_anonymise
-- Erase what the customer wrote from the audit trail of the account's orders; the events
-- themselves (what happened, when, by whom) stay.
UPDATE order_events e
SET details = e.details || jsonb_build_object('changed', (
        SELECT jsonb_object_agg(c.key, CASE WHEN c.key IN ('order_name', 'payload',
                                                           'idempotency_key', 'request_hash')
                                            THEN to_jsonb('(removed)'::text) ELSE c.value END)
        FROM jsonb_each(e.details -> 'changed') c))
WHERE e.order_id IN (SELECT order_id FROM orders WHERE user_id = %(user_id)s)
  AND jsonb_typeof(e.details -> 'changed') = 'object';

-- name: account_mail_erase
-- Mail to the account: unsent notices are dropped (their requests stay untold: the account is
-- gone), sent or failed ones lose their address and body.
WITH mine AS (
    SELECT outbox_id, status FROM outbox
    WHERE kind = 'customer_notice' AND recipient = %(email)s),
unlinked AS (
    UPDATE provider_requests SET customer_outbox_id = NULL
    WHERE customer_outbox_id IN (SELECT outbox_id FROM mine WHERE status = 'pending')),
dropped AS (
    DELETE FROM outbox WHERE outbox_id IN (SELECT outbox_id FROM mine WHERE status = 'pending'))
UPDATE outbox SET recipient = %(tombstone)s, body = '(removed: the account was deleted)'
WHERE outbox_id IN (SELECT outbox_id FROM mine WHERE status <> 'pending');

-- name: account_user_anonymise
-- The account becomes a tombstone: no email, no password, its limits' counters forgotten.
WITH counters AS (DELETE FROM account_requests WHERE user_id = %(user_id)s),
failures AS (DELETE FROM login_failures WHERE scope = 'account' AND key = %(email)s),
provider AS (UPDATE providers SET user_id = NULL WHERE user_id = %(user_id)s)
UPDATE users SET email = %(tombstone)s, password_hash = '!', deleted_at = %(now)s
WHERE user_id = %(user_id)s
RETURNING user_id, deleted_at;

-- name: account_export_orders
-- Every order of the account, oldest first, for its data export.
SELECT order_id, user_id, order_name, payload, schedule_time, status, job_id, is_recurring,
       repeat_interval, repeat_unit, cron, timezone, max_executions, executions_count,
       next_run_at, last_run_at, last_error, provider_id, priority, missed_runs, expires_after,
       created_at, updated_at,
       (paused_at IS NOT NULL OR EXISTS (SELECT FROM users pu WHERE pu.user_id = orders.user_id
                                         AND pu.paused_at IS NOT NULL)) AS paused
FROM orders
WHERE user_id = %(user_id)s
ORDER BY order_id;

-- name: account_export_events
-- The audit trail of the account's orders, for its data export.
SELECT order_id, event_id, event_type, from_status, to_status, executions_count, job_id, actor,
       occurred_at, details
FROM order_events
WHERE order_id IN (SELECT order_id FROM orders WHERE user_id = %(user_id)s)
ORDER BY order_id, event_id;

-- name: account_export_executions
-- The runs of the account's orders, for its data export.
SELECT order_id, run_number, scheduled_for, started_at, finished_at, attempts, outcome, error
FROM order_executions
WHERE order_id IN (SELECT order_id FROM orders WHERE user_id = %(user_id)s)
ORDER BY order_id, execution_id;

-- name: account_export_requests
-- The provider requests of the account's orders, with the providers' answers.
SELECT r.order_id, r.request_id, r.run_number, p.name AS provider_name, r.status,
       r.expected_response_at, r.response_message, r.responded_at, r.created_at
FROM provider_requests r
JOIN providers p ON p.provider_id = r.provider_id
WHERE r.order_id IN (SELECT order_id FROM orders WHERE user_id = %(user_id)s)
ORDER BY r.order_id, r.request_id;
