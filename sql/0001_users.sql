-- 0001: accounts (customers, providers, admins) and revoked JWTs.

CREATE TYPE user_role AS ENUM ('customer', 'provider', 'admin');
COMMENT ON TYPE user_role IS 'What an account may do: customers order, providers answer requests, admins operate.';

CREATE TABLE users (
    user_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(email) AND email LIKE '_%@_%'),
    password_hash text NOT NULL,
    role          user_role NOT NULL DEFAULT 'customer',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

COMMENT ON TABLE users IS 'Accounts that can log in to the API.';
COMMENT ON COLUMN users.email IS 'Login name, stored lower-case; unique case-insensitively.';
COMMENT ON COLUMN users.password_hash IS 'Slow KDF hash (werkzeug scrypt); the password itself is never stored.';
COMMENT ON COLUMN users.role IS 'customer, provider or admin.';

CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    token_type text NOT NULL CHECK (token_type IN ('access', 'refresh')),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

COMMENT ON TABLE revoked_tokens IS 'JWTs revoked by logout; a row can be deleted once expires_at has passed.';
COMMENT ON COLUMN revoked_tokens.jti IS 'The token''s unique id (its jti claim).';
