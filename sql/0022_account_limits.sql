-- 0022: per-account limits (orders/limits.py): a request counter per account and window, and an
-- index that counts an account's active orders no further than its quota.

CREATE TABLE account_requests (
    user_id           bigint PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    window_started_at timestamptz NOT NULL,
    requests          integer NOT NULL CHECK (requests >= 1)
);
COMMENT ON TABLE account_requests IS
    'API requests per account in its current window (ORDERS_API_RATE_LIMIT per '
    'ORDERS_API_RATE_WINDOW_SECONDS); past the limit requests answer 429 until the window ends.';
COMMENT ON COLUMN account_requests.window_started_at IS 'Start of the current window (the account''s first request in it).';
COMMENT ON COLUMN account_requests.requests IS 'Requests counted in the current window, refused ones included.';

CREATE INDEX orders_user_id_active_idx ON orders (user_id) WHERE status IN ('scheduled', 'processing');
