-- 0013: the status-log writer works in bounded pages and records, before it writes, where in
-- which file a page goes; after a crash the next writer truncates exactly that and rewrites it.

ALTER TABLE status_log_cursor
    ADD COLUMN span_from       xid8,
    ADD COLUMN span_to         xid8,
    ADD COLUMN after_event_id  bigint NOT NULL DEFAULT 0,
    ADD COLUMN pending_through bigint,
    ADD COLUMN file_dev        numeric,
    ADD COLUMN file_ino        numeric,
    ADD COLUMN file_size       bigint;

COMMENT ON COLUMN status_log_cursor.span_from IS
    'The span being written is [span_from, span_to): transactions finished when it was taken. '
    'Valid only while span_from = horizon.';
COMMENT ON COLUMN status_log_cursor.span_to IS 'End of the span being written (NULL: none).';
COMMENT ON COLUMN status_log_cursor.after_event_id IS
    'Within the span, events up to this event_id are in the file (pages go by event_id).';
COMMENT ON COLUMN status_log_cursor.pending_through IS
    'A page is being written: the span''s events after after_event_id up to this one. Set and '
    'committed before the page is written; cleared when it is fsynced. Non-NULL after a crash.';
COMMENT ON COLUMN status_log_cursor.file_dev IS 'Device of the file written last (or being written).';
COMMENT ON COLUMN status_log_cursor.file_ino IS 'Inode of that file (identifies it across renames).';
COMMENT ON COLUMN status_log_cursor.file_size IS
    'Its size after the last page; while a page is pending, where the page starts. After a '
    'point-in-time restore, cut the old file to this size (docs/operators.md).';
