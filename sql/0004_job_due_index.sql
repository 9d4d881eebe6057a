-- 0004: let workers find the next due job cheaply (they sleep until exactly then).

CREATE INDEX procrastinate_jobs_todo_scheduled_at_idx ON procrastinate_jobs (scheduled_at)
    WHERE status = 'todo';
COMMENT ON INDEX procrastinate_jobs_todo_scheduled_at_idx IS
    'orders: serves job_next_due_in, the worker''s "when is the next job due" query.';
