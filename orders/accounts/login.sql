-- name: login_attempt_count
-- Count a login attempt against its account and its address BEFORE the password is checked.
-- A key already locked is not counted and not returned. The rows stay locked until the
-- transaction ends, so concurrent attempts on a key queue here and see the lock that
-- login_failure_lock sets in the same transaction once a key reaches its limit.
INSERT INTO login_failures AS f (scope, key, failures, window_started_at)
VALUES ('account', %(account)s, 1, %(now)s), ('address', %(address)s, 1, %(now)s)
ON CONFLICT (scope, key) DO UPDATE
SET failures = CASE WHEN f.window_started_at < %(now)s - %(window)s THEN 1
                    ELSE f.failures + 1 END,
    window_started_at = CASE WHEN f.window_started_at < %(now)s - %(window)s THEN %(now)s
                             ELSE f.window_started_at END,
    locked_until = NULL
WHERE f.locked_until IS NULL OR f.locked_until <= %(now)s
RETURNING f.scope, f.failures;

-- name: login_failure_lock
-- Lock a key that reached its limit: lockout * 2^(attempts past the limit), at most max_lock.
UPDATE login_failures
SET locked_until = %(now)s + least(%(lockout)s * power(2, least(%(failures)s - %(limit)s, 30)),
                                   %(max_lock)s)
WHERE scope = %(scope)s AND key = %(key)s;

-- name: login_lock_get
-- The latest lock among these (scope, key) pairs that is still in force, if any.
SELECT max(locked_until) AS locked_until
FROM login_failures
WHERE (scope, key) IN (('account', %(account)s), ('address', %(address)s))
  AND locked_until > %(now)s;

-- name: login_attempt_succeeded
-- The password was right: forget the account's failures, and give the address its attempt back
-- (lifting a lock that this very attempt set; a count back to zero is no row).
WITH account AS (DELETE FROM login_failures WHERE scope = 'account' AND key = %(account)s),
     spent AS (DELETE FROM login_failures
               WHERE scope = 'address' AND key = %(address)s AND failures <= 1)
UPDATE login_failures
SET failures = failures - 1,
    locked_until = CASE WHEN failures - 1 >= %(per_address)s THEN locked_until END
WHERE scope = 'address' AND key = %(address)s AND failures > 1;

-- name: login_failure_prune
-- Forget keys whose window and lock are both over.
DELETE FROM login_failures
WHERE greatest(window_started_at + %(window)s, locked_until) < %(now)s;
