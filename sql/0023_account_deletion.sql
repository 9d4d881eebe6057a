-- 0023: accounts deleted by their owner stay as an anonymous tombstone (see README: Accounts).

ALTER TABLE users ADD COLUMN deleted_at timestamptz;
ALTER TABLE users ADD CONSTRAINT users_deleted_is_anonymous CHECK (
    deleted_at IS NULL OR (email = 'deleted-' || user_id || '@deleted.invalid' AND password_hash = '!'));
GRANT SELECT (deleted_at) ON users TO orders_readonly;

COMMENT ON COLUMN users.deleted_at IS
    'When the owner deleted the account: email and password are gone, its orders were cancelled '
    'and their names and payloads erased; the id stays so that history keeps its shape.';
