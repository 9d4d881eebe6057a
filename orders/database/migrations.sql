-- name: schema_migrations_create
-- The ledger of applied migrations, created before anything else.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE schema_migrations IS
    'Applied migrations: procrastinate/<file> for the queue''s schema, NNNN_x.sql for ours.';

-- name: schema_migrations_list
-- Every applied migration with the checksum it had.
SELECT version, checksum FROM schema_migrations;

-- name: schema_migration_insert
-- Record one applied migration.
INSERT INTO schema_migrations (version, checksum) VALUES (%(version)s, %(checksum)s);

-- name: schema_migration_rename
-- A file renamed after it was applied: record it under its new name too, as applied then.
INSERT INTO schema_migrations (version, checksum, applied_at)
SELECT %(new)s, checksum, applied_at FROM schema_migrations WHERE version = %(old)s
ON CONFLICT (version) DO NOTHING;

-- name: migration_try_lock
-- Serialise concurrent `orders db migrate` runs (released explicitly or with the session);
-- false at once when another run holds it (the caller polls, holding no snapshot meanwhile).
SELECT pg_try_advisory_lock(%(key)s);

-- name: migration_unlock
-- Release the migration lock.
SELECT pg_advisory_unlock(%(key)s);

-- name: database_ping
-- The cheapest round trip: is the database there and answering?
SELECT 1 AS ok;

-- name: schema_migrations_exists
-- Has this database ever been migrated?
SELECT to_regclass('schema_migrations') IS NOT NULL AS migrated;

-- name: migration_session
-- A migration's own session: no statement limit (an index build takes as long as it takes).
SELECT set_config('statement_timeout', '0', false)

-- name: migration_lock_timeout
-- How long the next statements may wait for a lock before giving up (and being retried).
SELECT set_config('lock_timeout', %(ms)s, %(local)s)

-- name: index_is_invalid
-- An index of this name exists but is INVALID (a concurrent build failed or was cancelled).
SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%(name)s)
               AND NOT indisvalid) AS invalid
