-- 0061: a one-time order may expire (orders.expires_after, 0064): a run that could not start
-- within that long after its time never happens, and the order says so with this status. Alone
-- in its migration: a new enum value cannot be used in the transaction that adds it.

ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'expired';
COMMENT ON TYPE order_status IS
    'scheduled: waiting for its next run (a job is queued); processing: a run is executing now; '
    'completed: every run is done; failed: a run exhausted its retries (see last_error); '
    'cancelled: stopped by its owner or an operator; expired: a one-time order whose run could '
    'not start within its expires_after (it never ran).';
