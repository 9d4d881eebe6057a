-- name: status_log_lock
-- One writer at a time, for the length of its transaction; the others skip their turn.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- name: status_log_cursor_get
-- The writer's place and the new horizon: every transaction below `next_horizon` has finished.
SELECT horizon::text AS horizon, pg_snapshot_xmin(pg_current_snapshot())::text AS next_horizon
FROM status_log_cursor
FOR UPDATE;

-- name: status_log_events_between
-- Status changes made by the transactions in [from, to), in the order they happened.
SELECT event_id, order_id, user_id, job_id, from_status, to_status, executions_count, actor,
       occurred_at, details
FROM order_events
WHERE txid >= %(from)s::xid8 AND txid < %(to)s::xid8
  AND event_type IN ('created', 'status_changed', 'deleted')
ORDER BY event_id;

-- name: status_log_cursor_advance
-- Record that the events below `horizon` are in the file.
UPDATE status_log_cursor
SET horizon = %(horizon)s::xid8, written_at = now(), lines = lines + %(lines)s;
