-- 0009: the JSON status log is written from order_events by one writer at a time, which keeps
-- its place here. Events are taken by transaction id below the snapshot's xmin horizon: every
-- transaction under it has finished, so a late commit is never skipped and nothing is written
-- twice (the app used to write lines after each commit, and lost them when killed in between).

CREATE TABLE status_log_cursor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    horizon    xid8 NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    lines      bigint NOT NULL DEFAULT 0 CHECK (lines >= 0)
);
-- Events before this migration were logged by the old code.
INSERT INTO status_log_cursor (horizon) VALUES (pg_snapshot_xmin(pg_current_snapshot()));

CREATE INDEX order_events_txid_idx ON order_events (txid);

COMMENT ON TABLE status_log_cursor IS
    'Where the status-log writer is: events of transactions with txid below horizon are in '
    'ORDERS_LOG_FILE. A horizon that stops moving means no worker writes the log, or a long '
    'transaction (see pg_stat_activity) holds the xmin horizon back.';
COMMENT ON COLUMN status_log_cursor.horizon IS 'Every transaction below it had finished when it was taken.';
COMMENT ON COLUMN status_log_cursor.written_at IS 'When the writer last advanced.';
COMMENT ON COLUMN status_log_cursor.lines IS 'Lines written since the migration.';
COMMENT ON INDEX order_events_txid_idx IS 'orders: the status-log writer reads events by transaction.';
