-- 0021: sessions. A login starts one; its refresh tokens rotate on every use, and a refresh
-- token used twice (outside a short grace period) ends the whole session: theft detection.

CREATE TABLE sessions (
    session_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    refresh_jti        uuid NOT NULL,
    previous_jti       uuid,
    rotated_at         timestamptz,
    refresh_expires_at timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz,
    end_reason         text CHECK (end_reason IN ('logout', 'logout_all', 'password_changed',
                                                  'refresh_reused', 'account_deleted')),
    CONSTRAINT sessions_ended_has_reason CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CONSTRAINT sessions_rotation_is_complete CHECK ((previous_jti IS NULL) = (rotated_at IS NULL))
);
CREATE INDEX sessions_user_id_live_idx ON sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_refresh_expires_at_idx ON sessions (refresh_expires_at);

COMMENT ON TABLE sessions IS
    'One per login. Every token names its session (claim sid); a token of an ended session is a '
    '401, access and refresh alike. Rows are deleted once their refresh token has expired.';
COMMENT ON COLUMN sessions.refresh_jti IS 'The one refresh token (its jti) that may be used now.';
COMMENT ON COLUMN sessions.previous_jti IS
    'The refresh token it replaced: accepted again until rotated_at + ORDERS_REFRESH_GRACE_SECONDS '
    '(two tabs refreshing at once), after that its use ends the session (refresh_reused).';
COMMENT ON COLUMN sessions.rotated_at IS 'When the refresh token last rotated (last refresh).';
COMMENT ON COLUMN sessions.refresh_expires_at IS 'When the current refresh token expires; each refresh moves it on.';
COMMENT ON COLUMN sessions.ended_at IS 'When the session ended; NULL while it is live.';
COMMENT ON COLUMN sessions.end_reason IS
    'logout | logout_all | password_changed (every other session) | refresh_reused (a rotated '
    'refresh token came back: presumed stolen) | account_deleted.';

-- Sessions replace per-token revocation: tokens without a session are refused.
DROP TABLE revoked_tokens;
