-- name: login_lock_get
-- The latest lock among these (scope, key) pairs that is still in force, if any.
SELECT max(locked_until) AS locked_until
FROM login_failures
WHERE (scope, key) IN (('account', %(account)s), ('address', %(address)s))
  AND locked_until > %(now)s;

-- name: login_failure_record
-- Count one failed login for a key: a new window after `window` of quiet, a lock (doubling,
-- capped) once failures pass the limit. Returns the key's lock, if it has one now.
INSERT INTO login_failures AS f (scope, key, failures, window_started_at)
VALUES (%(scope)s, %(key)s, 1, %(now)s)
ON CONFLICT (scope, key) DO UPDATE
SET failures = CASE WHEN f.window_started_at < %(now)s - %(window)s THEN 1 ELSE f.failures + 1 END,
    window_started_at = CASE WHEN f.window_started_at < %(now)s - %(window)s
                             THEN %(now)s ELSE f.window_started_at END
RETURNING failures;

-- name: login_failure_lock
-- Lock a key that just passed its limit: lockout * 2^(failures past the limit), at most max_lock.
UPDATE login_failures
SET locked_until = %(now)s + least(%(lockout)s * power(2, %(failures)s - %(limit)s), %(max_lock)s)
WHERE scope = %(scope)s AND key = %(key)s;

-- name: login_failure_clear
-- A successful login forgets the account's failures (the address keeps its count).
DELETE FROM login_failures WHERE scope = 'account' AND key = %(account)s;

-- name: login_failure_prune
-- Forget keys whose window and lock are both over.
DELETE FROM login_failures
WHERE greatest(window_started_at + %(window)s, locked_until) < %(now)s;
