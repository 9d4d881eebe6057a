-- name: status_log_lock
-- One writer at a time, for a whole pass (several transactions); released at the end of the
-- pass, or by the server when the writer's connection dies. Others skip their turn.
SELECT pg_try_advisory_lock(%(key)s) AS locked;

-- name: status_log_unlock
-- The pass is over.
SELECT pg_advisory_unlock(%(key)s) AS unlocked;

-- name: status_log_cursor_get
-- The writer's place, and the new horizon: every transaction below `next_horizon` has
-- finished. A span or pending page recorded against another horizon is stale (an older
-- writer advanced the horizon without knowing about spans): it is ignored.
SELECT horizon::text AS horizon, pg_snapshot_xmin(pg_current_snapshot())::text AS next_horizon,
       CASE WHEN span_from = horizon THEN span_to::text END AS span_to,
       CASE WHEN span_from = horizon THEN after_event_id ELSE 0 END AS after_event_id,
       CASE WHEN span_from = horizon THEN pending_through END AS pending_through,
       file_dev, file_ino, file_size
FROM status_log_cursor
FOR UPDATE;

-- name: status_log_span_end
-- Where a span from `from` should end so that it holds at most `lines` events: the txid of
-- the event after the first `lines` (txid order, an index range), or `to` if there are fewer.
SELECT coalesce((SELECT txid FROM order_events
                 WHERE txid >= %(from)s::xid8 AND txid < %(to)s::xid8
                 ORDER BY txid OFFSET %(lines)s LIMIT 1), %(to)s::xid8)::text AS span_to;

-- name: status_log_next_txid
-- The span of one transaction alone: [from, from + 1).
SELECT ((%(from)s::text)::numeric + 1)::text AS span_to;

-- name: status_log_page_of_span
-- A span of several transactions (at most `lines` events by construction): its status changes
-- after `after` up to `through`, in the order they happened.
SELECT event_id, order_id, user_id, job_id, from_status, to_status, executions_count, actor,
       occurred_at, details
FROM order_events
WHERE txid >= %(from)s::xid8 AND txid < %(to)s::xid8
  AND event_id > %(after)s AND event_id <= %(through)s
  AND event_type IN ('created', 'status_changed', 'deleted')
ORDER BY event_id
LIMIT %(lines)s;

-- name: status_log_page_of_txid
-- A span of one (big) transaction: the next page of its status changes, in event order
-- (an ordered index range on (txid, event_id), however many events it made).
SELECT event_id, order_id, user_id, job_id, from_status, to_status, executions_count, actor,
       occurred_at, details
FROM order_events
WHERE txid = %(from)s::xid8 AND event_id > %(after)s AND event_id <= %(through)s
  AND event_type IN ('created', 'status_changed', 'deleted')
ORDER BY event_id
LIMIT %(lines)s;

-- name: status_log_page_pending
-- Before writing a page: durably record which events it holds and where in which file it
-- starts, so a writer killed while writing is undone exactly by the next one.
UPDATE status_log_cursor
SET span_from = horizon, span_to = %(span_to)s::xid8, after_event_id = %(after)s,
    pending_through = %(through)s, file_dev = %(dev)s, file_ino = %(ino)s, file_size = %(size)s;

-- name: status_log_page_done
-- The page is on disk (fsynced): move past it; `file_size` is where the file now ends.
UPDATE status_log_cursor
SET after_event_id = pending_through, pending_through = NULL, file_size = %(size)s,
    lines = lines + %(lines)s, written_at = now();

-- name: status_log_span_done
-- Every status change below `horizon` is in the file: the next span starts there.
UPDATE status_log_cursor
SET horizon = %(horizon)s::xid8, span_from = NULL, span_to = NULL, after_event_id = 0,
    pending_through = NULL, written_at = now();

-- name: status_log_idle
-- Nothing new: say the writer is alive (the lag metric reads written_at).
UPDATE status_log_cursor SET written_at = now();

-- name: status_log_durable
-- The pending-page record must survive a crash of the server too, whatever the session's default.
SELECT set_config('synchronous_commit', 'on', true);
