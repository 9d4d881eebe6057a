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

-- name: migration_lock
-- Serialise concurrent `orders db migrate` runs (released explicitly or with the session).
SELECT pg_advisory_lock(%(key)s);

-- name: migration_unlock
-- Release the migration lock.
SELECT pg_advisory_unlock(%(key)s);

-- name: database_ping
-- The cheapest round trip: is the database there and answering?
SELECT 1 AS ok;

-- name: schema_migrations_exists
-- Has this database ever been migrated?
SELECT to_regclass('schema_migrations') IS NOT NULL AS migrated;
