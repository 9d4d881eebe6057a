-- name: worker_process_register
-- Announce this process: take its liveness lock (held by this session until it ends) and record
-- who it is. The lock is taken before the row is visible, so a visible row without a held lock
-- always means a dead process.
WITH locked AS (SELECT pg_advisory_lock(%(lock_class)s, %(worker_id)s::int))
INSERT INTO worker_processes (worker_id, name, host, pid)
SELECT %(worker_id)s, %(name)s, %(host)s, %(pid)s FROM locked;

-- name: worker_heartbeat
-- Prove this worker is alive (Procrastinate's heartbeat function); false once its registration
-- is gone (pruned as stalled by another worker): then this worker must start over.
SELECT procrastinate_update_heartbeat_v1(%(worker_id)s)::text AS beat,
       EXISTS (SELECT 1 FROM procrastinate_workers WHERE id = %(worker_id)s) AS registered;

-- name: job_list_orphaned
-- Running jobs nobody runs any more: their worker process died (its liveness lock is free), froze
-- (heartbeat older than :stalled_seconds) or its registration is gone.
SELECT j.id, j.task_name, j.worker_id
FROM procrastinate_jobs j
LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
LEFT JOIN worker_processes p ON p.worker_id = j.worker_id
WHERE j.status = 'doing'
  AND (w.id IS NULL
       OR w.last_heartbeat < now() - make_interval(secs => %(stalled_seconds)s)
       OR (p.worker_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM pg_locks l
               WHERE l.locktype = 'advisory' AND l.classid = %(lock_class)s::oid
                 AND l.objid = j.worker_id::oid AND l.objsubid = 2 AND l.granted
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))))
ORDER BY j.id
LIMIT %(limit)s;

-- name: job_retry_orphaned
-- Put an orphaned running job back in the queue, due now (Procrastinate's retry function).
SELECT procrastinate_retry_job_v2(%(job_id)s, now(), NULL, NULL, NULL);

-- name: job_abort_orphaned
-- Retire an orphaned job that a newer job of the same queueing lock already replaced.
SELECT procrastinate_finish_job_v1(%(job_id)s, 'aborted', false);

-- name: worker_process_prune_dead
-- Forget worker processes whose liveness lock is free (they died); their jobs were retried.
DELETE FROM procrastinate_workers w
USING worker_processes p
WHERE p.worker_id = w.id
  AND NOT EXISTS (
      SELECT 1 FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.classid = %(lock_class)s::oid
        AND l.objid = w.id::oid AND l.objsubid = 2 AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
  AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.worker_id = w.id AND j.status = 'doing');
