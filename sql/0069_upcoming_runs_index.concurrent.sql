-- 0063 (continued): the upkeep's index on orders, built CONCURRENTLY (outside a transaction) so
-- that writes to orders go on meanwhile; it runs right after 0063_upcoming_runs.sql.

CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_upcoming_until_idx
    ON orders (upcoming_until, order_id) WHERE status IN ('scheduled', 'processing');
COMMENT ON INDEX orders_upcoming_until_idx IS
    'orders: the upkeep finds active orders whose expansion ends inside the horizon.';
