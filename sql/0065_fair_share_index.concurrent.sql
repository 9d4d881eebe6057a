-- 0065: the fair claim's index (0060): an account's due execution jobs at one run level, earliest
-- first. Built CONCURRENTLY: deferring and running orders go on meanwhile.

CREATE INDEX CONCURRENTLY IF NOT EXISTS procrastinate_jobs_execute_account_idx
    ON procrastinate_jobs (priority, ((args ->> 'user_id')::bigint), scheduled_at, id)
    WHERE status = 'todo' AND task_name = 'execute_order';
COMMENT ON INDEX procrastinate_jobs_execute_account_idx IS
    'orders: the batch executor''s fair claim (execution_claim_fair) and account_queue upkeep.';
