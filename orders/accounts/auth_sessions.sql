-- name: auth_session_insert
-- A login starts a session holding its first refresh token.
INSERT INTO sessions (user_id, refresh_jti, refresh_expires_at, created_at)
VALUES (%(user_id)s, %(refresh_jti)s, %(refresh_expires_at)s, %(now)s)
RETURNING session_id;

-- name: auth_session_rotate
-- Swap the session's refresh token for a new one if the one presented is the current one; no
-- row otherwise (already rotated, or the session ended). The row lock orders concurrent refreshes.
UPDATE sessions
SET previous_jti = refresh_jti, refresh_jti = %(new_jti)s, rotated_at = %(now)s,
    refresh_expires_at = %(refresh_expires_at)s
WHERE session_id = %(session_id)s AND user_id = %(user_id)s AND ended_at IS NULL
  AND refresh_jti = %(jti)s
RETURNING session_id;

-- name: auth_session_get_for_update
-- A session whose refresh token was not the current one: was it rotated a moment ago (grace)?
SELECT refresh_jti, previous_jti, rotated_at, refresh_expires_at, ended_at
FROM sessions
WHERE session_id = %(session_id)s AND user_id = %(user_id)s
FOR UPDATE;

-- name: auth_session_end
-- End one session: its access and refresh tokens stop working at once.
UPDATE sessions SET ended_at = %(now)s, end_reason = %(reason)s
WHERE session_id = %(session_id)s AND user_id = %(user_id)s AND ended_at IS NULL;

-- name: auth_session_end_all
-- End every live session of an account except `keep` (NULL: all of them); how many ended.
UPDATE sessions SET ended_at = %(now)s, end_reason = %(reason)s
WHERE user_id = %(user_id)s AND ended_at IS NULL AND session_id IS DISTINCT FROM %(keep)s::uuid;

-- name: auth_session_prune
-- Forget sessions whose refresh token has expired: none of their tokens can work any more.
DELETE FROM sessions WHERE refresh_expires_at < %(now)s;

-- name: auth_session_list
-- An account's sessions, newest first (for its data export).
SELECT session_id, created_at, rotated_at AS last_refreshed_at, refresh_expires_at, ended_at,
       end_reason
FROM sessions
WHERE user_id = %(user_id)s
ORDER BY created_at DESC;
