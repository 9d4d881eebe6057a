-- name: outbox_claim_next
-- Lock the next due mail for this sender; mail another sender holds is skipped, not waited for.
SELECT outbox_id, recipient, subject, body, attempts, created_at
FROM outbox
WHERE status = 'pending' AND next_attempt_at <= %(now)s
ORDER BY next_attempt_at, outbox_id
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: outbox_mark_sent
-- The SMTP server accepted the mail (called only after it did, on the claim's transaction).
UPDATE outbox
SET status = 'sent', attempts = attempts + 1, sent_at = %(now)s
WHERE outbox_id = %(outbox_id)s;

-- name: outbox_record_failure
-- A failed attempt on this mail (and, when the server is unreachable, on all due mail):
-- keep the error, back off exponentially, give up on permanent refusals or the last attempt.
UPDATE outbox o
SET attempts = o.attempts + 1,
    last_error = %(error)s,
    status = CASE WHEN %(permanent)s OR o.attempts + 1 >= %(max_attempts)s
                  THEN 'failed' ELSE 'pending' END::outbox_status,
    next_attempt_at = %(now)s
        + make_interval(secs => least(%(base_seconds)s * 2 ^ o.attempts, 7 * 86400))
WHERE o.outbox_id IN (SELECT d.outbox_id FROM outbox d
                      WHERE d.outbox_id = %(outbox_id)s
                         OR (%(all_due)s AND d.status = 'pending' AND d.next_attempt_at <= %(now)s)
                      FOR UPDATE SKIP LOCKED);

-- name: outbox_insert
-- Queue one mail (benchmarks and tests; features queue theirs set-based with their change).
INSERT INTO outbox (kind, recipient, subject, body, created_at, next_attempt_at)
VALUES (%(kind)s, %(recipient)s, %(subject)s, %(body)s, %(now)s, %(now)s)
RETURNING outbox_id;

-- name: outbox_problems_list
-- The latest mail that failed for good or waits for a retry (view outbox_problems).
SELECT outbox_id, kind, recipient, subject, status, attempts, last_error, next_attempt_at,
       created_at
FROM outbox_problems
ORDER BY outbox_id DESC
LIMIT %(limit)s;

-- name: outbox_oldest_pending
-- The oldest mail still waiting, per kind (pending rows only: the backlog, not the history).
SELECT kind, min(created_at) AS oldest
FROM outbox
WHERE status = 'pending'
GROUP BY kind;

-- name: outbox_last_id
-- The newest mail's id: mail queued after this point has a larger one.
SELECT coalesce(max(outbox_id), 0) AS outbox_id FROM outbox;

-- name: outbox_status_since
-- What became of the mail queued after `after_id` at `now` (a primary-key range).
SELECT status::text, count(*)::int AS n
FROM outbox
WHERE outbox_id > %(after_id)s AND created_at = %(now)s
GROUP BY status;
