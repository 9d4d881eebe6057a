-- 0012: indexes that keep per-order lists, pruning and the status log bounded at any history
-- size. Built CONCURRENTLY (outside a transaction): writes to these tables go on meanwhile.

-- An order's runs, newest first (dashboard timeline) and ON DELETE CASCADE from orders; the
-- unique index on (order_id, run_number) only covers succeeded runs.
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_executions_order_time_idx
    ON order_executions (order_id, finished_at, execution_id);
COMMENT ON INDEX order_executions_order_time_idx IS 'orders: an order''s runs in time order (timeline, cascading deletes).';

-- An order's audit trail in time order: GET /orders/<id>/history and the timeline page by it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_events_order_time_idx
    ON order_events (order_id, occurred_at, event_id);
COMMENT ON INDEX order_events_order_time_idx IS 'orders: an order''s audit trail in time order, keyset-paginated.';

-- The status-log writer pages through the events of one transaction by event id.
CREATE INDEX CONCURRENTLY IF NOT EXISTS order_events_txid_event_idx
    ON order_events (txid, event_id);
COMMENT ON INDEX order_events_txid_event_idx IS 'orders: the status-log writer reads events by transaction, in pages.';

CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_failed_idx
    ON orders (updated_at, order_id) WHERE status = 'failed';
COMMENT ON INDEX orders_failed_idx IS 'orders: the latest failed orders (dashboard) without reading the others.';

-- The mail dashboard's latest problems (the outbox_problems view), without walking sent mail.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_problems_idx
    ON outbox (outbox_id) WHERE status = 'failed' OR (status = 'pending' AND attempts > 0);
COMMENT ON INDEX outbox_problems_idx IS 'orders: mail that failed or waits for a retry, latest first.';

-- Foreign keys pruning deletes through: without them each deleted digest or mail would scan
-- provider_requests.
CREATE INDEX CONCURRENTLY IF NOT EXISTS provider_requests_digest_idx
    ON provider_requests (digest_id) WHERE digest_id IS NOT NULL;
COMMENT ON INDEX provider_requests_digest_idx IS 'orders: pruning provider_digests checks their requests.';
CREATE INDEX CONCURRENTLY IF NOT EXISTS provider_requests_customer_outbox_idx
    ON provider_requests (customer_outbox_id) WHERE customer_outbox_id IS NOT NULL;
COMMENT ON INDEX provider_requests_customer_outbox_idx IS 'orders: pruning outbox checks the requests that mail answered.';

-- An order's latest jobs (the timeline shows the events of the latest few).
CREATE INDEX CONCURRENTLY IF NOT EXISTS procrastinate_jobs_order_idx
    ON procrastinate_jobs (((args ->> 'order_id')::bigint), id) WHERE task_name = 'execute_order';
COMMENT ON INDEX procrastinate_jobs_order_idx IS 'orders: an order''s jobs, latest first (timeline).';
