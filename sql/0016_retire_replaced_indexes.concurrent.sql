-- 0016: drop the indexes 0012 replaced (contract step). Each replacement starts with the same
-- columns, so queries of the previous release (still running during a rolling upgrade) keep
-- an index: order_events (order_id, event_id) -> (order_id, occurred_at, event_id),
-- order_events (txid) -> (txid, event_id), procrastinate_jobs (order) -> (order, id).
DROP INDEX CONCURRENTLY IF EXISTS order_events_order_id_idx;
DROP INDEX CONCURRENTLY IF EXISTS order_events_txid_idx;
DROP INDEX CONCURRENTLY IF EXISTS procrastinate_jobs_order_id_idx;
