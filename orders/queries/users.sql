-- name: user_insert
-- Create an account; the unique index on lower(email) rejects a duplicate.
INSERT INTO users (email, password_hash, role)
VALUES (%(email)s, %(password_hash)s, %(role)s)
RETURNING user_id, email, role, created_at;

-- name: user_get_by_email
-- Look up an account for login, password hash included.
SELECT user_id, email, role, created_at, password_hash
FROM users
WHERE lower(email) = lower(%(email)s);

-- name: revoked_token_insert
-- Revoke a token by its jti until it would have expired anyway.
INSERT INTO revoked_tokens (jti, user_id, token_type, expires_at)
VALUES (%(jti)s, %(user_id)s, %(token_type)s, %(expires_at)s)
ON CONFLICT (jti) DO NOTHING;

-- name: token_user_get
-- The user a token names and whether the token is revoked: one query per request.
SELECT u.user_id, u.email, u.role, u.created_at,
       EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = %(jti)s) AS revoked
FROM users u
WHERE u.user_id = %(user_id)s;

-- name: revoked_token_prune
-- Forget revoked tokens that have expired anyway (nobody can present them any more).
DELETE FROM revoked_tokens WHERE expires_at < %(now)s;

-- name: user_set_role
-- Change an account's role (operators promote admins); NULL when no such account.
UPDATE users SET role = %(role)s::user_role
WHERE lower(email) = lower(%(email)s)
RETURNING user_id, email, role, created_at;
