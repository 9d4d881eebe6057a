-- name: user_insert
-- Create an account; the unique index on lower(email) rejects a duplicate.
INSERT INTO users (email, password_hash, role)
VALUES (%(email)s, %(password_hash)s, %(role)s)
RETURNING user_id, email, role, created_at;

-- name: user_get_by_email
-- Look up an account for login, password hash included.
SELECT user_id, email, role, created_at, password_hash
FROM users
WHERE lower(email) = lower(%(email)s) AND deleted_at IS NULL;

-- name: token_user_get
-- The user a token names (not a deleted one) and whether the token's session has ended: one
-- query per request. requests/window_started_at: no rate limit counted (see the next query).
SELECT u.user_id, u.email, u.role, u.created_at,
       NOT EXISTS (SELECT 1 FROM sessions s
                   WHERE s.session_id = %(session_id)s::uuid AND s.user_id = u.user_id
                     AND s.ended_at IS NULL) AS revoked,
       NULL::integer AS requests, NULL::timestamptz AS window_started_at
FROM users u
WHERE u.user_id = %(user_id)s AND u.deleted_at IS NULL;

-- name: token_user_get_counted
-- token_user_get, counting the request in the account's rate-limit window in the same statement
-- (no extra round trip). Losing a few counts in a crash is harmless: commit without a WAL flush.
WITH counted AS (
    INSERT INTO account_requests AS r (user_id, window_started_at, requests)
    SELECT user_id, %(now)s, 1 FROM users WHERE user_id = %(user_id)s AND deleted_at IS NULL
    ON CONFLICT (user_id) DO UPDATE
    SET requests = CASE WHEN r.window_started_at <= %(now)s - %(window)s THEN 1
                        ELSE r.requests + 1 END,
        window_started_at = CASE WHEN r.window_started_at <= %(now)s - %(window)s THEN %(now)s
                                 ELSE r.window_started_at END
    RETURNING requests, window_started_at)
SELECT u.user_id, u.email, u.role, u.created_at,
       NOT EXISTS (SELECT 1 FROM sessions s
                   WHERE s.session_id = %(session_id)s::uuid AND s.user_id = u.user_id
                     AND s.ended_at IS NULL) AS revoked,
       c.requests, c.window_started_at, set_config('synchronous_commit', 'off', true) AS async
FROM users u LEFT JOIN counted c ON true
WHERE u.user_id = %(user_id)s AND u.deleted_at IS NULL;

-- name: user_get_by_id
-- An account with its password hash (password change, deletion), locked for the change.
SELECT user_id, email, role, created_at, password_hash
FROM users
WHERE user_id = %(user_id)s AND deleted_at IS NULL
FOR UPDATE;

-- name: user_set_password
-- A new password hash for an account.
UPDATE users SET password_hash = %(password_hash)s WHERE user_id = %(user_id)s;

-- name: user_set_role
-- Change an account's role (operators promote admins); NULL when no such account.
UPDATE users SET role = %(role)s::user_role
WHERE lower(email) = lower(%(email)s)
RETURNING user_id, email, role, created_at;
