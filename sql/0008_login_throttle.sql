-- 0008: slow down password guessing, per account and per client address, kept in Postgres
-- (the only server) so every API process on every host shares the counts.

CREATE TABLE login_failures (
    scope             text NOT NULL CHECK (scope IN ('account', 'address')),
    key               text NOT NULL CHECK (key <> ''),
    failures          integer NOT NULL CHECK (failures >= 1),
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz,
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_failures_expiry_idx ON login_failures (greatest(window_started_at, locked_until));

COMMENT ON TABLE login_failures IS
    'Failed logins per account (lower-cased email, known or not: no enumeration) and per client '
    'address within the current window. Past the limit, logins are refused with 429 until locked_until.';
COMMENT ON COLUMN login_failures.scope IS 'account: key is the lower-cased email; address: the client IP.';
COMMENT ON COLUMN login_failures.failures IS 'Failed attempts since window_started_at.';
COMMENT ON COLUMN login_failures.locked_until IS
    'Logins for this key are refused until then; doubles with each failure past the limit.';
