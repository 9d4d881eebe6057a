-- name: order_reserve_ids
-- Take a batch's order ids in one statement, so its jobs can be deferred before the rows exist.
SELECT nextval(pg_get_serial_sequence('orders', 'order_id')) AS order_id
FROM generate_series(1, %(count)s);

-- name: order_insert_many
-- Create a batch's orders in one statement (one array per column), each pointing at its job.
INSERT INTO orders (order_id, user_id, order_name, payload, schedule_time, is_recurring,
                    repeat_interval, repeat_unit, cron, timezone, max_executions, next_run_at,
                    job_id, provider_id, priority, missed_runs, expires_after)
SELECT o.order_id, %(user_id)s, o.order_name, o.payload, o.schedule_time, o.is_recurring,
       o.repeat_interval, o.repeat_unit::repeat_unit, o.cron, o.timezone, o.max_executions,
       o.next_run_at, o.job_id, o.provider_id, o.priority::order_priority,
       o.missed_runs::missed_run_policy, o.expires_after
FROM unnest(%(order_id)s::bigint[], %(order_name)s::text[], %(payload)s::jsonb[],
            %(schedule_time)s::timestamptz[], %(is_recurring)s::boolean[],
            %(repeat_interval)s::integer[], %(repeat_unit)s::text[], %(cron)s::text[],
            %(timezone)s::text[], %(max_executions)s::integer[], %(next_run_at)s::timestamptz[],
            %(job_id)s::bigint[], %(provider_id)s::bigint[], %(priority)s::text[],
            %(missed_runs)s::text[], %(expires_after)s::interval[])
     AS o(order_id, order_name, payload, schedule_time, is_recurring, repeat_interval,
          repeat_unit, cron, timezone, max_executions, next_run_at, job_id, provider_id,
          priority, missed_runs, expires_after)
RETURNING order_id, user_id, order_name, payload, schedule_time, status, job_id, is_recurring,
          repeat_interval, repeat_unit, cron, timezone, max_executions, executions_count,
          next_run_at, last_run_at, last_error, provider_id, priority, missed_runs, expires_after,
       created_at, updated_at,
          EXISTS (SELECT FROM users pu WHERE pu.user_id = %(user_id)s AND pu.paused_at IS NOT NULL)
              AS paused;

-- name: order_list_by_ids
-- A user's orders by id, in the order given (a replayed batch answers as it did the first time).
SELECT o.order_id, o.user_id, o.order_name, o.payload, o.schedule_time, o.status, o.job_id,
       o.is_recurring, o.repeat_interval, o.repeat_unit, o.cron, o.timezone, o.max_executions,
       o.executions_count, o.next_run_at, o.last_run_at, o.last_error, o.provider_id,
       o.priority, o.missed_runs, o.expires_after, o.created_at, o.updated_at,
       (o.paused_at IS NOT NULL OR EXISTS (SELECT FROM users pu WHERE pu.user_id = o.user_id
                                           AND pu.paused_at IS NOT NULL)) AS paused
FROM unnest(%(order_ids)s::bigint[]) WITH ORDINALITY AS wanted(order_id, position)
JOIN orders o ON o.order_id = wanted.order_id AND o.user_id = %(user_id)s
ORDER BY wanted.position;

-- name: order_batch_get_by_idempotency_key
-- The orders an earlier batch with this Idempotency-Key created, if any.
SELECT order_ids, request_hash
FROM order_batches
WHERE user_id = %(user_id)s AND idempotency_key = %(idempotency_key)s;

-- name: order_batch_insert
-- Remember a keyed batch; a concurrent request with the same key waits here, then fails unique.
INSERT INTO order_batches (user_id, idempotency_key, request_hash, order_ids)
VALUES (%(user_id)s, %(idempotency_key)s, %(request_hash)s, %(order_ids)s);

-- name: provider_list_missing
-- Which of these provider ids name no provider (a batch checks all of its orders' at once).
SELECT wanted.provider_id
FROM unnest(%(provider_ids)s::bigint[]) AS wanted(provider_id)
WHERE NOT EXISTS (SELECT 1 FROM providers p WHERE p.provider_id = wanted.provider_id);
