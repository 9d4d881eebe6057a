-- 0020: the schedule rules of orders/orders/definition.py, mirrored: intervals of days and weeks
-- may name a time zone (their wall clock), intervals are at most ~10 years, crons have 5 fields.

ALTER TABLE orders DROP CONSTRAINT orders_recurring_has_one_schedule;
ALTER TABLE orders ADD CONSTRAINT orders_recurring_has_one_schedule CHECK (
    NOT is_recurring
    OR (repeat_interval IS NOT NULL AND repeat_unit IS NOT NULL AND cron IS NULL)
    OR (repeat_interval IS NULL AND repeat_unit IS NULL AND cron IS NOT NULL AND timezone IS NOT NULL));

-- NOT VALID: rows written before this rule are left alone (a worker finishes them as before);
-- every insert and update from now on is checked.
ALTER TABLE orders ADD CONSTRAINT orders_interval_at_most_10_years CHECK (
    repeat_interval IS NULL OR repeat_unit IS NULL
    OR repeat_interval::bigint * CASE repeat_unit WHEN 'seconds' THEN 1 WHEN 'minutes' THEN 60
                                                  WHEN 'hours' THEN 3600 WHEN 'days' THEN 86400
                                                  ELSE 604800 END <= 3653 * 86400) NOT VALID;
ALTER TABLE orders ADD CONSTRAINT orders_cron_has_5_fields CHECK (
    cron IS NULL OR array_length(regexp_split_to_array(btrim(cron), '\s+'), 1) = 5) NOT VALID;

COMMENT ON COLUMN orders.timezone IS
    'IANA time zone of the schedule''s wall clock (DST aware): cron is evaluated in it, and '
    'intervals of days/weeks keep its local time of day. NULL on an interval order: UTC.';
COMMENT ON COLUMN orders.schedule_time IS
    'First run, and anchor of the schedule: intervals of days/weeks keep its local time of day.';
