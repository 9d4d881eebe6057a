-- Pruning queries: each examines the next `batch` rows of one history table after `after`
-- (primary key order, which is also age order), deletes those past `cutoff` that may go, and
-- says where it stopped. `reached_end`: the batch reached rows younger than the cutoff (or
-- the table's end), so the next run starts again from the oldest row. Conditions that can
-- change are on the deleted table itself, so a row changed meanwhile is re-checked.

-- name: retention_position
-- Where pruning of this table stopped last time; locked, so two pruners never overlap.
SELECT position FROM retention_progress WHERE table_name = %(table)s FOR UPDATE;

-- name: retention_advance
-- Remember where pruning of this table stopped, and count what it deleted.
UPDATE retention_progress
SET position = %(position)s, pruned = pruned + %(deleted)s, pruned_at = now()
WHERE table_name = %(table)s;

-- name: prune_order_events
-- Audit rows past retention that the status log has already written (txid below its horizon).
WITH batch AS (
    SELECT event_id, occurred_at FROM order_events
    WHERE event_id > %(after)s ORDER BY event_id LIMIT %(batch)s),
gone AS (
    DELETE FROM order_events e USING batch b
    WHERE e.event_id = b.event_id AND e.occurred_at < %(cutoff)s
      AND e.txid < (SELECT horizon FROM status_log_cursor)
    RETURNING 1)
SELECT (SELECT max(event_id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(occurred_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_order_executions
-- Runs past retention (the exactly-once guard only matters for an order's current run).
WITH batch AS (
    SELECT execution_id, finished_at FROM order_executions
    WHERE execution_id > %(after)s ORDER BY execution_id LIMIT %(batch)s),
gone AS (
    DELETE FROM order_executions e USING batch b
    WHERE e.execution_id = b.execution_id AND e.finished_at < %(cutoff)s
    RETURNING 1)
SELECT (SELECT max(execution_id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(finished_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_job_errors
-- Failed attempts past retention, except those of an order that is still failed.
WITH batch AS (
    SELECT job_error_id, occurred_at FROM job_errors
    WHERE job_error_id > %(after)s ORDER BY job_error_id LIMIT %(batch)s),
gone AS (
    DELETE FROM job_errors e USING batch b
    WHERE e.job_error_id = b.job_error_id AND e.occurred_at < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = e.order_id AND o.status = 'failed')
    RETURNING 1)
SELECT (SELECT max(job_error_id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(occurred_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_procrastinate_jobs
-- Finished Procrastinate jobs with no event since the cutoff (their events go with them).
WITH batch AS (
    SELECT j.id, (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS first_at
    FROM procrastinate_jobs j  -- finished jobs only (index procrastinate_jobs_finished_idx)
    WHERE j.id > %(after)s AND j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
    ORDER BY j.id LIMIT %(batch)s),
gone AS (
    DELETE FROM procrastinate_jobs j USING batch b
    WHERE j.id = b.id AND j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
      AND NOT EXISTS (SELECT 1 FROM procrastinate_events e
                      WHERE e.job_id = j.id AND e.at >= %(cutoff)s)
    RETURNING 1)
SELECT (SELECT max(id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(first_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_provider_requests
-- Requests answered, listed in a digest and told to the customer, before the cutoff.
WITH batch AS (
    SELECT request_id, created_at FROM provider_requests
    WHERE request_id > %(after)s ORDER BY request_id LIMIT %(batch)s),
gone AS (
    DELETE FROM provider_requests r USING batch b
    WHERE r.request_id = b.request_id AND r.status <> 'pending' AND r.digest_id IS NOT NULL
      AND r.customer_outbox_id IS NOT NULL AND greatest(r.created_at, r.responded_at) < %(cutoff)s
    RETURNING 1)
SELECT (SELECT max(request_id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(created_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_provider_digests
-- Digests before the cutoff that no remaining request points to.
WITH batch AS (
    SELECT digest_id, created_at FROM provider_digests
    WHERE digest_id > %(after)s ORDER BY digest_id LIMIT %(batch)s),
gone AS (
    DELETE FROM provider_digests d USING batch b
    WHERE d.digest_id = b.digest_id AND d.created_at < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM provider_requests r WHERE r.digest_id = d.digest_id)
    RETURNING 1)
SELECT (SELECT max(digest_id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(created_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_outbox
-- Mail sent or given up before the cutoff that no remaining digest or request points to.
WITH batch AS (
    SELECT outbox_id, created_at FROM outbox
    WHERE outbox_id > %(after)s ORDER BY outbox_id LIMIT %(batch)s),
gone AS (
    DELETE FROM outbox o USING batch b
    WHERE o.outbox_id = b.outbox_id AND o.status <> 'pending' AND o.created_at < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM provider_digests d WHERE d.outbox_id = o.outbox_id)
      AND NOT EXISTS (SELECT 1 FROM provider_requests r WHERE r.customer_outbox_id = o.outbox_id)
    RETURNING 1)
SELECT (SELECT max(outbox_id) FROM batch) AS last_id, (SELECT count(*) FROM gone) AS deleted,
       coalesce((SELECT count(*) < %(batch)s OR bool_or(created_at >= %(cutoff)s) FROM batch),
                true) AS reached_end;

-- name: prune_rollup_minutes
-- Per-minute rollups older than the dashboard can show (a primary-key range).
DELETE FROM rollup_minutes WHERE minute < %(cutoff)s;
