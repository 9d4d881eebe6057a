-- 0064: what happens to the runs of a recurring order missed while nothing ran it (workers
-- stopped, the orders queue or the order paused), and how late a one-time order may still run.

CREATE TYPE missed_run_policy AS ENUM ('latest', 'all', 'none');
COMMENT ON TYPE missed_run_policy IS
    'latest: run once, for the latest missed slot, then continue on the schedule (the default); '
    'all: run every missed slot, oldest first, at most ORDERS_MISSED_RUNS_MAX of them (older ones '
    'are skipped); none: run none of them (a run more than ORDERS_MISSED_RUN_GRACE_SECONDS late '
    'is missed) and continue at the next future slot.';

ALTER TABLE orders
    ADD COLUMN missed_runs missed_run_policy NOT NULL DEFAULT 'latest',
    ADD COLUMN expires_after interval CHECK (expires_after > interval '0'),
    ADD CONSTRAINT orders_expiry_is_one_time CHECK (NOT is_recurring OR expires_after IS NULL);
COMMENT ON COLUMN orders.missed_runs IS 'Recurring orders: what happens to missed runs (see type missed_run_policy).';
COMMENT ON COLUMN orders.expires_after IS
    'One-time orders: a run that cannot start within this long after its time never happens and '
    'the order becomes expired; NULL: it runs however late.';

ALTER TABLE order_executions ADD COLUMN missed_slots integer NOT NULL DEFAULT 0 CHECK (missed_slots >= 0);
COMMENT ON COLUMN order_executions.missed_slots IS
    'Slots of the schedule skipped just before this run (missed_runs latest, or all past its '
    'maximum): scheduled_for is the slot this run was for.';
